"""The benchmarks' own scorers, on worked examples that follow each reference implementation's rules."""

import random

import pytest

from sphinx_x.eval.metrics import cmmmu, hallusion, llava_bench, mathvista, mmvet, mmvp, screenspot, video
from sphinx_x.eval.metrics.multiple_choice import qbench_correct
from sphinx_x.eval.metrics.text_match import exact_match_any


# -- MM-Vet ---------------------------------------------------------------------------------------
def test_mmvet_grader_prompt_and_grade_parsing():
    prompt = mmvet.grader_prompt("What is x?", "-1<AND>-5", "x = -1")
    assert prompt.startswith("Compare the ground truth and prediction from AI models")
    assert prompt.endswith("\nWhat is x? | -1 <AND> -5 | x = -1 | ")
    assert mmvet.parse_grade("0.7") == 0.7 and mmvet.parse_grade("1.0 (totally right)") == 1.0
    assert (
        mmvet.parse_grade("1.2") is None
        and mmvet.parse_grade("-0.1") is None
        and mmvet.parse_grade("good") is None
    )
    assert mmvet.parse_grade(" 0.5") is None  # the first word of " 0.5" is the empty string


def test_mmvet_scores_per_capability_and_integration():
    items = [
        {"judge_score": 1.0, "capability": ["ocr", "math"]},
        {"judge_score": 0.5, "capability": ["math", "ocr"]},
        {"judge_score": 0.0, "capability": ["rec"]},
    ]
    scores = mmvet.mmvet_scores(items)
    assert scores["total"] == pytest.approx(0.5)
    assert scores["capability/ocr"] == scores["capability/math"] == pytest.approx(0.75)
    assert scores["integration/math_ocr"] == pytest.approx(0.75) and scores["integration/rec"] == 0.0


# -- LLaVA-Bench ----------------------------------------------------------------------------------
def test_llava_bench_review_parsing_and_relative_score():
    assert llava_bench.parse_review("8 6\nAssistant 1 is better") == [8.0, 6.0]
    assert llava_bench.parse_review("8,6") == [8.0, 6.0]  # a comma becomes a space
    assert llava_bench.parse_review("8, 6") == [-1.0, -1.0]  # "8  6" splits into 3 parts, as in LLaVA
    assert llava_bench.parse_review("Scores: 8 6") == [-1.0, -1.0]
    assert llava_bench.parse_review("8\t6") == [-1.0, -1.0]
    prompt = llava_bench.review_prompt(["a dog", "on grass"], "What is it?", "A dog.", "A cat.")
    assert prompt.startswith("[Context]\na dog\non grass\n\n[Question]\nWhat is it?\n\n[Assistant 1]\nA dog.")
    assert "[End of Assistant 2]\n\n[System]\nWe would like to request your feedback" in prompt
    items = [
        {"judge_scores": [8.0, 6.0], "category": "conv"},
        {"judge_scores": [10.0, 9.0], "category": "detail"},
        {"judge_scores": [-1.0, -1.0], "category": "detail"},  # unparsed reviews still count, as in LLaVA
    ]
    scores = llava_bench.relative_scores(items)
    assert scores["relative"] == pytest.approx((14 / 3) / (17 / 3))
    assert scores["category/conv"] == pytest.approx(0.75) and scores["category/detail"] == pytest.approx(
        8 / 9
    )
    assert scores["unparsed_reviews"] == 1 and scores["reference_score"] == pytest.approx(17 / 30)


# -- MathVista ------------------------------------------------------------------------------------
CHOICE = {"question_type": "multi_choice", "answer_type": "text", "choices": ["145°", "150°", "3/5"]}
INTEGER = {"question_type": "free_form", "answer_type": "integer", "choices": None}
FLOAT = {"question_type": "free_form", "answer_type": "float", "choices": None, "precision": 1}


@pytest.mark.parametrize(
    ("response", "problem", "extraction"),
    [
        ("", INTEGER, ""),
        ("150°", CHOICE, "150°"),  # exactly a choice
        ("14", INTEGER, "14"),
        (" 14 ", INTEGER, "14"),  # int() accepts surrounding spaces
        ("1.25", FLOAT, "1.25"),
        ("The answer is 14", INTEGER, None),  # the judge has to extract
        ("(B) 150°", CHOICE, None),
        ("14.0", INTEGER, None),  # int("14.0") fails: the judge extracts
    ],
)
def test_mathvista_rule_extraction(response, problem, extraction):
    assert mathvista.rule_extraction(response, problem) == extraction


