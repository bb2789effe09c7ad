"""Batched generation with a KV cache: images are encoded once, at prefill.

Left padding keeps every sample's next token in the last column; positions come from the
attention mask so padding never shifts RoPE. A sample stops at EOS or at a stop string (the
template's `\\n###`); its text is streamed as it grows, holding back anything that could still turn
out to be the start of a stop string.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..model.sphinx import SphinxXForConditionalGeneration
from ..processing.conversation import STOP_STRING


@dataclass(frozen=True)
class DecodingSettings:
    """Defaults are the release's demo settings; `temperature=0` means greedy."""

    max_new_tokens: int = 512
    temperature: float = 0.1
    top_p: float = 0.75
    stop_strings: tuple[str, ...] = (STOP_STRING,)
    seed: int | None = None


OnText = Callable[[int, str], None]  # (sample index, newly final text)
TEXT_INPUTS = ("input_ids", "attention_mask", "labels")  # the rest of a batch is its images


@torch.no_grad()
def generate(
    model: SphinxXForConditionalGeneration,
    tokenizer,
    batch: dict[str, torch.Tensor],
    settings: DecodingSettings = DecodingSettings(),
    on_text: OnText | None = None,
    seeds: list[int] | None = None,
) -> list[str]:
    """Answers for a left-padded batch from `SphinxXProcessor(..., add_generation_prompt=True)`.

    Sampling draws from one generator per sample: `seeds` (one each), else `settings.seed` for all,
    else torch's global one. A sample's answer then depends on its own seed only, not on its batch.
    """
    device = model.device
    attention_mask = batch["attention_mask"].to(device)
    position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    rows = attention_mask.shape[0]
    if seeds is None and settings.seed is not None:
        seeds = [settings.seed] * rows
    generators = [torch.Generator(device).manual_seed(seed) for seed in seeds] if seeds is not None else None
    streams = [TextStream(tokenizer, settings.stop_strings) for _ in range(attention_mask.shape[0])]
    images = {key: value.to(device) for key, value in batch.items() if key not in TEXT_INPUTS}
    never = [model.config.image_token_id]  # the image placeholder is never an answer

    output = model(
        batch["input_ids"].to(device),
        attention_mask,
        position_ids=position_ids,
        use_cache=True,
        logits_to_keep=1,
        **images,
    )
    for _ in range(settings.max_new_tokens):
        logits = output.logits[:, -1].float()
        logits[:, never] = float("-inf")
        next_tokens = choose_next_tokens(logits, settings, generators)
        for index, stream in enumerate(streams):
            if not stream.finished:
                delta = stream.push(next_tokens[index].item())
                if delta and on_text is not None:
                    on_text(index, delta)
        if all(stream.finished for stream in streams):
            break
        attention_mask = torch.cat(
            [attention_mask, attention_mask.new_ones(attention_mask.shape[0], 1)], dim=1
        )
        position_ids = position_ids[:, -1:] + 1
        output = model(
            next_tokens[:, None],
            attention_mask,
            position_ids=position_ids,
            cache=output.cache,
            use_cache=True,
        )
    for index, stream in enumerate(streams):
        delta = stream.flush()
        if delta and on_text is not None:
            on_text(index, delta)
    return [stream.text for stream in streams]


def choose_next_tokens(
    logits: torch.Tensor, settings: DecodingSettings, generators: list[torch.Generator] | None = None
) -> torch.LongTensor:
    """Greedy when temperature is 0, else temperature + nucleus (top-p) sampling, row `i` drawing
    from `generators[i]` (torch's global generator without them). `[B, V] -> [B]`."""
    if settings.temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / settings.temperature, dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    outside_nucleus = sorted_probs.cumsum(dim=-1) - sorted_probs > settings.top_p
    sorted_probs = sorted_probs.masked_fill(outside_nucleus, 0.0)
    probabilities = sorted_probs / sorted_probs.sum(-1, keepdim=True)
    if generators is None:
        choice = torch.multinomial(probabilities, 1)
    else:
        choice = torch.cat(
            [
                torch.multinomial(row[None], 1, generator=g)
                for row, g in zip(probabilities, generators, strict=True)
            ]
        )
    return order.gather(-1, choice).squeeze(-1)


class TextStream:
    """The answer of one sample, decoded as tokens arrive; `text` never contains a stop string."""

    def __init__(self, tokenizer, stop_strings: tuple[str, ...]):
        self.tokenizer = tokenizer
        self.stop_strings = stop_strings
        self.token_ids: list[int] = []
        self.text = ""
        self.emitted = 0
        self.finished = False

    def push(self, token_id: int) -> str:
        """Add a token; return the text that became final."""
        if token_id == self.tokenizer.eos_token_id:
            self.finished = True
            return self.flush()
        self.token_ids.append(token_id)
        self.text = self.tokenizer.decode(self.token_ids, skip_special_tokens=True)
        for stop in self.stop_strings:
            if stop in self.text:
                self.text = self.text[: self.text.index(stop)]
                self.finished = True
        return self.flush() if self.finished else self.release(self.safe_length())

    def safe_length(self) -> int:
        """Length of the text that no stop string or unfinished UTF-8 character can still change."""
        hold = 0
        for stop in self.stop_strings:
            for size in range(1, len(stop)):
                if self.text.endswith(stop[:size]):
                    hold = max(hold, size)
        if self.text.endswith("\ufffd"):
            hold = max(hold, 1)
        return len(self.text) - hold

    def release(self, upto: int) -> str:
        delta = self.text[self.emitted : upto] if upto > self.emitted else ""
        self.emitted = max(self.emitted, upto)
        return delta

    def flush(self) -> str:
        return self.release(len(self.text))
