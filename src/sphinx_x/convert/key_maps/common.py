"""What every key map shares: a map takes one source name and tensor and returns the `(name, tensor)`
pairs it becomes, `[]` for a known key that is dropped (unused by the model), or None when the
name is not part of that format."""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

Pairs = list[tuple[str, torch.Tensor]]
Shapes = Mapping[str, torch.Size]


def renamed(name: str, tensor: torch.Tensor, rules: list[tuple[str, str]]) -> Pairs | None:
    """The first rule whose pattern matches all of `name` renames it; None when none does."""
    for pattern, target in rules:
        if re.fullmatch(pattern, name):
            return [(re.sub(pattern, target, name), tensor)]
    return None


def count_indices(names, pattern: str) -> int:
    return len({int(m.group(1)) for name in names if (m := re.fullmatch(pattern, name))})


def split_attention(
    prefix: str, kind: str, tensor: torch.Tensor, names=("q_proj", "k_proj", "v_proj")
) -> Pairs:
    """A packed `[3 * D, ...]` query/key/value tensor -> the three projections of `prefix`."""
    return [
        (f"{prefix}.{name}.{kind}", part) for name, part in zip(names, tensor.chunk(3, dim=0), strict=True)
    ]
