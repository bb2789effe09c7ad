import json
import subprocess
import sys

import pytest
import torch

from sphinx_x.analysis.active_experts import set_active_experts
from sphinx_x.analysis.routers import num_experts
from sphinx_x.analysis.scoring import Scorer, headline_scores
from sphinx_x.analysis.sweeps import parse_counts, topk_sweep
from sphinx_x.cli import main
from sphinx_x.demo.corpus import write_corpus
from sphinx_x.loading import load_model
from tests.eval import fixtures


@pytest.fixture
def moe_folder(tmp_path, moe_model, moe_processor):
    moe_model.save_pretrained(tmp_path / "model")
    moe_processor.save_pretrained(tmp_path / "model")
    return tmp_path / "model"


@pytest.fixture
def heldout(tmp_path):
    """The demo's held-out layout: one JSONL per task family, images/, mixture.yaml."""
    write_corpus(tmp_path / "heldout", {"count": 2, "rec": 1, "language": 2}, seed=3)
    return tmp_path / "heldout"


def png_is_drawn(path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_parse_counts():
    assert parse_counts("1,2,4..6", "--k", 8) == [1, 2, 4, 5, 6]
    assert parse_counts("1..4", "--keep", 4) == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="--k '1,9': each value must be 1 to 8"):
        parse_counts("1,9", "--k", 8)
    with pytest.raises(ValueError, match="expected numbers"):
        parse_counts("two", "--k", 8)


def test_topk_sweep_through_the_eval_runner(tmp_path, moe_model, moe_processor):
    fixtures.vqav2(tmp_path / "vqav2")
    result = topk_sweep(
        moe_model, moe_processor, Scorer("vqav2", tmp_path / "vqav2"), [1, 2], tmp_path / "out"
    )
    assert [point["k"] for point in result["points"]] == [1, 2] and result["trained_k"] == 2
    assert set(result["points"][0]["scores"]) == {"VQAV2"}  # the paper's column, scaled as printed
    for k in (1, 2):
        run = json.loads((tmp_path / "out" / f"k{k}" / "vqav2.json").read_text())
        assert run["scores"]["items"] == 2  # the runner's own result file, one per k
    assert "| 1 |" in (tmp_path / "out" / "topk.md").read_text() and png_is_drawn(
        tmp_path / "out" / "topk.png"
    )


def test_a_benchmark_is_scored_by_its_paper_columns():
    scores = {"perception": 1200.5, "cognition": 300.0, "items": 10, "invalid": 0}
    assert headline_scores("mme", scores) == {"MME-P": 1200.5, "MME-C": 300.0}
    assert headline_scores("no-table", {"accuracy": 0.5, "items": 3, "flag": True}) == {"accuracy": 0.5}


def test_moe_commands_end_to_end_on_a_toy_moe(tmp_path, moe_folder, heldout, capsys):
    usage_dir, topk_dir, sweep_dir = tmp_path / "usage", tmp_path / "topk", tmp_path / "sweep"
    assert (
        main(["moe", "usage", "--model", str(moe_folder), "--data", str(heldout), "--out", str(usage_dir)])
        == 0
    )
    usage = json.loads((usage_dir / "usage.json").read_text())["domains"]
    assert set(usage) == {"vqa", "vision", "language", "all domains"}
    assert usage["language"]["visual"]["tokens"] == 0 and usage["vqa"]["visual"]["tokens"] > 0
    for domain in usage.values():
        assert all(abs(sum(row) - 1) < 1e-5 for row in domain["all"]["choices"]["share"])
        assert all(0 <= gap <= 1 for gap in domain["domain_gap"]["all"]["choices"])
    assert usage["language"]["modality_gap"]["choices"] == [None, None]  # no visual token to compare
    assert usage["all domains"]["all"]["tokens"] == sum(
        usage[d]["all"]["tokens"] for d in ("vqa", "vision", "language")
    )
    assert png_is_drawn(usage_dir / "usage-heatmaps.png") and png_is_drawn(usage_dir / "usage-balance.png")

    demo = ["--benchmark", "demo-heldout", "--data", str(heldout), "--max-new-tokens", "4"]
    assert main(["moe", "topk", "--model", str(moe_folder), *demo, "--k", "1,2", "--out", str(topk_dir)]) == 0
    points = {p["k"]: p["scores"] for p in json.loads((topk_dir / "topk.json").read_text())["points"]}
    model, processor = load_model(moe_folder, device="cpu")
    as_loaded = Scorer("demo-heldout", heldout, max_new_tokens=4)(model, processor, tmp_path / "direct")
    assert points[2] == pytest.approx(as_loaded)  # k = 2 is the model as loaded
    assert points[1]["answer_loss"] != pytest.approx(points[2]["answer_loss"])

    sweep = ["--keep", "3..4", "--runs", "2", "--usage", str(usage_dir / "usage.json"), "--out", str(sweep_dir)]  # fmt: skip
    assert main(["moe", "prune-sweep", "--model", str(moe_folder), *demo, *sweep]) == 0
    result = json.loads((sweep_dir / "prune-sweep.json").read_text())
    runs = [(p["keep"], p["strategy"]) for p in result["points"]]
    assert runs == [(3, "random"), (3, "random"), (3, "usage"), (4, "random"), (4, "usage")]
    full = [p["scores"] for p in result["points"] if p["keep"] == 4]
    assert full[0] == pytest.approx(as_loaded) and full[1] == pytest.approx(as_loaded)  # nothing removed
    for spread in result["random"].values():
        loss = spread["answer_loss"]
        assert loss["min"] <= loss["mean"] <= loss["max"]
    assert png_is_drawn(sweep_dir / "prune-sweep.png") and "± " in (sweep_dir / "prune-sweep.md").read_text()


