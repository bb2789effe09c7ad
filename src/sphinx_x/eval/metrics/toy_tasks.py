"""The demo's held-out tasks, each scored with the real metric of its kind:

    count, yesno, colour      VQA soft accuracy (the official VQA evaluation, the answer as all ten)
    rec, detect               Acc@0.5 of the first box (SPHINX's REC evaluator, corner padding)
    ocr_read, ocr_spot, ...   word exact match: every word, in order
    the others                exact match of the stripped answer

Aggregates: one `task/NAME` per task, and the demo's headline metrics: `vqa_accuracy` (over count,
yes/no and colour together), `rec_acc50`, `ocr_exact_match` (reading).
"""

from __future__ import annotations

from ...processing.locations import parse_locations
from .rec import rec_iou
from .vqa import vqa_accuracy

VQA_TASKS = ("count", "yesno", "colour")
BOX_TASKS = ("rec", "detect")


def task_score(item: dict) -> float:
    prediction, answer, task = item["prediction"], item["answer"], item["task"]
    if task in VQA_TASKS:
        return vqa_accuracy(prediction, [answer] * 10)
    if task in BOX_TASKS:
        truth = parse_locations(answer)[0].coordinates
        side = max(item["width"], item["height"])
        return float(
            rec_iou(prediction, [v * side for v in truth], item["width"], item["height"], "corner") >= 0.5
        )
    if task.startswith("ocr"):
        return float(prediction.strip().split() == answer.strip().split())
    return float(prediction.strip() == answer.strip())


def toy_task_scores(items: list[dict]) -> dict:
    by_task: dict[str, list[float]] = {}
    for item in items:
        by_task.setdefault(item["task"], []).append(item["score"])
    scores = {f"task/{task}": mean(values) for task, values in sorted(by_task.items())}
    scores["vqa_accuracy"] = mean([v for task in VQA_TASKS for v in by_task.get(task, [])])
    scores["rec_acc50"] = mean(by_task.get("rec", []))
    scores["ocr_exact_match"] = mean(by_task.get("ocr_read", []))
    return scores


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0
