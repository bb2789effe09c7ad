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


def test_demo_flags_pick_their_settings(tmp_path, monkeypatch):
    chosen = []
    monkeypatch.setattr(demo_run, "run_demo", lambda out, seed, settings: chosen.append(settings) or {})
    for flags in ([], ["--quick"], ["--long"]):
        assert main(["demo", "--out", str(tmp_path), *flags]) == 0
    assert chosen == [demo_run.FULL, demo_run.QUICK, demo_run.LONG]
    # --long is what grounding and reading need: far more expert pre-training, more epochs.
    assert demo_run.LONG.pretrain_steps >= 10 * demo_run.FULL.pretrain_steps
    assert demo_run.LONG.epochs > demo_run.FULL.epochs
    with pytest.raises(SystemExit):
        main(["demo", "--quick", "--long"])


def test_demo_moe_swaps_in_a_mixtral_of_the_same_width(tmp_path, monkeypatch):
    chosen = []
    monkeypatch.setattr(demo_run, "run_demo", lambda out, seed, settings: chosen.append(settings) or {})
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
