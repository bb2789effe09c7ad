"""Training data: records (see `sphinx_x.data.records`) drawn by weight, encoded, and batched as the release does.

A record that cannot be encoded (missing or corrupt image, no assistant turn, too long) is skipped,
counted and reported with its file and line; it never stops the run.

Batching (the release's sampler): every *global* batch holds samples of one type, similar in
length. Global batches are fixed by the seed alone; each process takes its share and splits it
into micro-batches, so any number of processes sees the same global batches.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from ..data.records import BadRecords, Record, Source, draws
from ..processing.conversation import ConversationError
from ..processing.images import ImageLoadError, image_size
from ..processing.processor import SphinxXProcessor
from .packing import collate_packed


def epoch_records(sources: list[tuple[Source, list[Record]]], epoch: int, seed: int) -> list[Record]:
    """Apply the sampling weights for one epoch: `records.draws`, the rule `data mix` uses too."""
    chosen = []
    for number, (source, records) in enumerate(sources):
        label = source.label(number)
        for record in records:
            chosen += [record] * draws(source.weight, seed, label, record.index, epoch)
    return chosen


def sequence_lengths(records: list[Record], processor: SphinxXProcessor) -> list[int]:
    """Estimated tokens of each record: text (about 4 characters a token) plus its visual tokens,
    counted from the image header (no decoding). Skip tokens shorten sequences only if batching
    sees it: sorting by text alone mixes square and wide images and pads the savings away."""
    lengths = []
    for record in records:
        length = record.approx_length() // 4
        if record.image is not None:
            try:
                length += processor.visual_token_count(*image_size(record.image, processor.max_image_pixels))
            except ImageLoadError:
                pass  # a bad image is reported when the record is encoded
        lengths.append(length)
    return lengths


def global_batches(
    records: list[Record],
    global_batch_size: int,
    seed: int,
    epoch: int,
    by_type: bool,
    lengths: list[int] | None = None,
) -> list[list[int]]:
    """Indices of `records` grouped into global batches: one type each, sorted by length inside a
    type (the release's sampler), batches in seeded random order. A type's last partial batch is kept.
    `lengths` (see `sequence_lengths`) defaults to the text length."""
    rng = random.Random(f"{seed}:{epoch}:batches")
    lengths = lengths if lengths is not None else [record.approx_length() for record in records]
    groups: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        groups.setdefault(record.type if by_type else "all", []).append(index)
    batches = []
    for indices in groups.values():
        rng.shuffle(indices)
        if by_type:
            indices.sort(key=lambda i: lengths[i])
        batches += [
            indices[start : start + global_batch_size] for start in range(0, len(indices), global_batch_size)
        ]
    rng.shuffle(batches)
    return batches


def shard_of(batch: list[int], rank: int, world_size: int) -> list[int]:
    return batch[rank::world_size]


class RecordDataset(torch.utils.data.Dataset):
    """Encodes a record with the processor; a bad one becomes `(where, reason)` instead of failing."""

    def __init__(self, records: list[Record], processor: SphinxXProcessor):
        self.records = records
        self.processor = processor

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int):
        record = self.records[index]
        try:
            return self.processor.encode(record.conversations, record.image)
        except ImageLoadError as error:
            return record.where, f"bad image: {error}"
        except ConversationError as error:
            return record.where, f"bad conversation: {error}"
        except Exception as error:  # nothing to supervise, too long, or anything else: never the run's end
            return record.where, f"{error.__class__.__name__}: {error}"


@dataclass
class MicroBatch:
    inputs: dict[str, torch.Tensor] | None  # None when every sample of it was bad
    bad: BadRecords
    tokens: int = 0  # the samples' tokens, padding not counted


def collate(
    samples: list, processor: SphinxXProcessor, packing: bool = False, pack_length: int | None = None
) -> MicroBatch:
    """The good samples padded to the longest, or packed several to a row (see `train.packing`)."""
    bad = BadRecords()
    good = []
    for sample in samples:
        if isinstance(sample, tuple):
            bad.add(*sample)
        else:
            good.append(sample)
    if not good:
        return MicroBatch(None, bad)
    inputs = (
        collate_packed(good, processor, pack_length)
        if packing
        else processor.collate(good, padding_side="right")
    )
    return MicroBatch(inputs, bad, sum(len(sample.input_ids) for sample in good))


def micro_batches(indices: list[int], micro_batch_size: int) -> Iterator[list[int]]:
    for start in range(0, len(indices), micro_batch_size):
        yield indices[start : start + micro_batch_size]
