"""GUI grounding (Table 1, the website / mobile / desktop agent Set-of-Mark domain): SeeClick's
training data, in the three layouts its `readme_data.md` describes (njucckevin/SeeClick):

    widget captioning, RICOSCA   [{"img_filename", "instruction", "bbox": [left, top, right, bottom]}]
    web                          [{"img_filename", "url", "elements": [{"instruction", "bbox", "data_type"}]}]
    screen summarization         [{"img_filename", "captions": [...]}]

`bbox` values are fractions of the screenshot's width and height; they become pixels (sizes read
from the image headers under --image-root), then padded-square coordinates like every box. Each
screenshot gives one record, alternating instruction -> click point (SeeClick's task, the point at
the element's centre) and element box -> instruction, which also names the marks of the GUI
Set-of-Mark domain; screen summaries become caption records.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ...processing.locations import format_box, format_point
from .. import prompts
from .common import (
    ConvertOptions,
    Grouper,
    Result,
    attempt,
    chooser,
    image_size,
    json_items,
    make_record,
    phrase,
    square_box,
)


def elements_of(entry: dict) -> list[dict]:
    """The (instruction, bbox) elements of an entry of either grounding layout."""
    if isinstance(entry.get("elements"), list):
        return entry["elements"]
    if "instruction" in entry and "bbox" in entry:
        return [{"instruction": entry["instruction"], "bbox": entry["bbox"]}]
    raise ValueError("expected instruction + bbox, elements, or captions")


def pixel_box(fractions, width: int, height: int) -> list[float]:
    left, top, right, bottom = (float(v) for v in fractions)
    if not (0 <= left <= right <= 1 and 0 <= top <= bottom <= 1):
        raise ValueError(
            f"bbox {list(fractions)}: expected [left, top, right, bottom] fractions of the image"
        )
    return [left * width, top * height, right * width, bottom * height]


def grounding_record(image: str, elements: list[dict], options: ConvertOptions) -> dict:
    width, height = image_size(options.image_root, image)
    rng = chooser(options, f"gui-{image}")
    pairs = []
    for index, element in enumerate(elements[: options.max_turns]):
        instruction = str(element["instruction"]).strip()
        if not instruction:
            raise ValueError(f"elements[{index}]: empty instruction")
        box = square_box(pixel_box(element["bbox"], width, height), width, height, options.padding)
        if index % 2 == 0:
            centre = [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]
            pairs.append((phrase(rng, prompts.GUI_POINT, instruction=instruction), format_point(centre)))
        else:
            pairs.append((phrase(rng, prompts.GUI_ELEMENT, box=format_box(box)), instruction))
    return make_record(f"gui-{Path(image).stem}", pairs, image, "gui")


def summary_record(entry: dict, options: ConvertOptions) -> dict:
    captions = [c.strip() for c in entry["captions"] if isinstance(c, str) and c.strip()]
    if not captions:
        raise ValueError("captions: no caption")
    rng = chooser(options, f"gui-summary-{entry['img_filename']}")
    return make_record(
        f"gui-summary-{Path(entry['img_filename']).stem}",
        [(phrase(rng, prompts.CAPTION), captions[0])],
        entry["img_filename"],
        "caption",
    )


def seeclick(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    """Entries of one screenshot may be far apart in a file: they are grouped on disk first."""
    files = sorted(p for s in sources for p in ([s] if s.is_file() else s.rglob("*.json")))
    for path in files:
        with Grouper() as screenshots:
            for index, entry in enumerate(json_items(path, "item")):
                where = f"{path}:[{index}]"
                if not isinstance(entry, dict) or "img_filename" not in entry:
                    yield where, ValueError("expected an object with img_filename")
                elif isinstance(entry.get("captions"), list):
                    yield attempt(where, summary_record, entry, options)
                else:
                    found = attempt(where, elements_of, entry)
                    if isinstance(found[1], Exception):
                        yield found
                        continue
                    for element in found[1]:
                        screenshots.add(entry["img_filename"], element)
            for image, elements in screenshots.groups():
                yield attempt(f"{path}:{image}", grounding_record, image, elements, options)
