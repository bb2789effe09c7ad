"""BLIP-2's vision tower + Q-Former: the release stores the transformers `Blip2Model` it built
(without the language model and its projection), so its names are transformers' own:
`vision_model.*`, `query_tokens`, `qformer.*`.

Older transformers versions also built a text-path feed-forward in every Q-Former layer
(`qformer.encoder.layer.N.{intermediate,output}.*`), unused by the query tokens; it is dropped.
"""

from __future__ import annotations

import math
import re

import torch
from transformers import Blip2Config

from .common import Pairs, Shapes, count_indices

EVA_HEAD_DIM = 88  # EVA ViT-g/14: 1408 = 16 heads x 88
QFORMER_HEAD_DIM = 64  # BERT-base-like Q-Former: 768 = 12 heads x 64

_KNOWN = re.compile(r"(vision_model|qformer)\..+|query_tokens")
_TEXT_FEED_FORWARD = re.compile(
    r"qformer\.encoder\.layer\.\d+\.(intermediate|output)\.(dense|LayerNorm)\.(weight|bias)"
)
_LAYER = r"qformer\.encoder\.layer\.(\d+)\."


def blip2_qformer_config(shapes: Shapes) -> Blip2Config:
    """A `Blip2Config` with the vision tower and Q-Former read off the shapes (the rest: blip2-opt-2.7b)."""
    vision_hidden = shapes["vision_model.embeddings.class_embedding"][-1]
    patch = shapes["vision_model.embeddings.patch_embedding.weight"][-1]
    side = math.isqrt(shapes["vision_model.embeddings.position_embedding"][1] - 1)
    _, queries, hidden = shapes["query_tokens"]
    layers = count_indices(shapes, _LAYER + r"attention\.attention\.query\.weight")
    vision = {
        "hidden_size": vision_hidden,
        "intermediate_size": shapes["vision_model.encoder.layers.0.mlp.fc1.weight"][0],
        "num_hidden_layers": count_indices(
            shapes, r"vision_model\.encoder\.layers\.(\d+)\.layer_norm1\.weight"
        ),
        "num_attention_heads": max(1, vision_hidden // EVA_HEAD_DIM),
        "image_size": side * patch,
        "patch_size": patch,
        "qkv_bias": "vision_model.encoder.layers.0.self_attn.qkv.bias" in shapes,
        "layer_norm_eps": 1e-6,
    }
    qformer = {
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": max(1, hidden // QFORMER_HEAD_DIM),
        "intermediate_size": shapes["qformer.encoder.layer.0.intermediate_query.dense.weight"][0],
        "cross_attention_frequency": cross_attention_frequency(shapes, layers),
        "layer_norm_eps": 1e-12,
    }
    return Blip2Config(vision_config=vision, qformer_config=qformer, num_query_tokens=queries)


def cross_attention_frequency(shapes: Shapes, layers: int) -> int:
    """Every how many layers the Q-Former cross-attends to the image (2 in BLIP-2), read off the
    layers that have a `crossattention` block: 0, f, 2f, ..."""
    crossing = sorted(
        {int(m.group(1)) for name in shapes if (m := re.fullmatch(_LAYER + r"crossattention\..*", name))}
    )
    frequency = crossing[1] - crossing[0] if len(crossing) > 1 else max(layers, 1)
    if crossing != list(range(0, layers, frequency)):
        raise ValueError(
            f"Q-Former cross-attention in layers {crossing}: not every {frequency}th layer from 0"
        )
    return frequency


def blip2_qformer_to_hf(name: str, tensor: torch.Tensor) -> Pairs | None:
    if _TEXT_FEED_FORWARD.fullmatch(name):
        return []
    return [(name, tensor)] if _KNOWN.fullmatch(name) else None
