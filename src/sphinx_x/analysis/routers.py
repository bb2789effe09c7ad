"""Where the routers are: each sparse decoder layer of a Mixtral LLM (transformers 5.x).

    layer.mlp                    MixtralSparseMoeBlock
    layer.mlp.gate               MixtralTopKRouter: weight [E, D], top_k, num_experts
    layer.mlp.experts            MixtralExperts: gate_up_proj [E, 2I, D], down_proj [E, D, I], num_experts

The router takes the layer's `[B * T, D]` hidden states in the batch's row-major order and returns
`(logits [B * T, E], top-k weights [B * T, k], top-k indices [B * T, k])`; the experts module uses
only what the router returns, so the router decides everything an analysis changes.
"""

from __future__ import annotations

from torch import nn


class NotAMixtureOfExpertsError(ValueError):
    """The model's LLM has no routed experts (a dense Llama, say)."""


def sparse_blocks(model: nn.Module) -> list[nn.Module]:
    """The sparse MoE block of every decoder layer, first to last. `model`: a sphinx-x model or a
    bare causal LM."""
    llm = getattr(model, "language_model", model)
    blocks = [module for module in llm.modules() if hasattr(module, "gate") and hasattr(module, "experts")]
    if not blocks or not all(hasattr(block.gate, "top_k") for block in blocks):
        kind = getattr(llm.config, "model_type", type(llm).__name__)
        raise NotAMixtureOfExpertsError(
            f"the model's LLM ({kind}) has no routed experts: the MoE analyses need a Mixtral-based "
            "sphinx-x model (e.g. `sphinx-x demo --moe`, the sphinx-x-toy-moe or sphinx-x-moe presets)"
        )
    return blocks


def routers(model: nn.Module) -> list[nn.Module]:
    """Each layer's router (`MixtralTopKRouter`), first to last."""
    return [block.gate for block in sparse_blocks(model)]


def text_config(model: nn.Module):
    llm = getattr(model, "language_model", model)
    return llm.config


def num_experts(model: nn.Module) -> int:
    """Experts per layer (every layer has the same number: `num_local_experts`)."""
    return routers(model)[0].num_experts


def active_experts(model: nn.Module) -> int:
    """Experts each token is routed to (the routers' `top_k`)."""
    return routers(model)[0].top_k
