"""Projector: fused visual features -> the LLM's width (`Linear` then `LayerNorm`, no activation)."""

from __future__ import annotations

import torch
from torch import nn


class Projector(nn.Module):
    def __init__(self, feature_size: int, hidden_size: int, layernorm_eps: float):
        super().__init__()
        self.linear = nn.Linear(feature_size, hidden_size, bias=True)
        self.norm = nn.LayerNorm(hidden_size, eps=layernorm_eps)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """`[N, T, feature_size]` -> `[N, T, hidden_size]`."""
        return self.norm(self.linear(features))
