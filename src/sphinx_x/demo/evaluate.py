"""Held-out evaluation of the demo model through the evaluation runner, with the `toy-tasks`
benchmark: each task scored with its real metric (VQA soft accuracy, REC Acc@0.5, OCR word exact
match; eval/metrics/toy_tasks.py), greedy decoding, a result file with the protocol."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..eval.benchmarks import BENCHMARKS
from ..eval.runner import run_benchmark
from ..processing.images import load_image


def evaluate_heldout(
    model,
    processor,
    folder: Path,
    out: Path,
    batch_size: int = 32,
    max_new_tokens: int | None = None,
    **decoding,
) -> tuple[dict, list[dict]]:
    """(metrics, examples): the runner's scores, and every item with its image for the report.
    Greedy unless `decoding` (temperature, top_p, seed) says otherwise; answers of the benchmark's
    length unless `max_new_tokens` is given."""
    benchmark = BENCHMARKS["toy-tasks"]
    if max_new_tokens is not None:
        benchmark = dataclasses.replace(benchmark, max_new_tokens=max_new_tokens)
    result = run_benchmark(
        model, processor, benchmark, folder, out, batch_size=batch_size, **{"temperature": 0, **decoding}
    )
    images = {item.id: item.image for item in BENCHMARKS["toy-tasks"].read(folder)}
    examples = [
        {"task": item["task"], "question": item["question"], "answer": item["answer"], "prediction": item["prediction"],
         "score": item["score"], "image": load_image(images[item["id"]]) if images.get(item["id"]) else None}
        for item in result["items"]
    ]  # fmt: skip
    return dict(result["scores"]), examples
