"""Training data: LLaVA-style records, a weighted mixture of sources, and the release's batching.

Records: `{"id", "image"?, "conversations": [{"from": "human"|"gpt", "value"}]}`, in a JSON list or
JSONL, image paths relative to the source's image root. A bad record (malformed line, missing or
corrupt image, no assistant turn, too long) is skipped, counted and reported with its file and line;
it never stops the run.

Batching (the release's sampler): every *global* batch holds samples of one type, similar in
length. Global batches are fixed by the seed alone; each process takes its share and splits it
into micro-batches, so any number of processes sees the same global batches.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml
from PIL import Image

from ..processing.conversation import ConversationError
from ..processing.images import ImageLoadError
from ..processing.processor import SphinxXProcessor


@dataclass(frozen=True)
class Source:
    """One dataset of the mixture. `weight` scales how many of its records an epoch draws
    (1 = each once, 0.5 = a seeded half, 2 = each twice)."""

    path: str
    image_root: str = "."
    weight: float = 1.0
    type: str = "default"
    name: str | None = None


@dataclass
class Record:
    conversations: list
    image: Path | None
    type: str
    where: str  # "file:line", for reports

    def approx_length(self) -> int:
        return sum(len(str(turn.get("value", turn.get("content", "")))) for turn in self.conversations)


@dataclass
class BadRecords:
    """Skipped records, each counted once (however many epochs meet it), by reason and place."""

    reasons: dict[str, str] = field(default_factory=dict)  # "file:line" -> why

    def add(self, where: str, reason: str) -> None:
        self.reasons.setdefault(where, reason)

    def merge(self, other: BadRecords) -> None:
        for where, reason in other.reasons.items():
            self.add(where, reason)

    @property
    def total(self) -> int:
        return len(self.reasons)

    @property
    def counts(self) -> Counter:
        return Counter(reason.split(":")[0] for reason in self.reasons.values())

    def report(self, examples: int = 50) -> str:
        if not self.total:
            return "no bad records"
        head = f"{self.total} bad records skipped: " + ", ".join(
            f"{n} {why}" for why, n in sorted(self.counts.items())
        )
        shown = [f"  {where}: {why}" for where, why in sorted(self.reasons.items())[:examples]]
        more = [f"  ... and {self.total - examples} more"] if self.total > examples else []
        return "\n".join([head, *shown, *more])


def read_mixture(path: str | Path) -> list[Source]:
    """A YAML file: `sources: [{path, image_root, weight, type, name}]`, paths relative to the YAML."""
    path = Path(path)
    content = yaml.safe_load(path.read_text()) or {}
    if not isinstance(content.get("sources"), list):
        raise ValueError(f"{path}: expected a 'sources' list")
    sources = []
    for index, entry in enumerate(content["sources"]):
        try:
            source = Source(**entry)
        except TypeError as error:
            raise ValueError(f"{path}: sources[{index}]: {error}") from None
        root = path.parent
        sources.append(
            Source(
                str(root / source.path),
                str(root / source.image_root),
                source.weight,
                source.type,
                source.name,
            )
        )
    return sources


def read_records(source: Source, bad: BadRecords) -> list[Record]:
    path = Path(source.path)
    text = path.read_text(encoding="utf-8")
    entries: list[tuple[str, object]] = []
    if text.lstrip().startswith("["):
        try:
            entries = [(f"{path}:[{i}]", entry) for i, entry in enumerate(json.loads(text))]
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not a valid JSON list ({error})") from None
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    entries.append((f"{path}:{number}", json.loads(line)))
                except json.JSONDecodeError as error:
                    bad.add(f"{path}:{number}", f"malformed JSON line: {error.msg}")
    records = []
    for where, entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("conversations"), list):
            bad.add(where, "no conversations: expected a 'conversations' list")
            continue
        image = Path(source.image_root) / entry["image"] if entry.get("image") else None
        records.append(Record(entry["conversations"], image, source.type, where))
    return records


def epoch_records(sources: list[tuple[Source, list[Record]]], epoch: int, seed: int) -> list[Record]:
    """Apply the sampling weights for one epoch (seeded)."""
    rng = random.Random(f"{seed}:{epoch}")
    chosen = []
    for source, records in sources:
        whole, fraction = divmod(source.weight, 1.0)
        chosen += records * int(whole)
        chosen += rng.sample(records, round(fraction * len(records)))
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
                with Image.open(record.image) as image:
                    length += processor.visual_token_count(*image.size)
            except (OSError, ValueError):
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
        except ValueError as error:  # nothing to supervise, too long
            return record.where, f"{error.__class__.__name__}: {error}"


@dataclass
class MicroBatch:
    inputs: dict[str, torch.Tensor] | None  # None when every sample of it was bad
    bad: BadRecords


def collate(samples: list, processor: SphinxXProcessor) -> MicroBatch:
    bad = BadRecords()
    good = []
    for sample in samples:
        if isinstance(sample, tuple):
            bad.add(*sample)
        else:
            good.append(sample)
    return MicroBatch(processor.collate(good, padding_side="right") if good else None, bad)


def micro_batches(indices: list[int], micro_batch_size: int) -> Iterator[list[int]]:
    for start in range(0, len(indices), micro_batch_size):
        yield indices[start : start + micro_batch_size]
