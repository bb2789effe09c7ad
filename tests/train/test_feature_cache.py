"""Caching the frozen experts' features: the same outputs, each distinct view encoded once."""

import pytest
import torch

from sphinx_x.train.feature_cache import cache_expert_features, uncache_expert_features


def test_cached_features_equal_the_experts_and_each_view_is_encoded_once(
    toy_model, toy_processor, mixed_batch_inputs
):
    conversations, images = mixed_batch_inputs
    batch = toy_processor(conversations, images, add_generation_prompt=False)
    with torch.no_grad():
        expected = toy_model(**batch).logits
    encoded = []
    toy_model.vision_experts.convnext.register_forward_hook(
        lambda _m, args, _o: encoded.append(args[0].shape[0])
    )
    cache = cache_expert_features(toy_model)
    with torch.no_grad():
        first, second = toy_model(**batch).logits, toy_model(**batch).logits
    assert torch.equal(first, expected) and torch.equal(second, expected)
    assert encoded == [6] and (cache.misses, cache.hits) == (6, 6)  # 6 views encoded once, then looked up
    uncache_expert_features(toy_model)
    with torch.no_grad():
        toy_model(**batch)
    assert encoded == [6, 6]


def test_experts_being_trained_cannot_be_cached(toy_model):
    toy_model.vision_experts.requires_grad_(True)
    with pytest.raises(ValueError, match="being trained"):
        cache_expert_features(toy_model)
