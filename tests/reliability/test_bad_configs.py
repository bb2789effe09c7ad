"""Class 2: configs and command lines reject nonsense before any work starts; a run folder is
never appended to by accident; a resume says what it does."""

from __future__ import annotations

import logging

import pytest

from sphinx_x.cli import main
from sphinx_x.data.records import read_mixture
from sphinx_x.train.config import TrainConfig
from sphinx_x.train.trainer import Trainer, read_losses

from ..train.records import toy_config, write_dataset


@pytest.fixture
def data(tmp_path):
    write_dataset(tmp_path / "data", bad=False)
    return tmp_path / "data"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{path: a.jsonl, weight: 0}", r"sources\[0\].weight: must be > 0, got 0.0"),
        ("{path: a.jsonl, weight: -1}", r"sources\[0\].weight: must be > 0"),
        ("{path: a.jsonl, weight: lots}", r"sources\[0\].weight: expected a number, got 'lots'"),
        (
            "{path: a.jsonl, wieght: 2}",
            r"sources\[0\]: unknown key\(s\) \['wieght'\]; known: path, image_root, weight, type, name",
        ),
        ("{image_root: images}", r"sources\[0\]: 'path' is required"),
        ("a.jsonl", r"sources\[0\]: expected a mapping"),
    ],
)
def test_mixture_sources_are_checked(tmp_path, source, message):
    (tmp_path / "mix.yaml").write_text(f"sources:\n  - {source}\n")
    with pytest.raises(ValueError, match=message):
        read_mixture(tmp_path / "mix.yaml")
    assert read_mixture_weight(tmp_path, "{path: a.jsonl, weight: '0.5'}") == 0.5  # a number as a string


def read_mixture_weight(tmp_path, source: str) -> float:
    (tmp_path / "ok.yaml").write_text(f"sources:\n  - {source}\n")
    return read_mixture(tmp_path / "ok.yaml")[0].weight


def test_a_run_folder_is_resumed_or_overwritten_on_purpose(data, tmp_path, capsys):
    config = TrainConfig.from_dict(toy_config(data, tmp_path / "run", max_steps=2))
    Trainer(config).train()
    first = read_losses(tmp_path / "run")
    with pytest.raises(
        ValueError, match="already holds a run .*metrics.jsonl.*pass --resume to continue it, --overwrite"
    ):
        Trainer(config)
    Trainer(config, overwrite=True).train()
    assert read_losses(tmp_path / "run") == first  # a fresh series, not a second one appended
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 2


def test_resuming_a_finished_run_says_so(data, tmp_path):
    config = TrainConfig.from_dict(toy_config(data, tmp_path / "run", max_steps=2))
    trained = Trainer(config).train()
    again = Trainer(config, resume=True).train()
    assert again.already_finished and again.final_loss == trained.final_loss
    assert str(again).startswith("the run had already finished its 2 steps (final loss")


def test_resuming_with_a_changed_schedule_says_what_happens(data, tmp_path, caplog):
    Trainer(TrainConfig.from_dict(toy_config(data, tmp_path / "run", max_steps=4))).train()
    longer = TrainConfig.from_dict(toy_config(data, tmp_path / "run", max_steps=6))
    with caplog.at_level(logging.WARNING):
        Trainer(longer, resume=True)
    assert "planned for 4 steps and now has 6" in caplog.text and "continues from step 4" in caplog.text


def test_set_without_a_value_is_an_error_before_any_work(tmp_path, capsys):
    (tmp_path / "run.yaml").write_text("run: {max_steps: 1}\n")
    assert main(["train", "--config", str(tmp_path / "run.yaml"), "--set", "run.max_steps"]) == 2
    assert "expected SECTION.FIELD=VALUE" in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path / "run.yaml"), "--set", "run.dtype=bf16"]) == 2
    assert "run.dtype: must be one of bfloat16, float16, float32, got 'bf16'" in capsys.readouterr().err
