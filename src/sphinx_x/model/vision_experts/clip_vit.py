"""CLIP ViT (OpenAI ViT-L/14 in the releases) as a transformers `CLIPVisionModel`.

Recipe, as the release's `clip_encode_image`: patch conv -> class token -> positions -> ln_pre ->
transformer -> `ln_post` applied to **all** 257 tokens (transformers applies its `post_layernorm`
to the pooled CLS only), no projection -> `[N, 1 + h*w, 1024]`. The activation is the config's
`hidden_act`: "gelu" (exact) reproduces the release, which built the tower from open_clip's
ViT-L-14 config without pretrained weights; "quick_gelu" is what the OpenAI weights were trained with.
"""

from __future__ import annotations

import torch
from transformers import CLIPVisionModel

from ...config import VisualExpert


def build(expert: VisualExpert) -> CLIPVisionModel:
    return CLIPVisionModel(expert.config)


def prepare(model: CLIPVisionModel, expert: VisualExpert) -> None:
    """Nothing to adjust: transformers' CLIP tower is open_clip's, weight for weight."""


def tokens(model: CLIPVisionModel, pixels: torch.Tensor, expert: VisualExpert) -> torch.Tensor:
    """`[N, 3, V, V]` CLIP-normalised views -> `[N, 1 + h*w, D]`."""
    hidden = model(pixel_values=pixels.to(model.dtype)).last_hidden_state  # before post_layernorm
    return model.post_layernorm(hidden)
