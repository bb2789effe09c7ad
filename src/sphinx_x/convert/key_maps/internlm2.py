"""InternLM2 (transformers remote-code layout) -> Llama layout."""

from __future__ import annotations

import re

import torch

from .common import Pairs, renamed

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
