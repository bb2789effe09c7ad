"""Weight-only quantization, applied from outside to a finished model (the model files know nothing of it).

    int8   torchao `Int8WeightOnlyConfig`: int8 weights, one scale per output row
    int4   bitsandbytes NF4 (`Linear4bit`): 4-bit NormalFloat weights, one scale per 64 values

What is quantized: every linear layer of the LLM's decoder layers (attention and MLP projections,
Mixtral's experts), and with `vision=True` the linear layers of the two vision experts (DINOv2's
attention and MLP, ConvNeXt's point-wise MLPs; their convolutions stay). What stays in full
precision: the projector, every norm, the token embeddings and the LM head, the start/end/skip
embeddings and Mixtral's router, small layers whose errors would reach every token.

Mixtral's experts are fused 3-D parameters in transformers 5 (`experts.gate_up_proj [E, 2I, D]`,
`experts.down_proj [E, D, I]`), which both libraries skip: `unfuse_experts` first turns them into one
`nn.Linear` per expert (the same computation as transformers' eager expert loop), which are then
quantized like any other linear layer.

A quantized model is not saved as such: `load_model(..., quantize=...)` quantizes the full weights
at every load (seconds for SPHINX-Tiny's LLM), so a folder stays one file format for every precision.
Why these two libraries, and what they cost and buy on which machine: docs/small-machines.md.
"""

from __future__ import annotations

import torch
from torch import nn

from .optional_imports import require

QUANTIZATIONS = ("int8", "int4")


def quantize_model(model, method: str, vision: bool = False) -> None:
    """Quantize `model` (a `SphinxXForConditionalGeneration`) in place; see the module docstring."""
    if method not in QUANTIZATIONS:
        raise ValueError(f"--quantize {method!r}: expected one of {', '.join(QUANTIZATIONS)}")
    unfuse_experts(model.language_model)
    targets = quantized_linears(model, vision)
    QUANTIZERS[method](model, targets)


def quantized_linears(model, vision: bool = False) -> list[str]:
    """Names of the `nn.Linear` layers that quantization replaces (see the module docstring)."""
    prefixes = ["language_model.model.layers."] + (["vision_experts."] if vision else [])
    return [
        name
        for name, module in model.named_modules()
        if type(module) is nn.Linear and any(name.startswith(prefix) for prefix in prefixes)
    ]


# -- Mixtral's fused experts -------------------------------------------------------------------


class UnfusedExperts(nn.Module):
    """Mixtral's experts as one `nn.Linear` pair per expert, so quantizers and LoRA see them.

    `gate_up_proj[e]`: D -> 2I (gate rows first, then up), `down_proj[e]`: I -> D; the forward is
    transformers' eager expert loop: each routed token through its experts, weighted and summed.
    """

    def __init__(self, experts):
        super().__init__()
        self.num_experts = experts.num_experts
        self.act_fn = experts.act_fn
        self.gate_up_proj = nn.ModuleList(linear_of(weight) for weight in experts.gate_up_proj)
        self.down_proj = nn.ModuleList(linear_of(weight) for weight in experts.down_proj)

    def forward(self, hidden_states: torch.Tensor, top_k_index: torch.Tensor, top_k_weights: torch.Tensor):
        """`[N, D]` tokens, `[N, k]` chosen experts and their weights -> `[N, D]`."""
        output = torch.zeros_like(hidden_states)
        for expert in top_k_index.unique().tolist():
            token, slot = torch.where(top_k_index == expert)
            gate, up = self.gate_up_proj[expert](hidden_states[token]).chunk(2, dim=-1)
            routed = self.down_proj[expert](self.act_fn(gate) * up) * top_k_weights[token, slot, None]
            output.index_add_(0, token, routed.to(output.dtype))
        return output


def linear_of(weight: torch.Tensor) -> nn.Linear:
    """An `nn.Linear` without bias holding `weight` `[out, in]` (a copy: the fused tensor is freed)."""
    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=False, device="meta")
    linear.weight = nn.Parameter(weight.detach().clone(), requires_grad=weight.requires_grad)
    return linear


def unfuse_experts(llm) -> int:
    """Replace every fused Mixtral experts module of `llm` by `UnfusedExperts`; how many were."""
    fused = [(name, module) for name, module in llm.named_modules() if is_fused_experts(module)]
    for name, module in fused:
        parent_name, _, child = name.rpartition(".")
        setattr(llm.get_submodule(parent_name), child, UnfusedExperts(module))
    return len(fused)


def is_fused_experts(module: nn.Module) -> bool:
    weight = getattr(module, "gate_up_proj", None)
    return isinstance(weight, nn.Parameter) and weight.dim() == 3


# -- the two libraries ---------------------------------------------------------------------------


def quantize_int8(model, targets: list[str]) -> None:
    require("torchao", "quantize")
    from torchao.quantization import Int8WeightOnlyConfig, quantize_

    chosen = set(targets)
    quantize_(model, Int8WeightOnlyConfig(), filter_fn=lambda module, name: name in chosen)


def quantize_int4(model, targets: list[str]) -> None:
    for name in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, nf4_linear(getattr(parent, child)))


def nf4_linear(linear: nn.Linear):
    """bitsandbytes' NF4 layer holding `linear`'s weights, quantized on their device; it computes
    in the weights' dtype."""
    bnb = require("bitsandbytes", "quantize")
    weight = linear.weight
    layer = bnb.nn.Linear4bit(linear.in_features, linear.out_features, bias=linear.bias is not None,
                              compute_dtype=weight.dtype, quant_type="nf4", device="meta")  # fmt: skip
    layer.weight = bnb.nn.Params4bit(weight.detach(), requires_grad=False, quant_type="nf4")
    if linear.bias is not None:
        layer.bias = nn.Parameter(linear.bias.detach(), requires_grad=False)
    return layer.to(weight.device)  # quantizes


QUANTIZERS = {"int8": quantize_int8, "int4": quantize_int4}


# -- what the weights take -----------------------------------------------------------------------


def weight_bytes(model) -> dict[str, int]:
    """Bytes of every parameter and buffer, as stored (quantized data, scales and tables included;
    a tensor shared by several layers counted once), by part: `llm`, `vision` (the two experts),
    `other` (projector, start/end/skip) and `total`."""
    parts, seen = {"llm": 0, "vision": 0, "other": 0}, set()
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        part = (
            "llm"
            if name.startswith("language_model.")
            else "vision"
            if name.startswith("vision_experts.")
            else "other"
        )
        for stored in stored_tensors(tensor):
            key = (stored.device, stored.untyped_storage().data_ptr(), stored.storage_offset(), stored.shape)
            if key not in seen:
                seen.add(key)
                parts[part] += stored.numel() * stored.element_size()
    return parts | {"total": sum(parts.values())}


def stored_tensors(tensor: torch.Tensor) -> list[torch.Tensor]:
    """The plain tensors that hold `tensor`: a torchao tensor's inner ones, bitsandbytes' packed
    data plus its block scales and NF4 tables."""
    if hasattr(tensor, "__tensor_flatten__"):
        names, _ = tensor.__tensor_flatten__()
        return [inner for name in names for inner in stored_tensors(getattr(tensor, name))]
    state = getattr(tensor, "quant_state", None)
    if state is None:
        return [tensor]
    nested = state.state2 if state.nested else None
    extra = [state.absmax, state.code, state.offset if state.nested else None,
             nested.absmax if nested else None, nested.code if nested else None]  # fmt: skip
    return [tensor.data, *(t for t in extra if isinstance(t, torch.Tensor))]
