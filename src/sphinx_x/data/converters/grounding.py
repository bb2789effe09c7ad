"""Image-level and grounding data (Table 1, vision): classification and visual grounding.

    imagenet        ImageNet-style class folders (`train/n01440764/*.JPEG`), with the synset mapping
                    (`LOC_synset_mapping.txt`: "n01440764 tench, Tinca tinca") if given; the first
                    name of a synset is its class
    refcoco         RefCOCO / RefCOCO+ / RefCOCOg: `refs(unc).p` / `refs(umd).p` + `instances.json`;
                    --split (default train)
    visual-genome   `region_descriptions.json` ([{"id", "regions": [{image_id, phrase, x, y, width, height}]}])
                    + `image_data.json` ([{image_id, width, height}]) for the image sizes
    flickr30k       Flickr30k Entities: `Sentences/{id}.txt` ("[/EN#18/people A man] in ...") and
                    `Annotations/{id}.xml` (boxes per entity id)

Grounding records ask both ways: a phrase -> its box (REC) and a box -> its description.
"""

from __future__ import annotations

import pickle
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path

from ...processing.locations import format_box, format_locations
from .. import prompts
from .common import (
    ConverterInputError,
    ConvertOptions,
    Result,
    attempt,
    chooser,
    find_dir,
    find_file,
    json_items,
    make_record,
    phrase,
    square_box,
    xywh_to_xyxy,
)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def imagenet(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    """Image paths are written relative to the class folders' parent (give it as the image root)."""
    mapping_file = find_file(sources, ("*synset*.txt", "*mapping*.txt"), "synset mapping", required=False)
    names = read_synsets(mapping_file) if mapping_file else {}
    roots = [source for source in sources if source.is_dir()]
    if not roots:
        raise ConverterInputError(f"{', '.join(map(str, sources))}: expected a folder of class folders")
    for root in roots:
        for folder in sorted(path for path in root.iterdir() if path.is_dir()):
            label = names.get(folder.name, folder.name.replace("_", " "))
            for image in sorted(folder.iterdir()):
                if image.suffix.lower() in IMAGE_SUFFIXES:
                    relative = image.relative_to(root).as_posix()
                    yield attempt(str(image), classification_record, relative, label, options)


def classification_record(relative: str, label: str, options: ConvertOptions) -> dict:
    rng = chooser(options, relative)
    return make_record(
        f"cls-{relative}", [(phrase(rng, prompts.CLASSIFY), f"This is a {label}")], relative, "classification"
    )


def read_synsets(path: Path) -> dict[str, str]:
    names = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            wnid, _, label = line.strip().partition(" ")
            names[wnid] = label.split(",")[0].strip()
    return names


def grounding_pairs(rng, regions: list[tuple[str, list[float]]], max_turns: int) -> list[tuple[str, str]]:
    """Alternately phrase -> box (REC) and box -> phrase (region captioning)."""
    pairs = []
    for index, (text, box) in enumerate(regions[:max_turns]):
        if index % 2 == 0:
            pairs.append((phrase(rng, prompts.REC, phrase=text), format_box(box)))
        else:
            pairs.append((phrase(rng, prompts.REGION_CAPTION, box=format_box(box)), text))
    return pairs


def refcoco(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    """The refs file is a pickle, as published (read only files you trust); it is loaded whole, as is
    `instances.json` (both are small: about 50k annotations)."""
    refs_file = find_file(sources, ("refs(*).p", "refs*.p"), "refs(unc).p / refs(umd).p")
    instances = find_file(sources, ("instances.json",), "instances.json")
    boxes = {annotation["id"]: annotation["bbox"] for annotation in json_items(instances, "annotations.item")}
    images = {image["id"]: image for image in json_items(instances, "images.item")}
    with open(refs_file, "rb") as handle:
        refs = pickle.load(handle)
    split = options.split or "train"

    def build(ref: dict) -> dict:
        image = images[ref["image_id"]]
        box = square_box(xywh_to_xyxy(boxes[ref["ann_id"]]), image["width"], image["height"], options.padding)
        sentences = [sentence["sent"].strip() for sentence in ref["sentences"] if sentence["sent"].strip()]
        if not sentences:
            raise ValueError("sentences: no referring expression")
        rng = chooser(options, f"ref-{ref['ref_id']}")
        pairs = grounding_pairs(rng, [(text, box) for text in sentences], options.max_turns)
        return make_record(f"ref-{ref['ref_id']}", pairs, image["file_name"], "grounding")

    for ref in refs:
        if ref.get("split") == split:
            yield attempt(f"{refs_file}:ref {ref.get('ref_id')}", build, ref)


def visual_genome(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    regions_file = find_file(sources, ("region_descriptions.json",), "region_descriptions.json")
    sizes_file = find_file(sources, ("image_data.json",), "image_data.json")
    # 108k images x two ints: small enough for a dict; the regions (5.4M) stream.
    sizes = {entry["image_id"]: (entry["width"], entry["height"]) for entry in json_items(sizes_file, "item")}

    def build(entry: dict) -> dict:
        image_id = entry["id"]
        width, height = sizes[image_id]
        regions = [
            (
                region["phrase"].strip(),
                square_box(
                    xywh_to_xyxy([region["x"], region["y"], region["width"], region["height"]]),
                    width,
                    height,
                    options.padding,
                ),
            )
            for region in entry["regions"]
            if region.get("phrase", "").strip()
        ]
        if not regions:
            raise ValueError("regions: no described region")
        rng = chooser(options, f"vg-{image_id}")
        pairs = grounding_pairs(rng, regions, options.max_turns)
        return make_record(f"vg-{image_id}", pairs, f"{image_id}.jpg", "grounding")

    for index, entry in enumerate(json_items(regions_file, "item")):
        yield attempt(f"{regions_file}:[{index}]", build, entry)


ENTITY = re.compile(r"\[/EN#(?P<id>\d+)/(?P<types>\S+) (?P<text>[^\]]+)\]")


def flickr30k(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    """One record per caption: the caption with each boxed phrase written `<p>phrase</p> [box]`."""
    sentences_dir = find_dir(sources, "Sentences")
    annotations_dir = find_dir(sources, "Annotations")

    def build(sentence_file: Path, number: int, line: str) -> dict:
        image_id = sentence_file.stem
        boxes, width, height = read_entity_boxes(annotations_dir / f"{image_id}.xml")

        def grounded(match: re.Match) -> str:
            entity = boxes.get(match["id"])
            if not entity:
                return match["text"]  # "notvisual" and scene entities have no box
            squares = [square_box(box, width, height, options.padding) for box in entity]
            return f"<p>{match['text']}</p> {format_locations(squares)}"

        rng = chooser(options, f"f30k-{image_id}-{number}")
        answer = ENTITY.sub(grounded, line.strip())
        return make_record(
            f"f30k-{image_id}-{number}",
            [(phrase(rng, prompts.GROUNDED_CAPTION), answer)],
            f"{image_id}.jpg",
            "grounding",
        )

    for sentence_file in sorted(sentences_dir.glob("*.txt")):
        for number, line in enumerate(sentence_file.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                yield attempt(f"{sentence_file}:{number}", build, sentence_file, number, line)


def read_entity_boxes(path: Path) -> tuple[dict[str, list], int, int]:
    """Entity id -> pixel boxes (xyxy), and the image size, from a Flickr30k Entities XML file."""
    if not path.is_file():
        raise ValueError(f"{path}: no annotation file for this image")
    root = ElementTree.parse(path).getroot()
    width, height = int(root.findtext("size/width")), int(root.findtext("size/height"))
    boxes: dict[str, list] = {}
    for item in root.iter("object"):
        box = item.find("bndbox")
        if box is None:
            continue
        xyxy = [float(box.findtext(tag)) for tag in ("xmin", "ymin", "xmax", "ymax")]
        for name in item.findall("name"):
            boxes.setdefault(name.text, []).append(xyxy)
    return boxes, width, height
