import json
from pathlib import Path

import pytest
import torch
import yaml

from sphinx_x import SphinxXForConditionalGeneration
from sphinx_x.cli import main
from sphinx_x.loading import load_model
from sphinx_x.train.config import TrainConfig
from sphinx_x.train.trainer import Trainer, read_losses

from .records import toy_config
from .runs import run_cli


def test_toy_run_learns_logs_and_saves_a_loadable_model(data, tmp_path, capsys):
    config = TrainConfig.from_dict(toy_config(data, tmp_path / "run", epochs=3))
    summary = Trainer(config).train()
    losses = read_losses(tmp_path / "run")
    assert summary.steps == len(losses) == 24
    assert (
        sum(list(losses.values())[-4:]) / 4 < sum(list(losses.values())[:4]) / 4 - 0.5
    )  # the loss clearly falls
    assert summary.bad_records.counts == {
        "malformed JSON line": 1,
        "bad image": 1,
        "NothingToSuperviseError": 1,
    }
    assert "vision.jsonl:18: bad image" in (tmp_path / "run" / "bad_records.txt").read_text()
    assert (tmp_path / "run" / "loss_curve.png").stat().st_size > 1000
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))
    assert not (summary.model_dir / "trainer_state.pt").exists()
    model = SphinxXForConditionalGeneration.from_pretrained(summary.model_dir)
    assert model.config.model_type == "sphinx_x"
    assert (
        main(["chat", "--model", str(summary.model_dir), "--max-new-tokens", "3", "What is 1 plus 2?"]) == 0
    )


def test_mixtral_trains_its_load_balancing_loss(data, tmp_path):
    def router_after_two_steps(aux_loss_weight: float, out: Path):
        config = TrainConfig.from_dict(
            toy_config(data, out, max_steps=2) | {"model": {"preset": "sphinx-x-toy-moe"}}
        )
        config.optim.aux_loss_weight = aux_loss_weight
        trainer = Trainer(config)
        before = trainer.model.language_model.model.layers[0].mlp.gate.weight.detach().clone()
        trainer.train()
        return before, trainer.model.language_model.model.layers[0].mlp.gate.weight.detach()

    before, trained = router_after_two_steps(0.5, tmp_path / "balanced")
    logged = [json.loads(line) for line in (tmp_path / "balanced" / "metrics.jsonl").read_text().splitlines()]
    assert len(logged) == 2 and all(entry["aux_loss"] > 0.5 for entry in logged)
    assert not torch.equal(before, trained)
    # The load-balancing loss is what moved the router differently: weight 0 gives other weights.
    _, without = router_after_two_steps(0.0, tmp_path / "unbalanced")
    assert not torch.allclose(trained, without)
    logged = [
        json.loads(line) for line in (tmp_path / "unbalanced" / "metrics.jsonl").read_text().splitlines()
    ]
    assert all(entry["aux_loss"] > 0.5 for entry in logged)  # still reported when not trained


