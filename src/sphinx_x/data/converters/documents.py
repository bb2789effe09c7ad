"""Tables and document pages (Table 1, vision-language VQA and OCR text layout & spotting).

    tabfact       TabFact: `r1_training_all.json` / `r2_training_all.json` ({table.csv: [[statements],
                  [labels 1/0], caption]}) + the `all_csv/` tables ('#'-separated)
    wtq           WikiTableQuestions: `training.tsv` (id, utterance, context, targetValue) + `csv/`
    docbank       DocBank: `{page}.txt` (token, x0, y0, x1, y1, R, G, B, font, label; coordinates in
                  0-1000 of the page) + `{page}_ori.jpg` images; text reading, spotting and layout
    due           DeepForm and Kleister Charity as the DUE benchmark publishes them (Borchmann et al. 2021,
                  due-benchmark/du-schema): `{split}/document.jsonl` ({name, split, annotations: [{key,
                  values: [{value, value_variants}]}]}) + `pdfs/{name}.pdf`; the first page is rendered
                  into --image-out and each key becomes a question (--split keeps one split)
    visualmrc     VisualMRC (Tanaka et al. 2021): [{image_filename | screenshot_filename, qa_data:
                  [{question: {text}, answer: {text}}]}] (JSON list or JSONL); abstractive answers

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
from ..records import entries
from .common import (
    ConverterInputError,
    ConvertOptions,
    Result,
    attempt,
    chooser,
    csv_rows,
    each_entry,
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


# -- DUE benchmark documents (DeepForm, Kleister Charity) -------------------------------------------

PAGE_SCALE = 2.0  # 144 dpi: small print of forms and reports stays legible


def render_first_page(pdf: Path, options: ConvertOptions, name: str) -> str:
    """Renders the PDF's first page once per output folder; returns its path relative to --image-out."""
    if options.image_out is None:
        raise ConverterInputError("DUE documents are PDFs, rendered to images: give --image-out")
    relative = f"due/{hashlib.sha1(name.encode()).hexdigest()[:16]}.png"
    target = options.image_out / relative
    if not target.exists():
        import pymupdf  # 1 s to import: only where a PDF is rendered (the CLI's parser lists this module)

        try:
            with pymupdf.open(pdf, filetype="pdf") as document:
                pixmap = document[0].get_pixmap(matrix=pymupdf.Matrix(PAGE_SCALE, PAGE_SCALE), alpha=False)
        except (pymupdf.FileDataError, RuntimeError, ValueError, IndexError) as error:
            raise ValueError(f"{pdf}: cannot render its first page ({error})") from None
        target.parent.mkdir(parents=True, exist_ok=True)
        pixmap.save(target)
    return relative


def find_pdf(document_file: Path, name: str, options: ConvertOptions) -> Path:
    folders = [document_file.parent / "pdfs", document_file.parent.parent / "pdfs"]
    folders += [options.image_root] if options.image_root else []
    for folder in folders:
        if (folder / f"{name}.pdf").is_file():
            return folder / f"{name}.pdf"
    raise ValueError(f"no {name}.pdf in {', '.join(map(str, folders))}")


def key_question(key: str) -> str:
    """DUE keys are identifiers ("address__post_town", "gross_amount"): made readable."""
    return " ".join(key.replace("__", " ").replace("_", " ").split())


def due(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    """Keys of one document become the turns of one record (up to --max-turns); several values of a
    key are joined with ", ". Only the first page is shown: SPHINX-X reads one image."""
    files = sorted(p for s in sources for p in ([s] if s.is_file() else s.rglob("document.jsonl")))
    if not files:
        raise ConverterInputError(f"{', '.join(map(str, sources))}: no document.jsonl (DUE benchmark layout)")

    def build(document: dict, path: Path) -> dict:
        name = document["name"]
        image = render_first_page(find_pdf(path, name, options), options, f"{path.parent.parent.name}/{name}")
        rng = chooser(options, f"due-{name}")
        pairs = []
        for annotation in document["annotations"]:
            values = [
                str(v["value"]).strip() for v in annotation["values"] if str(v.get("value", "")).strip()
            ]
            if values:
                pairs.append(
                    (phrase(rng, prompts.KEY_VALUE, key=key_question(annotation["key"])), ", ".join(values))
                )
        return make_record(f"due-{name}", pairs[: options.max_turns], image, "key-value")

    for path in files:
        for where, document in entries(path):
            if isinstance(document, Exception) or not isinstance(document, dict):
                yield (
                    where,
                    document if isinstance(document, Exception) else ValueError("expected a JSON object"),
                )
            elif options.split is None or document.get("split") == options.split:
                yield attempt(where, build, document, path)


# -- VisualMRC ------------------------------------------------------------------------------------


def text_of(value) -> str:
    """VisualMRC writes {"text": ...} objects; plain strings are accepted too."""
    text = value.get("text") if isinstance(value, dict) else value
    if not isinstance(text, str) or not text.strip():
        raise ValueError("expected a non-empty text")
    return text.strip()


def visualmrc(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    def build(entry: dict, where: str) -> dict:
        image = entry.get("image_filename") or entry.get("screenshot_filename")
        if not image:
            raise ValueError("expected image_filename or screenshot_filename")
        pairs = [(text_of(qa["question"]), text_of(qa["answer"])) for qa in entry["qa_data"]]
        return make_record(
            f"vmrc-{entry.get('id', Path(image).stem)}", pairs[: options.max_turns], image, "visualmrc"
        )

    return each_entry(build, sources)
