import random

import pytest

from sphinx_x.eval.metrics.multiple_choice import (
    circular_scores,
    mmbench_choice,
    mmmu_choice,
    mmmu_open_correct,
    scienceqa_choice,
    seed_choice,
)  # fmt: skip
from sphinx_x.eval.metrics.rec import parse_first_box, rec_iou
from sphinx_x.eval.metrics.text_match import anls, relaxed_correct
from sphinx_x.eval.metrics.vqa import (
    evalai_process,
    exact_match,
    normalize_answer,
    textvqa_accuracy,
    vqa_accuracy,
)
from sphinx_x.eval.metrics.yes_no import mme_parse, mme_scores, pope_parse, pope_scores


# -- VQA (official) ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("prediction", "answers", "expected"),
    [
        ("yes", ["yes"] * 10, 1.0),
        ("Yes", ["yes"] * 10, 0.0),  # identical answers: raw, case-sensitive comparison
        ("\tyes\n", ["yes"] * 10, 1.0),  # \n, \t and spaces are always stripped
        ("two", ["2"] * 3 + ["3"] * 7, 0.9),  # number word -> digit; leave-one-out gives 2/3 and 1
        ("The dog", ["a dog"] * 2 + ["cat"] * 8, 0.6),  # articles dropped on both sides
        ("dont", ["don't"] * 5 + ["no"] * 5, 1.0),  # contraction table
        ("yes!", ["yes"] * 9 + ["yeah"], 1.0),  # punctuation without a space next to it -> space
        ("3.5.", ["3.5"] * 2 + ["4"] * 8, 0.6),  # a period before a digit stays, the last one goes
        ("1,000", ["1000"] * 2 + ["many"] * 8, 0.6),  # digit-comma-digit: punctuation deleted
        ("", ["yes"] * 5 + ["no"] * 5, 0.0),
        ("no", ["no"] + ["yes"] * 9, 0.3),  # 9 of the 10 leave-one-out sets still hold the one "no"
        ("yes", ["no", "yes", "yes", "yes", "yes", "yes", "yes", "yes", "yes", "yes"], 1.0),
    ],
)
def test_official_vqa_accuracy(prediction, answers, expected):
    assert vqa_accuracy(prediction, answers) == pytest.approx(expected)


def test_lmms_eval_variant_always_normalises():
    assert vqa_accuracy("Yes", ["yes"] * 10, always_normalize=True) == 1.0


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("Two dogs.", "2 dogs"),
        ("it's (maybe) red", "it's maybe red"),  # "(" next to a space -> deleted
        ("black/white", "black white"),
        ("ten o'clock", "10 o'clock"),
        ("An apple", "apple"),
        ("5 - 3", "5 3"),
    ],
)
def test_normalisation_steps(text, normalised):
    assert normalize_answer(text) == normalised


# -- TextVQA, GQA ----------------------------------------------------------------------------
def test_textvqa_always_normalises():
    assert textvqa_accuracy("Yes", ["yes"] * 10) == 1.0
    assert evalai_process("The Coca-Cola's") == evalai_process("coca cola's") == "coca cola 's"
    assert textvqa_accuracy("The Coca-Cola's", ["coca cola's"] * 3 + ["pepsi"] * 7) == pytest.approx(0.9)
    assert evalai_process("1,000?") == "1000"


def test_gqa_exact_match():
    assert exact_match("Yes.", "yes") == 1.0
    assert exact_match("The left one", "left one") == 1.0
    assert exact_match("left", "right") == 0.0


