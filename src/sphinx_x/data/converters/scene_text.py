"""Scene text (Table 1, OCR text spotting and the OCR Set-of-Mark domain), each from its published
ground truth. Polygons become the boxes around them, written as the release writes boxes
(architecture facts §8); "don't care" texts (### / #) are left out.

    icdar2013  ICDAR 2013 Focused Scene Text (Challenge 2): `gt_img_{n}.txt` (test: "x1, y1, x2, y2,
               "text"") or `gt_{n}.txt` (train: "x1 y1 x2 y2 "text""); images `img_{n}.jpg` / `{n}.jpg`
    icdar2015  ICDAR 2015 Incidental Scene Text (Challenge 4): `gt_img_{n}.txt`, UTF-8 with BOM, lines
               "x1,y1,x2,y2,x3,y3,x4,y4,transcription" (### = don't care); images `img_{n}.jpg`
    ctw1500    SCUT-CTW1500 with transcriptions: train labels `{n}.xml` (<box><label>text</label>
               <segs>x1,y1,...,x14,y14</segs></box>) or test labels `{n}.txt` ("x1,y1,...,####text");
               images `{n}.jpg`
    totaltext  Total-Text, the legacy text ground truth `poly_gt_img{n}.txt` ("x: [[...]], y: [[...]],
               ornt: [u'c'], transcriptions: [u'text']"); images `img{n}.jpg`

Image sizes are read from the image headers under --image-root. Each image gives one record: all
texts with their boxes (spotting), then "what is the text in [box]" turns for the first texts.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterator
from pathlib import Path

from ...processing.locations import format_box, format_grounded
from .. import prompts
from .common import (
    ConverterInputError,
    ConvertOptions,
    Result,
    attempt,
    chooser,
    image_size,
    make_record,
    phrase,
    square_box,
)

MAX_SPOTTED = 50  # texts per spotting answer: answers stay short enough to train on
DONT_CARE = {"###", "#"}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".JPG", ".gif", ".bmp")

Word = tuple[str, list[float]]  # (text, polygon as a flat [x1, y1, x2, y2, ...] pixel list)


def polygon_bounds(flat: list[float]) -> list[float]:
    if len(flat) < 4 or len(flat) % 2:
        raise ValueError(f"polygon {flat[:8]}...: expected x, y pairs")
    xs, ys = flat[0::2], flat[1::2]
    return [min(xs), min(ys), max(xs), max(ys)]


def spotting_record(record_id: str, image: str, words: list[Word], options: ConvertOptions) -> dict:
    width, height = image_size(options.image_root, image)
    boxes = [(text, square_box(polygon_bounds(poly), width, height, options.padding)) for text, poly in words
             if text not in DONT_CARE]  # fmt: skip
    if not boxes:
        raise ValueError("no legible text (every text is a don't-care region)")
    rng = chooser(options, record_id)
    spots = " ".join(format_grounded(text, [box]) for text, box in boxes[:MAX_SPOTTED])
    pairs = [(phrase(rng, prompts.SPOT), spots)]
    pairs += [
        (phrase(rng, prompts.REGION_TEXT, box=format_box(box)), text)
        for text, box in boxes[: options.max_turns - 1]
    ]
    return make_record(record_id, pairs, image, "spotting")


def image_for(options: ConvertOptions, stem: str) -> str:
    """The image of a ground-truth file: `{stem}` with the first suffix found under --image-root."""
    if options.image_root is None:
        raise ConverterInputError("scene text ground truth does not state image sizes: give --image-root")
    for suffix in IMAGE_SUFFIXES:
        if (options.image_root / f"{stem}{suffix}").is_file():
            return f"{stem}{suffix}"
    raise ValueError(f"no image {stem}.jpg (or .png, .gif, ...) under {options.image_root}")


def each_file(sources: list[Path], pattern: str) -> list[Path]:
    return sorted(p for s in sources for p in ([s] if s.is_file() else s.rglob(pattern)))


def converter(
    pattern: str, parse: Callable[[Path], list[Word]], image_stem: Callable[[Path], str], prefix: str
):
    def convert(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
        def build(path: Path) -> dict:
            words, stem = parse(path), image_stem(path)  # a malformed file is reported before a missing image
            return spotting_record(f"{prefix}-{stem}", image_for(options, stem), words, options)

        for path in each_file(sources, pattern):
            yield attempt(str(path), build, path)

    return convert


# -- ICDAR 2013 / 2015 ----------------------------------------------------------------------------

IC13_LINE = re.compile(r'^\s*(\d+)[,\s]+(\d+)[,\s]+(\d+)[,\s]+(\d+)[,\s]+"(.*)"\s*$')


def parse_icdar2013(path: Path) -> list[Word]:
    words = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        match = IC13_LINE.match(line)
        if not match:
            raise ValueError(f'line {number}: expected x1 y1 x2 y2 "text" (comma or space separated)')
        x1, y1, x2, y2 = (float(match[i]) for i in range(1, 5))
        words.append((match[5], [x1, y1, x2, y1, x2, y2, x1, y2]))
    return words


def parse_icdar2015(path: Path) -> list[Word]:
    words = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.strip().split(",")
        if len(fields) < 9:
            raise ValueError(f"line {number}: expected 8 coordinates and a transcription")
        words.append((",".join(fields[8:]), [float(v) for v in fields[:8]]))  # the text may hold commas
    return words


def icdar_stem(path: Path) -> str:
    """gt_img_12.txt -> img_12; gt_12.txt (IC13 train) -> 12."""
    return path.stem.removeprefix("gt_")


icdar2013 = converter("gt_*.txt", parse_icdar2013, icdar_stem, "ic13")
icdar2015 = converter("gt_*.txt", parse_icdar2015, icdar_stem, "ic15")


# -- CTW1500 --------------------------------------------------------------------------------------


def parse_ctw1500(path: Path) -> list[Word]:
    if path.suffix == ".xml":
        return parse_ctw1500_xml(path)
    words = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        coordinates, separator, text = line.strip().partition("####")
        if not separator:
            raise ValueError(f"line {number}: expected x1,y1,...,####transcription")
        words.append((text or "###", [float(v) for v in coordinates.strip(",").split(",")]))
    return words


def parse_ctw1500_xml(path: Path) -> list[Word]:
    words = []
    for box in ElementTree.parse(path).getroot().iter("box"):
        segs = box.findtext("segs")
        if not segs:
            raise ValueError(f"{path.name}: a <box> without <segs>")
        words.append(((box.findtext("label") or "###").strip(), [float(v) for v in segs.split(",")]))
    return words


def ctw1500_files(sources: list[Path]) -> list[Path]:
    return sorted(
        p for s in sources for p in ([s] if s.is_file() else [*s.rglob("*.xml"), *s.rglob("*.txt")])
    )


def ctw1500(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    def build(path: Path) -> dict:
        words = parse_ctw1500(path)
        return spotting_record(f"ctw-{path.stem}", image_for(options, path.stem), words, options)

    for path in ctw1500_files(sources):
        yield attempt(str(path), build, path)


# -- Total-Text -----------------------------------------------------------------------------------

TOTALTEXT_LINE = re.compile(
    r"x: \[\[(?P<x>[^\]]*)\]\], y: \[\[(?P<y>[^\]]*)\]\], ornt: \[u?'(?P<ornt>[^']*)'\], "
    r"transcriptions: \[u?(?P<quote>['\"])(?P<text>.*)(?P=quote)\]"
)


def parse_totaltext(path: Path) -> list[Word]:
    # A polygon with many points wraps onto the next lines: join them back into one entry each.
    entries = re.split(r"\n(?=x: )", path.read_text(encoding="utf-8-sig").strip())
    words = []
    for number, entry in enumerate(entries, start=1):
        match = TOTALTEXT_LINE.search(" ".join(entry.split()).replace("[[ ", "[[").replace(" ]]", "]]"))
        if not match:
            raise ValueError(
                f"entry {number}: expected x: [[...]], y: [[...]], ornt: [...], transcriptions: [...]"
            )
        xs, ys = ([float(v) for v in match[axis].split()] for axis in ("x", "y"))
        if len(xs) != len(ys):
            raise ValueError(f"entry {number}: {len(xs)} x values but {len(ys)} y values")
        words.append((match["text"], [v for pair in zip(xs, ys, strict=True) for v in pair]))
    return words


totaltext = converter("poly_gt_*.txt", parse_totaltext, lambda path: path.stem.removeprefix("poly_gt_"), "tt")
