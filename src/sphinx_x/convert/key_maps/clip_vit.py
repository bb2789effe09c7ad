"""CLIP ViT: open_clip names (the release's `clip.visual.*`) -> transformers `CLIPVisionModel`.

open_clip keeps the text tower's parameters beside the image tower; the release removed the text
transformer but not the rest (`token_embedding`, `positional_embedding`, `ln_final`,
`text_projection`, `logit_scale`), nor the image projection `visual.proj`, which its features skip.
Those are known and dropped.
"""

from __future__ import annotations

import math
import re

import torch
from transformers import CLIPVisionConfig

from .common import Pairs, Shapes, count_indices, renamed, split_attention

CLIP_HEAD_DIM = 64  # every CLIP ViT (B, L, H) uses 64-wide heads; a checkpoint cannot say

_BLOCK = r"visual\.transformer\.resblocks\.(\d+)\."
_CLIP_RENAMES = [
    (r"visual\.conv1\.weight", "embeddings.patch_embedding.weight"),
    (r"visual\.class_embedding", "embeddings.class_embedding"),
    (r"visual\.positional_embedding", "embeddings.position_embedding.weight"),
    (r"visual\.ln_pre\.(weight|bias)", r"pre_layrnorm.\1"),
    (_BLOCK + r"ln_1\.(weight|bias)", r"encoder.layers.\1.layer_norm1.\2"),
    (_BLOCK + r"ln_2\.(weight|bias)", r"encoder.layers.\1.layer_norm2.\2"),
    (_BLOCK + r"attn\.out_proj\.(weight|bias)", r"encoder.layers.\1.self_attn.out_proj.\2"),
    (_BLOCK + r"mlp\.c_fc\.(weight|bias)", r"encoder.layers.\1.mlp.fc1.\2"),
    (_BLOCK + r"mlp\.c_proj\.(weight|bias)", r"encoder.layers.\1.mlp.fc2.\2"),
    (r"visual\.ln_post\.(weight|bias)", r"post_layernorm.\1"),
]
_UNUSED = re.compile(
    r"visual\.proj|token_embedding\.weight|positional_embedding|ln_final\.(weight|bias)|text_projection|logit_scale"
)


def open_clip_vit_config(shapes: Shapes, hidden_act: str = "gelu") -> CLIPVisionConfig:
    """The vision tower's config from its shapes; `hidden_act` "gelu" as the release runs it."""
    hidden = shapes["visual.class_embedding"][-1]
    patch = shapes["visual.conv1.weight"][-1]
    side = math.isqrt(shapes["visual.positional_embedding"][0] - 1)
    return CLIPVisionConfig(
        hidden_size=hidden,
        intermediate_size=shapes["visual.transformer.resblocks.0.mlp.c_fc.weight"][0],
        num_hidden_layers=count_indices(shapes, _BLOCK + r"ln_1\.weight"),
        num_attention_heads=max(1, hidden // CLIP_HEAD_DIM),
        patch_size=patch,
        image_size=side * patch,
        hidden_act=hidden_act,
        layer_norm_eps=1e-5,
    )


def open_clip_vit_to_hf(name: str, tensor: torch.Tensor) -> Pairs | None:
    if match := re.fullmatch(_BLOCK + r"attn\.in_proj_(weight|bias)", name):
        layer, kind = match.groups()
        return split_attention(f"encoder.layers.{layer}.self_attn", kind, tensor)
    if _UNUSED.fullmatch(name):
        return []
    return renamed(name, tensor, _CLIP_RENAMES)
