"""Result files -> the formats other places expect: evaluation-server submissions, lmms-eval records."""

from __future__ import annotations

import json
from pathlib import Path

from ..processing.locations import SquareFrame, format_box
from .metrics.rec import parse_first_box


def vqav2_submission(result: dict) -> list[dict]:
    """VQAv2 test-dev (EvalAI): `[{"question_id": int, "answer": str}]`."""
    return [
        {"question_id": int(item["question_id"]), "answer": item["prediction"].strip()}
        for item in result["items"]
    ]


def docvqa_submission(result: dict) -> list[dict]:
    """DocVQA test (RRC): `[{"questionId": int, "answer": str}]`."""
    return [
        {"questionId": int(item["question_id"]), "answer": item["prediction"].strip()}
        for item in result["items"]
    ]


def lmms_eval_records(result: dict) -> list[dict]:
    """One record per item with lmms-eval's conventions: boxes normalised to the original image per axis."""
    records = []
    for item in result["items"]:
        record = {"doc_id": item["id"], "question": item.get("question"), "prediction": item["prediction"]}
        if "box" in item:  # ours: padded-square coordinates of the model's padding
            frame = SquareFrame(item["width"], item["height"], item["padding"])
            x1, y1, x2, y2 = frame.to_pixels(parse_first_box(item["prediction"]))
            record["prediction"] = format_box(
                [x1 / item["width"], y1 / item["height"], x2 / item["width"], y2 / item["height"]]
            )
            record["bbox"] = item["box"]
        records.append(record | {k: item[k] for k in ("answers", "answer") if k in item})
    return records


ADAPTERS = {"vqav2": vqav2_submission, "docvqa": docvqa_submission, "lmms-eval": lmms_eval_records}


# The item fields each format needs, and the benchmarks whose results have them.
NEEDS = {
    "vqav2": (("question_id", "prediction"), ("vqav2", "okvqa")),
    "docvqa": (("question_id", "prediction"), ("docvqa", "infovqa")),
    "lmms-eval": (("id", "prediction"), None),
}


def export_result(result_path: str | Path, format: str, out: str | Path) -> Path:
    """A result file written by `eval run` -> `out` in `format` (one of `ADAPTERS`)."""
    try:
        result = json.loads(Path(result_path).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{result_path}: not a result file written by `sphinx-x eval run` ({error})"
        ) from None
    fields, benchmarks = NEEDS[format]
    name = result.get("benchmark") if isinstance(result, dict) else None
    if not isinstance(result, dict) or not isinstance(result.get("items"), list):
        raise ValueError(f"{result_path}: not a result file written by `sphinx-x eval run` (no 'items' list)")
    if benchmarks is not None and name not in benchmarks:
        raise ValueError(
            f"{result_path}: --format {format} is for {' / '.join(benchmarks)} results; this one is {name!r}"
        )
    for index, item in enumerate(result["items"]):
        missing = [field for field in fields if field not in item]
        if missing:
            raise ValueError(
                f"{result_path}: items[{index}] has no {', '.join(missing)} (needed by --format {format})"
            )
    Path(out).write_text(json.dumps(ADAPTERS[format](result)))
    return Path(out)
