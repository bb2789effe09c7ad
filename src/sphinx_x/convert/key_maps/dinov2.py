"""DINOv2: torch-hub names -> transformers `Dinov2Model`."""

from __future__ import annotations

import re

import torch
from transformers import Dinov2Config

from .common import Pairs, Shapes, count_indices, renamed

DINOV2_HEAD_DIM = 64  # every DINOv2 model (S, B, L, g) uses 64-wide heads; a checkpoint cannot say


_DINOV2_RENAMES = [
    (r"cls_token", "embeddings.cls_token"),
    (r"mask_token", "embeddings.mask_token"),
    (r"pos_embed", "embeddings.position_embeddings"),
    (r"patch_embed\.proj\.(weight|bias)", r"embeddings.patch_embeddings.projection.\1"),
    (r"blocks\.(\d+)\.norm([12])\.(weight|bias)", r"encoder.layer.\1.norm\2.\3"),
    (r"blocks\.(\d+)\.attn\.proj\.(weight|bias)", r"encoder.layer.\1.attention.o_proj.\2"),
    (r"blocks\.(\d+)\.ls([12])\.gamma", r"encoder.layer.\1.layer_scale\2.lambda1"),
    (r"blocks\.(\d+)\.mlp\.w3\.(weight|bias)", r"encoder.layer.\1.mlp.down_proj.\2"),
    (r"blocks\.(\d+)\.mlp\.fc1\.(weight|bias)", r"encoder.layer.\1.mlp.fc1.\2"),
    (r"blocks\.(\d+)\.mlp\.fc2\.(weight|bias)", r"encoder.layer.\1.mlp.fc2.\2"),
    (r"norm\.(weight|bias)", r"layernorm.\1"),
]


def dinov2_hub_config(shapes: Shapes) -> Dinov2Config:
    hidden = shapes["cls_token"][-1]
    patch = shapes["patch_embed.proj.weight"][-1]
    positions = shapes["pos_embed"][1] - 1
    return Dinov2Config(
        hidden_size=hidden,
        num_hidden_layers=count_indices(shapes, r"blocks\.(\d+)\.norm1\.weight"),
        num_attention_heads=max(1, hidden // DINOV2_HEAD_DIM),
        patch_size=patch,
        image_size=round(positions**0.5) * patch,
        use_swiglu_ffn="blocks.0.mlp.w12.weight" in shapes,
        qkv_bias="blocks.0.attn.qkv.bias" in shapes,
        layer_norm_eps=1e-6,
    )


def dinov2_hub_to_hf(name: str, tensor: torch.Tensor) -> Pairs | None:
    if match := re.fullmatch(r"blocks\.(\d+)\.attn\.qkv\.(weight|bias)", name):
        layer, kind = match.groups()
        query, key, value = tensor.chunk(3, dim=0)
        prefix = f"encoder.layer.{layer}.attention"
        return [
            (f"{prefix}.q_proj.{kind}", query),
            (f"{prefix}.k_proj.{kind}", key),
            (f"{prefix}.v_proj.{kind}", value),
        ]
    if match := re.fullmatch(r"blocks\.(\d+)\.mlp\.w12\.(weight|bias)", name):
        # SwiGLU packs [gate; up]: hidden = silu(first half) * second half.
        layer, kind = match.groups()
        gate, up = tensor.chunk(2, dim=0)
        return [
            (f"encoder.layer.{layer}.mlp.gate_proj.{kind}", gate),
            (f"encoder.layer.{layer}.mlp.up_proj.{kind}", up),
        ]
    return renamed(name, tensor, _DINOV2_RENAMES)