@pytest.mark.parametrize(
    ("extraction", "problem", "normalized"),
    [
        ("B", CHOICE, "150°"),
        ("(C) 3/5", CHOICE, "3/5"),
        ("146°", CHOICE, "145°"),  # nearest by Levenshtein; the first on ties
        ("14.7", INTEGER, "14"),
        ("1.25", FLOAT, "1.2"),  # round(1.25, 1) is 1.2 in binary floating point
        ("about 3", INTEGER, None),
    ],
)
def test_mathvista_normalisation(extraction, problem, normalized):
    assert mathvista.normalize_extraction(extraction, problem["choices"], problem["question_type"],
                                          problem["answer_type"], problem.get("precision")) == normalized  # fmt: skip


def test_mathvista_item_and_breakdown():
    record = {"prediction": "it is 14", "answer": "14", "extraction": "14", "metadata": {"skills": ["arithmetic"],
              "task": "math word problem"}} | INTEGER  # fmt: skip
    assert mathvista.mathvista_item(record)["score"] == 1.0
    with pytest.raises(ValueError, match="needs the judge"):
        mathvista.mathvista_item({"prediction": "it is 14", "answer": "14"} | INTEGER)
    scores = mathvista.mathvista_scores([record | {"score": 1.0}, {"score": 0.0, "metadata": {}} | INTEGER])
    assert (
        scores["accuracy"] == 0.5
        and scores["skills/arithmetic"] == 1.0
        and scores["answer_type/integer"] == 0.5
    )
    prompt = mathvista.extraction_prompt("Hint: ...\nQuestion: Q?", "It is 5.")
    assert prompt.startswith("Please read the following example.") and prompt.endswith(
        "It is 5.\n\nExtracted answer: "
    )
    assert "blue?\nChoices:\n(A) 3/11" in prompt  # the demo's newlines are real ones


# -- HallusionBench -------------------------------------------------------------------------------
def hallusion_item(category, set_id, figure_id, question_id, verdict, subcategory="chart"):
    return {"category": category, "subcategory": subcategory, "set_id": str(set_id), "figure_id": str(figure_id),
            "question_id": str(question_id), "judge_verdict": verdict}  # fmt: skip


def test_hallusion_verdicts_and_groupings():
    assert hallusion.parse_verdict("Incorrect.") == 0 and hallusion.parse_verdict("correct") == 1
    assert hallusion.parse_verdict("It is unclear") == 2
    items = [
        hallusion_item("VD", 0, 0, 0, 1), hallusion_item("VD", 0, 1, 0, 0),  # one question, two figures
        hallusion_item("VD", 0, 0, 1, 1), hallusion_item("VD", 0, 1, 1, 1),
        hallusion_item("VS", 1, 0, 0, 2),  # no figure, unclear: right
        hallusion_item("VS", 1, 1, 0, 2),  # with the figure, unclear: wrong
    ]  # fmt: skip
    scores = hallusion.hallusion_scores(items)
    assert scores["aAcc"] == pytest.approx(4 / 6)
    assert scores["qAcc"] == pytest.approx(1 / 3)  # VD q0 fails on figure 1; VD q1 passes; VS q0 fails
    assert scores["fAcc"] == pytest.approx(
        1 / 3
    )  # VD fig 0 passes, VD fig 1 fails, VS fig 1 fails (VS fig 0 left out)
    assert scores["easy_aAcc"] == pytest.approx(1.0) and scores["hard_aAcc"] == pytest.approx(1 / 3)
    prompt = hallusion.judge_prompt("Is it red?", "It is red.", "Yes")
    assert prompt.endswith(
        "\n\n Question:Is it red?\nReference answer: It is red.\nPrediction answer:Yes\nOutput:"
    )


# -- MMVP -----------------------------------------------------------------------------------------
def test_mmvp_pairs_need_both_answers_right():
    verdicts = [("yes", 0), ("yes", 0), ("yes", 1), ("no", 1), ("could not determine", 2), ("yes", 2)]
    scores = mmvp.pair_scores([{"judge_verdict": v, "pair": p} for v, p in verdicts])
    assert scores["pair_accuracy"] == pytest.approx(1 / 3) and scores["question_accuracy"] == pytest.approx(
        4 / 6
    )
    assert mmvp.YES_OR_NO.match("Yes") and not mmvp.YES_OR_NO.match("Yes.")


# -- video ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("prediction", "correct"),
    [("(A) a ball", True), ("A", True), ("A.", True), ("a) the ball", True), ("(B) a cup", False),
     ("Best option: (A)", False), ("", True)],  # the reference's quirk: an empty answer is "in" anything
)  # fmt: skip
def test_mvbench_check_ans(prediction, correct):
    assert video.mvbench_correct(prediction, "(A) a ball") is correct


