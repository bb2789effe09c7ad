"""Inference with k active experts per token (the paper's A.1.1, Figure 6).

In transformers 5.x each layer's router reads its own `top_k` attribute, copied from the config
when the layer was built: setting `num_experts_per_tok` on a live model's config changes nothing.
`set_active_experts` sets the routers (what the forward pass uses) and the config (what a saved
folder records, so it loads with the same k).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

from .routers import active_experts, num_experts, sparse_blocks, text_config


def set_active_experts(model: nn.Module, k: int) -> None:
    """Route every token to its `k` most probable experts (1..E), weights renormalised over those k."""
    total = num_experts(model)
    if not 1 <= k <= total:
        raise ValueError(
            f"active experts k={k}: expected 1 to {total} (the model has {total} experts per layer)"
        )
    for block in sparse_blocks(model):
        block.gate.top_k = k
        block.top_k = k  # read by nothing in transformers 5.24, kept in step for anyone who does
    text_config(model).num_experts_per_tok = k
    if hasattr(model, "config") and hasattr(model.config, "text_config"):
        model.config.text_config.num_experts_per_tok = k
    llm = getattr(model, "language_model", model)
    if hasattr(llm, "num_experts_per_tok"):
        llm.num_experts_per_tok = k  # the load-balancing loss's top-k


@contextmanager
def experts_per_token(model: nn.Module, k: int) -> Iterator[nn.Module]:
    """`set_active_experts` for the duration of a `with` block, then back to what it was."""
    previous = active_experts(model)
    set_active_experts(model, k)
    try:
        yield model
    finally:
        set_active_experts(model, previous)
