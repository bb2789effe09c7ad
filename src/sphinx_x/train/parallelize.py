"""Parallelism is applied to a finished model, in this order (torchtitan's):

1. activation checkpointing per decoder layer (recompute in backward, trade compute for memory);
2. FSDP2: `fully_shard` each decoder layer, then the root. ZeRO-2-like by default (parameters stay
   gathered between forward and backward: `reshard_after_forward=False`), full sharding as an
   option. The frozen vision experts are left out of sharding: every process keeps a full copy.
A one-process run skips step 2 and otherwise takes the same code path.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def apply_activation_checkpointing(model) -> None:
    model.language_model.activation_checkpointing_enable(
        activation_checkpointing_kwargs={"use_reentrant": False}
    )


def apply_fsdp(model, reshard_after_forward: bool = False) -> None:
    from torch.distributed.fsdp import fully_shard

    frozen = set(model.vision_experts.parameters())
    for layer in model.language_model.model.layers:
        fully_shard(layer, reshard_after_forward=reshard_after_forward)
    fully_shard(model, reshard_after_forward=reshard_after_forward, ignored_params=frozen)


def init_distributed() -> tuple[int, int]:
    """(rank, world size): from torchrun's environment, or (0, 1) for a plain run."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return 0, 1
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return dist.get_rank(), dist.get_world_size()


def device_for_rank() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")
