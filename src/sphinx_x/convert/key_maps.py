"""The weight formats SPHINX checkpoints come in, mapped to the transformers modules we compose.

Each map takes one source name and tensor and returns the `(name, tensor)` pairs it becomes, or
None when the name is not part of that format. They work on meta tensors too, so a converter can
check every name and shape before it reads a byte of weights. The `*_config` functions read the
architecture off the shapes (names without any prefix).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from transformers import ConvNextConfig, Dinov2Config

Pairs = list[tuple[str, torch.Tensor]]
Shapes = Mapping[str, torch.Size]

DINOV2_HEAD_DIM = 64  # every DINOv2 model (S, B, L, g) uses 64-wide heads; a checkpoint cannot say


def renamed(name: str, tensor: torch.Tensor, rules: list[tuple[str, str]]) -> Pairs | None:
    """The first rule whose pattern matches all of `name` renames it; None when none does."""
    for pattern, target in rules:
        if re.fullmatch(pattern, name):
            return [(re.sub(pattern, target, name), tensor)]
    return None


def count_indices(names, pattern: str) -> int:
    return len({int(m.group(1)) for name in names if (m := re.fullmatch(pattern, name))})


# -- ConvNeXt: timm (open_clip trunk) -> transformers ConvNextModel ---------------------------

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


# -- DINOv2: torch-hub names -> transformers Dinov2Model --------------------------------------

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


# -- LLaMA: Meta layout -> transformers LlamaForCausalLM --------------------------------------

_LLAMA_RENAMES = [
    (r"tok_embeddings\.weight", "model.embed_tokens.weight"),
    (r"norm\.weight", "model.norm.weight"),
    (r"output\.weight", "lm_head.weight"),
    (r"layers\.(\d+)\.attention\.wv\.weight", r"model.layers.\1.self_attn.v_proj.weight"),
    (r"layers\.(\d+)\.attention\.wo\.weight", r"model.layers.\1.self_attn.o_proj.weight"),
    (r"layers\.(\d+)\.feed_forward\.w1\.weight", r"model.layers.\1.mlp.gate_proj.weight"),
    (r"layers\.(\d+)\.feed_forward\.w2\.weight", r"model.layers.\1.mlp.down_proj.weight"),
    (r"layers\.(\d+)\.feed_forward\.w3\.weight", r"model.layers.\1.mlp.up_proj.weight"),
    (r"layers\.(\d+)\.attention_norm\.weight", r"model.layers.\1.input_layernorm.weight"),
    (r"layers\.(\d+)\.ffn_norm\.weight", r"model.layers.\1.post_attention_layernorm.weight"),
]


def llama_meta_to_hf(name: str, tensor: torch.Tensor, head_dim: int) -> Pairs | None:
    """Meta rotary pairs dimensions (2i, 2i+1); transformers rotates halves (i, i + d/2): permute q, k rows."""
    if match := re.fullmatch(r"layers\.(\d+)\.attention\.w([qk])\.weight", name):
        layer, which = match.groups()
        return [
            (
                f"model.layers.{layer}.self_attn.{which}_proj.weight",
                interleaved_to_half_rotary(tensor, head_dim),
            )
        ]
    return renamed(name, tensor, _LLAMA_RENAMES)


def interleaved_to_half_rotary(weight: torch.Tensor, head_dim: int) -> torch.Tensor:
    """`[heads * head_dim, dim]`: within each head, rows (0, 1, 2, 3, ...) -> (0, 2, 4, ..., 1, 3, 5, ...)."""
    rows, dim = weight.shape
    heads = rows // head_dim
    return weight.view(heads, head_dim // 2, 2, dim).transpose(1, 2).reshape(rows, dim)


# -- InternLM2 (transformers remote-code layout) -> Llama layout ------------------------------

_INTERNLM2_RENAMES = [
    (r"model\.tok_embeddings\.weight", "model.embed_tokens.weight"),
    (r"model\.norm\.weight", "model.norm.weight"),
    (r"output\.weight", "lm_head.weight"),
    (r"model\.layers\.(\d+)\.attention\.wo\.weight", r"model.layers.\1.self_attn.o_proj.weight"),
    (r"model\.layers\.(\d+)\.feed_forward\.w1\.weight", r"model.layers.\1.mlp.gate_proj.weight"),
    (r"model\.layers\.(\d+)\.feed_forward\.w2\.weight", r"model.layers.\1.mlp.down_proj.weight"),
    (r"model\.layers\.(\d+)\.feed_forward\.w3\.weight", r"model.layers.\1.mlp.up_proj.weight"),
    (r"model\.layers\.(\d+)\.attention_norm\.weight", r"model.layers.\1.input_layernorm.weight"),
    (r"model\.layers\.(\d+)\.ffn_norm\.weight", r"model.layers.\1.post_attention_layernorm.weight"),
]


def internlm2_to_llama(name: str, tensor: torch.Tensor, num_heads: int, num_kv_heads: int) -> Pairs | None:
    """InternLM2 packs q, k, v per KV group: `[kv_heads, (heads / kv_heads) q + 1 k + 1 v, head_dim, dim]`.

    Its rotary embedding already rotates halves, so no row permutation is needed.
    """
    if match := re.fullmatch(r"model\.layers\.(\d+)\.attention\.wqkv\.weight", name):
        layer = match.group(1)
        rows, dim = tensor.shape
        queries_per_group = num_heads // num_kv_heads
        head_dim = rows // (num_kv_heads * (queries_per_group + 2))
        grouped = tensor.view(num_kv_heads, queries_per_group + 2, head_dim, dim)
        prefix = f"model.layers.{layer}.self_attn"
        return [
            (f"{prefix}.q_proj.weight", grouped[:, :queries_per_group].reshape(-1, dim)),
            (f"{prefix}.k_proj.weight", grouped[:, -2].reshape(-1, dim)),
            (f"{prefix}.v_proj.weight", grouped[:, -1].reshape(-1, dim)),
        ]
    return renamed(name, tensor, _INTERNLM2_RENAMES)
