"""Judge-scored benchmarks end to end against a stand-in endpoint on 127.0.0.1: the plumbing, the
cache (counted requests) and the parsing of the judge's answers."""

import json

import pytest

from sphinx_x.eval import suite
from sphinx_x.eval.benchmarks import BENCHMARKS
from sphinx_x.eval.judge import Judge, JudgeConfig
from sphinx_x.eval.judging import judge_result, make_judge
from sphinx_x.eval.metrics import mathvista, mmvet
from sphinx_x.eval.score import score_records

from . import fixtures
from .stand_in_judge import StandInJudge, serving

MMVET = [
    {"id": "v1_0", "prediction": "x = -1", "question": "Solve for x.", "answer": "-1<AND>-5",
     "capability": ["ocr", "math"]},
    {"id": "v1_1", "prediction": "blue", "question": "What is the colour?", "answer": "red", "capability": ["rec"]},
]  # fmt: skip


def records(items):
    return [(f"test:{i}", item) for i, item in enumerate(items)]


def test_without_a_judge_a_judged_benchmark_says_so_and_scores_nothing():
    report = score_records("mmvet", records(MMVET))
    assert report.aggregate["skipped"].startswith("skipped: 2 of 2 records need the judge (mm-vet-grader")
    assert report.aggregate["items"] == 0 and "total" not in report.aggregate
    assert [item["id"] for item in report.items] == ["v1_0", "v1_1"]  # kept, to be judged later


def test_mmvet_grades_retries_unparsed_answers_and_caches(tmp_path):
    stand_in = StandInJudge(
        [
            ("Solve for x. | -1 <AND> -5 | x = -1 | \nPredict", "0.5"),
            ("Solve for x. | -1 <AND> -5 | x = -1 | ", "half right"),
            ("colour? | red | blue | ", "0.0"),
        ]
    )
    with serving(stand_in) as url:
        judge = Judge(JudgeConfig(url, "gpt-4-0613", retry_delay=0), tmp_path / "cache.jsonl")
        report = score_records("mmvet", records(MMVET), judge=judge)
        assert len(stand_in.requests) == 3  # v1_0: "half right" is no grade, so one retry; v1_1: one answer
        rerun = score_records("mmvet", records(MMVET), judge=Judge(judge.config, tmp_path / "cache.jsonl"))
        assert len(stand_in.requests) == 3 and rerun.aggregate == report.aggregate  # all from the cache
    first, retry, _ = stand_in.requests
    assert first["max_tokens"] == 3 and first["temperature"] == 0.0
    assert first["messages"][0]["content"] == mmvet.grader_prompt("Solve for x.", "-1<AND>-5", "x = -1")
    assert retry["messages"][0]["content"].endswith("\nPredict the correctness of the answer (digit): ")
    assert report.aggregate["total"] == pytest.approx(0.25) and report.aggregate["capability/rec"] == 0.0
    assert [item["judge_score"] for item in report.items] == [0.5, 0.0]
    assert report.judge == {"url": url, "model": "gpt-4-0613", "cache": str(tmp_path / "cache.jsonl"),
                            "prompt": mmvet.PROMPT_VERSION}  # fmt: skip


def test_a_grade_never_parsed_scores_zero_after_four_retries(tmp_path):
    stand_in = StandInJudge([], default="no idea")
    with serving(stand_in) as url:
        report = score_records("mmvet", records(MMVET[:1]), judge=Judge(JudgeConfig(url, "m", retry_delay=0)))
    assert [r.get("temperature") for r in stand_in.requests] == [0.0, 0.0, 0.5, 1.0, 1.5]
    assert report.items[0]["judge_score"] == 0.0 and report.items[0]["judge_answer"] == "no idea"


def test_mmbench_asks_the_judge_only_where_exact_matching_fails(tmp_path):
    options = {"A": "red", "B": "green"}
    items = [
        {"id": "0-0", "prediction": "B", "answer": "B", "options": options, "group": "0", "raw_question": "Colour?"},
        {"id": "1-0", "prediction": "the leafy one", "answer": "B", "options": options, "group": "1", "raw_question": "Colour?"},
    ]  # fmt: skip
    assert score_records("mmbench", records(items)).aggregate["accuracy"] == 0.5  # no judge: a miss
    stand_in = StandInJudge([("Answer: the leafy one", "B")])
    with serving(stand_in) as url:
        report = score_records("mmbench", records(items), judge=Judge(JudgeConfig(url, "gpt-3.5-turbo-0125")))
    assert len(stand_in.requests) == 1 and report.aggregate["accuracy"] == 1.0
    prompt = stand_in.requests[0]["messages"][0]["content"]
    assert prompt.startswith(
        "You are an AI assistant who will help me to match an answer with several options"
    )
    assert prompt.endswith("Question: Colour??\nOptions: There are several options: \nA. red\nB. green\n\n"
                           "Answer: the leafy one\nYour output: ")  # fmt: skip


