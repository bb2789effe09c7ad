"""Score predictions made anywhere: one metric over JSONL records, per-item details and an aggregate.

Each metric names the fields it needs; a record without them (or a line that is not JSON) is
reported with its file and line, counted, and left out of the aggregate.

Some benchmarks are scored by a judge model (`JudgeStep`): the step adds its fields to each record
(`judge_score`, `extraction`, ...) before the metric reads them. Records that already carry those
fields (a judged result file scored again) need no judge. Without a judge, a metric whose step is
required says so and scores nothing; an optional step (MMBench's fallback) is simply not taken.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from .judge import JudgeError
from .metrics import cmmmu, hallusion, llava_bench, mathvista, mmvet, mmvp, screenspot, video
from .metrics.multiple_choice import (
    CHOICE_PROMPT_VERSION,
    chosen_letter,
    circular_scores,
    judge_choice,
    mmmu_choice,
    mmmu_open_correct,
    needs_judge_choice,
    qbench_correct,
    scienceqa_choice,
    seed_choice,
)
from .metrics.rec import rec_iou
from .metrics.text_match import anls, exact_match_any, relaxed_correct
from .metrics.toy_tasks import task_score, toy_task_scores
from .metrics.vqa import exact_match, textvqa_accuracy, vqa_accuracy
from .metrics.yes_no import mme_scores, pope_parse, pope_scores

METRICS_VERSION = "sphinx-x-metrics/2"
MMMU_SEED = 42
CMMMU_SEED = 42


def always(item: dict) -> bool:
    return True


@dataclass(frozen=True)
class JudgeStep:
    """How a metric uses the judge: `run(item, judge)` returns the fields named in `adds`, for the
    items where `applies(item)`; `prompt_version` names the judge prompt in result files."""

    adds: tuple[str, ...]
    run: Callable[[dict, object], dict]
    prompt_version: str
    required: bool = True  # False: a fallback where rules fail, not taken without a judge
    applies: Callable[[dict], bool] = always


@dataclass(frozen=True)
class Metric:
    """`per_item` adds the item's own result fields; `aggregate` reduces the scored items."""

    fields: tuple[str, ...]
    per_item: Callable[[dict], dict]
    aggregate: Callable[[list[dict]], dict]
    protocol: str
    judge: JudgeStep | None = None


def mean_of(key: str, output: str) -> Callable[[list[dict]], dict]:
    """The mean of `key`, overall and per `category` (a split or subject) when items carry one."""

    def aggregate(items: list[dict]) -> dict:
        result = {output: sum(item[key] for item in items) / len(items) if items else 0.0}
        for category in sorted({str(item["category"]) for item in items if item.get("category") is not None}):
            scores = [item[key] for item in items if str(item.get("category")) == category]
            result[f"category/{category}"] = sum(scores) / len(scores)
        return result

    return aggregate


