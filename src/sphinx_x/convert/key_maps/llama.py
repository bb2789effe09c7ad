"""LLaMA: Meta's layout -> transformers `LlamaForCausalLM` (and the attention of Mixtral)."""

from __future__ import annotations

import re
from collections.abc import Callable

import torch

from .common import Pairs, renamed

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


# -- Mixtral: the release's sparse-expert layout -> transformers `MixtralForCausalLM` ----------

Read = Callable[[str], torch.Tensor]  # another key of the same checkpoint (names without a prefix)


def mixtral_sparse_to_hf(
    name: str, tensor: torch.Tensor, read: Read, num_experts: int, head_dim: int
) -> Pairs | None:
    """The release's sparse MoE layer -> transformers' fused experts; the rest as LLaMA.

    feed_forward.w1, w3 [E * I, D] (expert, hidden, dim) -> mlp.experts.gate_up_proj [E, 2I, D]
                                                            (gate rows, then up rows)
    feed_forward.w2     [E * I, D], per expert HF's down_proj transposed
                                                         -> mlp.experts.down_proj [E, D, I]
    feed_forward.gate.weight [E, D] (the router)         -> mlp.gate.weight
    """
    match = re.fullmatch(r"layers\.(\d+)\.feed_forward\.(w[123]|gate\.weight)", name)
    if match is None:
        return llama_meta_to_hf(name, tensor, head_dim)
    layer, part = match.groups()
    prefix = f"model.layers.{layer}.mlp"
    if part == "gate.weight":
        return [(f"{prefix}.gate.weight", tensor)]
    if part == "w3":
        return []  # read together with w1
    experts = tensor.view(num_experts, -1, tensor.shape[-1])  # [E, I, D]
    if part == "w2":
        return [(f"{prefix}.experts.down_proj", experts.transpose(1, 2))]
    up = read(f"layers.{layer}.feed_forward.w3").view(num_experts, -1, tensor.shape[-1])
    return [(f"{prefix}.experts.gate_up_proj", torch.cat([experts, up], dim=1))]
