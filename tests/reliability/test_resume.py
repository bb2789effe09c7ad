"""Class 3: a resumed job equals an uninterrupted one, sampled evaluation included (training's
kill -9 test is tests/train/test_trainer.py::test_killed_and_resumed_run_logs_the_same_losses)."""

from __future__ import annotations

import json

import pytest

from sphinx_x.eval import runner
from sphinx_x.eval.benchmarks import BENCHMARKS
from sphinx_x.eval.runner import run_benchmark


def pope_with_many_questions(root, count: int = 9) -> None:
    root.mkdir(parents=True)
    from ..eval.fixtures import png

    png(root / "val2014" / "COCO_val2014_000000000001.jpg")
    objects = ["dog", "cat", "car", "tree", "cup", "bird", "boat", "chair", "clock", "lamp"][:count]
    lines = [{"question_id": i, "image": "COCO_val2014_000000000001.jpg", "text": f"Is there a {name} in the image?",
              "label": "yes" if i % 2 else "no"} for i, name in enumerate(objects)]  # fmt: skip
    (root / "coco_pope_random.json").write_text("".join(json.dumps(line) + "\n" for line in lines))


def predictions(result) -> dict:
    return {item["id"]: item["prediction"] for item in result["items"]}


def test_sampled_eval_gives_the_same_answers_whatever_the_batching_and_a_resume(
    tmp_path, toy_model, toy_processor, monkeypatch
):
    pope_with_many_questions(tmp_path / "pope")
    sampling = {"temperature": 1.0, "top_p": 0.95, "seed": 5}
    whole = run_benchmark(toy_model, toy_processor, BENCHMARKS["pope"], tmp_path / "pope", tmp_path / "whole",
                          batch_size=4, **sampling)  # fmt: skip
    assert len(set(predictions(whole).values())) > 1  # really sampled

    other_batching = run_benchmark(toy_model, toy_processor, BENCHMARKS["pope"], tmp_path / "pope", tmp_path / "b3",
                                   batch_size=3, **sampling)  # fmt: skip
    assert predictions(other_batching) == predictions(whole)

    real, calls = runner.generate, []

    def crash_on_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "generate", crash_on_second_batch)
    with pytest.raises(RuntimeError, match="killed"):
        run_benchmark(toy_model, toy_processor, BENCHMARKS["pope"], tmp_path / "pope", tmp_path / "resumed",
                      batch_size=2, **sampling)  # fmt: skip
    monkeypatch.setattr(runner, "generate", real)
    resumed = run_benchmark(toy_model, toy_processor, BENCHMARKS["pope"], tmp_path / "pope", tmp_path / "resumed",
                            batch_size=2, **sampling)  # fmt: skip
    assert predictions(resumed) == predictions(whole)
    assert resumed["scores"]["accuracy"] == whole["scores"]["accuracy"]