# -- ANLS, relaxed accuracy --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("prediction", "answers", "expected"),
    [
        ("Hello  World", ["hello world"], 1.0),
        ("hello wrld", ["hello world"], 1 - 1 / 11),
        ("ab", ["abcd"], 0.5),  # exactly 0.5 is kept
        ("a", ["abcd"], 0.0),  # 0.25 < 0.5 -> 0
        ("abxd", [" abcd "], 1 - 1 / 6),  # the denominator uses the raw (unstripped) lengths
        ("", [""], 1.0),
        ("abcd", ["zzzz", "abce"], 0.75),  # best over answers
    ],
)
def test_anls(prediction, answers, expected):
    assert anls(prediction, answers) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("prediction", "target", "expected"),
    [
        ("10%", "0.1", 1.0),
        ("105", "100", 1.0),  # 5% boundary included
        ("105.1", "100", 0.0),
        ("0.0", "0", 0.0),  # a zero target compares as a string
        ("0", "0", 1.0),
        ("Yes", "yes", 1.0),
        ("yes ", "yes", 0.0),  # the prediction is not stripped
        (" 12", "12", 1.0),  # but float() accepts surrounding spaces
        ("1e3", "1000", 1.0),
    ],
)
def test_chartqa_relaxed_accuracy(prediction, target, expected):
    assert relaxed_correct(prediction, target) == expected


# -- POPE, MME --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("Yes, there is a dog.", "yes"),
        ("There is no dog.", "no"),
        ("No.", "no"),
        ("", "yes"),  # an empty answer counts as yes
        ("Nope", "yes"),
        ("I do not think so", "no"),
        ("Yes. But no cat.", "yes"),  # only the first sentence counts
        ("NO", "yes"),  # only No / not / no
    ],
)
def test_pope_parser(text, parsed):
    assert pope_parse(text) == parsed


def test_pope_scores():
    items = [("Yes", "yes"), ("Yes", "yes"), ("Yes", "no"), ("No", "no"), ("No", "yes")]
    scores = pope_scores(items)
    # TP 2, FP 1, TN 1, FN 1
    assert scores["accuracy"] == pytest.approx(3 / 5)
    assert scores["precision"] == pytest.approx(2 / 3) and scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 / 3) and scores["yes_ratio"] == pytest.approx(3 / 5)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("Yes.", "yes"),
        ("y", "yes"),
        ("n", "no"),
        ("x", "other"),
        ("Yes, it is", "yes"),
        ("No way", "no"),
        ("There is", "other"),
    ],
)
def test_mme_parser(text, parsed):
    assert mme_parse(text) == parsed


def test_mme_scores_use_acc_plus_per_image():
    items = [
        {"prediction": "Yes", "answer": "Yes", "subtask": "existence", "image": "1.jpg"},
        {"prediction": "No", "answer": "No", "subtask": "existence", "image": "1.jpg"},
        {"prediction": "Yes", "answer": "Yes", "subtask": "existence", "image": "2.jpg"},
        {"prediction": "Yes", "answer": "No", "subtask": "existence", "image": "2.jpg"},
        {"prediction": "No", "answer": "Yes", "subtask": "code_reasoning", "image": "3.jpg"},
        {"prediction": "No", "answer": "No", "subtask": "code_reasoning", "image": "3.jpg"},
    ]
    scores = mme_scores(items)
    assert scores["existence"] == pytest.approx(75 + 50)
    assert scores["code_reasoning"] == pytest.approx(50 + 0)
    assert scores["perception"] == pytest.approx(125) and scores["cognition"] == pytest.approx(50)


# -- multiple choice --------------------------------------------------------------------------
OPTIONS = {"A": "cat", "B": "dog", "C": "bird"}


@pytest.mark.parametrize(
    ("answer", "choice"),
    [
        ("A", "A"), ("A.", "A"), ("(B)", "B"), ("**C**", "C"), ("Option B: dog", "B"), ("C. bird", "C"),
        ("the answer is B", "B"), ("a", None), ("A or B", None), ("", None),
        ("A cat is sitting", "A"),  # the article A reads as option A
        ("Sorry, I can't help with images of people yet.", "Z"),
        ("The dog", "B"),  # no letter: exactly one option text
        ("cat or dog", None),
    ],
)  # fmt: skip
def test_mmbench_option_extraction(answer, choice):
    assert mmbench_choice(answer, OPTIONS) == choice


