"""Mixture of Visual experts (MoV): frozen CLIP-ConvNeXt + DINOv2, channel-concatenated per token.

Both experts are stock transformers models; this module only adds what the release does around them:
  ConvNeXt: stage-4 map -> head LayerNorm per position -> [N, h*w, C] -> mean token prepended
            (a pseudo-CLS) -> [N, 1 + h*w, C].
  DINOv2:   the CLIP-normalised input is re-normalised to ImageNet statistics inside the model;
            output = final LayerNorm of CLS + patch tokens -> [N, 1 + h*w, D].
  Fusion:   concat(ConvNeXt, DINOv2) on channels -> [N, 1 + h*w, C + D]; token 0 is
            GAP(ConvNeXt) || CLS(DINOv2), then the aligned grids in row-major order.
The experts are frozen: their parameters do not require gradients and they stay in eval mode,
whatever the parent's mode; the model runs them under `no_grad`. Code that does train them (the
demo's toy pre-training) turns `requires_grad` on and calls the same forward.
"""

from __future__ import annotations

import math
import types

import torch
import torch.nn.functional as F
from torch import nn
from transformers import ConvNextConfig, ConvNextModel, Dinov2Config, Dinov2Model

from .views import CLIP_MEAN, CLIP_STD

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# DINOv2's hub code adds 0.1 to the target grid when it resizes position embeddings (a historical
# fix for float error); the released models were run that way, transformers resizes to the exact
# size, which gives slightly different embeddings. We follow the hub.
HUB_INTERPOLATE_OFFSET = 0.1


class MixtureOfVisualExperts(nn.Module):
    def __init__(self, convnext: ConvNextModel, dinov2: Dinov2Model):
        super().__init__()
        self.convnext = convnext
        self.dinov2 = dinov2
        # transformers hard-codes eps 1e-6 in ConvNeXt's inner LayerNorms; open_clip's trunk uses the
        # config's eps (1e-5) everywhere, and only then is the trunk bit-identical.
        for module in self.convnext.modules():
            if isinstance(module, nn.LayerNorm):
                module.eps = convnext.config.layer_norm_eps
        self.dinov2.embeddings.interpolate_pos_encoding = types.MethodType(
            hub_interpolate_pos_encoding, self.dinov2.embeddings
        )
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_configs(
        cls, convnext_config: ConvNextConfig, dinov2_config: Dinov2Config
    ) -> MixtureOfVisualExperts:
        return cls(ConvNextModel(convnext_config), Dinov2Model(dinov2_config))

    def train(self, mode: bool = True) -> MixtureOfVisualExperts:
        return super().train(False)  # frozen experts: dropout and drop-path stay off

    def forward(self, convnext_pixels: torch.Tensor, dinov2_pixels: torch.Tensor) -> torch.Tensor:
        """`[N, 3, Vc, Vc]`, `[N, 3, Vd, Vd]` (CLIP-normalised) -> `[N, 1 + h*w, C + D]`."""
        return torch.cat(
            [self.convnext_features(convnext_pixels), self.dinov2_features(dinov2_pixels)], dim=-1
        )

    def convnext_features(self, pixels: torch.Tensor) -> torch.Tensor:
        feature_map = self.convnext(pixels.to(self.convnext.dtype)).last_hidden_state  # [N, C, h, w]
        tokens = self.convnext.layernorm(feature_map.flatten(2).transpose(1, 2))  # [N, h*w, C]
        return torch.cat([tokens.mean(dim=1, keepdim=True), tokens], dim=1)

    def dinov2_features(self, pixels: torch.Tensor) -> torch.Tensor:
        pixels = clip_to_imagenet_normalisation(pixels).to(self.dinov2.dtype)
        return self.dinov2(pixels).last_hidden_state  # [N, 1 + h*w, D], after the final LayerNorm


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
