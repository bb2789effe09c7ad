"""The recipe's optimiser and schedule: AdamW (0.9, 0.95), no weight decay, linear warmup, cosine to 0."""

from __future__ import annotations

import math

import torch


def build_optimizer(model: torch.nn.Module, lr: float, betas=(0.9, 0.95), weight_decay: float = 0.0):
    trainable = [p for p in model.parameters() if p.requires_grad]
    # foreach=False: the same update kernel on every backend keeps single- and multi-process runs equal.
    return torch.optim.AdamW(trainable, lr=lr, betas=betas, weight_decay=weight_decay, foreach=False)


def warmup_cosine(step: int, total_steps: int, warmup_steps: int) -> float:
    """Multiplier of the base lr at `step` (0-based): linear warmup from 1/warmup to 1, then cosine to 0."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def build_scheduler(optimizer, total_steps: int, warmup_fraction: float = 0.01):
    warmup_steps = max(1, round(warmup_fraction * total_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, total_steps, warmup_steps)
    )
    scheduler.planned_steps = total_steps  # saved with checkpoints: a resume can tell the schedule changed
    return scheduler
