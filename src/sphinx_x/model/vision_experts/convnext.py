"""CLIP-ConvNeXt (open_clip's timm trunk) as a transformers `ConvNextModel`.

Recipe: stage-4 map -> head LayerNorm per position -> [N, h*w, C] -> the mean token prepended as a
pseudo-CLS -> [N, 1 + h*w, C]. SPHINX v1 (`input_size`, `grid_repeat`) feeds it each 224 view
nearest-resized to 256 (in float16, as the release does) and repeats every position of the 8x8 map
2x2 times, so that its grid lines up with the 16x16 grids of the ViT experts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import ConvNextModel

from ...config import VisualExpert


def build(expert: VisualExpert) -> ConvNextModel:
    return ConvNextModel(expert.config)


def prepare(model: ConvNextModel, expert: VisualExpert) -> None:
    # transformers hard-codes eps 1e-6 in ConvNeXt's inner LayerNorms; open_clip's trunk uses the
    # config's eps (1e-5) everywhere, and only then is the trunk bit-identical.
    for module in model.modules():
        if isinstance(module, nn.LayerNorm):
            module.eps = model.config.layer_norm_eps


def tokens(model: ConvNextModel, pixels: torch.Tensor, expert: VisualExpert) -> torch.Tensor:
    """`[N, 3, V, V]` CLIP-normalised views -> `[N, 1 + h*w, C]`."""
    if expert.input_size is not None:
        side = (expert.input_size, expert.input_size)
        pixels = F.interpolate(pixels.half(), size=side, mode="nearest").to(pixels.dtype)
    feature_map = model(pixels.to(model.dtype)).last_hidden_state  # [N, C, h, w]
    batch, channels, height, width = feature_map.shape
    grid = model.layernorm(feature_map.flatten(2).transpose(1, 2))  # [N, h*w, C]
    if expert.grid_repeat > 1:
        repeat = expert.grid_repeat
        grid = grid.view(batch, height, width, channels).repeat_interleave(repeat, dim=1)
        grid = grid.repeat_interleave(repeat, dim=2).flatten(1, 2)  # [N, h*r * w*r, C]
    return torch.cat([grid.mean(dim=1, keepdim=True), grid], dim=1)
