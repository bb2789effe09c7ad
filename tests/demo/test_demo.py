import dataclasses
import json

import pytest

import sphinx_x.demo.run as demo_run
from sphinx_x import SphinxXForConditionalGeneration
from sphinx_x.cli import main
from sphinx_x.demo.corpus import OCR_TASKS, SHAPE_TASKS, corpus_texts, ocr_page, write_corpus
from sphinx_x.processing.conversation import RELEASE_SYSTEM
from sphinx_x.processing.tokenizer import train_toy_tokenizer
from sphinx_x.train.trainer import read_losses


def test_corpus_covers_every_domain_with_skip_tokens(tmp_path):
    import random

    mixture = write_corpus(
        tmp_path, dict.fromkeys([*SHAPE_TASKS, *OCR_TASKS, "language"], 3), seed=0, turns=3
    )
    domains = {line.split("name: ")[1].split(",")[0] for line in mixture.read_text().splitlines()[1:]}
    assert domains == {"vision", "vqa", "caption", "set-of-mark", "ocr", "language"}
    records = [
        json.loads(line) for path in tmp_path.glob("*.jsonl") for line in path.read_text().splitlines()
    ]
    assert all(len(r["conversations"]) % 2 == 0 for r in records)
    assert any(len(r["conversations"]) == 6 for r in records)  # multi-turn
    image, words = ocr_page(random.Random(0), 2)
    assert len(words) == 2 and all(0 <= v <= 1 for _, box in words for v in box)  # word boxes from the PDF