def mean_by(key: str, output: str, *fields: str) -> Callable[[list[dict]], dict]:
    """The mean of `key`, overall and per value of each of `fields` (`field/value` keys)."""

    def aggregate(items: list[dict]) -> dict:
        groups: dict[str, list[float]] = defaultdict(list)
        for item in items:
            for field in fields:
                if item.get(field) is not None:
                    groups[f"{field}/{item[field]}"].append(item[key])
        result = {output: sum(item[key] for item in items) / len(items) if items else 0.0}
        return result | {name: sum(v) / len(v) for name, v in sorted(groups.items())}

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
    "mmbench": Metric(("prediction", "answer", "options", "group"), lambda i: {"parsed": chosen_letter(i)},
                      circular_scores, "CircularEval, VLMEvalKit exact matching (judge fallback when a judge is given)",
                      JudgeStep(("judge_choice",), judge_choice, CHOICE_PROMPT_VERSION, required=False,
                                applies=needs_judge_choice)),
    "choice": Metric(("prediction", "answer", "options", "group"), lambda i: {"parsed": chosen_letter(i)},
                     circular_scores, "option letter by VLMEvalKit exact matching, asked once (judge fallback when a judge is given)",
                     JudgeStep(("judge_choice",), judge_choice, CHOICE_PROMPT_VERSION, required=False,
                               applies=needs_judge_choice)),
    "scienceqa": Metric(("prediction", "answer"),
                        lambda i: {"score": float(scienceqa_choice(i["prediction"]) == i["answer"])},
                        mean_of("score", "accuracy"), "LLaVA ScienceQA parser"),
    "seed": Metric(("prediction", "answer"), lambda i: {"score": float(seed_choice(i["prediction"]) == i["answer"])},
                   mean_of("score", "accuracy"), "SEED-Bench first letter (lmms-eval)"),
    "qbench": Metric(("prediction", "answer", "answer_text"),
                     lambda i: {"score": float(qbench_correct(i["prediction"], i["answer"], i["answer_text"]))},
                     mean_by("score", "accuracy", "type", "concern"),
                     "Q-Bench A1: letter, 'X.', option text or letter line (Q-Future/Q-Bench LLaVA eval script)"),
    "ocrvqa": Metric(("prediction", "answers"), lambda i: {"score": exact_match_any(i["prediction"], i["answers"])},
                     mean_of("score", "accuracy"), "case-insensitive exact match (Qwen-VL evaluate_vqa.py)"),
    "cmmmu": Metric(("prediction", "answer", "question_type"), partial(cmmmu.cmmmu_item, seed=CMMMU_SEED),
                    cmmmu.cmmmu_scores, f"CMMMU rules per type (CMMMU eval / lmms-eval port), random ties seeded {CMMMU_SEED}"),
    "screenspot": Metric(("prediction", "bbox", "width", "height", "padding", "platform", "data_type"),
                         lambda i: {"hit": screenspot.click_hit(i["prediction"], i["bbox"], i["width"], i["height"], i["padding"])},
                         screenspot.screenspot_scores, "click point in the element box, per platform (SeeClick screenspot_test.py)"),
    "mvbench": Metric(("prediction", "answer", "category"),
                      lambda i: {"score": float(video.mvbench_correct(i["prediction"], i["answer"]))},
                      video.mvbench_scores, "MVBench check_ans on the first word, per task (Ask-Anything mvbench)"),
    "mmvet": Metric(("prediction", "question", "answer", "capability"), lambda i: {}, mmvet.mmvet_scores,
                    "MM-Vet judge grade 0-1, per capability (yuweihao/MM-Vet)",
                    JudgeStep(("judge_score",), mmvet.grade, mmvet.PROMPT_VERSION)),
    "llava-bench": Metric(("prediction", "question", "gpt4_answer", "caption", "category"), lambda i: {},
                          llava_bench.relative_scores, "LLaVA-Bench relative score vs GPT-4 answers (LLaVA eval)",
                          JudgeStep(("judge_scores",), llava_bench.review, llava_bench.PROMPT_VERSION)),
    "mathvista": Metric(("prediction", "query", "answer", "question_type", "answer_type"), mathvista.mathvista_item,
                        mathvista.mathvista_scores, "MathVista extraction (rules, else judge) + normalisation",
                        JudgeStep(("extraction",), mathvista.extract, mathvista.PROMPT_VERSION,
                                  applies=lambda i: mathvista.rule_extraction(i["prediction"], i) is None)),
    "hallusion": Metric(("prediction", "question", "gt_answer_details") + hallusion.QUESTION + ("figure_id",),
                        lambda i: {"right": hallusion.is_right(i)}, hallusion.hallusion_scores,
                        "HallusionBench judge check; aAcc / qAcc / fAcc groupings (tianyi-lab/HallusionBench)",
                        JudgeStep(("judge_verdict",), hallusion.check, hallusion.PROMPT_VERSION)),
    "mmvp": Metric(("prediction", "question", "answer", "pair"), lambda i: {}, mmvp.pair_scores,
                   "MMVP judge yes/no, pair accuracy (tsb0601/MMVP gpt_grader.py)",
                   JudgeStep(("judge_verdict",), mmvp.grade, mmvp.PROMPT_VERSION)),
    "videobench": Metric(("prediction", "question", "answer", "category"), lambda i: {}, video.videobench_scores,
                         "Video-Bench judge maps the answer to an option; weighted abilities (PKU-YuanGroup/Video-Bench)",
                         JudgeStep(("judge_choice",), video.videobench_choice, video.PROMPT_VERSION)),
    "mmmu": Metric(("prediction", "answer"), mmmu_item, mean_of("score", "accuracy"),
                   f"MMMU parser (lmms-eval), random fallback seeded with {MMMU_SEED}"),
    "toy-tasks": Metric(("prediction", "answer", "task", "width", "height"), lambda i: {"score": task_score(i)},
                        toy_task_scores, "the demo's tasks, each with its real metric (eval/metrics/toy_tasks.py)"),
    "rec": Metric(("prediction", "box", "width", "height", "padding"),
                  lambda i: {"iou": rec_iou(i["prediction"], i["box"], i["width"], i["height"], i["padding"])},
                  rec_aggregate, "Acc@0.5 and mean IoU in padded-square coordinates (SPHINX evaluator)"),
}  # fmt: skip


