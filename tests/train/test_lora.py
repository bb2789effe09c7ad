"""LoRA / QLoRA (sphinx_x.train.lora): what trains, what a checkpoint holds, merging, resuming."""

import itertools
import json
import shutil
import warnings

import pytest
import torch
from fastapi.testclient import TestClient
from safetensors.torch import load_file
from torch.distributed.checkpoint import FileSystemReader

from sphinx_x.cli import main
from sphinx_x.demo.corpus import write_corpus
from sphinx_x.loading import load_model
from sphinx_x.serve.limits import ServerLimits
from sphinx_x.serve.server import build_app
from sphinx_x.train.config import LoraConfig, TrainConfig
from sphinx_x.train.lora import ADAPTER_CONFIG, ADAPTER_WEIGHTS, apply_lora, lora_targets, merge_lora
from sphinx_x.train.trainer import Trainer, read_losses

from .records import toy_config, write_dataset
from .test_trainer import run_cli

LLAMA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
QUESTION = [{"role": "user", "content": "What colour is the picture?"}]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_dataset(root, bad=False)
    return root


def lora_config(data, out, rank=4, **run) -> dict:
    config = toy_config(data, out, **run)
    config["optim"]["lr"] = 1e-2  # adapters start at zero: they need a larger step than full fine-tuning
    return config | {"lora": {"rank": rank, "dropout": 0.0}}


def logits(model, processor, image=None):
    model.eval()
    with torch.no_grad():
        return model(**processor([QUESTION], [image] if image else None)).logits


def corpus_loss(trainer) -> float:
    """The mean loss over one epoch of the run's own micro-batches (the same ones before and after)."""
    trainer.model.eval()
    with torch.no_grad():
        epoch = itertools.islice(trainer.build_loader(), len(trainer.plan))
        losses = [trainer.model(**trainer.take(batch).inputs).loss.item() for batch in epoch]
    trainer.model.train()
    return sum(losses) / len(losses)


def test_only_adapters_projector_and_visual_tokens_train():
    model, _ = load_model("sphinx-x-toy", device="cpu")
    targeted = [m for n, m in model.language_model.named_modules() if n.split(".")[-1] in LLAMA_TARGETS]
    visual = sum(p.numel() for p in [*model.projector.parameters(), *model.visual_tokens.parameters()])
    apply_lora(model, LoraConfig(rank=4), base="nowhere")
    trainable = {name: p.numel() for name, p in model.named_parameters() if p.requires_grad}
    assert len(targeted) == 2 * 7  # two decoder layers, seven projections each
    adapters = sum(4 * (m.in_features + m.out_features) for m in targeted)  # A: [r, in], B: [out, r]
    assert sum(trainable.values()) == adapters + visual
    assert all(".lora_" in name or name.startswith(("projector.", "visual_tokens.")) for name in trainable)


def test_mixtral_fused_experts_get_adapters_and_explicit_targets_are_checked():
    model, processor = load_model("sphinx-x-toy-moe", device="cpu")
    modules, parameters = lora_targets(model.language_model, None)
    assert parameters == [
        f"model.layers.{i}.mlp.experts.{p}" for i in (0, 1) for p in ("gate_up_proj", "down_proj")
    ]
    assert {name.split(".")[-1] for name in modules} == {"q_proj", "k_proj", "v_proj", "o_proj"}
    with pytest.raises(ValueError, match="lora.targets: wq names no projection of the LLM; .* q_proj"):
        lora_targets(model.language_model, ["q_proj", "wq"])
    reference = logits(model, processor)
    apply_lora(model, LoraConfig(rank=2), base="nowhere")
    names = [name for name, p in model.named_parameters() if p.requires_grad and "experts" in name]
    assert len(names) == 2 * 2 * 2  # per layer: A and B for each fused parameter
    torch.testing.assert_close(logits(model, processor), reference)  # B starts at zero: the same model
    with pytest.raises(ValueError, match="lora.dropout=0.1: adapters on fused expert parameters"):
        apply_lora(load_model("sphinx-x-toy-moe")[0], LoraConfig(rank=2, dropout=0.1), base="nowhere")