def test_corpus_is_the_same_whatever_the_number_of_workers(tmp_path, monkeypatch):
    import sphinx_x.demo.corpus as corpus

    monkeypatch.setattr(corpus, "CHUNK", 4)  # several jobs per task
    counts = {"rec": 9, "ocr_read": 5, "language": 6}
    folders = {}
    for cores in (1, 2):
        monkeypatch.setattr(corpus.os, "cpu_count", lambda cores=cores: cores)
        folders[cores] = tmp_path / f"cores-{cores}"
        write_corpus(folders[cores], counts, seed=5, turns=2)
    files = sorted(p.relative_to(folders[1]) for p in folders[1].rglob("*") if p.is_file())
    assert len(files) == 3 + 1 + 9 + 5  # three domains, the mixture, one image per image sample
    assert files == sorted(p.relative_to(folders[2]) for p in folders[2].rglob("*") if p.is_file())
    for name in files:
        assert (folders[1] / name).read_bytes() == (folders[2] / name).read_bytes(), name
    records = [json.loads(line) for line in (folders[1] / "vision.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == [f"rec-{i}" for i in range(9)]
    assert len({json.dumps(r["conversations"]) for r in records}) == 9  # each job its own random stream


def test_demo_tokenizer_learns_the_template_text_the_model_reads(tmp_path):
    write_corpus(tmp_path, {"count": 20, "language": 20}, seed=0, turns=2)
    texts = corpus_texts(tmp_path)
    assert len(texts) == 40 and all(t.startswith(RELEASE_SYSTEM) and "### Assistant:" in t for t in texts)
    tokenizer = train_toy_tokenizer(texts, vocab_size=512)
    # Every sample carries the system prompt: a token per word, not per character.
    assert len(tokenizer.tokenize(RELEASE_SYSTEM)) <= len(RELEASE_SYSTEM.split()) + 2


def test_quick_demo_trains_evaluates_and_reports(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--quick"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for key in (
        "vqa_accuracy",
        "rec_acc50",
        "ocr_exact_match",
        "wall_seconds",
        "task/rec",
        "task/ocr_read",
        "task/language",
    ):
        assert key in metrics
    assert metrics["wall_seconds"] < 120
    losses = list(read_losses(tmp_path / "train").values())
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5  # the loss falls clearly
    page = (tmp_path / "report.html").read_text()
    assert "Held-out metrics" in page and "data:image/png;base64" in page and "vqa_accuracy" in page
    assert SphinxXForConditionalGeneration.from_pretrained(tmp_path / "model").config.use_skip_token
    assert "report:" in capsys.readouterr().out
    assert "The frozen vision experts" in page and "sphinx-x demo pretrain-experts" in page
    # The run's saved config rebuilds it: the same losses at every step, from the same starting model
    # (the whole run: `run.max_steps` would re-plan the warmup-cosine schedule for fewer steps). Up to
    # float rounding: the demo reuses frozen features an earlier batch computed, the rerun recomputes them.
    config = tmp_path / "train" / "config.yaml"
    assert main(["train", "--config", str(config), "--set", f"run.out={tmp_path / 'again'}"]) == 0
    again = list(read_losses(tmp_path / "again").values())
    assert again[0] == losses[0] and again == pytest.approx(losses, rel=1e-4)


def test_demo_flags_pick_their_settings(tmp_path, monkeypatch):
    chosen = []
    monkeypatch.setattr(
        demo_run, "run_demo", lambda out, seed, settings, from_scratch: chosen.append(settings) or {}
    )
    for flags in ([], ["--quick"], ["--long"]):
        assert main(["demo", "--out", str(tmp_path), *flags]) == 0
    assert chosen == [demo_run.FULL, demo_run.QUICK, demo_run.LONG]
    assert demo_run.LONG.epochs > demo_run.FULL.epochs
    assert demo_run.FULL.eval_per_task >= 100  # the bars are judged on at least 100 held-out samples per task
    with pytest.raises(SystemExit):
        main(["demo", "--quick", "--long"])


def test_from_scratch_makes_the_experts_and_records_how(tmp_path):
    import torch

    from sphinx_x.demo.shipped_experts import MANIFEST, PretrainSettings, pretrain_and_save

    config = demo_run.demo_model_config(vocab_size=64)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        manifest = pretrain_and_save(
            tmp_path, config, PretrainSettings(steps=4, images=16, batch=4, threads=1)
        )
        # Pre-training runs on the shipped file's thread count; the one-stage training after it on all again.
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    saved = json.loads((tmp_path / MANIFEST).read_text())
    assert (
        saved == manifest
        and saved["settings"]["steps"] == 4
        and set(saved["probes"]) == {"colour", "kind", "word", "box"}
    )
    model = SphinxXForConditionalGeneration(config)
    assert demo_run.load_shipped(model.vision_experts, config, tmp_path) == saved
    assert not any(p.requires_grad for p in model.vision_experts.parameters())


def test_the_shipped_experts_fit_the_demo_model_and_say_how_they_were_made():
    from sphinx_x.demo.shipped_experts import PretrainSettings, load_shipped

    config = demo_run.demo_model_config(vocab_size=64)
    manifest = load_shipped(SphinxXForConditionalGeneration(config).vision_experts, config)
    assert (
        manifest["command"].startswith("sphinx-x demo pretrain-experts")
        and manifest["settings"]["steps"] == PretrainSettings().steps
    )
    assert manifest["probes"]["word"] > 0.2 and manifest["probes"]["box"] > 0.5  # chance is 0.04 for words


@pytest.mark.slow
def test_pretrain_experts_reproduces_the_shipped_file(tmp_path):
    """Bit-identical on the machine that made it, with the same thread count (the manifest says which);
    elsewhere the probe accuracies agree within noise. About 15 minutes on 2 CPU cores."""
    import hashlib

    from sphinx_x.demo.shipped_experts import WEIGHTS, PretrainSettings, pretrain_and_save, shipped_folder

    shipped = json.loads((shipped_folder() / "toy-experts.json").read_text())
    made = pretrain_and_save(
        tmp_path, demo_run.demo_model_config(vocab_size=64), PretrainSettings(**shipped["settings"])
    )
    same_machine = made["machine"] == shipped["machine"]
    if same_machine:
        assert hashlib.sha256((tmp_path / WEIGHTS).read_bytes()).hexdigest() == shipped["sha256"]
    for name, value in shipped["probes"].items():
        assert abs(made["probes"][name] - value) < 0.03, name


def test_demo_moe_swaps_in_a_mixtral_of_the_same_width(tmp_path, monkeypatch):
    chosen = []
    monkeypatch.setattr(
        demo_run, "run_demo", lambda out, seed, settings, from_scratch: chosen.append(settings) or {}
    )
    assert main(["demo", "--out", str(tmp_path), "--quick", "--moe"]) == 0
    assert chosen == [dataclasses.replace(demo_run.QUICK, moe=True)]
    dense, moe = demo_run.demo_model_config(1024), demo_run.demo_model_config(1024, moe=True)
    assert moe.text_config.model_type == "mixtral" and dense.text_config.model_type == "llama"
    assert (moe.text_config.num_local_experts, moe.text_config.num_experts_per_tok) == (4, 2)
    for field in (
        "hidden_size",
        "num_hidden_layers",
        "intermediate_size",
        "num_attention_heads",
        "vocab_size",
    ):
        assert getattr(moe.text_config, field) == getattr(dense.text_config, field)
