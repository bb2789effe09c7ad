"""ConvNeXt: timm names (open_clip's trunk) -> transformers `ConvNextModel`."""

from __future__ import annotations

import torch
from transformers import ConvNextConfig

from .common import Pairs, Shapes, count_indices, renamed

_CONVNEXT_RULES = [
    (r"stem\.0\.(weight|bias)", r"embeddings.patch_embeddings.\1"),
    (r"stem\.1\.(weight|bias)", r"embeddings.layernorm.\1"),
    (r"stages\.(\d+)\.downsample\.([01])\.(weight|bias)", r"encoder.stages.\1.downsampling_layer.\2.\3"),
    (r"stages\.(\d+)\.blocks\.(\d+)\.conv_dw\.(weight|bias)", r"encoder.stages.\1.layers.\2.dwconv.\3"),
    (r"stages\.(\d+)\.blocks\.(\d+)\.norm\.(weight|bias)", r"encoder.stages.\1.layers.\2.layernorm.\3"),
    (r"stages\.(\d+)\.blocks\.(\d+)\.mlp\.fc1\.(weight|bias)", r"encoder.stages.\1.layers.\2.pwconv1.\3"),
    (r"stages\.(\d+)\.blocks\.(\d+)\.mlp\.fc2\.(weight|bias)", r"encoder.stages.\1.layers.\2.pwconv2.\3"),
    (r"stages\.(\d+)\.blocks\.(\d+)\.gamma", r"encoder.stages.\1.layers.\2.layer_scale_parameter"),
    (r"head\.norm\.(weight|bias)", r"layernorm.\1"),
]


def convnext_timm_config(shapes: Shapes) -> ConvNextConfig:
    stages = count_indices(shapes, r"stages\.(\d+)\..*")
    return ConvNextConfig(
        num_stages=stages,
        depths=[count_indices(shapes, rf"stages\.{s}\.blocks\.(\d+)\.norm\.weight") for s in range(stages)],
        hidden_sizes=[shapes[f"stages.{s}.blocks.0.norm.weight"][0] for s in range(stages)],
        patch_size=shapes["stem.0.weight"][-1],
        layer_norm_eps=1e-5,  # open_clip's timm trunk
    )


def convnext_timm_to_hf(name: str, tensor: torch.Tensor) -> Pairs | None:
    return renamed(name, tensor, _CONVNEXT_RULES)
