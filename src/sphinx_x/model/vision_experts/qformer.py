"""BLIP-2's Q-Former with its own vision tower: transformers' `Blip2Model` without the language
model and its projection, as the release keeps it (`language_model = language_projection = None`).

Recipe (`Blip2Model.get_qformer_features`): EVA ViT-g/14 tokens (after its post-LayerNorm) ->
the learned query tokens cross-attend to them through the Q-Former -> `[N, 32, 768]`. The module
holds the same three parts under the same names as `Blip2Model`, so its weights keep their keys.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import Blip2Config, Blip2QFormerModel, Blip2VisionModel

from ...config import VisualExpert


class QFormerWithVisionTower(nn.Module):
    def __init__(self, config: Blip2Config):
        super().__init__()
        self.config = config
        self.vision_model = Blip2VisionModel(config.vision_config)
        self.query_tokens = nn.Parameter(
            torch.zeros(1, config.num_query_tokens, config.qformer_config.hidden_size)
        )
        self.qformer = Blip2QFormerModel(config.qformer_config)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """`[N, 3, V, V]` CLIP-normalised views -> `[N, num_query_tokens, hidden]`."""
        image_embeds = self.vision_model(pixel_values=pixels.to(self.vision_model.dtype)).last_hidden_state
        attention_mask = torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=image_embeds.device)
        queries = self.query_tokens.expand(image_embeds.shape[0], -1, -1)
        output = self.qformer(
            query_embeds=queries, encoder_hidden_states=image_embeds, encoder_attention_mask=attention_mask
        )
        return output.last_hidden_state


def build(expert: VisualExpert) -> QFormerWithVisionTower:
    return QFormerWithVisionTower(expert.config)


def prepare(model: QFormerWithVisionTower, expert: VisualExpert) -> None:
    """Nothing to adjust: the parts are transformers' BLIP-2, which the release ran."""


def tokens(model: QFormerWithVisionTower, pixels: torch.Tensor, expert: VisualExpert) -> torch.Tensor:
    return model(pixels)
