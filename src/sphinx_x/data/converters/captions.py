"""Captions and visual instruction data (Table 1, vision-language).

coco-captions  COCO captions JSON ({"images": [{id, file_name}], "annotations": [{image_id, caption}]});
               one record per caption, with varied caption prompts
llava          LLaVA / ShareGPT4V / LVIS-Instruct4V / LLaVAR: [{"id", "image", "conversations"}],
               already conversations; roles and `<image>` markers are normalised
laion-gpt4v    LAION's GPT-4V captions (`laion/gpt4v-dataset`: rows {"link", "caption"}, JSON / JSONL /
               parquet); the release links images, so each is expected under the image root named
               `{sha1(link)[:16]}{suffix of the link}` (.jpg when the link has none)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from .. import prompts
from .common import (
    ConvertOptions,
    Grouper,
    Result,
    attempt,
    chooser,
    each_entry,
    json_items,
    make_record,
    normalise_turns,
    phrase,
    text_field,
)
from .detection import image_file


def coco_captions(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    def build(annotation: dict, image: str) -> dict:
        caption = annotation["caption"].strip()
        if not caption:
            raise ValueError("caption: empty")
        rng = chooser(options, f"cap-{annotation['id']}")
        return make_record(
            f"cap-{annotation['id']}", [(phrase(rng, prompts.CAPTION), caption)], image, "caption"
        )

    for path in sources:
        with Grouper() as images:  # image id -> file, on disk (Grouper keeps memory flat)
            for image in json_items(path, "images.item"):
                images.add(image["id"], image_file(image))
            for annotation in json_items(path, "annotations.item"):
                found = images.get(annotation.get("image_id"))
                where = f"{path}:caption {annotation.get('id')}"
                if not found:
                    yield where, ValueError(f"image_id {annotation.get('image_id')}: not in images")
                else:
                    yield attempt(where, build, annotation, found[0])


def llava(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    def build(entry: dict, where: str) -> dict:
        turns = entry["conversations"]
        if not isinstance(turns, list):
            raise ValueError("conversations: expected a list of turns")
        image = entry.get("image")
        record = {"id": str(entry.get("id", where))}
        if image:
            record["image"] = image
        record["conversations"] = normalise_turns(turns, bool(image))
        record["task"] = "instruct"
        return record

    return each_entry(build, sources)


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"}


def linked_image_name(link: str) -> str:
    suffix = Path(urlparse(link).path).suffix.lower()
    return hashlib.sha1(link.encode()).hexdigest()[:16] + (suffix if suffix in IMAGE_SUFFIXES else ".jpg")


def laion_gpt4v(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    """GPT-4V captions are long and detailed: asked for as a detailed description."""

    def build(entry: dict, where: str) -> dict:
        link, caption = text_field(entry, "link"), text_field(entry, "caption")
        image = linked_image_name(link)
        rng = chooser(options, f"laion-gpt4v-{image}")
        return make_record(
            f"laion-gpt4v-{Path(image).stem}",
            [(phrase(rng, prompts.DETAILED_CAPTION), caption)],
            image,
            "caption",
        )

    return each_entry(build, sources)