def test_a_saved_run_config_rebuilds_the_run(data, tmp_path):
    """The run's config.yaml holds what it ran: resolved values and absolute paths, a model given in
    memory saved as initial-model; training from it again gives the same losses."""
    torch.manual_seed(3)
    model, processor = load_model("sphinx-x-toy")  # built in memory, not named by the config
    config = TrainConfig.from_dict(toy_config(data, tmp_path / "first", max_steps=3) | {"optim": {
        "global_batch_size": 4, "micro_batch_size": 2}})  # fmt: skip
    Trainer(config, model, processor).train()
    saved = yaml.safe_load((tmp_path / "first" / "config.yaml").read_text())
    assert saved["optim"]["lr"] == 2e-5 and saved["optim"]["aux_loss_weight"] == 0.0  # resolved, not null
    assert saved["model"]["path"] == str((tmp_path / "first" / "initial-model").resolve())
    assert saved["data"]["mixture"] == str(data / "mixture.yaml")
    rerun = run_cli(saved | {"run": saved["run"] | {"out": str(tmp_path / "again")}}, tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert read_losses(tmp_path / "again") == read_losses(tmp_path / "first")


def test_bad_configs_are_named(tmp_path):
    with pytest.raises(ValueError, match="unknown field\\(s\\) \\['lr_max'\\] in 'optim'"):
        TrainConfig.from_dict({"optim": {"lr_max": 1}})
    with pytest.raises(ValueError, match="multiple of processes x micro_batch_size = 1 x 3"):
        Trainer(TrainConfig.from_dict({"optim": {"global_batch_size": 4, "micro_batch_size": 3}}))


def test_killed_and_resumed_run_logs_the_same_losses(data, tmp_path, uninterrupted):
    """One process, killed after its last checkpoint (step 6 of 8). Killed earlier, on 2 processes,
    resumed on 1 and the other way round: tests/train/test_checkpoint.py."""
    killed = run_cli(toy_config(data, tmp_path / "late"), tmp_path, fault="step:8")
    assert killed.returncode == -9  # SIGKILL, no cleanup
    assert (tmp_path / "late" / "checkpoints" / "latest").read_text() == "step-000006"
    resumed = run_cli(toy_config(data, tmp_path / "late"), tmp_path, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert read_losses(tmp_path / "late") == read_losses(uninterrupted)
    # Records skipped before the kill are still in the resumed run's report, even those met
    # before the last checkpoint, which the resumed run does not read again.
    report = (tmp_path / "late" / "bad_records.txt").read_text()
    assert report == (uninterrupted / "bad_records.txt").read_text() and "bad image" in report


def test_a_crash_while_writing_a_checkpoint_keeps_the_previous_one(data, tmp_path):
    crashed = run_cli(toy_config(data, tmp_path / "run"), tmp_path, fault="checkpoint:4")
    assert crashed.returncode == -9
    checkpoints = tmp_path / "run" / "checkpoints"
    assert (checkpoints / "latest").read_text() == "step-000002" and (
        checkpoints / "step-000004.partial"
    ).exists()
    resumed = run_cli(toy_config(data, tmp_path / "run"), tmp_path, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert not (checkpoints / "step-000004.partial").exists()
    assert len(read_losses(tmp_path / "run")) == 8


def test_two_fsdp_processes_match_one_process(data, tmp_path, uninterrupted):
    double = run_cli(toy_config(data, tmp_path / "two", checkpoint_every=100), tmp_path, processes=2)
    assert double.returncode == 0, double.stderr[-3000:]
    one, two = read_losses(uninterrupted), read_losses(tmp_path / "two")
    assert one.keys() == two.keys() and len(one) == 8
    for step in one:
        assert two[step] == pytest.approx(one[step], rel=1e-5, abs=1e-6), step
    reloaded = SphinxXForConditionalGeneration.from_pretrained(tmp_path / "two" / "model").state_dict()
    reference = SphinxXForConditionalGeneration.from_pretrained(uninterrupted / "model").state_dict()
    for name, value in reference.items():
        torch.testing.assert_close(reloaded[name], value, rtol=1e-4, atol=1e-5)


def test_two_bf16_processes_match_one_within_bf16_tolerance(data, tmp_path):
    """In bfloat16 the two processes all-gather and compute in bf16 (FSDP2's MixedPrecisionPolicy,
    gradients reduced in fp32); the one process casts under autocast alone, so the ops autocast keeps
    in fp32 (norms, embeddings) round differently. Measured: 1.6e-4 relative at most over the 8 steps;
    allowed: 2e-3 (half of bf16's 2**-8 relative precision)."""
    runs = {}
    for processes in (1, 2):
        out = tmp_path / f"bf16-{processes}"
        done = run_cli(
            toy_config(data, out, checkpoint_every=100, dtype="bfloat16"), tmp_path, processes=processes
        )
        assert done.returncode == 0, done.stderr[-3000:]
        runs[processes] = read_losses(out)
    assert runs[1].keys() == runs[2].keys() and len(runs[1]) == 8
    for step, loss in runs[1].items():
        assert runs[2][step] == pytest.approx(loss, rel=2e-3), step


def test_the_documented_example_config_parses():
    config = TrainConfig.from_yaml(Path(__file__).parents[2] / "examples" / "train-sphinx-x-tiny.yaml")
    assert config.model.llm.startswith("TinyLlama/") and config.model.dinov2 == "facebook/dinov2-giant"
    assert config.optim.betas == (0.9, 0.95) and config.optim.global_batch_size == 256
    assert config.run.activation_checkpointing and not config.run.reshard_after_forward


def test_the_recipe_of_every_preset_parses_with_the_papers_values():
    recipes = sorted(
        (Path(__file__).parents[2] / "examples").glob("train-sphinx-x-*.yaml"), key=lambda p: p.stem
    )
    assert [path.stem.removeprefix("train-") for path in recipes] == [
        "sphinx-x-intern2", "sphinx-x-moe", "sphinx-x-plus", "sphinx-x-plus-2k", "sphinx-x-tiny"]  # fmt: skip
    for path in recipes:
        config = TrainConfig.from_yaml(path)
        assert config.model.preset == path.stem.removeprefix("train-")
        assert config.optim.global_batch_size == 256 and config.optim.warmup_fraction == 0.01
        assert config.optim.lr == (5e-6 if config.model.preset == "sphinx-x-moe" else 2e-5), path.name
        assert config.run.dtype == "bfloat16" and config.run.activation_checkpointing


def test_training_from_public_weight_formats(data, tmp_path):
    """The example config's path: the three parts from files in their public formats (tiny here)."""
    from transformers import Dinov2Model, LlamaForCausalLM

    from sphinx_x.presets import preset_config
    from sphinx_x.processing.tokenizer import train_toy_tokenizer

    from ..convert.test_pretrained import open_clip_checkpoint

    toy = preset_config("sphinx-x-toy")
    LlamaForCausalLM(toy.text_config).save_pretrained(tmp_path / "llm")
    train_toy_tokenizer().save_pretrained(tmp_path / "llm")
    torch.save(
        open_clip_checkpoint(), tmp_path / "open_clip_pytorch_model.bin"
    )  # timm trunk under visual.trunk.
    Dinov2Model(toy.expert("dinov2").config).save_pretrained(tmp_path / "dinov2")  # transformers format
    raw = toy_config(data, tmp_path / "run", max_steps=2, activation_checkpointing=True)
    raw["model"] = {
        "preset": "sphinx-x-toy",
        "llm": str(tmp_path / "llm"),
        "convnext": str(tmp_path),
        "dinov2": str(tmp_path / "dinov2"),
    }
    summary = Trainer(TrainConfig.from_dict(raw)).train()
    assert summary.steps == 2 and torch.isfinite(torch.tensor(summary.final_loss))
    assert (
        SphinxXForConditionalGeneration.from_pretrained(summary.model_dir).projector.linear.in_features
        == 32 + 32
    )
