"""Every benchmark whose data is present under one root, and one table laid out like the paper's."""

from __future__ import annotations

from pathlib import Path

from .benchmarks import BENCHMARKS, TABLES
from .runner import run_benchmark


def present_benchmarks(data_root: Path) -> list[str]:
    """Benchmarks with a folder (or file) named after them under `data_root`."""
    return [name for name in BENCHMARKS if (data_root / name).exists()]


def run_suite(model, processor, data_root: str | Path, out_dir: str | Path, **options) -> dict[str, dict]:
    data_root = Path(data_root)
    names = present_benchmarks(data_root)
    if not names:
        raise ValueError(f"{data_root}: no benchmark folders; expected some of {', '.join(BENCHMARKS)}")
    return {
        name: run_benchmark(model, processor, BENCHMARKS[name], data_root / name, out_dir, **options)
        for name in names
    }


def suite_table(results: dict[str, dict]) -> str:
    """Markdown, one table per paper table, columns as the paper names them."""
    sections = []
    for table, title in TABLES.items():
        columns = [
            (column, results[name]["scores"].get(key, 0.0) * scale)
            for name, benchmark in BENCHMARKS.items()
            if benchmark.table == table and name in results
            for column, key, scale in benchmark.headline
        ]
        if columns:
            header = "| " + " | ".join(column for column, _ in columns) + " |"
            sections.append(
                "\n".join(
                    [
                        f"## {title}",
                        "",
                        header,
                        "|" + "---|" * len(columns),
                        "| " + " | ".join(f"{v:.1f}" for _, v in columns) + " |",
                    ]
                )
            )
    return "\n\n".join(sections) + "\n"


def write_suite_table(results: dict[str, dict], out_dir: str | Path) -> str:
    """The tables as markdown, written to OUT/suite.md and returned."""
    table = suite_table(results)
    (Path(out_dir) / "suite.md").write_text(table)
    return table
