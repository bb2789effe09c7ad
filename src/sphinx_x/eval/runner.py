"""Run a benchmark: read its files, generate in batches, score, and write a reproducible result file.

OUT/NAME.predictions.jsonl   one line per finished item, appended as batches finish: a crash
                             keeps them, and a rerun continues from them
OUT/NAME.json                protocol (benchmark, split, prompt, decoding, parser, metric
                             version, model identity), scores, and every item's prediction
OUT/NAME.md                  the scores as a table
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict
from itertools import islice
from pathlib import Path

from tqdm import tqdm

from .. import __version__
from ..inference.generate import DecodingSettings, generate
from ..processing.images import ImageLoadError, load_image
from .benchmarks import Benchmark
from .readers import EvalItem
from .score import METRICS, METRICS_VERSION, score_records

# The release's evaluation settings (architecture facts §10); the seed makes sampling repeatable.
EVAL_TEMPERATURE, EVAL_TOP_P, EVAL_SEED = 0.1, 0.75, 0


def model_identity(model, model_path: str | Path | None) -> dict:
    config_json = model.config.to_json_string()
    return {
        "path": str(model_path) if model_path else None,
        "config_sha256": hashlib.sha256(config_json.encode()).hexdigest(),
        "llm": model.config.text_config.model_type,
        "padding": model.config.padding,
        "grid": model.config.grid,
        "sphinx_x_version": __version__,
    }


def load_finished(path: Path) -> dict[str, dict]:
    """Predictions of an earlier (possibly crashed) run; a torn last line is ignored."""
    finished = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # the line being written when the run died
            finished[record["id"]] = record
    return finished


def run_benchmark(
    model,
    processor,
    benchmark: Benchmark,
    data: str | Path,
    out_dir: str | Path,
    model_path: str | Path | None = None,
    batch_size: int = 8,
    limit: int | None = None,
    temperature: float = EVAL_TEMPERATURE,
    top_p: float = EVAL_TOP_P,
    seed: int = EVAL_SEED,
) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = DecodingSettings(benchmark.max_new_tokens, temperature, top_p, seed=seed)
    items = list(islice(benchmark.read(Path(data)), limit))
    predictions_path = out_dir / f"{benchmark.name}.predictions.jsonl"
    finished = load_finished(predictions_path)
    todo = [item for item in items if item.id not in finished]
    errors = predict(model, processor, todo, settings, predictions_path, batch_size, finished, benchmark.name)
    records = [(item.id, finished[item.id]) for item in items if item.id in finished]
    report = score_records(benchmark.metric, records)
    # Whatever was shown of the score says over how many items it was computed.
    report.aggregate |= coverage(len(items), len(records))
    result = {
        "benchmark": benchmark.name,
        "split": benchmark.split,
        "data": str(data),
        "prompt": benchmark.prompt,
        "decoding": asdict(settings),
        "parser_and_metric": {
            "metric": benchmark.metric,
            "protocol": METRICS[benchmark.metric].protocol,
            "version": METRICS_VERSION,
        },  # fmt: skip
        "model": model_identity(model, model_path),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "scores": report.aggregate,
        "errors": errors + report.invalid,
        "items": report.items,
    }
    (out_dir / f"{benchmark.name}.json").write_text(json.dumps(result, indent=1, default=str))
    (out_dir / f"{benchmark.name}.md").write_text(scores_markdown(benchmark.name, report.aggregate))
    return result


def predict(
    model, processor, items: list[EvalItem], settings, path: Path, batch_size, finished, name
) -> list[str]:
    """Generate for `items` in batches, appending each finished batch to `path` (and `finished`)."""
    errors = []
    with open(path, "a", encoding="utf-8") as handle, tqdm(total=len(items), desc=name, unit="q") as progress:
        for start in range(0, len(items), batch_size):
            batch, images = [], []
            for item in items[start : start + batch_size]:
                try:
                    label = item.id if isinstance(item.image, bytes) else None  # paths name themselves
                    images.append(load_image(item.image, name=label) if item.image is not None else None)
                    batch.append(item)
                except ImageLoadError as error:  # reported and counted, never fatal
                    errors.append(f"{item.id}: {error}")
            if batch:
                conversations = [[{"role": "user", "content": item.prompt}] for item in batch]
                # One seed per item: any batching, split or resume of the work samples the same answers.
                seeds = (
                    [item_seed(settings.seed, item.id) for item in batch]
                    if settings.seed is not None
                    else None
                )
                answers = generate(
                    model, processor.tokenizer, processor(conversations, images), settings, seeds=seeds
                )
                for item, answer in zip(batch, answers, strict=True):
                    record = {"id": item.id, "question": item.prompt, "prediction": answer,
                              "padding": model.config.padding} | item.reference  # fmt: skip
                    handle.write(json.dumps(record, default=str) + "\n")
                    finished[item.id] = record
                handle.flush()
            progress.update(len(items[start : start + batch_size]))
    return errors


def coverage(total: int, answered: int) -> dict:
    """The items a benchmark has and the ones that could not be asked (their image unreadable)."""
    return {"items_total": total, "items_unanswered": total - answered}


def item_seed(seed: int, item_id: str) -> int:
    """The sampling seed of one item: a hash of the run's seed and the item's id."""
    return int.from_bytes(hashlib.blake2b(f"{seed}:{item_id}".encode(), digest_size=8).digest(), "big") >> 1


def scores_markdown(name: str, scores: dict) -> str:
    rows = [(key, value) for key, value in scores.items() if not isinstance(value, dict)]
    nested = [
        (f"{key}/{inner}", v)
        for key, value in scores.items()
        if isinstance(value, dict)
        for inner, v in value.items()
    ]
    lines = [f"# {name}", ""]
    if "items_total" in scores:
        lines += [f"Scored over {scores['items']} of {scores['items_total']} items ({scores['items_unanswered']} could "
                  f"not be asked, {scores.get('invalid', 0)} could not be scored: see the result file's errors).", ""]  # fmt: skip
    lines += ["| score | value |", "|---|---|"]
    lines += [
        f"| {key} | {value:.4f} |" if isinstance(value, float) else f"| {key} | {value} |"
        for key, value in rows + nested
    ]
    return "\n".join(lines) + "\n"
