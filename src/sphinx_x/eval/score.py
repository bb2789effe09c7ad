"""Score predictions made anywhere: one metric over JSONL records, per-item details and an aggregate.

Each metric names the fields it needs; a record without them (or a line that is not JSON) is
reported with its file and line, counted, and left out of the aggregate.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .metrics.multiple_choice import (
    circular_scores,
    mmbench_choice,
    mmmu_choice,
    mmmu_open_correct,
    scienceqa_choice,
    seed_choice,
)
from .metrics.rec import rec_iou
from .metrics.text_match import anls, relaxed_correct
from .metrics.vqa import exact_match, textvqa_accuracy, vqa_accuracy
from .metrics.yes_no import mme_scores, pope_parse, pope_scores

METRICS_VERSION = "sphinx-x-metrics/1"
MMMU_SEED = 42


@dataclass(frozen=True)
class Metric:
    """`per_item` adds the item's own result fields; `aggregate` reduces the scored items."""

    fields: tuple[str, ...]
    per_item: Callable[[dict], dict]
    aggregate: Callable[[list[dict]], dict]
    protocol: str


def mean_of(key: str, output: str) -> Callable[[list[dict]], dict]:
    """The mean of `key`, overall and per `category` (a split or subject) when items carry one."""

    def aggregate(items: list[dict]) -> dict:
        result = {output: sum(item[key] for item in items) / len(items) if items else 0.0}
        for category in sorted({str(item["category"]) for item in items if item.get("category") is not None}):
            scores = [item[key] for item in items if str(item.get("category")) == category]
            result[f"category/{category}"] = sum(scores) / len(scores)
        return result

    return aggregate


def pope_aggregate(items: list[dict]) -> dict:
    result = pope_scores((item["prediction"], item["answer"]) for item in items)
    for split in sorted({item["split"] for item in items if item.get("split")}):
        result[split] = pope_scores((i["prediction"], i["answer"]) for i in items if i.get("split") == split)
    return result


def rec_aggregate(items: list[dict]) -> dict:
    count = len(items)
    return {
        "acc50": sum(item["iou"] >= 0.5 for item in items) / count if count else 0.0,
        "miou": sum(item["iou"] for item in items) / count if count else 0.0,
    }


def mmmu_item(item: dict) -> dict:
    # Seeded per question so a rerun, or a different order, draws the same random fallbacks.
    if item.get("options"):
        rng = random.Random(f"{MMMU_SEED}:{item.get('id', item['prediction'])}")
        choice = mmmu_choice(item["prediction"], item["options"], rng)
        return {"parsed": choice, "score": float(choice in as_list(item["answer"]))}
    return {"score": float(mmmu_open_correct(item["prediction"], item["answer"]))}


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


METRICS: dict[str, Metric] = {
    "vqa": Metric(("prediction", "answers"), lambda i: {"score": vqa_accuracy(i["prediction"], i["answers"])},
                  mean_of("score", "accuracy"), "official VQA evaluation (normalise only when answers differ)"),
    "vqa-lmms": Metric(("prediction", "answers"),
                       lambda i: {"score": vqa_accuracy(i["prediction"], i["answers"], always_normalize=True)},
                       mean_of("score", "accuracy"), "VQA accuracy, always normalising (lmms-eval)"),
    "textvqa": Metric(("prediction", "answers"), lambda i: {"score": textvqa_accuracy(i["prediction"], i["answers"])},
                      mean_of("score", "accuracy"), "EvalAI answer processor, leave-one-out soft accuracy"),
    "exact": Metric(("prediction", "answer"), lambda i: {"score": exact_match(i["prediction"], i["answer"])},
                    mean_of("score", "accuracy"), "exact match after EvalAI normalisation (GQA)"),
    "anls": Metric(("prediction", "answers"), lambda i: {"score": anls(i["prediction"], i["answers"])},
                   mean_of("score", "anls"), "ANLS, threshold 0.5 (docvqa.org)"),
    "relaxed": Metric(("prediction", "answer"), lambda i: {"score": relaxed_correct(i["prediction"], i["answer"])},
                      mean_of("score", "relaxed_accuracy"), "ChartQA relaxed accuracy, 5% (lmms-eval)"),
    "pope": Metric(("prediction", "answer"), lambda i: {"parsed": pope_parse(i["prediction"])},
                   pope_aggregate, "POPE evaluate.py (first sentence; no/not/No -> no)"),
    "mme": Metric(("prediction", "answer", "subtask", "image"), lambda i: {}, mme_scores,
                  "MME acc + acc+ per subtask (lmms-eval parser)"),
    "mmbench": Metric(("prediction", "answer", "options", "group"),
                      lambda i: {"parsed": mmbench_choice(i["prediction"], i["options"])}, circular_scores,
                      "CircularEval, VLMEvalKit exact matching"),
    "scienceqa": Metric(("prediction", "answer"),
                        lambda i: {"score": float(scienceqa_choice(i["prediction"]) == i["answer"])},
                        mean_of("score", "accuracy"), "LLaVA ScienceQA parser"),
    "seed": Metric(("prediction", "answer"), lambda i: {"score": float(seed_choice(i["prediction"]) == i["answer"])},
                   mean_of("score", "accuracy"), "SEED-Bench first letter (lmms-eval)"),
    "mmmu": Metric(("prediction", "answer"), mmmu_item, mean_of("score", "accuracy"),
                   f"MMMU parser (lmms-eval), random fallback seeded with {MMMU_SEED}"),
    "rec": Metric(("prediction", "box", "width", "height", "padding"),
                  lambda i: {"iou": rec_iou(i["prediction"], i["box"], i["width"], i["height"], i["padding"])},
                  rec_aggregate, "Acc@0.5 and mean IoU in padded-square coordinates (SPHINX evaluator)"),
}  # fmt: skip


@dataclass
class ScoreReport:
    aggregate: dict
    items: list[dict]
    invalid: list[str]


def score_records(metric_name: str, records: Iterable[tuple[str, dict | str]]) -> ScoreReport:
    """`records`: (where, record or error text) pairs; where = "file:line"."""
    if metric_name not in METRICS:
        raise ValueError(f"unknown metric {metric_name!r}; known: {', '.join(METRICS)}")
    metric = METRICS[metric_name]
    items, invalid = [], []
    for where, record in records:
        if isinstance(record, str):
            invalid.append(f"{where}: {record}")
            continue
        missing = [field for field in metric.fields if field not in record]
        if missing:
            invalid.append(
                f"{where}: missing field(s) {', '.join(missing)} (metric {metric_name} needs {', '.join(metric.fields)})"
            )
            continue
        try:
            items.append(record | metric.per_item(record))
        except (TypeError, ValueError, AttributeError, KeyError) as error:
            invalid.append(f"{where}: cannot score this record ({error.__class__.__name__}: {error})")
    aggregate = metric.aggregate(items) | {"items": len(items), "invalid": len(invalid)}
    return ScoreReport(aggregate, items, invalid)


def read_jsonl(path: str | Path) -> Iterable[tuple[str, dict | str]]:
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                yield f"{path}:{number}", f"not valid JSON ({error.msg})"
                continue
            yield f"{path}:{number}", record if isinstance(record, dict) else "expected a JSON object"