@dataclass
class ScoreReport:
    aggregate: dict
    items: list[dict]
    invalid: list[str]
    judge: dict | None = None  # the judge's URL, model and prompt version, when one was asked


def score_records(metric_name: str, records: Iterable[tuple[str, dict | str]], judge=None) -> ScoreReport:
    """`records`: (where, record or error text) pairs; where = "file:line". `judge`: a `judge.Judge`."""
    if metric_name not in METRICS:
        raise ValueError(f"unknown metric {metric_name!r}; known: {', '.join(METRICS)}")
    metric = METRICS[metric_name]
    valid, invalid = checked_records(metric_name, metric, records)
    step = metric.judge
    pending = [(w, r) for w, r in valid if step and step.applies(r) and not all(f in r for f in step.adds)]
    if pending and judge is None and step.required:
        message = (f"skipped: {len(pending)} of {len(valid)} records need the judge ({step.prompt_version}); "
                   "configure an OpenAI-compatible judge (URL, model, key variable) to score them")  # fmt: skip
        return ScoreReport(
            {"skipped": message, "items": 0, "invalid": len(invalid)}, [r for _, r in valid], invalid
        )
    if pending and judge is not None:
        valid = judged(valid, {id(r) for _, r in pending}, step, judge, invalid)
    items = []
    for where, record in valid:
        try:
            items.append(record | metric.per_item(record))
        except (TypeError, ValueError, AttributeError, KeyError) as error:
            invalid.append(f"{where}: cannot score this record ({error.__class__.__name__}: {error})")
    aggregate = metric.aggregate(items) | {"items": len(items), "invalid": len(invalid)}
    asked = (
        judge.describe() | {"prompt": step.prompt_version} if judge is not None and step and pending else None
    )
    return ScoreReport(aggregate, items, invalid, asked)


def checked_records(name: str, metric: Metric, records) -> tuple[list[tuple[str, dict]], list[str]]:
    valid, invalid = [], []
    for where, record in records:
        if isinstance(record, str):
            invalid.append(f"{where}: {record}")
            continue
        missing = [field for field in metric.fields if field not in record]
        if missing:
            invalid.append(
                f"{where}: missing field(s) {', '.join(missing)} (metric {name} needs {', '.join(metric.fields)})"
            )
            continue
        valid.append((where, dict(record)))
    return valid, invalid


def judged(
    valid, pending_ids: set[int], step: JudgeStep, judge, invalid: list[str]
) -> list[tuple[str, dict]]:
    """The records with the judge's fields added; a record the judge failed on is reported and dropped."""
    kept = []
    for where, record in valid:
        if id(record) in pending_ids:
            try:
                record.update(step.run(record, judge))
            except (JudgeError, ValueError, KeyError, TypeError) as error:
                invalid.append(f"{where}: the judge gave no usable answer ({error})")
                continue
        kept.append((where, record))
    return kept


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
