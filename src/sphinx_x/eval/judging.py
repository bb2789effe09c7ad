"""The judge step after predictions: a result file written by the runner is scored again with its
benchmark's judge, and the judge (URL without credentials, model, prompt version) is recorded in
the result's protocol. The runner itself never calls a judge; `eval suite` and the CLI call this."""

from __future__ import annotations

import json
from pathlib import Path

from .benchmarks import Benchmark
from .judge import Judge, JudgeConfig
from .score import METRICS, score_records

JUDGE_CACHE = "judge-cache.jsonl"


def make_judge(
    url: str, model: str, key_env: str | None, out_dir: str | Path, cache: str | Path | None = None
) -> Judge:
    """The judge for a run: answers cached in `cache`, by default OUT/judge-cache.jsonl."""
    return Judge(
        JudgeConfig(url, model, api_key_env=key_env), Path(cache) if cache else Path(out_dir) / JUDGE_CACHE
    )


def needs_judge(benchmark: Benchmark) -> bool:
    step = METRICS[benchmark.metric].judge
    return step is not None and step.required


def uses_judge(benchmark: Benchmark) -> bool:
    return METRICS[benchmark.metric].judge is not None


def judge_result(result: dict, judge: Judge, out_dir: str | Path) -> dict:
    """Scores `result["items"]` again with the judge; rewrites OUT/NAME.json and OUT/NAME.md."""
    from .runner import scores_markdown  # the runner imports the model stack; only needed here

    name, metric = result["benchmark"], result["parser_and_metric"]["metric"]
    report = score_records(metric, [(f"{name}:{item['id']}", item) for item in result["items"]], judge=judge)
    earlier = result.get("scores", {})
    kept = {key: earlier[key] for key in ("items_total", "items_unanswered") if key in earlier}
    report.aggregate |= kept  # the items that could not be asked are still not asked
    result = result | {
        "scores": report.aggregate,
        "items": report.items,
        "errors": list(result.get("errors", [])) + report.invalid,
    }
    if report.judge is not None:
        result["parser_and_metric"] = result["parser_and_metric"] | {"judge": report.judge}
    out_dir = Path(out_dir)
    (out_dir / f"{name}.json").write_text(json.dumps(result, indent=1, default=str))
    (out_dir / f"{name}.md").write_text(scores_markdown(name, report.aggregate))
    return result
