"""Sharded checkpoints: no process gathers the state, a run resumes on another number of processes
with the losses of an uninterrupted run, and the exported model loads for chat."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sphinx_x.cli import main
from sphinx_x.train.checkpoint import load_checkpoint
from sphinx_x.train.trainer import read_losses

from .records import toy_config
from .runs import run_cli

BENCHMARK = Path(__file__).parents[2] / "benchmarks" / "checkpoint_memory.py"


def assert_same_losses(resumed: dict, reference: dict) -> None:
    assert resumed.keys() == reference.keys() and len(reference) == 8
    for step in reference:  # the gloo all-reduce sums in another order than one process does
        assert resumed[step] == pytest.approx(reference[step], rel=1e-5, abs=1e-6), step


def test_two_processes_killed_resume_on_one_with_the_same_losses(data, tmp_path, uninterrupted):
    config = toy_config(data, tmp_path / "run")
    killed = run_cli(config, tmp_path, fault="step:6", processes=2)
    assert killed.returncode != 0
    checkpoint = tmp_path / "run" / "checkpoints" / "step-000004"
    assert (tmp_path / "run" / "checkpoints" / "latest").read_text() == checkpoint.name
    # Each process wrote its own shards; nothing in the checkpoint is a whole model.
    assert sorted(p.name for p in checkpoint.iterdir()) == [".metadata", "__0_0.distcp", "__1_0.distcp",
                                                            "trainer_state.pt"]  # fmt: skip
    resumed = run_cli(config, tmp_path, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert_same_losses(read_losses(tmp_path / "run"), read_losses(uninterrupted))
    model = tmp_path / "run" / "model"
    assert main(["chat", "--model", str(model), "--max-new-tokens", "3", "What is 1 plus 2?"]) == 0


def test_one_process_resumes_on_two_with_the_same_losses(data, tmp_path, uninterrupted):
    config = toy_config(data, tmp_path / "run")
    assert run_cli(config, tmp_path, fault="step:6").returncode == -9
    resumed = run_cli(config, tmp_path, "--resume", processes=2)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_losses(read_losses(tmp_path / "run"), read_losses(uninterrupted))


def test_a_checkpoint_holds_the_trainable_parameters_only(uninterrupted):
    from torch.distributed.checkpoint import FileSystemReader

    checkpoints = uninterrupted / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["latest", "step-000006", "step-000008"]  # keep 2
    saved = FileSystemReader(checkpoints / "step-000008").read_metadata().state_dict_metadata
    weights = {key.removeprefix("model.") for key in saved if key.startswith("model.")}
    assert "projector.linear.weight" in weights and "visual_tokens.skip_img" in weights
    assert not any(key.startswith("vision_experts.") for key in weights)  # frozen: rebuilt from the model
    assert any(key.startswith("optimizer.state.language_model.") for key in saved)
    state = torch.load(checkpoints / "step-000008" / "trainer_state.pt", weights_only=True)
    assert state["step"] == 8 and state["planned_steps"] == 8 and "scheduler" in state


def test_an_old_whole_folder_checkpoint_is_named_not_misread(tmp_path, toy_model):
    toy_model.save_pretrained(tmp_path / "step-000004")
    optimizer = torch.optim.AdamW([p for p in toy_model.parameters() if p.requires_grad])
    with pytest.raises(ValueError, match="step-000004: a checkpoint written before sharded checkpoints"):
        load_checkpoint(tmp_path / "step-000004", toy_model, optimizer)


def test_saving_holds_no_more_than_a_shard_while_gathering_holds_the_whole_state(tmp_path):
    """Peak RSS above the level before saving, per process (2 gloo processes, 121 MiB of trainable
    state): the sharded save writes from the shards in place; gathering, as before, needs it all."""
    command = [sys.executable, str(BENCHMARK), "--hidden", "256", "--layers", "8", "--vocab", "8000",
               "--json", str(tmp_path / "memory.json")]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = json.loads((tmp_path / "memory.json").read_text())
    assert len(ranks) == 2 and ranks[0]["full_bytes"] > 100 * 1024**2
    for rank in ranks:
        assert rank["sharded"] < 0.1 * rank["shard_bytes"], rank
    assert ranks[0]["gathered"] > 0.9 * ranks[0]["full_bytes"], ranks[0]