def test_circular_eval_needs_every_shift_right():
    items = [
        {"prediction": "A", "answer": "A", "options": OPTIONS, "group": 1, "category": "color"},
        {"prediction": "B", "answer": "B", "options": OPTIONS, "group": 1, "category": "color"},
        {"prediction": "C", "answer": "C", "options": OPTIONS, "group": 1, "category": "color"},
        {"prediction": "A", "answer": "A", "options": OPTIONS, "group": 2, "category": "count"},
        {"prediction": "A", "answer": "B", "options": OPTIONS, "group": 2, "category": "count"},
    ]
    scores = circular_scores(items)
    assert scores["accuracy"] == 0.5 and scores["questions"] == 2
    assert scores["category/color"] == 1.0 and scores["category/count"] == 0.0


@pytest.mark.parametrize(
    ("prediction", "choice"),
    [("A", "A"), ("B. because", "B"), ("The answer is C.", "C"), ("I think D", None), ("b", None)],
)
def test_scienceqa_parser(prediction, choice):
    assert scienceqa_choice(prediction) == choice


def test_seed_first_letter():
    assert seed_choice(" B) dog") == "B" and seed_choice("C") == "C"


MMMU_OPTIONS = {"A": "red apple", "B": "green pear", "C": "plum", "D": "fig"}


@pytest.mark.parametrize(
    ("response", "choice"),
    [
        ("(B)", "B"),
        ("The answer is C.", "C"),
        ("(A) is wrong, (D) is right", "D"),  # several -> the last occurring
        ("A. red apple B. green pear", "A"),  # the reference's " X " lookup finds neither: first
        ("I believe that the correct one is the red apple here", "A"),  # option text, long answer
    ],
)
def test_mmmu_multiple_choice(response, choice):
    assert mmmu_choice(response, MMMU_OPTIONS, random.Random(0)) == choice


def test_mmmu_random_fallback_is_seeded():
    first = mmmu_choice("xyz", MMMU_OPTIONS, random.Random(42))
    assert mmmu_choice("xyz", MMMU_OPTIONS, random.Random(42)) == first


@pytest.mark.parametrize(
    ("response", "answer", "correct"),
    [
        ("The answer is 3.14159", "3.14", True),  # numbers rounded to 2 decimals
        ("The answer is 3.14159", "3.1416", True),
        ("Therefore, the capital is Paris.", "Paris", True),  # strings by containment
        ("It is 12", "13", False),
        ("x = 1,234", "1234", True),
    ],
)
def test_mmmu_open(response, answer, correct):
    assert mmmu_open_correct(response, answer) is correct


# -- REC ----------------------------------------------------------------------------------------
def test_rec_parsing():
    assert parse_first_box("<p>dog</p> [0.1, 0.3, 0.6, 0.55] and [0, 0, 1, 1]") == [0.1, 0.3, 0.6, 0.55]
    assert parse_first_box("0.1, 0.3, 0.6, 0.55] tail") == [0.1, 0.3, 0.6, 0.55]
    assert parse_first_box("[0.1, 0.3, 0.6]") == [0, 0, 0, 0]
    assert parse_first_box("[a, b, c, d]") == [0, 0, 0, 0]


def test_rec_iou_for_both_paddings():
    # 200x100 image: the release pads 50 rows on top, SPHINX-X pads at the bottom.
    assert rec_iou("[0.10, 0.30, 0.60, 0.55]", [20, 10, 120, 60], 200, 100, "center") == pytest.approx(1.0)
    assert rec_iou("[0.10, 0.05, 0.60, 0.30]", [20, 10, 120, 60], 200, 100, "corner") == pytest.approx(1.0)
    # 100x200 (tall): the release pads 50 columns on the left.
    assert rec_iou("[0.35, 0.05, 0.85, 0.30]", [20, 10, 120, 60], 100, 200, "center") == pytest.approx(1.0)
    assert rec_iou("[0, 0, 0.5, 1.0]", [0, 0, 100, 100], 100, 100, "corner") == pytest.approx(0.5)
    assert rec_iou("no box", [0, 0, 100, 100], 100, 100, "corner") == 0.0
