"""Frozen vision experts give the same features for the same view in every epoch: cache them.

`cache_expert_features(model)` wraps the experts' forward (from outside, the model is unchanged)
so that each view's fused features are computed once and then looked up by the view's pixels.
The cache holds `views x tokens x channels` floats per distinct view (about 32 KB per image for the
demo's toy experts; far too much for real experts and datasets, which is why it is an option).
`uncache_expert_features(model)` restores the plain forward and frees the memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import torch

from ..model.vision_experts.mixture import VisualFeatures


class FeatureCache:
    """Stands in for the experts' forward: `pixels[name]` `[N, 3, V, V]` -> `VisualFeatures`."""

    def __init__(self, forward):
        self.forward, self.features, self.hits, self.misses = forward, {}, 0, 0

    def __call__(self, pixels: Mapping[str, torch.Tensor]) -> VisualFeatures:
        names = sorted(pixels)
        rows = next(iter(pixels.values())).shape[0]
        keys = [view_key(*(pixels[name][row] for name in names)) for row in range(rows)]
        missing = [row for row, key in enumerate(keys) if key not in self.features]
        if missing:
            computed = self.forward({name: tensor[missing] for name, tensor in pixels.items()})
            for index, row in enumerate(missing):
                self.features[keys[row]] = (
                    computed.fused[index],
                    {q: t[index] for q, t in computed.queries.items()},
                )
        self.hits += rows - len(missing)
        self.misses += len(missing)
        views = [self.features[key] for key in keys]
        queries = {name: torch.stack([view[1][name] for view in views]) for name in views[0][1]}
        return VisualFeatures(fused=torch.stack([view[0] for view in views]), queries=queries)


def view_key(*views: torch.Tensor) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    for view in views:
        digest.update(view.detach().cpu().contiguous().numpy().tobytes())
    return digest.digest()


def cache_expert_features(model) -> FeatureCache:
    """Every later forward of `model.vision_experts` looks its views up first."""
    experts = model.vision_experts
    if any(parameter.requires_grad for parameter in experts.parameters()):
        raise ValueError("the vision experts are being trained: their features change, they cannot be cached")
    cache = FeatureCache(experts.forward)
    experts.forward = cache
    return cache


def uncache_expert_features(model) -> None:
    model.vision_experts.__dict__.pop("forward", None)
