"""The Set-of-Mark pipeline (paper §3.3): marks drawn for the captioner, described in text for training.

For every image: take the boxes, points and polygons of its annotations as marks; draw them
(numbered boxes, points, polygon outlines, ids) on a copy of the image; ask a captioner, with a
domain-specific instruction, for a global description, one description per mark and the relations
between marks; write a training conversation over the *raw* image in which the marks are described
by language ("mark 2 at [0.10, 0.20, 0.40, 0.50]"), as the paper trains.

Sources (one JSONL line each, or COCO-format instance files with `coco=True`):
  - COCO / LVIS / PubLayNet / DocLayNet instances: segmentation polygons (boxes for RLE masks);
  - converted records (`sphinx-x data convert` output): marks from their grounded answers
    (`<p>dog</p> [box]`) and region questions ("What is in the region [box]?" -> the answer);
  - mark lists: `{"id", "image", "marks": [{"label", "box" | "point" | "polygon"}]}`, coordinates in
    the padded square like every record (a polygon is a flat [x1, y1, x2, y2, ...] list).

Captioners: `TemplateCaptioner` (offline, deterministic: the default) and `OpenAICaptioner` (any
OpenAI-compatible `/chat/completions` endpoint; URL, model and key configurable).
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw
from tqdm import tqdm

from ..processing.images import ImageLoadError, load_image
from ..processing.locations import SquareFrame, format_box, format_point, parse_locations
from . import prompts
from .converters.common import make_record, phrase, xywh_to_xyxy
from .prompts import SOM_DOMAINS as DOMAINS
from .records import BadRecords, entries

MARK_COLOURS = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240)]


@dataclass
class Mark:
    number: int
    kind: str  # "box", "point" or "polygon"
    coordinates: list[float]  # padded-square [0, 1] coordinates
    label: str | None = None

    def as_text(self) -> str:
        """How the training conversation names the mark: boxes and points as the release writes them,
        a polygon by its bounding box."""
        if self.kind == "point":
            return f"mark {self.number} at {format_point(self.coordinates)}"
        if self.kind == "polygon":
            return f"mark {self.number} (outlined region) at {format_box(polygon_box(self.coordinates))}"
        return f"mark {self.number} at {format_box(self.coordinates)}"

    @property
    def centre(self) -> tuple[float, float]:
        xs, ys = self.coordinates[0::2], self.coordinates[1::2]
        return sum(xs) / len(xs), sum(ys) / len(ys)


def polygon_area(flat: list[float]) -> float:
    """The shoelace formula over a flat [x1, y1, x2, y2, ...] polygon."""
    xs, ys = flat[0::2], flat[1::2]
    return abs(sum(xs[i] * ys[i - 1] - xs[i - 1] * ys[i] for i in range(len(xs)))) / 2


def polygon_box(flat: list[float]) -> list[float]:
    xs, ys = flat[0::2], flat[1::2]
    return [min(xs), min(ys), max(xs), max(ys)]


@dataclass
class MarkedImage:
    id: str
    image: str
    marks: list[Mark]
    where: str  # "file:line" of its source entry, for reports


# -- marks from sources ---------------------------------------------------------------------------


def marks_from_record(record: dict, max_marks: int) -> list[Mark]:
    """Grounded answers give labelled boxes/points; a region question's answer labels its box."""
    found: list[tuple[str, list[float], str | None]] = []
    turns = record["conversations"]
    for question, answer in zip(turns[0::2], turns[1::2], strict=False):
        in_answer = parse_locations(answer["value"])
        in_question = parse_locations(question["value"])
        if in_answer:
            found += [(location.kind, list(location.coordinates), location.phrase) for location in in_answer]
        elif len(in_question) == 1:
            location = in_question[0]
            found.append((location.kind, list(location.coordinates), answer["value"].strip()))
    unique, seen = [], set()
    for kind, coordinates, label in found:
        key = tuple(round(v, 2) for v in coordinates)
        if key not in seen:
            seen.add(key)
            unique.append(Mark(len(unique) + 1, kind, coordinates, label))
    return unique[:max_marks]


