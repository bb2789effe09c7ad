"""The record schema of sphinx-x and the mixture file: reading them, and accounting for bad records.

Records: `{"id", "image"?, "conversations": [{"from": "human"|"gpt", "value"}]}`, in a JSON list or
JSONL, image paths relative to the source's image root. A malformed line or a record without
conversations is counted in `BadRecords` with its file and line, never fatal.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import typing
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ijson
import yaml

from ..typed_config import coerce


@dataclass(frozen=True)
class Source:
    """One dataset of the mixture. `weight` scales how many of its records an epoch draws: each
    record `floor(weight)` times, plus once more with probability `weight - floor(weight)`, decided
    by a seeded hash of the record (see `draws`): 1 = each once, 2 = each twice, 0.5 = about half."""

    path: str
    image_root: str = "."
    weight: float = 1.0
    type: str = "default"
    name: str | None = None

    def label(self, number: int) -> str:
        """The source's name in reports and in the seeded draws: `name`, else its place and file."""
        return self.name or f"{number}:{Path(self.path).name}"


def unit_key(*parts) -> int:
    """A seeded, uniformly distributed 63-bit integer for any tuple of parts."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def draws(weight: float, seed: int, source: str, index: int, epoch: int = 0) -> int:
    """How many times record `index` of `source` is drawn in `epoch`: the whole part of the weight,
    plus one with the fraction's probability. The one rule of `sphinx-x data mix` (epoch 0) and of
    the trainer, so a fractional weight means the same in both."""
    whole, fraction = divmod(weight, 1.0)
    return int(whole) + (unit_key(seed, source, index, f"epoch {epoch}") / 2**63 < fraction)


@dataclass
class Record:
    conversations: list
    image: Path | None
    type: str
    where: str  # "file:line", for reports
    index: int = 0  # the entry's place in its file (bad entries counted): the key of its seeded draws

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
        in_order = sorted(self.reasons.items(), key=lambda item: place_order(item[0]))
        shown = [f"  {where}: {why}" for where, why in in_order[:examples]]
        more = [f"  ... and {self.total - examples} more"] if self.total > examples else []
        return "\n".join([head, *shown, *more])


def place_order(where: str) -> tuple:
    """Sort key of "file:12", "file:[3]", "file:row 7": by file, then by number (":2" before ":12")."""
    file, _, place = where.rpartition(":")
    number = re.search(r"\d+", place)
    return (file, int(number.group()) if number else -1, place)


def read_mixture(path: str | Path) -> list[Source]:
    """A YAML file: `sources: [{path, image_root, weight, type, name}]`, paths relative to the YAML.
    A source that is not what the fields expect is a `ValueError` naming `sources[i].field`."""
    path = Path(path)
    try:
        content = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(content, dict) or not isinstance(content.get("sources"), list):
        raise ValueError(f"{path}: expected a 'sources' list")
    return [
        source_from(entry, f"{path}: sources[{index}]", path.parent)
        for index, entry in enumerate(content["sources"])
    ]


SOURCE_FIELDS = {field.name: field for field in dataclasses.fields(Source)}


def source_from(entry, where: str, root: Path) -> Source:
    if not isinstance(entry, dict):
        raise ValueError(
            f"{where}: expected a mapping with path, image_root, weight, type, name; got {entry!r}"
        )
    unknown = sorted(set(entry) - set(SOURCE_FIELDS))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; known: {', '.join(SOURCE_FIELDS)}")
    if "path" not in entry:
        raise ValueError(f"{where}: 'path' is required (the records file)")
    hints = typing.get_type_hints(Source)
    values = {name: coerce(value, hints[name], f"{where}.{name}") for name, value in entry.items()}
    if values.get("weight", 1.0) <= 0:
        raise ValueError(
            f"{where}.weight: must be > 0, got {values['weight']!r} (leave the source out instead)"
        )
    source = Source(**values)
    return dataclasses.replace(source, path=str(root / source.path), image_root=str(root / source.image_root))


def entries(path: Path) -> Iterator[tuple[str, object]]:
    """(where, entry) of a JSON list, a JSONL file or a parquet file, one at a time. A malformed JSONL
    line comes back as a `ValueError` entry, for the caller to count; a broken JSON list raises."""
    path = Path(path)
    if path.suffix == ".parquet":
        yield from parquet_rows(path)
        return
    with open(path, "rb") as handle:
        if handle.read(64).lstrip()[:1] == b"[":
            handle.seek(0)
            try:
                for index, item in enumerate(ijson.items(handle, "item", use_float=True)):
                    yield f"{path}:[{index}]", item
            except ijson.JSONError as error:
                raise ValueError(f"{path}: not a valid JSON list ({error})") from None
            return
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield f"{path}:{number}", json.loads(line)
                except json.JSONDecodeError as error:
                    yield f"{path}:{number}", ValueError(f"malformed JSON line: {error.msg}")


def parquet_rows(path: Path) -> Iterator[tuple[str, dict]]:
    """Rows of a parquet file, one record batch in memory at a time (Hugging Face datasets ship parquet)."""
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise ValueError(f"{path}: reading parquet needs pyarrow (pip install 'sphinx-x[eval]')") from None
    row = 0
    for batch in parquet.ParquetFile(path).iter_batches(batch_size=1024):
        for entry in batch.to_pylist():
            yield f"{path}:row {row}", entry
            row += 1


def schema_problem(entry: object) -> str | None:
    """Why `entry` (a parsed line) is not a record, or None. Malformed lines arrive as errors."""
    if isinstance(entry, Exception):
        return str(entry)
    if not isinstance(entry, dict) or not isinstance(entry.get("conversations"), list):
        return "no conversations: expected a 'conversations' list"
    return None


def read_records(source: Source, bad: BadRecords) -> list[Record]:
    records = []
    for index, (where, entry) in enumerate(entries(Path(source.path))):
        problem = schema_problem(entry)
        if problem:
            bad.add(where, problem)
            continue
        image = Path(source.image_root) / entry["image"] if entry.get("image") else None
        # `sphinx-x data mix` output carries each record's own type; the source's type is the default.
        kind = entry["type"] if isinstance(entry.get("type"), str) else source.type
        records.append(Record(entry["conversations"], image, kind, where, index))
    return records
