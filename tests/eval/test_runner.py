import json

import pytest

from sphinx_x.cli import main
from sphinx_x.eval import runner
from sphinx_x.eval.adapters import lmms_eval_records
from sphinx_x.eval.benchmarks import BENCHMARKS
from sphinx_x.eval.runner import run_benchmark
from sphinx_x.eval.suite import run_suite, suite_table

from ..scripted import ScriptedAnswers
from . import fixtures


def test_run_writes_a_reproducible_result_file(tmp_path, toy_model, toy_processor):
    fixtures.vqav2(tmp_path / "vqav2")
    # The two questions are "What color is the box?" (red) and "How many boxes?" (1).
    with ScriptedAnswers(toy_model, toy_processor.tokenizer, ["red", "2"]):
        result = run_benchmark(toy_model, toy_processor, BENCHMARKS["vqav2"], tmp_path / "vqav2", tmp_path / "out",
                               model_path="toy", batch_size=2, temperature=0)  # fmt: skip
    saved = json.loads((tmp_path / "out" / "vqav2.json").read_text())
    assert saved["benchmark"] == "vqav2" and saved["split"] == "val"
    assert saved["decoding"] == {
        "max_new_tokens": 10,
        "temperature": 0,
        "top_p": 0.75,
        "stop_strings": ["\n###"],
        "seed": 0,
    }
    assert saved["parser_and_metric"]["metric"] == "vqa" and saved["parser_and_metric"]["version"]
    assert saved["model"]["path"] == "toy" and len(saved["model"]["config_sha256"]) == 64
    assert [(item["id"], item["prediction"], item["score"]) for item in saved["items"]] == [
        ("420", "red", 1.0), ("421", "2", 0.0)
    ]  # fmt: skip
    assert saved["scores"]["accuracy"] == 0.5 and result["scores"] == saved["scores"]
    assert (tmp_path / "out" / "vqav2.md").read_text().startswith("# vqav2")


def test_a_crash_keeps_finished_items_and_a_rerun_continues(tmp_path, toy_model, toy_processor, monkeypatch):
    fixtures.mmbench(tmp_path / "mmbench")
    calls = []
    real_generate = runner.generate

    def crash_on_second_batch(*args, **kwargs):
        calls.append(len(args[2]["input_ids"]))
        if len(calls) == 2:
            raise RuntimeError("simulated crash")
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(runner, "generate", crash_on_second_batch)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_benchmark(
            toy_model,
            toy_processor,
            BENCHMARKS["mmbench"],
            tmp_path / "mmbench",
            tmp_path / "out",
            batch_size=2,
        )
    kept = (tmp_path / "out" / "mmbench.predictions.jsonl").read_text().splitlines()
    assert len(kept) == 2  # the first batch survived the crash

    calls.clear()
    monkeypatch.setattr(runner, "generate", real_generate)
    counted = []
    monkeypatch.setattr(
        runner, "generate", lambda *a, **k: counted.append(len(a[2]["input_ids"])) or real_generate(*a, **k)
    )
    result = run_benchmark(
        toy_model, toy_processor, BENCHMARKS["mmbench"], tmp_path / "mmbench", tmp_path / "out", batch_size=2
    )
    assert sum(counted) == 3  # only the 3 unfinished items were generated again
    assert len(result["items"]) == 5 and result["scores"]["questions"] == 2


def test_bad_image_is_reported_not_fatal(tmp_path, toy_model, toy_processor):
    fixtures.textvqa(tmp_path / "textvqa")
    (tmp_path / "textvqa" / "train_images" / "abc123.jpg").write_bytes(b"broken")
    result = run_benchmark(
        toy_model, toy_processor, BENCHMARKS["textvqa"], tmp_path / "textvqa", tmp_path / "out"
    )
    assert result["scores"]["items"] == 0 and "abc123.jpg" in result["errors"][0]


def test_suite_runs_every_present_benchmark_and_prints_the_tables(tmp_path, toy_model, toy_processor):
    root = fixtures.build_all(tmp_path / "data")
    results = run_suite(toy_model, toy_processor, root, tmp_path / "out", batch_size=4)
    assert set(results) == set(fixtures.BUILDERS)
    table = suite_table(results)
    for heading in [f"## Table {number}:" for number in range(2, 9)] + [
        "| POPE | MME-P | MME-C | MMB | SEED | LLaVA-W | MM-Vet | CCbench | MathVista | Tiny LVLM | BenchLMM | InfiMM-Eval | Qbench |",
        "| OKVQA | VQAV2 | VizWiz | GQA | SQA | IVQA |", "| RefCOCO+ val | RefCOCO+ test-A |", "| Avg. | AS | AP | AA |",
    ]:  # fmt: skip
        assert heading in table
    # the cells hold the results, scaled as the paper prints them; no okvqa / vizwiz data was given
    vqa_cells = table_cells(table, 3)
    assert (
        vqa_cells["VQAV2"] == f"{results['vqav2']['scores']['accuracy'] * 100:.1f}"
        and vqa_cells["SQA"] != "–"
    )
    assert vqa_cells["OKVQA"] == vqa_cells["VizWiz"] == "–"
    assert table_cells(table, 2)["MME-P"] == f"{results['mme']['scores']['perception']:.1f}"
    assert table_cells(table, 2)["Tiny LVLM"] == "n/s" and "- n/s Tiny LVLM: not implemented" in table
    records = lmms_eval_records(results["refcoco-val"])
    assert records[0]["bbox"] == [4, 2, 24, 12] and records[0]["prediction"].startswith("[")


def table_cells(markdown: str, number: int) -> dict[str, str]:
    """Column label -> cell of the paper table `number` in the suite's markdown."""
    lines = markdown.split(f"## Table {number}:")[1].strip().splitlines()
    labels, values = ([cell.strip() for cell in line.strip("|").split("|")] for line in (lines[2], lines[4]))
    return dict(zip(labels, values, strict=True))


def test_command_line_run_and_export(tmp_path, capsys):
    fixtures.docvqa(tmp_path / "docvqa")
    argv = ["eval", "run", "--model", "sphinx-x-toy", "--benchmark", "docvqa", "--data", str(tmp_path / "docvqa"),
            "--out", str(tmp_path / "out"), "--temperature", "0"]  # fmt: skip
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["benchmark"] == "docvqa"
    assert (
        main(
            [
                "eval",
                "export",
                str(tmp_path / "out" / "docvqa.json"),
                "--format",
                "docvqa",
                "--out",
                str(tmp_path / "sub.json"),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "sub.json").read_text())[0]["questionId"] == 5
    assert main(["eval", "run", "--model", "sphinx-x-toy", "--benchmark", "nope", "--data", "x"]) == 2