def marks_from_list(entry: dict, max_marks: int) -> list[Mark]:
    marks = []
    for index, raw in enumerate(entry["marks"][:max_marks]):
        kind = next((k for k in ("box", "point", "polygon") if k in raw), None)
        expected = {"box": 4, "point": 2}.get(kind)
        values = raw.get(kind) if kind else None
        if (
            not isinstance(values, list)
            or (expected and len(values) != expected)
            or (kind == "polygon" and (len(values) < 6 or len(values) % 2))
        ):
            raise ValueError(
                f"marks[{index}]: expected a box [4 numbers], a point [2] or a polygon [x, y, ...] (3+ points)"
            )
        if not all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in values):
            raise ValueError(f"marks[{index}]: coordinates must be numbers in [0, 1] (the padded square)")
        marks.append(Mark(index + 1, kind, [float(v) for v in values], raw.get("label")))
    return marks


def marks_from_coco(path: Path, bad: BadRecords, max_marks: int, padding: str) -> Iterator[MarkedImage]:
    """COCO-format instances (COCO, LVIS, PubLayNet, DocLayNet): an object's largest (by area) segmentation
    polygon as a polygon mark (its box when the mask is RLE-encoded), its category as the label."""
    from .converters.detection import category_names, coco_images, image_file

    names = category_names(path)
    for image, objects in coco_images(path):
        where = f"{path}:image {image.get('id')}"
        try:
            frame = SquareFrame(image["width"], image["height"], padding)
            marks = []
            for annotation in objects:
                if annotation.get("iscrowd") or len(marks) == max_marks:
                    continue
                label = names[annotation["category_id"]]["name"].replace("_", " ")
                polygons = annotation.get("segmentation")
                if isinstance(polygons, list) and polygons and max(map(len, polygons)) >= 6:
                    largest = max((p for p in polygons if len(p) >= 6), key=polygon_area)
                    marks.append(Mark(len(marks) + 1, "polygon", list(frame.to_square(largest)), label))
                else:
                    box = frame.to_square(xywh_to_xyxy(annotation["bbox"]))
                    marks.append(Mark(len(marks) + 1, "box", list(box), label))
            if not marks:
                raise ValueError("no object to mark")
            yield MarkedImage(f"coco-{image['id']}", image_file(image), marks, where)
        except (KeyError, TypeError, ValueError) as error:
            bad.add(where, str(error))


def marked_images(
    sources: list[Path], bad: BadRecords, max_marks: int, coco: bool = False, padding: str = "corner"
) -> Iterator[MarkedImage]:
    if coco:
        for path in sources:
            yield from marks_from_coco(path, bad, max_marks, padding)
        return
    for path in sources:
        for where, entry in entries(path):
            try:
                if isinstance(entry, Exception):
                    raise entry
                if not isinstance(entry, dict) or not entry.get("image"):
                    raise ValueError("expected an object with an image")
                marks = (
                    marks_from_list(entry, max_marks)
                    if "marks" in entry
                    else marks_from_record(entry, max_marks)
                )
                if not marks:
                    raise ValueError("no box, point or polygon to mark")
                yield MarkedImage(str(entry.get("id", where)), entry["image"], marks, where)
            except (KeyError, TypeError, ValueError) as error:
                bad.add(where, str(error))


# -- drawing ----------------------------------------------------------------------------------------


def draw_marks(image: Image.Image, marks: list[Mark], padding: str) -> Image.Image:
    """A copy of `image` with numbered boxes, points and polygon outlines, for the captioner."""
    marked = image.copy()
    draw = ImageDraw.Draw(marked)
    frame = SquareFrame(image.width, image.height, padding)
    width = max(2, round(max(image.size) / 200))
    for mark in marks:
        colour = MARK_COLOURS[(mark.number - 1) % len(MARK_COLOURS)]
        pixels = frame.to_pixels(mark.coordinates)
        if mark.kind == "box":
            draw.rectangle(pixels, outline=colour, width=width)
            anchor = pixels[:2]
        elif mark.kind == "point":
            radius = 3 * width
            x, y = pixels
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour, outline="white")
            anchor = (x + radius, y - radius)
        else:
            draw.polygon(list(pixels), outline=colour, width=width)
            anchor = pixels[:2]
        label = str(mark.number)
        left, top, right, bottom = draw.textbbox(anchor, label)
        draw.rectangle((left - 2, top - 2, right + 2, bottom + 2), fill=colour)
        draw.text(anchor, label, fill="white")
    return marked


# -- captioners -------------------------------------------------------------------------------------


