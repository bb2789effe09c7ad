import pytest
import torch

from sphinx_x.inference.packed_cache import PackedCache


def fill(cache, owners, positions):
    """What a forward pass does: append one KV entry per query, then commit their owners."""
    cache.kv.update(torch.zeros(1, 1, len(owners), 1), torch.zeros(1, 1, len(owners), 1), 0)
    cache.commit(torch.tensor(owners), torch.tensor(positions))


def visible(cache, owners, positions):
    mask = cache.attention_mask(torch.tensor(owners), torch.tensor(positions))[0, 0]
    return (mask if mask.dtype == torch.bool else mask == 0).int().tolist()


@pytest.mark.parametrize("additive_dtype", [None, torch.float32], ids=["boolean", "additive"])
def test_a_query_sees_only_its_own_request_causally(additive_dtype):
    cache = PackedCache(torch.device("cpu"), additive_dtype)
    fill(cache, [7, 7, 9], [0, 1, 0])  # a cached 2-token and 1-token request
    # 7 decodes its position 2, 9 its position 1, and 5 prefills two tokens
    assert visible(cache, [7, 9, 5, 5], [2, 1, 0, 1]) == [
        [1, 1, 0, 1, 0, 0, 0],
        [0, 0, 1, 0, 1, 0, 0],
        [0, 0, 0, 0, 0, 1, 0],
        [0, 0, 0, 0, 0, 1, 1],
    ]


def test_a_sliding_window_hides_old_entries():
    cache = PackedCache(torch.device("cpu"), sliding_window=2)
    fill(cache, [1, 1, 1], [0, 1, 2])
    assert visible(cache, [1], [3]) == [[0, 0, 1, 1]]


def test_dropping_a_request_compacts_its_entries_away():
    cache = PackedCache(torch.device("cpu"))
    keys = torch.arange(5.0).view(1, 1, 5, 1)
    cache.kv.update(keys, -keys, 0)
    cache.commit(torch.tensor([1, 2, 1, 2, 2]), torch.tensor([0, 0, 1, 1, 2]))
    cache.drop([1])
    assert cache.owner.tolist() == [2, 2, 2] and cache.position.tolist() == [0, 1, 2]
    assert cache.kv.layers[0].keys.flatten().tolist() == [1.0, 3.0, 4.0]
    cache.drop([2])
    assert len(cache) == 0 and cache.kv.get_seq_length() == 0
