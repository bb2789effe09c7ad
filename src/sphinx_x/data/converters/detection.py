"""Object-level vision data (Table 1, vision): detection, human pose and document layout.

    coco-detection  COCO-format instances JSON: COCO, LVIS, Objects365, V3Det
                    ({"images": [{id, file_name | coco_url, width, height}],
                      "annotations": [{image_id, bbox: [x, y, w, h], category_id, iscrowd}],
                      "categories": [{id, name}]})
    coco-keypoints  COCO person keypoints: annotations with "keypoints" [x, y, v] * 17, names in the
                    person category's "keypoints"
    unipose         UniPose's UniKPT (Yang et al. 2023): the same COCO keypoint format over many categories
                    (people, animals, ...), each category naming its own keypoints; the prompt names the
                    category
    coco-layout     PubLayNet / DocLayNet / M6Doc (COCO-format, categories text, title, list, table, figure...)
    openimages      OpenImages box CSV (ImageID, LabelName, XMin, XMax, YMin, YMax, IsGroupOf, normalised
                    to the image) + the class-descriptions CSV (LabelName, DisplayName); images
                    `{ImageID}.jpg` under --image-root (sizes read from their headers)

Boxes become [0, 1] coordinates of the padded square (--padding), written as the release writes them.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from itertools import groupby
from pathlib import Path

from ...processing.locations import format_box, format_grounded
from .. import prompts
from .common import (
    ConverterInputError,
    ConvertOptions,
    Grouper,
    Result,
    attempt,
    chooser,
    each_usable,
    find_file,
    image_size,
    json_items,
    make_record,
    phrase,
    square_box,
    square_point,
    xywh_to_xyxy,
)


def coco_images(path: Path) -> Iterator[tuple[dict, list[dict]]]:
    """(image entry, its annotations) of a COCO-format file, streamed: annotations are grouped on disk."""
    with Grouper() as annotations:
        for annotation in json_items(path, "annotations.item"):
            annotations.add(annotation.get("image_id"), annotation)
        for image in json_items(path, "images.item"):
            yield image, annotations.get(image.get("id"))


def category_names(path: Path) -> dict:
    return {category["id"]: category for category in json_items(path, "categories.item")}


def each_coco_image(sources: list[Path], build) -> Iterator[Result]:
    """`build(image, its annotations, categories by id, where)` for every image of every COCO-format
    file; `where` names the image in reports (and its bad annotations, through `each_usable`)."""
    for path in sources:
        names = category_names(path)
        for image, objects in coco_images(path):
            where = f"{path}:image {image.get('id')}"
            yield attempt(where, build, image, objects, names, where)


def image_file(image: dict) -> str:
    """COCO names images by `file_name`; LVIS by `coco_url` only (the file is its last part)."""
    if image.get("file_name"):
        return image["file_name"]
    if image.get("coco_url"):
        return image["coco_url"].rsplit("/", 1)[-1]
    raise ValueError("image: expected file_name or coco_url")


def category_of(annotation: dict, names: dict) -> dict:
    category = names.get(annotation.get("category_id"))
    if category is None:
        raise ValueError(f"category_id {annotation.get('category_id')!r}: not in the file's categories")
    return category


def coco_box(annotation: dict, image: dict, padding: str) -> list[float]:
    if "bbox" not in annotation:
        raise ValueError("no bbox")
    return square_box(xywh_to_xyxy(annotation["bbox"]), image["width"], image["height"], padding)


def grouped_boxes(
    image: dict, annotations: list[dict], names: dict, options: ConvertOptions, where: str
) -> dict:
    """Category name -> boxes in the padded square, categories in order of first appearance; bad
    annotations dropped and reported one by one."""

    def named_box(annotation: dict):
        if annotation.get("iscrowd"):
            return None  # crowd regions are not objects one can box
        name = category_of(annotation, names)["name"].replace("_", " ")
        return name, coco_box(annotation, image, options.padding)

    groups: dict[str, list] = {}
    for name, box in each_usable(annotations, named_box, options, where):
        groups.setdefault(name, []).append(box)
    return groups


def coco_detection(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    def build(image: dict, annotations: list[dict], names: dict, where: str) -> dict:
        groups = grouped_boxes(image, annotations, names, options, where)
        rng = chooser(options, f"det-{image['id']}")
        pairs = [
            (phrase(rng, prompts.DETECT, category=name), format_grounded(name, boxes))
            for name, boxes in list(groups.items())[: options.max_turns]
        ]
        return make_record(f"det-{image['id']}", pairs, image_file(image), "detection")

    return each_coco_image(sources, build)


def keypoint_pairs(
    image: dict, annotations: list[dict], names: dict, options: ConvertOptions, where: str, prompt
) -> list:
    """(question, answer) per annotated instance: its box in the question, its visible points named;
    a bad annotation is dropped and reported alone."""
    rng = chooser(options, f"pose-{image['id']}")
    width, height = image["width"], image["height"]

    def person(annotation: dict):
        if not annotation.get("num_keypoints") or annotation.get("iscrowd"):
            return None
        category = category_of(annotation, names)
        labels, values = category["keypoints"], annotation["keypoints"]
        if len(values) != 3 * len(labels):
            raise ValueError(f"keypoints: expected {3 * len(labels)} numbers, got {len(values)}")
        points = [
            format_grounded(
                label.replace("_", " "),
                [square_point(values[3 * k : 3 * k + 2], width, height, options.padding)],
            )
            for k, label in enumerate(labels)
            if values[3 * k + 2] > 0  # v = 0: not labelled
        ]
        box = coco_box(annotation, image, options.padding)
        return prompt(rng, format_box(box), category["name"].replace("_", " ")), " ".join(points)

    return each_usable(annotations, person, options, where)[: options.max_turns]


def coco_keypoints(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    def build(image: dict, annotations: list[dict], names: dict, where: str) -> dict:
        pairs = keypoint_pairs(image, annotations, names, options, where,
                               lambda rng, box, _: phrase(rng, prompts.KEYPOINTS, box=box))  # fmt: skip
        return make_record(f"pose-{image['id']}", pairs, image_file(image), "pose")

    return each_coco_image(sources, build)


def unipose(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    def build(image: dict, annotations: list[dict], names: dict, where: str) -> dict:
        pairs = keypoint_pairs(image, annotations, names, options, where,
                               lambda rng, box, category: phrase(rng, prompts.KEYPOINTS_OF, box=box, category=category))  # fmt: skip
        return make_record(f"unipose-{image['id']}", pairs, image_file(image), "pose")

    return each_coco_image(sources, build)


def coco_layout(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    """One turn: every layout element in reading order (top to bottom, then left to right)."""

    def build(image: dict, annotations: list[dict], names: dict, where: str) -> dict:
        def element(annotation: dict):
            name = category_of(annotation, names)["name"].lower().replace("_", " ")
            box = coco_box(annotation, image, options.padding)
            return round(box[1], 2), box[0], name, box

        elements = each_usable(annotations, element, options, where)
        if not elements:
            raise ValueError("annotations: the page has no layout element")
        answer = " ".join(format_grounded(name, [box]) for _, _, name, box in sorted(elements))
        rng = chooser(options, f"layout-{image['id']}")
        return make_record(
            f"layout-{image['id']}", [(phrase(rng, prompts.LAYOUT), answer)], image_file(image), "layout"
        )

    return each_coco_image(sources, build)


def openimages(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    """The published box CSVs are sorted by ImageID, so rows are grouped as they stream by."""
    classes_file = find_file(
        sources, ("*class-descriptions*.csv", "*class_descriptions*.csv"), "class descriptions CSV"
    )
    boxes_file = find_file(sources, ("*bbox*.csv", "*annotations*.csv"), "box annotations CSV")
    names = read_class_names(classes_file)

    def build(image_id: str, rows: list[dict]) -> dict:
        relative = f"{image_id}.jpg"
        width, height = image_size(options.image_root, relative)

        def named_box(row: dict):
            xyxy = [float(row["XMin"]) * width, float(row["YMin"]) * height,
                    float(row["XMax"]) * width, float(row["YMax"]) * height]  # fmt: skip
            name = names.get(row["LabelName"])
            if name is None:
                raise ValueError(f"LabelName {row['LabelName']!r}: not in {classes_file.name}")
            return name, square_box(xyxy, width, height, options.padding)

        groups: dict[str, list] = {}
        for name, box in each_usable(
            rows, named_box, options, f"{boxes_file}:image {image_id}", key="LabelName"
        ):
            groups.setdefault(name, []).append(box)
        rng = chooser(options, f"oi-{image_id}")
        pairs = [
            (phrase(rng, prompts.DETECT, category=name), format_grounded(name, boxes))
            for name, boxes in list(groups.items())[: options.max_turns]
        ]
        return make_record(f"oi-{image_id}", pairs, relative, "detection")

    with open(boxes_file, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if not {"ImageID", "LabelName", "XMin", "XMax", "YMin", "YMax"} <= set(reader.fieldnames or []):
            raise ConverterInputError(
                f"{boxes_file}: expected columns ImageID, LabelName, XMin, XMax, YMin, YMax"
            )
        for image_id, rows in groupby(reader, key=lambda row: row["ImageID"]):
            yield attempt(f"{boxes_file}:image {image_id}", build, image_id, list(rows))


def read_class_names(path: Path) -> dict[str, str]:
    """LabelName -> DisplayName; the CSV has a header in v7 and none in v4-v6."""
    names = {}
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle):
            if len(row) >= 2 and row[0] != "LabelName":
                names[row[0]] = row[1]
    return names
