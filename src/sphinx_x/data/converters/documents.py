"""Tables and document pages (Table 1, vision-language VQA and OCR text layout & spotting).

    tabfact       TabFact: `r1_training_all.json` / `r2_training_all.json` ({table.csv: [[statements],
                  [labels 1/0], caption]}) + the `all_csv/` tables ('#'-separated)
    wtq           WikiTableQuestions: `training.tsv` (id, utterance, context, targetValue) + `csv/`
    docbank       DocBank: `{page}.txt` (token, x0, y0, x1, y1, R, G, B, font, label; coordinates in
                  0-1000 of the page) + `{page}_ori.jpg` images; text reading, spotting and layout

The table datasets are text; SPHINX-X reads tables as images, so each table is rendered once
(PIL, a plain grid) into --image-out and its questions become the turns of one record.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ...processing.locations import format_grounded
from .. import prompts
from .common import (
    ConverterInputError,
    ConvertOptions,
    Result,
    attempt,
    chooser,
    csv_rows,
    find_dir,
    find_file,
    image_size,
    json_pairs,
    make_record,
    phrase,
    square_box,
)
from .vqa import short

CELL_PADDING = 6
MAX_CELL_CHARS = 40


def render_table(rows: list[list[str]], path: Path, caption: str = "") -> None:
    """A plain grid with a bold-less header row, black on white, as tables look in documents."""
    font = ImageFont.load_default(size=14)
    rows = [[cell.strip()[:MAX_CELL_CHARS] for cell in row] for row in rows]
    columns = max(len(row) for row in rows)
    rows = [row + [""] * (columns - len(row)) for row in rows]
    widths = [max(int(font.getlength(row[c])) for row in rows) + 2 * CELL_PADDING for c in range(columns)]
    line = 14 + 2 * CELL_PADDING
    top = line if caption else 0
    image = Image.new(
        "RGB",
        (max(sum(widths), int(font.getlength(caption)) + 2 * CELL_PADDING) + 1, top + line * len(rows) + 1),
        "white",
    )
    draw = ImageDraw.Draw(image)
    if caption:
        draw.text((CELL_PADDING, CELL_PADDING), caption, fill="black", font=font)
    for r, row in enumerate(rows):
        x = 0
        for c, cell in enumerate(row):
            y = top + r * line
            draw.rectangle(
                (x, y, x + widths[c], y + line), outline="black", fill=(235, 235, 235) if r == 0 else None
            )
            draw.text((x + CELL_PADDING, y + CELL_PADDING), cell, fill="black", font=font)
            x += widths[c]
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def table_image(options: ConvertOptions, name: str, rows: list[list[str]], caption: str = "") -> str:
    """Renders a table once per output folder; returns its path relative to --image-out."""
    if options.image_out is None:
        raise ConverterInputError("tables are rendered to images: give --image-out")
    relative = f"tables/{hashlib.sha1(name.encode()).hexdigest()[:16]}.png"
    if not (options.image_out / relative).exists():
        render_table(rows, options.image_out / relative, caption)
    return relative


def tabfact(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    tables = find_dir(sources, "all_csv")
    statement_files = [s for s in sources if s.is_file() and s.suffix == ".json"] or sorted(
        p for s in sources if s.is_dir() for p in s.rglob("*_training_all.json")
    )

    def build(table: str, entry: list) -> dict:
        statements, labels, caption = entry[0], entry[1], entry[2] if len(entry) > 2 else ""
        rows = [line.split("#") for line in (tables / table).read_text(encoding="utf-8").splitlines() if line]
        image = table_image(options, f"tabfact/{table}", rows, caption)
        rng = chooser(options, f"tabfact-{table}")
        pairs = [
            (phrase(rng, prompts.TABLE_FACT, statement=statement.strip()), "True" if label else "False")
            for statement, label in zip(statements, labels, strict=True)
        ]
        return make_record(f"tabfact-{Path(table).stem}", pairs[: options.max_turns], image, "table")

    for path in statement_files:
        for table, entry in json_pairs(path):
            yield attempt(f"{path}:{table}", build, table, entry)


def wtq(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    """Questions are grouped by table as they come; the TSV lists a table's questions apart, so one
    table can give several records (each renders the table only once)."""
    questions = find_file(sources, ("training.tsv", "*.tsv"), "WikiTableQuestions TSV")
    root = questions.parent.parent if questions.parent.name == "data" else questions.parent

    def build(where: str, row: dict) -> dict:
        table = row["context"]
        with open(root / table, encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
        image = table_image(options, f"wtq/{table}", rows)
        answer = ", ".join(value.strip() for value in row["targetValue"].split("|"))
        return make_record(f"wtq-{row['id']}", [(short(row["utterance"]), answer)], image, "table")

    for where, row in csv_rows(questions, delimiter="\t"):
        yield attempt(where, build, where, row)


def docbank(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    """Images are `{page}_ori.jpg` beside the text files, or under --image-root."""
    files = sorted(p for s in sources for p in ([s] if s.is_file() else s.rglob("*.txt")))

    def build(path: Path) -> dict:
        relative = f"{path.stem}_ori.jpg"
        root = options.image_root or path.parent
        width, height = image_size(root, relative)
        tokens = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            fields = line.split("\t")
            if len(fields) != 10:
                raise ValueError(f"line {number}: expected 10 tab-separated fields, got {len(fields)}")
            box = [float(v) / 1000 * (width, height)[i % 2] for i, v in enumerate(fields[1:5])]
            tokens.append((fields[0], square_box(box, width, height, options.padding), fields[9]))
        if not tokens:
            raise ValueError("the page has no token")
        rng = chooser(options, f"docbank-{path.stem}")
        read = " ".join(token for token, _, _ in tokens)
        spots = " ".join(format_grounded(token, [box]) for token, box, _ in tokens[:50])  # answers stay short
        layout = " ".join(format_grounded(label, [box]) for label, box in layout_regions(tokens))
        pairs = [
            (phrase(rng, prompts.READ), read),
            (phrase(rng, prompts.SPOT), spots),
            (phrase(rng, prompts.LAYOUT), layout),
        ]
        return make_record(f"docbank-{path.stem}", pairs, relative, "layout")

    for path in files:
        yield attempt(str(path), build, path)


def layout_regions(tokens: list[tuple[str, list[float], str]]) -> list[tuple[str, list[float]]]:
    """Runs of consecutive tokens with one label, each as the union of its token boxes."""
    regions: list[tuple[str, list[float]]] = []
    for _, box, label in tokens:
        if regions and regions[-1][0] == label:
            previous = regions[-1][1]
            regions[-1] = (
                label,
                [
                    min(previous[0], box[0]),
                    min(previous[1], box[1]),
                    max(previous[2], box[2]),
                    max(previous[3], box[3]),
                ],
            )
        else:
            regions.append((label, list(box)))
    return regions
