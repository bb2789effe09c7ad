"""Answers for a batch of prompts, through the generation engine (one code path for sampling and
stop strings: `sampling.py`, `text_stream.py`).

Each sample of the processor's batch becomes one request of an engine run on this thread: its
padding is removed, its image encoded once at its prefill, and a short answer leaves the batch as
soon as it ends instead of waiting for the longest. Text is streamed per sample as it becomes final.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import torch

from ..model.sphinx import SphinxXForConditionalGeneration
from .engine import ContextLengthError, Engine, Update
from .sampling import DecodingSettings, choose_next_tokens
from .text_stream import TextStream

__all__ = ["DecodingSettings", "TextStream", "choose_next_tokens", "generate", "unbatch", "OnText"]

OnText = Callable[[int, str], None]  # (sample index, newly final text)
TEXT_INPUTS = ("input_ids", "attention_mask", "labels")  # the rest of a batch is its images


@torch.no_grad()
def generate(
    model: SphinxXForConditionalGeneration,
    tokenizer,
    batch: Mapping[str, torch.Tensor],
    settings: DecodingSettings = DecodingSettings(),
    on_text: OnText | None = None,
    seeds: list[int] | None = None,
) -> list[str]:
    """Answers for a batch from `SphinxXProcessor(..., add_generation_prompt=True)`.

    A sample stops at EOS, a stop string, `max_new_tokens`, or the end of the model's context.
    Sampling draws from one generator per sample: `seeds` (one each), else `settings.seed` for all,
    else torch's global one. A sample's answer then depends on its own seed only, not on its batch.
    """
    samples = unbatch(batch)
    if seeds is not None and len(seeds) != len(samples):
        raise ValueError(f"got {len(seeds)} seeds for {len(samples)} samples")
    engine = Engine(model, tokenizer, max_running=len(samples), max_waiting=0, max_prefill_tokens=None)
    handles = []
    for index, (input_ids, image_inputs) in enumerate(samples):
        room = engine.max_context - len(input_ids)
        if room < 1:
            raise ContextLengthError(
                f"sample {index}: its prompt has {len(input_ids)} tokens, the model's context is {engine.max_context}"
            )
        seed = seeds[index] if seeds is not None else settings.seed
        own = dataclasses.replace(settings, max_new_tokens=min(settings.max_new_tokens, room), seed=seed)
        handles.append(engine.submit(input_ids, image_inputs, own, listener(on_text, index)))
    engine.run_until_done()
    return [handle.text for handle in handles]


def listener(on_text: OnText | None, index: int) -> Callable[[Update], None]:
    def on_update(update: Update) -> None:
        if update.text and on_text is not None:
            on_text(index, update.text)

    return on_update


def unbatch(batch: Mapping[str, torch.Tensor]) -> list[tuple[list[int], dict[str, torch.Tensor] | None]]:
    """A padded processor batch -> each sample's prompt ids (padding removed) and visual inputs.

    The batch stacks the encoded views of every image sample by sample; a sample's share is the
    number of its views that are not skipped.
    """
    input_ids = batch["input_ids"]
    attention_mask = batch.get("attention_mask", torch.ones_like(input_ids)).bool()
    has_image = batch.get("has_image", torch.zeros(len(input_ids), dtype=torch.bool))
    pixels = {key: value for key, value in batch.items() if key.startswith("pixel_values_")}
    samples, start = [], 0
    for index in range(len(input_ids)):
        prompt = input_ids[index][attention_mask[index]].tolist()
        if not has_image[index]:
            samples.append((prompt, None))
            continue
        skipped = batch["views_skipped"][index : index + 1]
        encoded = int((~skipped).sum())
        images = {key: value[start : start + encoded] for key, value in pixels.items()}
        samples.append(
            (prompt, images | {"views_skipped": skipped, "has_image": has_image[index : index + 1]})
        )
        start += encoded
    return samples