def test_videobench_choice_parsing_and_weighted_abilities():
    assert video.parse_choice('{"maximum probability": "C"}') == "C"
    assert video.parse_choice("C") is None and video.parse_choice('{"maximum probability": "G"}') is None
    messages = video.videobench_messages("Q?\nA. x", "x")
    assert [m["role"] for m in messages] == ["system", "assistant", "user"]
    assert messages[1]["content"].endswith("{'target sequcene': 'x', 'question': 'Q?\\nA. x'}")
    items = [{"category": "MOT", "judge_choice": "A", "answer": "A"}, {"category": "MSVD", "judge_choice": "B", "answer": "A"},
             {"category": "TVQA", "judge_choice": None, "answer": "A"}]  # fmt: skip
    scores = video.videobench_scores(items)
    assert scores["group/Exclusive_understanding"] == pytest.approx(0.5 * 1 / 1.5)
    assert "group/Prior_Knowledge" not in scores and scores["unparsed_judge_answers"] == 1
    assert scores["final_score"] == pytest.approx(1 / 3) and scores["all_datasets_present"] == 0.0


# -- ScreenSpot -----------------------------------------------------------------------------------
def test_screenspot_click_inside_the_box_in_image_pixels():
    # 200 x 100 screenshot, element box x 100..150, y 20..60. Corner padding: square side 200.
    bbox = [100, 20, 50, 40]
    assert screenspot.click_hit("[0.60, 0.20]", bbox, 200, 100, "corner") == 1.0  # (120, 40)
    assert (
        screenspot.click_hit("[0.50, 0.10, 0.80, 0.20]", bbox, 200, 100, "corner") == 1.0
    )  # centre (130, 30)
    assert screenspot.click_hit("[0.75, 0.30]", bbox, 200, 100, "corner") == 1.0  # (150, 60): edges included
    assert (
        screenspot.click_hit("[0.60, 0.20]", bbox, 200, 100, "center") == 0.0
    )  # (120, -10) with centred padding
    assert screenspot.click_hit("[0.60, 0.45]", bbox, 200, 100, "center") == 1.0  # (120, 40)
    assert screenspot.click_hit("top right corner", bbox, 200, 100, "corner") == 0.0
    items = [
        {"hit": 1.0, "platform": "web", "data_type": "icon"},
        {"hit": 0.0, "platform": "web", "data_type": "text"},
    ]
    assert screenspot.screenspot_scores(items) == {"accuracy": 0.5, "platform/web": 0.5, "platform/web/icon": 1.0,
                                                   "platform/web/text": 0.0}  # fmt: skip


# -- CMMMU ----------------------------------------------------------------------------------------
def test_cmmmu_multiple_choice_true_false_and_fill_in():
    rng = random.Random(0)
    options = {"A": "红色", "B": "蓝色", "C": "绿色", "D": "黄色"}
    assert cmmmu.choice_prediction("正确答案是(B)。", list(options), options, rng) == "B"
    assert cmmmu.choice_prediction("A和C都对", list(options), options, rng) == "AC"  # most frequent letters
    assert cmmmu.choice_prediction("应该是蓝色", list(options), options, rng) == "B"  # option text
    assert cmmmu.true_false_prediction("这个说法是错误的。", rng) == "错"
    assert cmmmu.true_false_prediction("答案：正确", rng) == "对"
    assert cmmmu.true_false_prediction("所以不对", rng) == "对"  # "不对" holds "对": positive first, as there
    assert cmmmu.fill_correct("所以结果为3.50", "3.5") and not cmmmu.fill_correct("所以结果为4", "3.5")
    assert cmmmu.fill_correct("因此答案是北京市", "北京")
    item = {"prediction": "(A)", "answer": "A", "question_type": "选择", "options": options, "id": "1"}
    assert cmmmu.cmmmu_item(item, seed=42) == {"parsed": "A", "score": 1.0}
    scores = cmmmu.cmmmu_scores([{"score": 1.0, "category": "物理"}, {"score": 0.0, "category": "音乐"}])
    assert (
        scores["discipline/科学"] == 1.0
        and scores["discipline/艺术与设计"] == 0.0
        and scores["accuracy"] == 0.5
    )


# -- Q-Bench, OCR-VQA -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("prediction", "correct"),
    [
        ("B", True),
        ("B. Blurry", True),
        ("Blurry", True),
        ("The answer is\nB", True),
        ("b", False),
        ("A", False),
    ],
)
def test_qbench_correctness(prediction, correct):
    assert qbench_correct(prediction, "B", "Blurry") is correct


def test_ocrvqa_exact_match_ignores_case_and_spaces():
    assert exact_match_any(" Harry Potter ", ["harry potter"]) == 1.0
    assert exact_match_any("Harry", ["harry potter"]) == 0.0
