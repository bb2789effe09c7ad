"""One KV cache for every running request: continuous batching without padding.

The cache is a single row (batch 1) holding every entry of every running request, in the order
they were computed; `owner` and `position` say whose each entry is and where it sits in that
request's sequence. A decoding step's queries (one token per running request) also go in as one
row, with their own RoPE positions, and the attention mask lets a query see only its own
request's entries:

    keys:     a0 a1 a2 b0 b1 c0 c1 | a3 b2 c2       (cached | this step's queries: a, b, c decode)
    query b2: .  .  .  x  x  .  .  | .  x  .        same owner, position <= its own

New prompts are prefilled in a pass of their own, without the cache (packing them into the decode
row would cost P x every cached entry); several short ones share that pass, each seeing only itself
(`prompt_mask`), and their entries are appended here.

A request that finishes or is cancelled has its entries dropped at once (the cache is compacted),
so the cache holds exactly the live requests' tokens and nothing is padded to the longest.
"""

from __future__ import annotations

import torch
from transformers import DynamicCache


class PackedCache:
    def __init__(
        self,
        device: torch.device,
        additive_dtype: torch.dtype | None = None,
        sliding_window: int | None = None,
    ):
        self.device = device
        # SDPA takes a boolean mask (a quarter of an additive one's memory); eager attention adds
        # the mask to its scores, so it gets 0 / most negative in its dtype.
        self.additive_dtype = additive_dtype
        self.sliding_window = sliding_window
        self.reset()

    def reset(self) -> None:
        self.kv = DynamicCache()
        self.owner = torch.empty(0, dtype=torch.long, device=self.device)  # [S] request id per entry
        self.position = torch.empty(0, dtype=torch.long, device=self.device)  # [S] RoPE position per entry

    def __len__(self) -> int:
        return self.owner.numel()

    def attention_mask(self, query_owner: torch.Tensor, query_position: torch.Tensor) -> torch.Tensor:
        """`[Q]`, `[Q]` -> mask `[1, 1, Q, S + Q]` over the cached entries then the queries (True or 0:
        visible)."""
        key_owner = torch.cat([self.owner, query_owner])
        key_position = torch.cat([self.position, query_position])
        return self.mask(key_owner, key_position, query_owner, query_position)

    def prompt_mask(self, owner: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """`[T]`, `[T]` of prompts prefilled together -> mask `[1, 1, T, T]`: each sees itself only."""
        return self.mask(owner, position, owner, position)

    def mask(self, key_owner, key_position, query_owner, query_position) -> torch.Tensor:
        visible = (key_owner[None, :] == query_owner[:, None]) & (
            key_position[None, :] <= query_position[:, None]
        )
        if self.sliding_window is not None:
            visible &= key_position[None, :] > query_position[:, None] - self.sliding_window
        if self.additive_dtype is None:
            return visible[None, None]
        mask = torch.zeros(visible.shape, dtype=self.additive_dtype, device=self.device)
        return mask.masked_fill_(~visible, torch.finfo(self.additive_dtype).min)[None, None]

    def append(self, kv: DynamicCache, owner: torch.Tensor, position: torch.Tensor) -> None:
        """Add the entries of prompts computed in a pass of their own (`[T]` owners and positions)."""
        for index, layer in enumerate(kv.layers):
            self.kv.update(layer.keys, layer.values, index)
        self.commit(owner, position)

    def commit(self, query_owner: torch.Tensor, query_position: torch.Tensor) -> None:
        """Record the entries the forward pass just appended to `kv` (one per query)."""
        self.owner = torch.cat([self.owner, query_owner])
        self.position = torch.cat([self.position, query_position])
        assert self.kv.get_seq_length() == len(self), "the KV cache and its owners disagree"

    def drop(self, owners: list[int]) -> None:
        """Forget every entry of these requests."""
        if not owners or not len(self):
            return
        keep = ~torch.isin(self.owner, torch.tensor(owners, device=self.device))
        if not keep.any():
            self.reset()
            return
        for layer in self.kv.layers:
            layer.keys, layer.values = layer.keys[:, :, keep], layer.values[:, :, keep]
        self.owner, self.position = self.owner[keep], self.position[keep]

    def entries_of(self, owner: int) -> int:
        return int((self.owner == owner).sum())
