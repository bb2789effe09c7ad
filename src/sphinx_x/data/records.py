"""The record schema of sphinx-x and the mixture file: reading them, and accounting for bad records.

Records: `{"id", "image"?, "conversations": [{"from": "human"|"gpt", "value"}]}`, in a JSON list or
JSONL, image paths relative to the source's image root. A malformed line or a record without
conversations is counted in `BadRecords` with its file and line, never fatal.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml


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
        # `sphinx-x data mix` output carries each record's own type; the source's type is the default.
        kind = entry["type"] if isinstance(entry.get("type"), str) else source.type
        records.append(Record(entry["conversations"], image, kind, where))
    return records
