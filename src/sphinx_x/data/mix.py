"""`sphinx-x data mix CONFIG --out DIR`: one seeded, shuffled training mixture from many sources.

The config is the trainer's mixture YAML (`sources: [{path, image_root, weight, type, name}]`) plus
an optional `seed`. Weights mean what they mean in training: 1 = each record once, 2 = twice,
0.5 = a seeded half. Output:

    DIR/mixture.jsonl   every chosen record, shuffled; image paths relative to DIR, "type" and "source" added
    DIR/mixture.yaml    a one-source mixture of it, ready for `sphinx-x train`
    DIR/stats.json / stats.md / stats.html   per-source counts and token statistics (also printed)

Nothing is held in memory but one record: which records a fractional weight keeps (the trainer's
rule, `records.draws`, for epoch 0), and the shuffle order, come from seeded hashes of (seed,
source, record index), and the shuffle is an on-disk SQLite sort by that key. Same config and
seed -> the same bytes.
"""

from __future__ import annotations

import html
import json
import os
import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from tqdm import tqdm

from .records import BadRecords, Source, draws, entries, read_mixture, schema_problem, unit_key


@dataclass
class SourceStats:
    name: str
    type: str
    weight: float
    records_in: int = 0
    bad: int = 0
    records_out: int = 0
    with_image: int = 0
    lengths: Counter = field(default_factory=Counter)  # token count -> output records: bounded by the longest

    def row(self) -> dict:
        total, records = sum(n * k for n, k in self.lengths.items()), self.lengths.total()
        return {
            "source": self.name, "type": self.type, "weight": self.weight, "records_in": self.records_in,
            "bad": self.bad, "records_out": self.records_out, "with_image": self.with_image,
            "tokens_total": total, "tokens_mean": round(total / records, 1) if records else 0.0,
            "tokens_median": median(self.lengths), "tokens_max": max(self.lengths, default=0),
        }  # fmt: skip


def median(counts: Counter) -> int:
    """The (lower) median of a histogram of values."""
    middle, seen = (counts.total() - 1) // 2, 0
    for value in sorted(counts):
        seen += counts[value]
        if seen > middle:
            return value
    return 0


def word_count(text: str) -> int:
    return len(text.split())


def record_text(record: dict) -> str:
    return "\n".join(str(turn.get("value", turn.get("content", ""))) for turn in record["conversations"])


def token_counter(tokenizer_path: str) -> Callable[[str], int]:
    """Counts tokens with a tokenizer (folder or model id) instead of words."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"--tokenizer {tokenizer_path}: not a tokenizer folder or model id ({error})"
        ) from None
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


def mix(config: Path, out: Path, seed: int | None = None, count_tokens: Callable[[str], int] | None = None):
    """Writes the mixture; returns (stats rows, bad records)."""
    sources = read_mixture(config)
    seed = (yaml.safe_load(Path(config).read_text()) or {}).get("seed", 0) if seed is None else seed
    count_tokens = count_tokens or word_count
    out.mkdir(parents=True, exist_ok=True)
    bad = BadRecords()
    database = out / "shuffle.sqlite.tmp"
    database.unlink(missing_ok=True)
    db = sqlite3.connect(database)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("CREATE TABLE line (key INTEGER, text TEXT)")
    stats = []
    for number, source in enumerate(sources):
        name = source.label(number)
        stats.append(add_source(db, source, name, seed, out, bad, count_tokens))
    written = write_sorted(db, out / "mixture.jsonl.partial")
    db.close()
    database.unlink()
    os.replace(out / "mixture.jsonl.partial", out / "mixture.jsonl")
    (out / "mixture.yaml").write_text(
        "sources:\n  - {name: mixture, path: mixture.jsonl, image_root: ., weight: 1.0, type: mixed}\n"
    )
    rows = [s.row() for s in stats]
    write_stats(out, rows, "tokens" if count_tokens is not word_count else "words", written)
    return rows, bad


def add_source(
    db, source: Source, name: str, seed: int, out: Path, bad: BadRecords, count_tokens
) -> SourceStats:
    stats = SourceStats(name, source.type, float(source.weight))
    image_root = Path(os.path.relpath(Path(source.image_root).resolve(), out.resolve()))
    for index, (where, entry) in enumerate(
        tqdm(entries(Path(source.path)), desc=f"mixing {name}", unit=" records")
    ):
        stats.records_in += 1
        problem = schema_problem(entry)
        if problem:
            bad.add(where, problem)
            stats.bad += 1
            continue
        drawn = draws(source.weight, seed, name, index)
        if not drawn:
            continue
        record = {**entry, "type": source.type, "source": name}
        if entry.get("image"):
            record["image"] = (image_root / entry["image"]).as_posix()
            stats.with_image += drawn
        line = json.dumps(record, ensure_ascii=False)
        tokens = count_tokens(record_text(record))
        for copy in range(drawn):
            db.execute("INSERT INTO line VALUES (?, ?)", (unit_key(seed, name, index, copy), line))
            stats.lengths[tokens] += 1
        stats.records_out += drawn
    return stats


def write_sorted(db, path: Path) -> int:
    written = 0
    with open(path, "w", encoding="utf-8") as handle:
        for (text,) in db.execute("SELECT text FROM line ORDER BY key, rowid"):
            handle.write(text + "\n")
            written += 1
    return written


COLUMNS = ("source", "type", "weight", "records_in", "bad", "records_out", "with_image",
           "tokens_total", "tokens_mean", "tokens_median", "tokens_max")  # fmt: skip


def stats_table(rows: list[dict], unit: str) -> str:
    header = [column.replace("tokens", unit) for column in COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(row[column]) for column in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def write_stats(out: Path, rows: list[dict], unit: str, written: int) -> None:
    (out / "stats.json").write_text(json.dumps({"unit": unit, "records": written, "sources": rows}, indent=2))
    table = stats_table(rows, unit)
    (out / "stats.md").write_text(f"{written} records in the mixture\n\n{table}\n")
    cells = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(row[c]))}</td>" for c in COLUMNS) + "</tr>" for row in rows
    )
    head = "".join(f"<th>{c.replace('tokens', unit)}</th>" for c in COLUMNS)
    (out / "stats.html").write_text(
        f"<!doctype html><meta charset=utf-8><title>sphinx-x mixture</title><h1>{written} records</h1>"
        f"<table border=1 cellpadding=4><tr>{head}</tr>{cells}</table>\n"
    )
