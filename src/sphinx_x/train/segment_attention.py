"""Attention of packed rows computed sample by sample: no masked-out blocks are ever computed.

A packed row (`train/packing.py`) holds several samples; their attention must stay within each. With
transformers' SDPA path that is a dense block-diagonal mask, and the CPU kernels (and SDPA on GPU
without varlen kernels) compute every block of it, the masked ones too: a row of four 100-token
samples pays a 400-token sequence's attention. Here each sample (read from the position ids, which
restart at 0 on every sample) runs SDPA's causal kernel on its own span, so a row costs what its
samples cost, and a micro-batch can be a single row with no padding at all.

    use_segment_attention(model.language_model)   # from outside the model, as the trainer does

registers the implementation `"segment_sdpa"` with transformers' attention and mask interfaces.
Whenever an attention mask is needed (padding, a KV cache, the serving engine's packed cache) it
is transformers' own SDPA with transformers' own mask, so inference is unchanged.
"""

from __future__ import annotations

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

NAME = "segment_sdpa"


def segment_mask(batch_size, q_length, kv_length, *args, attention_mask=None, **kwargs):
    """No mask for causal or packed rows without padding and without a cache (the attention below
    reads the samples from the position ids); transformers' SDPA mask otherwise."""
    if (
        attention_mask is None
        and q_length == kv_length
        and not kwargs.get("q_offset")
        and not kwargs.get("kv_offset")
    ):
        return None
    return sdpa_mask(batch_size, q_length, kv_length, *args, attention_mask=attention_mask, **kwargs)


def segment_attention(module, query, key, value, attention_mask, position_ids=None, **kwargs):
    """`[B, H, T, D]` queries, keys, values -> `[B, T, H, D]`, each sample of a packed row on its own."""
    spans = sample_spans(position_ids, query.shape[2]) if attention_mask is None else None
    if spans is None or query.shape[2] != key.shape[2]:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    rows = []
    for row, row_spans in enumerate(spans):
        # split, not slices: its backward is one concatenation, where each slice's would fill a
        # zero tensor of the whole row.
        lengths = [end - start for start, end in row_spans]
        samples = zip(
            *(tensor[row : row + 1].split(lengths, dim=2) for tensor in (query, key, value)), strict=True
        )
        rows.append(torch.cat([
            sdpa_attention_forward(module, q, k, v, None, is_causal=True, **kwargs)[0] for q, k, v in samples
        ], dim=1))  # fmt: skip
    return torch.cat(rows, dim=0), None


def sample_spans(position_ids: torch.Tensor | None, length: int) -> list[list[tuple[int, int]]] | None:
    """`[(start, end), ...]` per row where the position ids restart; None when no row is packed."""
    if position_ids is None or position_ids.shape[-1] != length or length < 2:
        return None
    restarts = position_ids[:, 1:] != position_ids[:, :-1] + 1
    if not restarts.any():
        return None
    spans = []
    for row in restarts.tolist():
        starts = [0] + [index + 1 for index, restart in enumerate(row) if restart]
        spans.append(list(zip(starts, [*starts[1:], length], strict=True)))
    return spans


def use_segment_attention(llm) -> str:
    """Switch `llm` (a transformers causal LM using SDPA) to segment attention; returns the
    implementation it had, for `llm.set_attn_implementation(previous)` afterwards."""
    AttentionInterface.register(NAME, segment_attention)
    AttentionMaskInterface.register(NAME, segment_mask)
    previous = llm.config._attn_implementation
    if previous != "sdpa":
        return previous  # eager, flash or flex: their own handling of packed rows stays
    llm.set_attn_implementation(NAME)
    return previous