class TemplateCaptioner:
    """Offline and deterministic: the marks' labels, one sentence per mark, and pairwise relations."""

    def __call__(self, marked: Image.Image, marks: list[Mark], domain: str, instruction: str) -> str:
        named = [f"{mark.label}" if mark.label else "a marked region" for mark in marks]
        what = {
            "natural": "objects",
            "gui": "interface elements",
            "ocr": "texts",
            "document": "regions",
            "multipanel": "panels",
        }[domain]
        sentences = [f"The image has {len(marks)} marked {what}."]
        for mark, name in zip(marks, named, strict=True):
            sentences.append(
                f'Mark {mark.number} reads "{name}".'
                if domain == "ocr" and mark.label
                else f"Mark {mark.number} is {name}."
            )
        for first, second in zip(marks, marks[1:], strict=False):
            sentences.append(f"Mark {first.number} is {relation(first, second)} mark {second.number}.")
        return " ".join(sentences)


def relation(first: Mark, second: Mark) -> str:
    (x1, y1), (x2, y2) = first.centre, second.centre
    if abs(x1 - x2) >= abs(y1 - y2):
        return "left of" if x1 < x2 else "right of"
    return "above" if y1 < y2 else "below"


@dataclass
class OpenAICaptioner:
    """Any OpenAI-compatible chat endpoint (OpenAI, vLLM, a local server): the marked image is sent
    as a base64 PNG `image_url`, with the domain's instruction and the marks' positions."""

    url: str  # e.g. https://api.openai.com/v1 (".../chat/completions" is appended)
    model: str
    api_key: str | None = None
    timeout: float = 120.0
    max_tokens: int = 512
    headers: dict = field(default_factory=dict)

    def __call__(self, marked: Image.Image, marks: list[Mark], domain: str, instruction: str) -> str:
        buffer = io.BytesIO()
        marked.save(buffer, format="PNG")
        image_url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
        listing = "; ".join(mark.as_text() for mark in marks)
        body = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": f"{instruction}\nThe marks (numbered on the image): {listing}."},
                {"type": "image_url", "image_url": {"url": image_url}},
            ]}],
        }  # fmt: skip
        request = urllib.request.Request(
            self.url.rstrip("/") + "/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **self.auth(), **self.headers},
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            reply = json.loads(response.read())
        try:
            return reply["choices"][0]["message"]["content"].strip()
        except (KeyError, IndexError, AttributeError):
            raise ValueError(
                f"captioner reply without choices[0].message.content: {str(reply)[:200]}"
            ) from None

    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


# -- the pipeline ---------------------------------------------------------------------------------


@dataclass
class SomSummary:
    images: int = 0
    records: int = 0
    bad: BadRecords = field(default_factory=BadRecords)

    def __str__(self) -> str:
        return f"{self.images} images marked, {self.records} records; {self.bad.report(examples=20)}"


def build_som_dataset(
    sources: list[Path], image_root: Path, out: Path, domain: str = "natural", captioner=None,
    padding: str = "corner", max_marks: int = 10, seed: int = 0, coco: bool = False,
) -> SomSummary:  # fmt: skip
    """`out/marked/*.png` (what the captioner saw) + `out/som.jsonl` (conversations over the raw images)."""
    if domain not in DOMAINS:
        raise ValueError(f"domain {domain!r}: expected one of {', '.join(DOMAINS)}")
    captioner = captioner or TemplateCaptioner()
    summary = SomSummary()
    (out / "marked").mkdir(parents=True, exist_ok=True)
    partial = out / "som.jsonl.partial"
    with open(partial, "w", encoding="utf-8") as handle:
        for item in tqdm(
            marked_images(sources, summary.bad, max_marks, coco, padding), desc="Set-of-Mark", unit=" images"
        ):
            try:
                image = load_image(image_root / item.image)
                marked = draw_marks(image, item.marks, padding)
                marked.save(out / "marked" / f"{safe_name(item.id)}.png")
                caption = captioner(marked, item.marks, domain, DOMAINS[domain])
            except (ImageLoadError, OSError, ValueError) as error:
                summary.bad.add(item.where, str(error))
                continue
            rng = random.Random(f"{seed}:{item.id}")
            question = phrase(
                rng, prompts.SET_OF_MARK, marks="; ".join(mark.as_text() for mark in item.marks)
            )
            record = make_record(f"som-{item.id}", [(question, caption)], item.image, f"som-{domain}")
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            summary.images += 1
            summary.records += 1
    os.replace(partial, out / "som.jsonl")
    return summary


def safe_name(text: str) -> str:
    return "".join(char if char.isalnum() or char in "-_." else "_" for char in text)[:120]
