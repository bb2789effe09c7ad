"""`sphinx-x data mix`: weights, a seeded shuffle that gives identical bytes, bad records counted,
image paths that resolve from the output folder, statistics, and memory that stays flat."""

from __future__ import annotations

import json
from pathlib import Path

from sphinx_x.cli import main
from sphinx_x.data.mix import median, mix
from sphinx_x.data.records import BadRecords, draws, read_mixture, read_records


def record(i: int, image: str | None = None) -> dict:
    entry = {
        "id": f"r{i}",
        "conversations": [{"from": "human", "value": f"question {i}"}, {"from": "gpt", "value": "an answer"}],
    }
    if image:
        entry["image"] = image
    return entry


def write_sources(tmp_path: Path, big: int = 40) -> Path:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "a.jsonl").write_text(
        "".join(json.dumps(record(i, f"{i}.jpg")) + "\n" for i in range(10)) + "{broken\n"
    )
    (tmp_path / "b.json").write_text(json.dumps([record(100 + i) for i in range(big)]))
    config = tmp_path / "mix.yaml"
    config.write_text(
        "seed: 7\nsources:\n"
        "  - {name: pictures, path: a/a.jsonl, image_root: a/images, weight: 2, type: vqa}\n"
        "  - {name: text, path: b.json, weight: 0.5, type: language}\n"
    )
    return config


def test_weights_counts_and_image_paths(tmp_path):
    config = write_sources(tmp_path)
    rows, bad = mix(config, tmp_path / "out")
    pictures, text = rows
    assert (pictures["records_in"], pictures["bad"], pictures["records_out"], pictures["with_image"]) == (
        11,
        1,
        20,
        20,
    )
    assert 10 <= text["records_out"] <= 30 and text["bad"] == 0  # a seeded half of 40
    assert pictures["tokens_total"] == 20 * (2 + 2)  # "question i" + "an answer", in words
    assert list(bad.reasons) == [f"{tmp_path / 'a' / 'a.jsonl'}:11"]

    lines = [json.loads(line) for line in (tmp_path / "out" / "mixture.jsonl").read_text().splitlines()]
    assert len(lines) == 20 + text["records_out"]
    assert sorted(r["id"] for r in lines if r["source"] == "pictures") == sorted(
        [f"r{i}" for i in range(10)] * 2
    )
    first_picture = next(r for r in lines if r["source"] == "pictures")
    assert (
        first_picture["image"] == f"../a/images/{first_picture['id'][1:]}.jpg"
        and first_picture["type"] == "vqa"
    )
    assert [r["source"] for r in lines] != sorted(r["source"] for r in lines)  # shuffled across sources

    # A fractional weight means what it means in training: the trainer's first epoch draws the same records.
    from sphinx_x.train.data import epoch_records

    sources = read_mixture(config)
    trained = epoch_records(
        [(source, read_records(source, BadRecords())) for source in sources], epoch=0, seed=7
    )
    assert sorted(r.index for r in trained if r.type == "language") == sorted(
        int(r["id"][1:]) - 100 for r in lines if r["source"] == "text"
    )

    # The output is a training mixture: records keep their own type for the type-batched sampler.
    (source,) = read_mixture(tmp_path / "out" / "mixture.yaml")
    loaded = read_records(source, BadRecords())
    assert {r.type for r in loaded} == {"vqa", "language"}
    assert (tmp_path / "out" / "stats.md").read_text().count("\n| ") == 3  # header + one row per source
    assert "<table" in (tmp_path / "out" / "stats.html").read_text()


def test_same_seed_same_bytes_other_seed_other_order(tmp_path, capsys):
    config = write_sources(tmp_path)
    for name in ("one", "two"):
        assert main(["data", "mix", str(config), "--out", str(tmp_path / name)]) == 0
    assert (tmp_path / "one" / "mixture.jsonl").read_bytes() == (
        tmp_path / "two" / "mixture.jsonl"
    ).read_bytes()
    assert "| pictures | vqa | 2.0 | 11 | 1 | 20 |" in capsys.readouterr().out
    assert main(["data", "mix", str(config), "--out", str(tmp_path / "three"), "--seed", "8"]) == 0
    assert (tmp_path / "three" / "mixture.jsonl").read_bytes() != (
        tmp_path / "one" / "mixture.jsonl"
    ).read_bytes()


def test_memory_stays_flat_as_sources_grow(tmp_path, monkeypatch):
    import tracemalloc

    monkeypatch.setenv("TQDM_DISABLE", "1")

    def peak(size: int) -> int:
        folder = tmp_path / str(size)
        folder.mkdir()
        config = write_sources(folder, big=size)
        tracemalloc.start()
        mix(config, folder / "out")
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(500), peak(10_000)
    assert large < 2 * small, (small, large)


def test_helpers():
    assert draws(2.0, 0, "s", 0) == 2 and draws(1.0, 5, "t", 3) == 1 and draws(0.0, 0, "s", 0) == 0
    halves = [draws(0.5, 0, "s", index) for index in range(2000)]
    assert set(halves) == {0, 1} and 900 < sum(halves) < 1100  # a fair, seeded coin per record
    from collections import Counter

    assert (
        median(Counter({1: 2, 5: 1})) == 1 and median(Counter({1: 1, 5: 2})) == 5 and median(Counter()) == 0
    )
