"""The PaperText OCR pipeline (paper §3.3): PDF pages -> rendered images + OCR conversations.

`sphinx-x data ocr PDF_DIR --out DIR` works page by page:

1. PyMuPDF renders the page at `--dpi` and extracts its text blocks, lines and spans with boxes.
2. Quality filters: characters PyMuPDF could not map to Unicode (U+FFFD), control characters and
   private-use glyphs are counted; a page with too many is dropped, a few are removed. Spans of a
   line are merged into one text (a space where the spans leave a gap), and a word hyphenated at a
   line end is joined in the reading-order text. Empty, image-only and tiny-text pages are dropped.
3. Each kept page gives OCR records: its text in reading order, text spotting (lines with boxes),
   the text of a region (a block's box), and layout (text and image blocks with boxes).

A damaged, encrypted or non-PDF file is reported and skipped. The summary (files, pages kept and
dropped by reason, records) is printed and saved as `DIR/summary.json`.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pymupdf
from tqdm import tqdm

from ..processing.locations import format_box, format_grounded
from . import prompts
from .converters.common import make_record, phrase

TASKS = ("read", "spot", "region", "layout")


def parse_tasks(text: str) -> tuple[str, ...]:
    """`"read,spot"` -> the OCR tasks to write; unknown names are an error listing the known ones."""
    tasks = tuple(task.strip() for task in text.split(",") if task.strip())
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown or not tasks:
        raise ValueError(
            f"--tasks: unknown {', '.join(unknown) or '(none given)'}; expected some of {', '.join(TASKS)}"
        )
    return tasks


@dataclass(frozen=True)
class OcrSettings:
    dpi: int = 144
    min_chars: int = 20  # fewer characters of text: an empty or image-only page
    min_text_pixels: float = 8.0  # median glyph height in the rendered image below this: tiny text
    max_bad_fraction: float = 0.02  # more unmappable / control / private-use characters: dropped
    max_spot_lines: int = 60  # spotting answers stay within a training sequence
    tasks: tuple[str, ...] = TASKS
    seed: int = 0


@dataclass
class Line:
    text: str
    box: tuple[float, float, float, float]  # points, page coordinates
    size: float  # font size in points


@dataclass
class Block:
    kind: str  # "text" or "image"
    box: tuple[float, float, float, float]
    lines: list[Line] = field(default_factory=list)

    @property
    def text(self) -> str:
        return join_lines([line.text for line in self.lines])


@dataclass
class OcrSummary:
    files: int = 0
    files_skipped: dict[str, str] = field(default_factory=dict)  # path -> why
    pages_damaged: dict[str, int] = field(default_factory=dict)  # path -> pages MuPDF could not read whole
    pages_kept: int = 0
    pages_dropped: Counter = field(default_factory=Counter)  # reason -> pages
    records: int = 0

    def table(self) -> str:
        lines = [
            f"files: {self.files} read, {len(self.files_skipped)} skipped",
            *(f"  skipped {path}: {why}" for path, why in sorted(self.files_skipped.items())),
            f"pages: {self.pages_kept} kept, {sum(self.pages_dropped.values())} dropped",
            *(
                f"  damaged in {path}: {count} (skipped)"
                for path, count in sorted(self.pages_damaged.items())
            ),
            *(f"  dropped ({reason}): {count}" for reason, count in sorted(self.pages_dropped.items())),
            f"records: {self.records}",
        ]
        return "\n".join(lines)


# -- text quality ---------------------------------------------------------------------------------


def is_bad_character(char: str) -> bool:
    """U+FFFD (a glyph PyMuPDF could not map), control characters, private-use glyphs."""
    if char == "\ufffd":
        return True
    category = unicodedata.category(char)
    return category in ("Cc", "Co", "Cs") and char not in "\n\t"


def clean_text(text: str) -> tuple[str, int]:
    """The text without bad characters, and how many there were."""
    kept = "".join(char for char in text if not is_bad_character(char))
    return kept, len(text) - len(kept)


def merge_spans(spans: list[dict]) -> str:
    """One line's spans (split by PyMuPDF at every font change) as one text; a space where two spans
    leave a gap wider than a fifth of the font size and neither brings its own."""
    text = ""
    previous = None
    for span in spans:
        piece = span["text"]
        if previous is not None and text and piece:
            gap = span["bbox"][0] - previous["bbox"][2]
            if gap > 0.2 * span["size"] and not text[-1].isspace() and not piece[0].isspace():
                text += " "
        text += piece
        previous = span
    return " ".join(text.split())


def join_lines(lines: list[str]) -> str:
    """Lines of a block in reading order; `exam-` + `ple` at a line end becomes `example`."""
    text = ""
    for line in lines:
        if not line:
            continue
        if text.endswith("-") and len(text) > 1 and text[-2].isalpha() and line[0].islower():
            text = text[:-1] + line
        else:
            text = f"{text} {line}" if text else line
    return text


# -- pages ----------------------------------------------------------------------------------------


def page_blocks(page: pymupdf.Page) -> tuple[list[Block], int, int]:
    """Text and image blocks in reading order, with the count of characters and of bad ones."""
    content = page.get_text("dict", sort=True)
    blocks, characters, bad = [], 0, 0
    for raw in content["blocks"]:
        if raw["type"] == 1:
            blocks.append(Block("image", tuple(raw["bbox"])))
            continue
        block = Block("text", tuple(raw["bbox"]))
        for raw_line in raw.get("lines", []):
            text, removed = clean_text(merge_spans(raw_line["spans"]))
            characters += len(text) + removed
            bad += removed
            text = " ".join(text.split())
            if text:
                size = max(span["size"] for span in raw_line["spans"])
                block.lines.append(Line(text, tuple(raw_line["bbox"]), size))
        if block.lines:
            blocks.append(block)
    return blocks, characters, bad


def drop_reason(
    blocks: list[Block], characters: int, bad: int, scale: float, settings: OcrSettings
) -> str | None:
    text_lines = [line for block in blocks for line in block.lines]
    if not text_lines:
        return "image-only" if blocks else "empty"
    if characters and bad / characters > settings.max_bad_fraction:
        return "unmappable characters"
    if characters - bad < settings.min_chars:
        return "image-only" if any(b.kind == "image" for b in blocks) else "too little text"
    if statistics.median(line.size for line in text_lines) * scale < settings.min_text_pixels:
        return "tiny text"
    return None


def page_records(
    page_id: str, image: str, blocks: list[Block], width: float, height: float, settings: OcrSettings
) -> Iterator[dict]:
    """The OCR tasks of one kept page, each its own single-turn record."""
    side = max(width, height)  # points -> the corner-padded square of the rendered page

    def square(box) -> list[float]:
        return [value / side for value in box]

    rng = random.Random(f"{settings.seed}:{page_id}")
    text_blocks = [block for block in blocks if block.kind == "text"]
    answers = {
        "read": lambda: (phrase(rng, prompts.READ), "\n".join(block.text for block in text_blocks)),
        "spot": lambda: (phrase(rng, prompts.SPOT), " ".join(
            format_grounded(line.text, [square(line.box)])
            for line in [line for block in text_blocks for line in block.lines][: settings.max_spot_lines]
        )),
        "region": lambda: region_question(rng, text_blocks, square),
        "layout": lambda: (phrase(rng, prompts.LAYOUT), " ".join(format_grounded(block.kind, [square(block.box)]) for block in blocks)),
    }  # fmt: skip
    for task in settings.tasks:
        yield make_record(f"{page_id}-{task}", [answers[task]()], image, f"ocr-{task}")


def region_question(rng: random.Random, text_blocks: list[Block], square) -> tuple[str, str]:
    block = rng.choice(text_blocks)
    return phrase(rng, prompts.REGION_TEXT, box=format_box(square(block.box))), block.text


# -- files ----------------------------------------------------------------------------------------


# What MuPDF says when it could only read part of a page (a truncated or corrupt content stream).
DAMAGE_SIGNS = ("premature end", "syntax error", "may not be correct", "truncated", "cannot ")


def mupdf_messages() -> str:
    """MuPDF's errors and warnings since the last call (they are kept off the terminal)."""
    return pymupdf.TOOLS.mupdf_warnings(reset=True)