def test_mathvista_asks_the_judge_only_when_no_rule_extracts(tmp_path):
    fixtures.mathvista(tmp_path / "mathvista")
    free, choice = BENCHMARKS["mathvista"].read(tmp_path / "mathvista")
    items = [{"id": free.id, "prediction": "4"} | free.reference,
             {"id": choice.id, "prediction": "The larger one is (B) right."} | choice.reference]  # fmt: skip
    assert (
        score_records("mathvista", records(items)).aggregate["skipped"].startswith("skipped: 1 of 2 records")
    )
    stand_in = StandInJudge([("The larger one is (B) right.\n\nExtracted answer: ", "B")])
    with serving(stand_in) as url:
        report = score_records("mathvista", records(items), judge=Judge(JudgeConfig(url, "gpt-4-0613")))
    assert len(stand_in.requests) == 1 and report.aggregate["accuracy"] == 1.0
    assert stand_in.requests[0]["messages"][0]["content"] == mathvista.extraction_prompt(choice.reference["query"],
                                                                                         items[1]["prediction"])  # fmt: skip
    assert [item["normalized"] for item in report.items] == ["4", "right"]


def test_judge_failures_are_reported_per_record_not_fatal(tmp_path):
    stand_in = StandInJudge([], fail_first=100)
    with serving(stand_in) as url:
        judge = Judge(JudgeConfig(url, "m", retries=0, retry_delay=0))
        report = score_records("mmvet", records(MMVET), judge=judge)
    assert report.aggregate["items"] == 0 and report.aggregate["invalid"] == 2
    assert report.invalid[0].startswith("test:0: the judge gave no usable answer (judge at http://127.0.0.1:")


def fake_run_benchmark(predictions: dict[str, str]):
    """Stands in for the runner: the reader's items with canned predictions, scored without a judge."""
    calls = []

    def run(model, processor, benchmark, data, out_dir, **options):
        calls.append(benchmark.name)
        items = list(benchmark.read(data))
        result_records = [{"id": i.id, "question": i.prompt, "prediction": predictions.get(i.id, ""), "padding": "corner"}
                          | i.reference for i in items]  # fmt: skip
        report = score_records(benchmark.metric, [(r["id"], r) for r in result_records])
        return {"benchmark": benchmark.name, "parser_and_metric": {"metric": benchmark.metric}, "scores": report.aggregate,
                "errors": [], "items": report.items}  # fmt: skip

    return run, calls


def test_suite_skips_judged_benchmarks_without_a_judge_and_fills_them_with_one(tmp_path, monkeypatch):
    fixtures.mmvet(tmp_path / "data" / "mmvet")
    fixtures.seed(tmp_path / "data" / "seed")
    run, calls = fake_run_benchmark({"v1_0": "x = -1 or x = -5", "v1_1": "red", "101669": "B"})
    monkeypatch.setattr(suite, "run_benchmark", run)
    results = suite.run_suite(None, None, tmp_path / "data", tmp_path / "out")
    assert calls == ["seed"]  # nothing is generated for a benchmark that cannot be scored
    table = suite.suite_table(results)
    assert "| skipped |" in table and "- mmvet: mmvet is scored by a judge model" in table
    stand_in = StandInJudge(
        [("this equation? | -1 <AND> -5 | x = -1 or x = -5 | ", "1.0"), ("colour? | red | red | ", "1.0")],
        default="0.0",
    )
    with serving(stand_in) as url:
        monkeypatch.setenv("JUDGE_KEY", "sk-test")
        judge = make_judge(url, "gpt-4-0613", "JUDGE_KEY", tmp_path / "out")
        results = suite.run_suite(None, None, tmp_path / "data", tmp_path / "out", judge=judge)
    assert results["mmvet"]["scores"]["total"] == 1.0 and len(stand_in.requests) == 2
    saved = json.loads((tmp_path / "out" / "mmvet.json").read_text())
    assert saved["parser_and_metric"]["judge"]["url"] == url and "sk-test" not in json.dumps(saved)
    assert saved["parser_and_metric"]["judge"]["cache"] == str(tmp_path / "out" / "judge-cache.jsonl")
    assert (tmp_path / "out" / "mmvet.md").read_text().startswith("# mmvet")
    cells = suite.suite_table(results).split("## Table 2:")[1].splitlines()[4]
    assert "| 100.0 |" in cells  # the MM-Vet cell


