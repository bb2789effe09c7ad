"""Choosing the next token: greedy, or temperature + nucleus (top-p) sampling, per request.

Every request gets its own `torch.Generator`, so a seeded request draws the same tokens whatever
else runs beside it (alone, in a batch, or among other clients of the server).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..processing.conversation import STOP_STRING


@dataclass(frozen=True)
class DecodingSettings:
    """Defaults are the release's demo settings; `temperature=0` means greedy."""

    max_new_tokens: int = 512
    temperature: float = 0.1
    top_p: float = 0.75
    stop_strings: tuple[str, ...] = (STOP_STRING,)
    seed: int | None = None

    def __post_init__(self):
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0


def choose_next_tokens(
    logits: torch.Tensor, settings: DecodingSettings, generators: list[torch.Generator] | None = None
) -> torch.LongTensor:
    """Greedy when temperature is 0, else temperature + nucleus (top-p) sampling, row `i` drawing
    from `generators[i]` (torch's global generator without them). `[B, V] -> [B]`."""
    if settings.greedy:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / settings.temperature, dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    outside_nucleus = sorted_probs.cumsum(dim=-1) - sorted_probs > settings.top_p
    sorted_probs = sorted_probs.masked_fill(outside_nucleus, 0.0)
    probabilities = sorted_probs / sorted_probs.sum(-1, keepdim=True)
    if generators is None:
        choice = torch.multinomial(probabilities, 1)
    else:
        rows = zip(probabilities, generators, strict=True)
        choice = torch.cat([torch.multinomial(row[None], 1, generator=generator) for row, generator in rows])
    return order.gather(-1, choice).squeeze(-1)


class RequestSampler:
    """The next-token choice of one request, with its own random stream.

    Without a seed the stream is seeded from torch's global generator, so `torch.manual_seed`
    still makes a whole run repeatable.
    """

    def __init__(self, settings: DecodingSettings, device: torch.device | str = "cpu"):
        self.settings = settings
        seed = settings.seed if settings.seed is not None else int(torch.randint(2**62, ()).item())
        self.generator = torch.Generator(device).manual_seed(seed)

    def __call__(self, logits: torch.Tensor) -> int:
        """`logits`: `[V]` -> a token id."""
        return int(choose_next_tokens(logits[None], self.settings, [self.generator]).item())


def sample_rows(logits: torch.Tensor, samplers: list[RequestSampler], never: list[int]) -> list[int]:
    """One token per row of `logits` `[N, V]` (row i is request i's); ids in `never` are never chosen."""
    logits = logits.float()
    logits[:, never] = float("-inf")
    greedy = logits.argmax(dim=-1).tolist()  # one call for every greedy row
    return [
        greedy[row] if sampler.settings.greedy else sampler(logits[row])
        for row, sampler in enumerate(samplers)
    ]
