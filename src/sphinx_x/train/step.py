"""One optimiser step over a global batch: forward -> masked loss -> backward (per micro-batch) -> clip -> step.

The loss is the mean over every supervised token of the *global* batch (all micro-batches, all
processes), so the step is the same whatever the split into micro-batches and processes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..model.sphinx import IGNORE_INDEX


@dataclass
class StepResult:
    loss: float | None  # mean cross-entropy per supervised token of the global batch; None: not taken
    aux_loss: float | None  # Mixtral load balancing (0 for dense LLMs)
    grad_norm: float | None
    tokens: int  # every (non-padding) token the step processed, all processes
    supervised_tokens: int

    @property
    def taken(self) -> bool:
        return self.loss is not None


def all_reduce_sum(value: torch.Tensor) -> torch.Tensor:
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def routes_tokens(model) -> bool:
    """True for a routed LLM (Mixtral): its router has a load-balancing loss."""
    return getattr(model.config.text_config, "num_local_experts", 0) > 1


def train_step(model, optimizer, scheduler, micro_batches: list[dict], grad_clip: float, autocast_dtype,
               aux_loss_weight: float, world_size: int, tokens: int) -> StepResult:  # fmt: skip
    """`micro_batches`: this process's share of the global batch, already collated (padded or
    packed); `tokens`: their samples' tokens, padding not counted."""
    supervised = sum((mb["labels"][:, 1:] != IGNORE_INDEX).sum() for mb in micro_batches)
    # On the model's device: NCCL reduces only GPU tensors (gloo, CPU ones).
    counts = torch.stack([supervised, torch.tensor(tokens, device=supervised.device)])
    supervised, tokens = all_reduce_sum(counts).tolist()
    if supervised == 0:  # every sample was skipped, on every process: nothing to learn, no step
        return StepResult(None, None, None, int(tokens), 0)
    device = micro_batches[0][
        "input_ids"
    ].device  # the compute device (parameters may be offloaded to the CPU)
    total_loss = torch.zeros(2, device=device)
    # A routed LLM reports its load-balancing loss even when it is not trained (weight 0).
    router = {"output_router_logits": True} if routes_tokens(model) else {}
    for batch in micro_batches:
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype != torch.float32):
            output = model(**batch, **router, loss_only=True)  # logits only where the loss reads them
        token_loss = output.loss * output.supervised_tokens / max(supervised, 1)  # this micro-batch's share
        aux = (
            output.aux_loss / len(micro_batches) / world_size
            if output.aux_loss is not None
            else torch.zeros((), device=token_loss.device)
        )
        # Gradients are averaged over processes; scaling by world_size makes the total a plain sum.
        ((token_loss + aux_loss_weight * aux) * world_size).backward()
        total_loss += torch.stack([token_loss.detach().float(), aux.detach().float()])
    grad_norm = torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], grad_clip)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    loss, aux_loss = all_reduce_sum(total_loss).tolist()
    return StepResult(loss, aux_loss, float(grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm),
                      int(tokens), int(supervised))  # fmt: skip