def test_moe_prune_writes_a_folder_and_scores_it(tmp_path, moe_folder, heldout, capsys):
    argv = ["moe", "prune", "--model", str(moe_folder), "--keep", "3", "--seed", "1", "--out", str(tmp_path / "pruned"),
            "--benchmark", "demo-heldout", "--data", str(heldout), "--max-new-tokens", "4", "--eval-out", str(tmp_path / "eval")]  # fmt: skip
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out.splitlines()[0])
    assert printed["keep"] == 3 and printed["folder_bytes_after"] < printed["folder_bytes_before"]
    model, processor = load_model(tmp_path / "pruned", device="cpu")
    assert num_experts(model) == 3
    scores = Scorer("demo-heldout", heldout, max_new_tokens=4)(model, processor, tmp_path / "again")
    assert printed["scores"] == pytest.approx(scores)  # the folder scores as the in-memory pruned model did


@pytest.mark.parametrize(
    "argv, message",
    [
        (["moe", "topk", "--model", "sphinx-x-toy", "--benchmark", "vqav2", "--data", "."], "no routed experts"),
        (["moe", "topk", "--model", "sphinx-x-toy-moe", "--benchmark", "vqav2", "--data", ".", "--k", "8"],
         "each value must be 1 to 4"),
        (["moe", "topk", "--model", "sphinx-x-toy-moe", "--benchmark", "nope", "--data", "."], "unknown benchmark"),
        (["moe", "prune", "--model", "sphinx-x-toy-moe", "--keep", "2"], "give --out"),
        (["moe", "prune", "--model", "sphinx-x-toy-moe", "--keep", "2", "--out", "x", "--strategy", "usage"],
         "needs --usage"),
        (["moe", "usage", "--model", "sphinx-x-toy-moe"], "give --data"),
        (["moe", "prune-sweep", "--model", "sphinx-x-toy-moe", "--benchmark", "vqav2", "--data", ".", "--runs", "0"],
         "--runs 0"),
        (["moe", "usage", "--model", "sphinx-x-toy-moe", "--domain", "nameless"], "expected NAME=PATH"),
    ],
)  # fmt: skip
def test_moe_commands_explain_bad_input(tmp_path, monkeypatch, argv, message, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_the_moe_command_starts_without_torch():
    code = "import sys, sphinx_x.cli as c; c.build_parser(); print('torch' in sys.modules)"
    assert (
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        == "False"
    )


def test_active_experts_leave_a_folder_untouched(moe_folder):
    model, _ = load_model(moe_folder, device="cpu")
    set_active_experts(model, 1)
    again, _ = load_model(moe_folder, device="cpu")
    assert again.language_model.model.layers[0].mlp.gate.top_k == 2 and torch.is_grad_enabled()


def test_usage_on_mme_domains_as_the_paper_picks_them(tmp_path, moe_folder):
    fixtures.mme(tmp_path / "MME")
    argv = ["moe", "usage", "--model", str(moe_folder), "--benchmark", "mme", "--data", str(tmp_path / "MME"),
            "--group-by", "subtask", "--only", "artwork", "--out", str(tmp_path / "usage")]  # fmt: skip
    assert main(argv) == 0
    usage = json.loads((tmp_path / "usage" / "usage.json").read_text())["domains"]
    assert list(usage) == ["artwork"]  # one domain: no "all domains" sum
    assert usage["artwork"]["visual"]["tokens"] > 0 and usage["artwork"]["text"]["tokens"] > 0
    assert main([*argv[:-4], "--only", "celebrity", "--out", str(tmp_path / "u2")]) == 2
