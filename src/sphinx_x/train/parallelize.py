"""Parallelism is applied to a finished model, in this order (torchtitan's):

1. activation checkpointing per decoder layer (recompute in backward, trade compute for memory);
2. `torch.compile` per decoder layer (optional: `run.compile`), in place, so parameter names and
   checkpoints do not change;
3. FSDP2: `fully_shard` each decoder layer, then the root. ZeRO-2-like by default (parameters stay
   gathered between forward and backward: `reshard_after_forward=False`), full sharding as an
   option. Training in bfloat16, every `fully_shard` gets `MixedPrecisionPolicy(param_dtype=bf16,
   reduce_dtype=fp32)`: parameters are all-gathered and computed in bf16, gradients reduced in fp32
   into fp32 master weights and optimizer state. `run.cpu_offload` keeps those sharded fp32 states on
   the CPU (the optimizer steps there), for fine-tuning a 13B model on one GPU. The frozen vision
   experts are left out of sharding: every process keeps a full copy, and they run without autograd
   (the model calls them under `no_grad`).
A one-process run without offload skips step 3 and otherwise takes the same code path.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def apply_activation_checkpointing(model) -> None:
    model.language_model.activation_checkpointing_enable(
        activation_checkpointing_kwargs={"use_reentrant": False}
    )


def apply_compile(model) -> None:
    """Each decoder layer compiled on its own (the layers are alike: one compilation serves all)."""
    for layer in model.language_model.model.layers:
        layer.compile()


def apply_fsdp(
    model,
    param_dtype: torch.dtype | None = None,
    reshard_after_forward: bool = False,
    cpu_offload: bool = False,
) -> None:
    from torch.distributed.fsdp import CPUOffloadPolicy, MixedPrecisionPolicy, OffloadPolicy, fully_shard

    mixed_precision = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=torch.float32)
    offload = CPUOffloadPolicy(pin_memory=torch.cuda.is_available()) if cpu_offload else OffloadPolicy()
    options = {"reshard_after_forward": reshard_after_forward, "mp_policy": mixed_precision,
               "offload_policy": offload}  # fmt: skip
    for layer in model.language_model.model.layers:
        fully_shard(layer, **options)
    fully_shard(model, **options, ignored_params=set(model.vision_experts.parameters()))


def init_distributed(always: bool = False) -> tuple[int, int]:
    """(rank, world size): from torchrun's environment, or (0, 1) for a plain run, which gets a
    one-process group only if `always` (FSDP2 with CPU offload on one device needs one)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1 and not always:
        return 0, 1
    if not dist.is_initialized():
        # CPU tensors (offloaded states, the trainer's counters) travel by gloo, GPU tensors by NCCL.
        backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
        if world_size == 1:
            dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
        else:
            dist.init_process_group(backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return dist.get_rank(), dist.get_world_size()


def device_for_rank() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")
