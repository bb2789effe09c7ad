"""Held-out evaluation of the demo model with the benchmark metrics: VQA soft accuracy, REC Acc@0.5,
OCR word exact match, and a score for every task."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from ..eval.metrics.rec import rec_iou
from ..eval.metrics.vqa import vqa_accuracy
from ..inference.generate import DecodingSettings, generate
from ..processing.images import load_image
from ..processing.locations import parse_locations

VQA_TASKS = ("count", "yesno", "colour")
BOX_TASKS = ("rec", "detect")


def read_heldout(folder: Path) -> list[dict]:
    records = []
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            record.setdefault("task", "language")
            records.append(record)
    return records


def score(record: dict, prediction: str, image) -> float:
    """The task's metric for one held-out sample."""
    answer = record["conversations"][1]["value"]
    task = record["task"]
    if task in VQA_TASKS:
        return vqa_accuracy(prediction, [answer] * 10)
    if task in BOX_TASKS:
        truth = parse_locations(answer)[0].coordinates
        side = max(image.size)
        return float(
            rec_iou(prediction, [v * side for v in truth], image.width, image.height, "corner") >= 0.5
        )
    if task.startswith("ocr"):
        return float(prediction.strip().split() == answer.strip().split())  # every word, exactly
    return float(prediction.strip() == answer.strip())


def evaluate_heldout(model, processor, folder: Path, settings: DecodingSettings, batch_size: int = 32):
    records = read_heldout(folder)
    scores, examples = defaultdict(list), []
    for start in range(0, len(records), batch_size):
        batch = records[start : start + batch_size]
        images = [load_image(folder / "images" / r["image"]) if r.get("image") else None for r in batch]
        questions = [[r["conversations"][0]] for r in batch]
        answers = generate(model, processor.tokenizer, processor(questions, images), settings)
        for record, image, prediction in zip(batch, images, answers, strict=True):
            value = score(record, prediction, image)
            scores[record["task"]].append(value)
            examples.append({"record": record, "prediction": prediction, "score": value, "image": image})
    metrics = {f"task/{task}": sum(values) / len(values) for task, values in sorted(scores.items())}
    metrics["vqa_accuracy"] = mean([v for task in VQA_TASKS for v in scores.get(task, [])])
    metrics["rec_acc50"] = mean(scores.get("rec", []))
    metrics["ocr_exact_match"] = mean(scores.get("ocr_read", []))
    return metrics, examples


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0
