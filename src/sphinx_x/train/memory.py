"""Training memory per process, from a preset's real parameter counts (a meta-device model) and the
trainer's policy (see `train/parallelize.py`):

- the trainable parameters (LLM, projector, start/end/skip) are fp32 master weights sharded by FSDP2
  over the world size, and so are their fp32 gradients and AdamW's two fp32 moments;
- the frozen vision experts are replicated, in fp32 as the trainer loads them;
- in bf16, FSDP2 all-gathers bf16 copies for compute. ZeRO-2-like (`reshard_after_forward: false`, the
  default) keeps every layer's copy from its forward to its backward: all trainable parameters at
  once. Full sharding (`true`) holds the root's (embeddings, output layer, norm, projector) and two
  decoder layers' (the running one and the prefetched next).

Activations (which depend on the micro-batch and sequence length, and on activation checkpointing),
the gradient and communication buffers of one layer, and the allocator's slack are not included.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

GIB = 1024**3
WORLD_SIZES = (8, 32, 64)
FP32, BF16 = 4, 2


@dataclass
class TrainingMemory:
    preset: str
    world_size: int
    trainable: int  # parameters
    frozen: int
    parameters: float  # bytes per process, each field
    gradients: float
    optimizer: float
    frozen_experts: float
    gathered_zero2: float
    gathered_zero3: float

    @property
    def sharded(self) -> float:
        return self.parameters + self.gradients + self.optimizer

    def total(self, reshard_after_forward: bool = False) -> float:
        gathered = self.gathered_zero3 if reshard_after_forward else self.gathered_zero2
        return self.sharded + self.frozen_experts + gathered


def training_memory(preset: str, world_size: int) -> TrainingMemory:
    from ..model.sphinx import SphinxXForConditionalGeneration
    from ..presets import preset_config

    with torch.device("meta"):
        model = SphinxXForConditionalGeneration(preset_config(preset))
    model.vision_experts.requires_grad_(False)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    layers = [sum(p.numel() for p in layer.parameters()) for layer in model.language_model.model.layers]
    root = trainable - sum(layers)  # sharded by the root's fully_shard: gathered for the whole forward
    return TrainingMemory(
        preset, world_size, trainable, frozen,
        parameters=FP32 * trainable / world_size, gradients=FP32 * trainable / world_size,
        optimizer=2 * FP32 * trainable / world_size, frozen_experts=FP32 * frozen,
        gathered_zero2=BF16 * trainable, gathered_zero3=BF16 * (root + 2 * max(layers)),
    )  # fmt: skip


def memory_table(presets: list[str], world_sizes: list[int]) -> str:
    """A markdown table, GiB per process, one row per preset and world size."""
    from ..info import human

    lines = [
        "| preset | processes | trainable | parameters (fp32) | gradients (fp32) | AdamW (fp32) | frozen experts "
        "(fp32, replicated) | bf16 gathered, ZeRO-2 / ZeRO-3 | total, ZeRO-2 / ZeRO-3 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for preset in presets:
        for world_size in world_sizes:
            m = training_memory(preset, world_size)
            lines.append(
                f"| {preset} | {world_size} | {human(m.trainable)} | {gib(m.parameters)} | {gib(m.gradients)} "
                f"| {gib(m.optimizer)} | {gib(m.frozen_experts)} | {gib(m.gathered_zero2)} / {gib(m.gathered_zero3)} "
                f"| {gib(m.total())} / {gib(m.total(reshard_after_forward=True))} |"
            )
    return "\n".join(lines)


def gib(size: float) -> str:
    return f"{size / GIB:.1f}"
