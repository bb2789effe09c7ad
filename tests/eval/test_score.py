import json

import pytest

from sphinx_x.cli import main
from sphinx_x.eval.score import METRICS


def write_jsonl(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


EXAMPLES = {
    "vqa": ({"prediction": "two", "answers": ["2"] * 3 + ["3"] * 7}, {"accuracy": 0.9}),
    "textvqa": ({"prediction": "Yes", "answers": ["yes"] * 10}, {"accuracy": 1.0}),
    "exact": ({"prediction": "Yes.", "answer": "yes"}, {"accuracy": 1.0}),
    "anls": ({"prediction": "ab", "answers": ["abcd"]}, {"anls": 0.5}),
    "relaxed": ({"prediction": "105", "answer": "100"}, {"relaxed_accuracy": 1.0}),
    "pope": ({"prediction": "No.", "answer": "yes", "split": "random"}, {"accuracy": 0.0, "yes_ratio": 0.0}),
    "mme": (
        {"prediction": "yes", "answer": "Yes", "subtask": "OCR", "image": "a.jpg"},
        {"OCR": 200.0, "perception": 200.0},
    ),
    "mmbench": (
        {"prediction": "(B)", "answer": "B", "options": {"A": "x", "B": "y"}, "group": 7},
        {"accuracy": 1.0},
    ),
    "scienceqa": ({"prediction": "The answer is A.", "answer": "A"}, {"accuracy": 1.0}),
    "choice": ({"prediction": "B. two", "answer": "B", "options": {"A": "one", "B": "two"}, "group": "q1"}, {"accuracy": 1.0}),
    "seed": ({"prediction": "C) bird", "answer": "C"}, {"accuracy": 1.0}),
    "mmmu": (
        {"prediction": "(D)", "answer": "D", "options": {"A": "1", "B": "2", "C": "3", "D": "4"}},
        {"accuracy": 1.0},
    ),
    "rec": (
        {
            "prediction": "[0.10, 0.30, 0.60, 0.55]",
            "box": [20, 10, 120, 60],
            "width": 200,
            "height": 100,
            "padding": "center",
        },
        {"acc50": 1.0, "miou": 1.0},
    ),  # fmt: skip
    "qbench": ({"prediction": "B.", "answer": "B", "answer_text": "Low", "type": "how"}, {"accuracy": 1.0, "type/how": 1.0}),
    "ocrvqa": ({"prediction": "Ann Lee ", "answers": ["ann lee"]}, {"accuracy": 1.0}),
    "cmmmu": ({"prediction": "(B)", "answer": "B", "question_type": "选择", "options": {"A": "1", "B": "2"}, "category": "数学"},
              {"accuracy": 1.0, "discipline/科学": 1.0}),
    "screenspot": ({"prediction": "[0.60, 0.20]", "bbox": [100, 20, 50, 40], "width": 200, "height": 100, "padding": "corner",
                    "platform": "web", "data_type": "icon"}, {"accuracy": 1.0, "platform/web/icon": 1.0}),
    "mvbench": ({"prediction": "(A) x", "answer": "(A) x", "category": "action_count"}, {"category/action_count": 1.0}),
    # judge-scored metrics read the judge's fields when a record already has them (a judged file scored again)
    "mmvet": ({"prediction": "x", "question": "q", "answer": "a", "capability": ["ocr"], "judge_score": 0.4},
              {"total": 0.4, "capability/ocr": 0.4}),
    "llava-bench": ({"prediction": "x", "question": "q", "gpt4_answer": "a", "caption": "c", "category": "conv",
                     "judge_scores": [8, 6]}, {"relative": 0.75}),
    "mathvista": ({"prediction": "4", "query": "q", "answer": "4", "question_type": "free_form", "answer_type": "integer"},
                  {"accuracy": 1.0}),  # a rule extracts "4": no judge needed
    "hallusion": ({"prediction": "Yes", "question": "q", "gt_answer_details": "d", "category": "VD", "subcategory": "chart",
                   "set_id": "0", "question_id": "0", "figure_id": "0", "judge_verdict": 1}, {"aAcc": 1.0, "qAcc": 1.0}),
    "mmvp": ({"prediction": "(a)", "question": "q (a) x (b) y", "answer": "(a)", "pair": 0, "judge_verdict": "yes"},
             {"question_accuracy": 1.0, "incomplete_pairs": 1}),
    "videobench": ({"prediction": "C", "question": "q", "answer": "C", "category": "MOT", "judge_choice": "C"},
                   {"category/MOT": 1.0}),
    "toy-tasks": ({"prediction": "[0.10, 0.20, 0.50, 0.62]", "answer": "[0.10, 0.20, 0.50, 0.60]", "task": "rec",
                   "width": 200, "height": 100}, {"rec_acc50": 1.0, "task/rec": 1.0}),
}  # fmt: skip


@pytest.mark.parametrize("metric", [m for m in METRICS if m != "vqa-lmms"])
def test_every_metric_scores_from_jsonl(tmp_path, capsys, metric):
    record, expected = EXAMPLES[metric]
    path = write_jsonl(tmp_path / "predictions.jsonl", [record])
    assert main(["eval", "score", metric, str(path), "--per-item", str(tmp_path / "items.jsonl")]) == 0
    result = json.loads(capsys.readouterr().out)
    for key, value in expected.items():
        assert result[key] == pytest.approx(value), key
    assert result["items"] == 1 and result["invalid"] == 0
    assert (
        json.loads((tmp_path / "items.jsonl").read_text().splitlines()[0])["prediction"]
        == record["prediction"]
    )


def test_pope_reports_each_split(tmp_path, capsys):
    records = [
        {"prediction": "Yes", "answer": "yes", "split": "random"},
        {"prediction": "Yes", "answer": "no", "split": "adversarial"},
    ]
    main(["eval", "score", "pope", str(write_jsonl(tmp_path / "p.jsonl", records))])
    result = json.loads(capsys.readouterr().out)
    assert (
        result["random"]["accuracy"] == 1.0
        and result["adversarial"]["accuracy"] == 0.0
        and result["accuracy"] == 0.5
    )


def test_bad_records_are_reported_by_line_and_counted(tmp_path, capsys):
    records = [{"prediction": "yes", "answers": ["yes"] * 10}, "{not json", {"prediction": "no"}, "[1, 2]"]
    assert main(["eval", "score", "vqa", str(write_jsonl(tmp_path / "bad.jsonl", records))]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"accuracy": 1.0, "items": 1, "invalid": 3}
    assert "bad.jsonl:2: not valid JSON" in captured.err
    assert "bad.jsonl:3: missing field(s) answers" in captured.err
    assert "bad.jsonl:4: expected a JSON object" in captured.err


def test_unknown_metric(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_status:
        main(["eval", "score", "bleu", str(write_jsonl(tmp_path / "x.jsonl", []))])
    assert exit_status.value.code == 2
    error = capsys.readouterr().err
    assert "invalid choice: 'bleu'" in error and "'vqa-lmms'" in error  # the choices come from the registry