def test_bad_lora_settings_are_named():
    with pytest.raises(ValueError, match="lora.base_quantize: must be one of int8, int4, got 'int2'"):
        TrainConfig.from_dict({"lora": {"rank": 8, "base_quantize": "int2"}})
    with pytest.raises(ValueError, match="lora.rank: must be > 0"):
        TrainConfig.from_dict({"lora": {"rank": 0}})
    with pytest.warns(UserWarning, match="lora.alpha is ignored: lora.rank is not set"):
        TrainConfig.from_dict({"lora": {"alpha": 32}})


def test_a_lora_run_on_the_demo_corpus_learns_and_saves_adapters_only(tmp_path):
    mixture = write_corpus(tmp_path / "corpus", {"count": 24, "colour": 24, "language": 24}, seed=0)
    raw = lora_config(tmp_path, tmp_path / "run", rank=8, epochs=2, checkpoint_every=9)
    raw["data"]["mixture"] = str(mixture)
    raw["optim"] |= {"global_batch_size": 8, "micro_batch_size": 4}
    trainer = Trainer(TrainConfig.from_dict(raw))
    before = corpus_loss(trainer)
    summary = trainer.train()
    after = corpus_loss(trainer)
    # Measured: 6.24 -> 5.70 (the toy base is random: adapters on it learn the answers' words only).
    assert len(read_losses(tmp_path / "run")) == 18 and after < before - 0.25, (before, after)
    model_dir = summary.model_dir
    saved = load_file(model_dir / ADAPTER_WEIGHTS)
    assert not list(model_dir.glob("model*.safetensors"))  # no copy of the base
    base = json.loads((model_dir / ADAPTER_CONFIG).read_text())["base_model"]
    assert base == str((tmp_path / "run" / "initial-model").resolve())
    trained, _ = load_model(base)
    apply_lora(trained, LoraConfig(rank=8), base)
    trainable_bytes = sum(p.numel() * 4 for p in trained.parameters() if p.requires_grad)
    assert sum(t.numel() * t.element_size() for t in saved.values()) == trainable_bytes
    full_bytes = (tmp_path / "run" / "initial-model" / "model.safetensors").stat().st_size
    assert (model_dir / ADAPTER_WEIGHTS).stat().st_size < 0.2 * full_bytes
    # A checkpoint: the trainable parameters (and their AdamW state), sharded; nothing of the frozen base.
    checkpoint = tmp_path / "run" / "checkpoints" / (tmp_path / "run" / "checkpoints" / "latest").read_text()
    held = FileSystemReader(checkpoint).read_metadata().state_dict_metadata
    assert {key.removeprefix("model.") for key in held if key.startswith("model.")} == set(saved)


def test_merged_model_equals_base_plus_adapters_and_loads_everywhere(data, tmp_path, capsys):
    Trainer(TrainConfig.from_dict(lora_config(data, tmp_path / "run", max_steps=3))).train()
    from PIL import Image

    image = Image.new("RGB", (64, 32), (200, 30, 30))
    # base + adapters, as trained (not merged)
    model, processor = load_model(tmp_path / "run" / "initial-model")
    apply_lora(model, LoraConfig(rank=4, dropout=0.0), "base")
    adapters = load_file(tmp_path / "run" / "model" / ADAPTER_WEIGHTS)
    model.load_state_dict(adapters, strict=False)
    assert any(
        name.endswith("lora_B.default.weight") and value.abs().sum() > 0 for name, value in adapters.items()
    )
    unmerged = logits(model, processor, image)
    assert merge_lora(model) == 14 and not any("lora" in name for name, _ in model.named_parameters())
    torch.testing.assert_close(logits(model, processor, image), unmerged, atol=1e-5, rtol=1e-5)
    # load_model on the adapter folder: the same model; convert merge-lora writes it as a plain folder
    loaded, loaded_processor = load_model(tmp_path / "run" / "model")
    torch.testing.assert_close(logits(loaded, loaded_processor, image), unmerged, atol=1e-5, rtol=1e-5)
    assert main(["convert", "merge-lora", str(tmp_path / "run"), str(tmp_path / "merged")]) == 0
    assert not (tmp_path / "merged" / ADAPTER_CONFIG).exists()
    merged, merged_processor = load_model(tmp_path / "merged")
    torch.testing.assert_close(logits(merged, merged_processor, image), unmerged, atol=1e-5, rtol=1e-5)
    assert main(["chat", "--model", str(tmp_path / "run" / "model"), "--max-new-tokens", "2", "Hi"]) == 0
    with TestClient(
        build_app(tmp_path / "run" / "model", ServerLimits(max_tokens=2), device="cpu")
    ) as client:
        ask = {"model": "model", "messages": [{"role": "user", "content": "Hi"}]}
        assert client.post("/v1/chat/completions", json=ask).status_code == 200
    assert main(["convert", "merge-lora", str(tmp_path / "merged"), str(tmp_path / "again")]) == 2
    assert "not a LoRA run" in capsys.readouterr().err