def open_pdf(path: Path) -> pymupdf.Document:
    """The document, or a ValueError saying why it cannot be read."""
    try:
        document = pymupdf.open(path, filetype="pdf")
    except (pymupdf.FileDataError, RuntimeError, ValueError) as error:
        raise ValueError(f"not a readable PDF ({error})") from None
    if document.needs_pass:
        document.close()
        raise ValueError("encrypted (needs a password)")
    if document.page_count == 0:
        document.close()
        raise ValueError("no pages")
    return document


def build_ocr_dataset(pdf_dir: Path, out: Path, settings: OcrSettings | None = None) -> OcrSummary:
    """Every PDF under `pdf_dir` -> `out/images/*.png` + `out/ocr.jsonl` + `out/summary.json`."""
    settings = settings or OcrSettings()
    files = sorted(
        path for path in Path(pdf_dir).rglob("*") if path.is_file() and path.suffix.lower() == ".pdf"
    )
    if not files:
        raise ValueError(f"{pdf_dir}: no .pdf files")
    (out / "images").mkdir(parents=True, exist_ok=True)
    summary = OcrSummary()
    # MuPDF prints every problem of a damaged file, without its name, many times over: we read its
    # messages per page instead and say in the summary which file lost which pages.
    pymupdf.TOOLS.mupdf_display_errors(False)
    pymupdf.TOOLS.mupdf_display_warnings(False)
    partial = out / "ocr.jsonl.partial"
    with open(partial, "w", encoding="utf-8") as records, tqdm(desc="OCR pages", unit=" pages") as progress:
        for path in files:
            try:
                document = open_pdf(path)
            except ValueError as error:
                summary.files_skipped[str(path)] = str(error)
                continue
            summary.files += 1
            name = path.relative_to(pdf_dir).with_suffix("").as_posix().replace("/", "__")
            mupdf_messages()  # a repaired file's open-time noise is not a page's damage
            with document:
                for number, page in enumerate(document):
                    process_page(
                        page, f"{name}-p{number + 1:04d}", out, settings, summary, records, str(path)
                    )
                    progress.update()
                    progress.set_postfix(kept=summary.pages_kept, records=summary.records)
    os.replace(partial, out / "ocr.jsonl")
    (out / "summary.json").write_text(json.dumps(vars(summary), indent=2))
    return summary


def process_page(
    page: pymupdf.Page,
    page_id: str,
    out: Path,
    settings: OcrSettings,
    summary: OcrSummary,
    records,
    file: str,
) -> None:
    scale = settings.dpi / 72
    try:
        blocks, characters, bad = page_blocks(page)
    except RuntimeError:  # a damaged content stream: the page goes, the file goes on
        blocks = None
    messages = mupdf_messages()
    if blocks is None or any(sign in messages for sign in DAMAGE_SIGNS):  # read only in part
        summary.pages_damaged[file] = summary.pages_damaged.get(file, 0) + 1
        return
    reason = drop_reason(blocks, characters, bad, scale, settings)
    if reason:
        summary.pages_dropped[reason] += 1
        return
    image = f"{page_id}.png"
    page.get_pixmap(matrix=pymupdf.Matrix(scale, scale), alpha=False).save(out / "images" / image)
    for record in page_records(page_id, image, blocks, page.rect.width, page.rect.height, settings):
        records.write(json.dumps(record, ensure_ascii=False) + "\n")
        summary.records += 1
    summary.pages_kept += 1