def test_judge_result_keeps_earlier_errors_and_adds_the_judge(tmp_path):
    result = {"benchmark": "mmvp", "parser_and_metric": {"metric": "mmvp"}, "errors": ["3: image broken"], "items": [
        {"id": "1", "prediction": "(a)", "question": "q (a) x (b) y", "answer": "(a)", "pair": 0},
        {"id": "2", "prediction": "(a)", "question": "q (a) x (b) y", "answer": "(b)", "pair": 0}]}  # fmt: skip
    stand_in = StandInJudge([("the correct answer is (a).", "Yes"), ("the correct answer is (b).", "No.")])
    with serving(stand_in) as url:
        judged = judge_result(result, Judge(JudgeConfig(url, "gpt-4-0314")), tmp_path)
    assert [item["judge_verdict"] for item in judged["items"]] == [
        "yes",
        "could not determine",
    ]  # "No." is not ^no$
    assert judged["scores"]["pair_accuracy"] == 0.0 and judged["errors"] == ["3: image broken"]
    assert stand_in.requests[0]["messages"][0]["content"].startswith(
        "You are a helpful and precise assistant"
    )
    assert stand_in.requests[0]["temperature"] == 0.2
    assert (
        json.loads((tmp_path / "mmvp.json").read_text())["parser_and_metric"]["judge"]["model"]
        == "gpt-4-0314"
    )


def test_hallusion_llava_bench_and_videobench_requests_and_parsing(tmp_path):
    hallusion_items = [
        {"id": "a", "prediction": "Yes", "question": "Is it red?", "gt_answer_details": "It is red.", "category": "VD",
         "subcategory": "chart", "set_id": "0", "figure_id": "0", "question_id": "0"},
        {"id": "b", "prediction": "Yes", "question": "Is it red?", "gt_answer_details": "It is blue.", "category": "VD",
         "subcategory": "chart", "set_id": "0", "figure_id": "1", "question_id": "0"},
    ]  # fmt: skip
    llava_items = [{"id": "0", "prediction": "A crater.", "question": "What is it?", "gpt4_answer": "Diamond Head.",
                    "caption": ["An aerial view."], "category": "conv"}]  # fmt: skip
    video_items = [{"id": "MOT-0", "prediction": "It is 18.", "question": "How many?\nA. 81\nB. 18", "answer": "B",
                    "category": "MOT"}]  # fmt: skip
    stand_in = StandInJudge([
        ("Reference answer: It is red.", "correct"), ("Reference answer: It is blue.", "Incorrect."),
        ("[Question]\nWhat is it?", "8 6\nAssistant 1 names the place."),
        ('"maximum probability"', '{"maximum probability":"B"}'),
    ])  # fmt: skip
    with serving(stand_in) as url:
        judge = Judge(JudgeConfig(url, "judge"))
        hallusion = score_records("hallusion", records(hallusion_items), judge=judge)
        llava = score_records("llava-bench", records(llava_items), judge=judge)
        videobench = score_records("videobench", records(video_items), judge=judge)
    assert [item["judge_verdict"] for item in hallusion.items] == [1, 0]
    assert hallusion.aggregate["aAcc"] == 0.5 and hallusion.aggregate["qAcc"] == 0.0
    assert "temperature" not in stand_in.requests[0]  # HallusionBench's script leaves the endpoint's default
    review = stand_in.requests[2]
    assert review["messages"][0] == {"role": "system", "content": "You are a helpful and precise assistant for "
                                     "checking the quality of the answer."}  # fmt: skip
    assert review["temperature"] == 0.2 and review["max_tokens"] == 1024
    assert llava.aggregate["relative"] == pytest.approx(0.75)
    assert [m["role"] for m in stand_in.requests[3]["messages"]] == ["system", "assistant", "user"]
    assert videobench.aggregate["category/MOT"] == 1.0


def test_the_command_line_judges_with_any_endpoint_and_records_it(tmp_path, monkeypatch, capsys):
    from sphinx_x.cli import main

    fixtures.mmvet(tmp_path / "mmvet")
    argv = ["eval", "run", "--model", "sphinx-x-toy", "--benchmark", "mmvet", "--data", str(tmp_path / "mmvet"),
            "--out", str(tmp_path / "out"), "--temperature", "0"]  # fmt: skip
    assert main(argv) == 0
    skipped = json.loads(capsys.readouterr().out.splitlines()[-1])["scores"]
    stand_in = StandInJudge([], default="0.5")
    with serving(stand_in) as url:
        monkeypatch.setenv("JUDGE_KEY", "sk-test")
        assert main([*argv, "--judge-url", url]) == 2  # a URL without a model is refused before any work
        assert "--judge-model is required" in capsys.readouterr().err
        assert (
            main([*argv, "--judge-url", url, "--judge-model", "gpt-4-0613", "--judge-key-env", "JUDGE_KEY"])
            == 0
        )
    judged = json.loads((tmp_path / "out" / "mmvet.json").read_text())
    assert judged["scores"]["total"] == 0.5 and len(stand_in.requests) == 2 and judged["scores"] != skipped
    assert judged["parser_and_metric"]["judge"]["model"] == "gpt-4-0613" and "sk-test" not in json.dumps(
        judged
    )