def test_a_resumed_lora_run_equals_the_uninterrupted_one(data, tmp_path):
    whole = Trainer(TrainConfig.from_dict(lora_config(data, tmp_path / "whole", max_steps=4))).train()
    # The same run stopped after its step-2 checkpoint: later outputs removed, then resumed.
    shutil.copytree(tmp_path / "whole", tmp_path / "cut")
    checkpoints = tmp_path / "cut" / "checkpoints"
    shutil.rmtree(checkpoints / "step-000004"), shutil.rmtree(tmp_path / "cut" / "model")
    (checkpoints / "latest").write_text("step-000002")
    metrics = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()[:2]
    (tmp_path / "cut" / "metrics.jsonl").write_text("\n".join(metrics) + "\n")
    resumed = Trainer(TrainConfig.from_dict(lora_config(data, tmp_path / "cut", max_steps=4)), resume=True)
    assert resumed.start_step == 2
    resumed.train()
    assert read_losses(tmp_path / "cut") == read_losses(tmp_path / "whole")
    ours, theirs = (
        load_file(tmp_path / "cut" / "model" / ADAPTER_WEIGHTS),
        load_file(whole.model_dir / ADAPTER_WEIGHTS),
    )
    assert ours.keys() == theirs.keys()
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], rtol=0, atol=0)


@pytest.mark.parametrize("method", ["int8", "int4"])
def test_qlora_trains_adapters_on_a_quantized_base(data, tmp_path, method):
    raw = lora_config(data, tmp_path / "run", max_steps=2)
    raw["lora"]["base_quantize"] = method
    trainer = Trainer(TrainConfig.from_dict(raw))
    q_proj = trainer.model.language_model.model.layers[0].self_attn.q_proj
    assert type(q_proj.base_layer.weight).__name__ == {"int8": "Int8Tensor", "int4": "Params4bit"}[method]
    summary = trainer.train()
    assert torch.isfinite(torch.tensor(summary.final_loss))
    saved = load_file(summary.model_dir / ADAPTER_WEIGHTS)
    assert saved and all(
        ".lora_" in name or name.startswith(("projector.", "visual_tokens.")) for name in saved
    )
    assert json.loads((summary.model_dir / ADAPTER_CONFIG).read_text())["base_quantize"] == method
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, _ = load_model(summary.model_dir, quantize=method)  # merged, then quantized again
    q_proj = model.language_model.model.layers[0].self_attn.q_proj
    assert (
        not hasattr(q_proj, "base_layer")
        and type(q_proj.weight).__name__ == {"int8": "Int8Tensor", "int4": "Params4bit"}[method]
    )


@pytest.mark.slow  # about 70 s on 2 cores: two processes start torch
def test_lora_under_two_fsdp_processes_with_activation_checkpointing_matches_one(data, tmp_path):
    raw = lora_config(data, tmp_path / "one", activation_checkpointing=True, checkpoint_every=100)
    one = run_cli(raw, tmp_path)
    assert one.returncode == 0, one.stderr[-2000:]
    two = run_cli(raw | {"run": raw["run"] | {"out": str(tmp_path / "two")}}, tmp_path, processes=2)
    assert two.returncode == 0, two.stderr[-3000:]
    single, double = read_losses(tmp_path / "one"), read_losses(tmp_path / "two")
    assert single.keys() == double.keys() and len(single) == 8
    for step in single:
        assert double[step] == pytest.approx(single[step], rel=1e-5, abs=1e-6), step
    ours, theirs = (
        load_file(tmp_path / "two" / "model" / ADAPTER_WEIGHTS),
        load_file(tmp_path / "one" / "model" / ADAPTER_WEIGHTS),
    )
    for name, value in theirs.items():
        torch.testing.assert_close(ours[name], value, rtol=1e-4, atol=1e-5)
