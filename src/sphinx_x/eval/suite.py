"""Every benchmark whose data is present under one root, and the paper's Tables 2-8 laid out with
the cells those results fill.

A benchmark is present when `DATA_ROOT/{name}` exists, or its shared folder (`DATA_ROOT/refcoco`
for the three RefCOCO splits). Judge-scored benchmarks run only with a judge; without one they are
listed as skipped (nothing is generated for them), never scored another way.
"""

from __future__ import annotations

from pathlib import Path

from .benchmarks import BENCHMARKS, Benchmark
from .judging import judge_result, needs_judge, uses_judge
from .runner import run_benchmark
from .tables import PAPER_TABLES, Column

MISSING, SKIPPED, UNSUPPORTED = "–", "skipped", "n/s"


def benchmark_data(data_root: Path, benchmark: Benchmark) -> Path | None:
    for folder in (benchmark.name, benchmark.folder):
        if folder and (data_root / folder).exists():
            return data_root / folder
    return None


def present_benchmarks(data_root: Path) -> list[str]:
    return [name for name, benchmark in BENCHMARKS.items() if benchmark_data(data_root, benchmark)]


def skipped_result(benchmark: Benchmark, data: Path) -> dict:
    reason = f"{benchmark.name} is scored by a judge model: configure an OpenAI-compatible judge to run it"
    return {"benchmark": benchmark.name, "data": str(data), "scores": {"skipped": reason}, "items": []}


def run_suite(
    model, processor, data_root: str | Path, out_dir: str | Path, judge=None, **options
) -> dict[str, dict]:
    """`judge`: a `judge.Judge` for the judge-scored benchmarks (and MMBench's fallback), or None."""
    data_root = Path(data_root)
    names = present_benchmarks(data_root)
    if not names:
        raise ValueError(f"{data_root}: no benchmark folders; expected some of {', '.join(BENCHMARKS)}")
    results = {}
    for name in names:
        benchmark = BENCHMARKS[name]
        data = benchmark_data(data_root, benchmark)
        if judge is None and needs_judge(benchmark):
            results[name] = skipped_result(benchmark, data)
            continue
        result = run_benchmark(model, processor, benchmark, data, out_dir, **options)
        if judge is not None and uses_judge(benchmark):
            result = judge_result(result, judge, out_dir)
        results[name] = result
    return results


def cell(column: Column, results: dict[str, dict]) -> str:
    if column.benchmark is None:
        return UNSUPPORTED
    scores = results.get(column.benchmark, {}).get("scores")
    if scores is None:
        return MISSING
    if "skipped" in scores:
        return SKIPPED
    value = scores.get(column.key)
    return f"{value * column.scale:.1f}" if isinstance(value, (int, float)) else MISSING


def suite_table(results: dict[str, dict]) -> str:
    """Markdown: every table of the paper with all its columns; "–" where no data was given,
    "skipped" where a judge was needed, "n/s" where sphinx-x does not support the benchmark."""
    sections = []
    for table in PAPER_TABLES:
        labels = [column.label for column in table.columns]
        values = [cell(column, results) for column in table.columns]
        sections.append(
            "\n".join(
                [
                    f"## Table {table.number}: {table.title}",
                    "",
                    "| " + " | ".join(labels) + " |",
                    "|" + "---|" * len(labels),
                    "| " + " | ".join(values) + " |",
                ]
            )  # fmt: skip
        )
    notes = [f"- {name}: {result['scores']['skipped']}" for name, result in results.items()
             if "skipped" in result.get("scores", {})]  # fmt: skip
    reasons = {
        column.label: column.reason
        for table in PAPER_TABLES
        for column in table.columns
        if not column.benchmark
    }
    notes += [f"- n/s {label}: {reason}" for label, reason in reasons.items()]
    return "\n\n".join(sections) + "\n\n" + "\n".join(notes) + "\n"


def write_suite_table(results: dict[str, dict], out_dir: str | Path) -> str:
    """The tables as markdown, written to OUT/suite.md and returned."""
    table = suite_table(results)
    (Path(out_dir) / "suite.md").write_text(table)
    return table
