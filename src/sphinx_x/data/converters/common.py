"""What every converter shares: the options, the record it writes, boxes in the padded square,
seeded phrasing choices, and streaming readers that keep memory flat as the input grows.

Big published annotation files are single JSON documents (COCO's `instances_train2017.json` is
450 MB). We never `json.load` them: `ijson` walks them item by item, and annotations that must be
grouped by image are spilled into an on-disk SQLite table (`Grouper`) instead of a dict.
"""

from __future__ import annotations

import csv
import json
import random
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ijson

from ...processing.images import ImageLoadError
from ...processing.images import image_size as read_image_size
from ...processing.locations import SquareFrame
from ..records import BadRecords, entries

IMAGE_PLACEHOLDER = "<image>"


@dataclass
class ConvertOptions:
    """How a converter writes records. `image_root` is where the dataset's images are: needed only
    by formats that do not state image sizes (read from the image header, never decoded)."""

    padding: str = "corner"  # the padded square coordinates are normalised to, as the model's config
    seed: int = 0  # phrasing choices are seeded per record: same seed, same output
    image_root: Path | None = None
    image_out: Path | None = None  # where formats that render images (tables) write them
    split: str | None = None  # formats that mix splits in one file (RefCOCO, ScienceQA, OCR-VQA)
    max_turns: int = 8  # questions per record when one image has many annotations
    bad: BadRecords = field(default_factory=BadRecords)


class ConverterInputError(ValueError):
    """The source files are not what the converter reads; the message names the file and what was expected."""


# -- records ------------------------------------------------------------------------------------


def make_record(id: str, pairs: Iterable[tuple[str, str]], image: str | None = None, task: str = "") -> dict:
    """A record of the trainer's schema; `pairs` are (question, answer); the first question gets the
    image placeholder when there is an image."""
    conversations = []
    for question, answer in pairs:
        conversations += [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]
    if not conversations:
        raise ValueError("nothing to ask: no question-answer pair")
    record = {"id": id}
    if image is not None:
        record["image"] = image
        conversations[0]["value"] = f"{IMAGE_PLACEHOLDER}\n" + conversations[0]["value"]
    record["conversations"] = conversations
    if task:
        record["task"] = task
    return record


HUMAN_ROLES = {"human", "user"}
ASSISTANT_ROLES = {"gpt", "assistant", "chatgpt", "bard", "bing", "model"}


def normalise_turns(turns: list, has_image: bool) -> list[dict]:
    """Any chat log (ShareGPT `from`/`value`, OpenAI `role`/`content`) -> alternating human/gpt turns.

    System turns are dropped (the template has its own), a leading assistant turn and a trailing
    question are dropped, consecutive turns of one role are merged. `<image>` markers are removed
    and one is put in front of the first question when the record has an image.
    """
    merged: list[dict] = []
    for number, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise ValueError(f"conversations[{number}]: expected an object")
        role = str(turn.get("from", turn.get("role", ""))).lower()
        text = turn.get("value", turn.get("content"))
        if role == "system":
            continue
        if role not in HUMAN_ROLES | ASSISTANT_ROLES or not isinstance(text, str):
            raise ValueError(f"conversations[{number}]: expected a human/gpt role and a text value")
        speaker = "human" if role in HUMAN_ROLES else "gpt"
        text = text.replace(f"{IMAGE_PLACEHOLDER}\n", "").replace(IMAGE_PLACEHOLDER, "").strip()
        if merged and merged[-1]["from"] == speaker:
            merged[-1]["value"] += "\n" + text
        elif merged or speaker == "human":
            merged.append({"from": speaker, "value": text})
    if merged and merged[-1]["from"] == "human":
        merged.pop()
    if not merged:
        raise ValueError("conversations: no question followed by an answer")
    if has_image:
        merged[0]["value"] = f"{IMAGE_PLACEHOLDER}\n" + merged[0]["value"]
    return merged


# -- coordinates --------------------------------------------------------------------------------


def square_box(xyxy, width: float, height: float, padding: str) -> list[float]:
    """A pixel box of a `width` x `height` image -> [0, 1] coordinates of the padded square.

    The box is clipped to the image (annotations often stick out by a pixel; clipping to the padded
    square instead would let a box reach into the padding); one with no area left is refused.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size {width}x{height}: expected positive sizes")
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    if x2 < x1 or y2 < y1:
        raise ValueError(f"box {list(xyxy)}: expected x1 <= x2 and y1 <= y2")
    x1, x2 = min(max(x1, 0.0), width), min(max(x2, 0.0), width)
    y1, y2 = min(max(y1, 0.0), height), min(max(y2, 0.0), height)
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        raise ValueError(f"box {list(xyxy)}: no area inside the {width:g}x{height:g} image")
    return list(SquareFrame(round(width), round(height), padding).to_square((x1, y1, x2, y2)))


def square_point(xy, width: float, height: float, padding: str) -> list[float]:
    return list(SquareFrame(round(width), round(height), padding).to_square(tuple(float(v) for v in xy)))


def xywh_to_xyxy(box) -> list[float]:
    x, y, w, h = (float(v) for v in box)
    return [x, y, x + w, y + h]


def image_size(image_root: Path | None, relative: str) -> tuple[int, int]:
    """The size of an image under `image_root`, from its header (no decoding)."""
    if image_root is None:
        raise ConverterInputError("this format does not state image sizes: give --image-root")
    try:
        return read_image_size(image_root / relative)
    except ImageLoadError as error:
        raise ValueError(f"cannot read the image's size: {error}") from None


# -- phrasings ----------------------------------------------------------------------------------


def chooser(options: ConvertOptions, key: str) -> random.Random:
    """A random generator seeded by (seed, record key): outputs do not depend on reading order."""
    return random.Random(f"{options.seed}:{key}")


def phrase(rng: random.Random, templates: tuple[str, ...], **fields) -> str:
    """The release's phrasing (the first) half of the time, one of the variants otherwise."""
    template = templates[0] if len(templates) == 1 or rng.random() < 0.5 else rng.choice(templates[1:])
    return template.format(**fields)


