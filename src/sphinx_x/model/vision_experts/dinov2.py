"""DINOv2 as a transformers `Dinov2Model` (`use_swiglu_ffn=True` for ViT-g/14).

Recipe: the CLIP-normalised input is re-normalised to ImageNet statistics inside the model; the
output is the final LayerNorm of CLS + patch tokens -> `[N, 1 + h*w, D]`. Position embeddings are
resized the way the DINOv2 hub code does (which the releases ran), not the way transformers does.
"""

from __future__ import annotations

import math
import types

import torch
import torch.nn.functional as F
from transformers import Dinov2Model

from ...config import VisualExpert
from ..views import CLIP_MEAN, CLIP_STD

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# DINOv2's hub code adds 0.1 to the target grid when it resizes position embeddings (a historical
# fix for float error); the released models were run that way, transformers resizes to the exact
# size, which gives slightly different embeddings. We follow the hub.
HUB_INTERPOLATE_OFFSET = 0.1


def build(expert: VisualExpert) -> Dinov2Model:
    return Dinov2Model(expert.config)


def prepare(model: Dinov2Model, expert: VisualExpert) -> None:
    model.embeddings.interpolate_pos_encoding = types.MethodType(
        hub_interpolate_pos_encoding, model.embeddings
    )


def tokens(model: Dinov2Model, pixels: torch.Tensor, expert: VisualExpert) -> torch.Tensor:
    """`[N, 3, V, V]` CLIP-normalised views -> `[N, 1 + h*w, D]`."""
    pixels = clip_to_imagenet_normalisation(pixels).to(model.dtype)
    return model(pixels).last_hidden_state  # after the final LayerNorm


def clip_to_imagenet_normalisation(pixels: torch.Tensor) -> torch.Tensor:
    """x_dino = (x * clip_std + clip_mean - dino_mean) / dino_std, per channel of `[N, 3, H, W]`.

    Computed from constants at each call rather than stored in buffers: `from_pretrained` builds
    the model on the meta device and would leave non-persistent buffers uninitialised.
    """

    def channels(values):
        return torch.tensor(values, dtype=torch.float32, device=pixels.device).view(1, 3, 1, 1)

    raw = pixels.float() * channels(CLIP_STD) + channels(CLIP_MEAN)
    return (raw - channels(IMAGENET_MEAN)) / channels(IMAGENET_STD)


def hub_interpolate_pos_encoding(embeddings, tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """DINOv2 hub's position-embedding resize, bound onto transformers' `Dinov2Embeddings`."""
    position_embeddings = embeddings.position_embeddings
    num_positions = position_embeddings.shape[1] - 1
    patch_size = embeddings.patch_embeddings.patch_size[0]
    rows, cols = height // patch_size, width // patch_size
    if rows * cols == num_positions and rows == cols:
        return position_embeddings
    side = int(math.sqrt(num_positions))
    dim = position_embeddings.shape[-1]
    grid = position_embeddings[:, 1:].float().reshape(1, side, side, dim).permute(0, 3, 1, 2)
    grid = F.interpolate(
        grid,
        scale_factor=((rows + HUB_INTERPOLATE_OFFSET) / side, (cols + HUB_INTERPOLATE_OFFSET) / side),
        mode="bicubic",
        antialias=False,
    )
    assert grid.shape[-2:] == (rows, cols), f"position grid {tuple(grid.shape[-2:])} != {(rows, cols)}"
    grid = grid.permute(0, 2, 3, 1).reshape(1, rows * cols, dim)
    return torch.cat([position_embeddings[:, :1].float(), grid], dim=1).to(position_embeddings.dtype)
