"""Keep N of the E experts of every layer (the paper's A.1.3, Figure 7), chosen at random or by usage.

Two ways to apply a choice, with the same outputs:

    prune_experts(model, kept)       slices the router rows and the fused expert tensors in place and
                                     sets `num_local_experts = N`: the memory is really freed, and
                                     `save_pruned` writes a folder that loads as a normal sphinx-x
                                     model (its LLM exports as a stock MixtralForCausalLM)
    masked_experts(model, kept)      a `with` block in which the routers never pick a removed
                                     expert (their logits set to -inf), nothing copied: what a
                                     sweep over many choices uses on one loaded model

Either way the router chooses among the kept experts and renormalises its top-k weights over
them, as Mixtral does; with fewer experts than `top_k` left, every kept expert is used.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from .active_experts import set_active_experts
from .routers import active_experts, num_experts, routers, sparse_blocks, text_config
from .usage import RoutingUsage

STRATEGIES = ("random", "usage")


def random_experts(num_layers: int, total: int, keep: int, seed: int) -> list[list[int]]:
    """`keep` experts per layer drawn uniformly without replacement, each layer its own draw."""
    rng = random.Random(seed)
    return [sorted(rng.sample(range(total), keep)) for _ in range(num_layers)]


def busiest_experts(
    usage: RoutingUsage, keep: int, measure: str = "choices", token_type: str = "all"
) -> list[list[int]]:
    """Per layer, the `keep` experts with the largest share (ties: the lower index)."""
    share = usage.share(token_type, measure)
    if share.isnan().any():
        raise ValueError(f"the usage file saw no {token_type} tokens: it cannot rank experts by them")
    order = torch.sort(share, dim=-1, descending=True, stable=True).indices[:, :keep]
    return [sorted(row) for row in order.tolist()]


def check_kept(model: nn.Module, kept: list[list[int]]) -> int:
    """The number kept per layer, once `kept` is known to name N distinct experts of every layer."""
    layers, total = len(routers(model)), num_experts(model)
    if len(kept) != layers:
        raise ValueError(f"kept experts given for {len(kept)} layers, the model has {layers}")
    sizes = {len(row) for row in kept}
    if len(sizes) != 1 or not 1 <= sizes.pop() <= total:
        raise ValueError(f"keep the same number of experts (1 to {total}) in every layer, got {kept}")
    for layer, row in enumerate(kept):
        if len(set(row)) != len(row) or not all(0 <= e < total for e in row):
            raise ValueError(f"layer {layer}: kept experts {row} must be distinct indices in 0..{total - 1}")
    return len(kept[0])


@torch.no_grad()
def prune_experts(model: nn.Module, kept: list[list[int]]) -> nn.Module:
    """Slice every layer down to its kept experts, in place (`kept[layer]`: expert indices)."""
    keep = check_kept(model, kept)
    top_k = min(active_experts(model), keep)
    for block, row in zip(sparse_blocks(model), kept, strict=True):
        index = torch.tensor(row, device=block.gate.weight.device)
        block.gate.weight = sliced(block.gate.weight, index)  # [N, D]
        block.experts.gate_up_proj = sliced(block.experts.gate_up_proj, index)  # [N, 2I, D]
        block.experts.down_proj = sliced(block.experts.down_proj, index)  # [N, D, I]
        block.gate.num_experts = block.experts.num_experts = keep
    configs = {id(c): c for c in (text_config(model), getattr(model.config, "text_config", None)) if c}
    for config in configs.values():
        config.num_local_experts = keep
    llm = getattr(model, "language_model", model)
    if hasattr(llm, "num_experts"):
        llm.num_experts = keep  # the load-balancing loss's expert count
    set_active_experts(model, top_k)
    return model


def sliced(parameter: nn.Parameter, index: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(parameter.index_select(0, index).clone(), requires_grad=parameter.requires_grad)


@contextmanager
def masked_experts(model: nn.Module, kept: list[list[int]]) -> Iterator[nn.Module]:
    """Inside the block, each router chooses only among `kept[layer]` (see the module docstring)."""
    check_kept(model, kept)
    handles = [
        router.register_forward_hook(only_kept(row, router.num_experts))
        for router, row in zip(routers(model), kept, strict=True)
    ]
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()


def only_kept(row: list[int], total: int):
    """A router hook that redoes Mixtral's routing with the removed experts' logits at -inf."""
    removed = torch.ones(total, dtype=torch.bool)
    removed[row] = False

    def route(router, inputs, output):
        logits = output[0].masked_fill(removed.to(output[0].device), float("-inf"))  # [B * T, E]
        probs = torch.softmax(logits.float(), dim=-1)
        weights, indices = torch.topk(probs, min(router.top_k, len(row)), dim=-1)
        return logits, weights / weights.sum(dim=-1, keepdim=True), indices

    return route


# -- the smaller folder ----------------------------------------------------------------------


def parameter_bytes(model: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def folder_bytes(folder: str | Path) -> int:
    """Bytes of the weights files of a saved folder."""
    return sum(path.stat().st_size for path in Path(folder).glob("*.safetensors"))


def save_pruned(model, processor, out: str | Path) -> Path:
    """The pruned model and its processor as a normal sphinx-x folder."""
    out = Path(out)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