def most_common(answers: Iterable[str]) -> str:
    counts = Counter(answer.strip() for answer in answers if answer and answer.strip())
    if not counts:
        raise ValueError("answers: no non-empty answer")
    return counts.most_common(1)[0][0]


# -- streaming readers --------------------------------------------------------------------------


def json_items(path: Path, prefix: str) -> Iterator:
    """Items under `prefix` (ijson syntax: "annotations.item", "item", "data.item") one at a time."""
    return _walk(ijson.items, path, prefix)


def json_pairs(path: Path, prefix: str = "") -> Iterator[tuple[str, object]]:
    """(key, value) of the object at `prefix`, one at a time (GQA, ScienceQA, OCR-VQA are such dicts)."""
    return _walk(ijson.kvitems, path, prefix)


def _walk(walker, path: Path, prefix: str) -> Iterator:
    try:
        with open(path, "rb") as handle:
            yield from walker(handle, prefix, use_float=True)
    except ijson.JSONError as error:
        raise ConverterInputError(f"{path}: not valid JSON ({error})") from None


def csv_rows(path: Path, delimiter: str = ",") -> Iterator[tuple[str, dict]]:
    with open(path, encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle, delimiter=delimiter), start=2):
            yield f"{path}:{number}", row


class Grouper:
    """Values grouped by key on disk (SQLite in a temporary file): memory stays flat however many
    annotations arrive, in whatever order. Keys come back in order of first appearance."""

    def __init__(self) -> None:
        self._file = tempfile.NamedTemporaryFile(suffix=".sqlite", prefix="sphinx-x-group-")
        self._db = sqlite3.connect(self._file.name)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE item (key TEXT, value TEXT)")
        self._indexed = False

    def add(self, key, value) -> None:
        self._db.execute("INSERT INTO item VALUES (?, ?)", (str(key), json.dumps(value)))

    def _index(self) -> None:
        if not self._indexed:
            self._db.execute("CREATE INDEX by_key ON item (key)")
            self._indexed = True

    def get(self, key) -> list:
        self._index()
        rows = self._db.execute("SELECT value FROM item WHERE key = ? ORDER BY rowid", (str(key),))
        return [json.loads(value) for (value,) in rows]

    def groups(self) -> Iterator[tuple[str, list]]:
        """(key, values) for every key, in order of first appearance, one group in memory at a time."""
        self._index()
        keys = self._db.execute("SELECT key FROM item GROUP BY key ORDER BY MIN(rowid)")
        for (key,) in keys:
            yield key, self.get(key)

    def close(self) -> None:
        self._db.close()
        self._file.close()

    def __enter__(self) -> Grouper:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def find_file(
    sources: list[Path], patterns: tuple[str, ...], what: str, required: bool = True
) -> Path | None:
    """The first file among `sources` (files, or folders searched recursively) matching a pattern."""
    for pattern in patterns:
        for source in sources:
            if source.is_file() and source.match(pattern):
                return source
            if source.is_dir():
                found = sorted(source.rglob(pattern))
                if found:
                    return found[0]
    if required:
        raise ConverterInputError(
            f"{', '.join(map(str, sources))}: no {what} (looked for {', '.join(patterns)})"
        )
    return None


def find_dir(sources: list[Path], name: str) -> Path:
    """The folder `name` given among `sources`, or inside one of them."""
    for source in sources:
        for candidate in (source, source / name):
            if candidate.name == name and candidate.is_dir():
                return candidate
    raise ConverterInputError(f"{', '.join(map(str, sources))}: no {name}/ folder")


# -- bad entries --------------------------------------------------------------------------------

Result = tuple[str, "dict | Exception"]


def each_usable(objects: list, convert, options: ConvertOptions, where: str, key: str = "id") -> list:
    """`convert(object)` for each object (an annotation of an image); one that fails (unknown
    category, no box, a box with no area in the image) is dropped and reported by its `key`, and the
    image keeps its other objects."""
    kept = []
    for number, item in enumerate(objects):
        name = item.get(key, f"#{number}") if isinstance(item, dict) else f"#{number}"
        _, result = attempt(f"{where}: annotation {name}", convert, item)
        if isinstance(result, Exception):
            options.bad.add(f"{where}: annotation {name}", str(result))
        elif result is not None:
            kept.append(result)
    return kept


def attempt(where: str, build, *args) -> Result:
    """(where, build(*args)), or (where, the error) when the entry is bad: the driver counts and
    reports it and the conversion goes on."""
    try:
        return where, build(*args)
    except KeyError as error:
        return where, ValueError(f"missing field {error}")
    except (TypeError, ValueError, IndexError, ZeroDivisionError) as error:
        return where, ValueError(str(error) or type(error).__name__)


def each_entry(build, sources: list[Path]) -> Iterator[Result]:
    """`attempt(where, build, entry, where)` for every entry of JSON / JSONL / parquet sources; a
    malformed line or a non-object entry comes back as an error result."""
    for path in sources:
        for where, entry in entries(path):
            if isinstance(entry, Exception):
                yield where, entry
            elif not isinstance(entry, dict):
                yield where, ValueError("expected a JSON object")
            else:
                yield attempt(where, build, entry, where)


def text_field(entry: dict, name: str) -> str:
    value = entry[name]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name}: expected a non-empty string")
    return value.strip()
