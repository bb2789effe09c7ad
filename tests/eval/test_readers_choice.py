import pytest

from sphinx_x.eval import readers_choice
from sphinx_x.eval.benchmarks import BENCHMARKS
from sphinx_x.eval.readers import OPTION_LETTER, BenchmarkDataError

from . import fixtures


def items(tmp_path, name):
    fixtures.ISSUE22_BUILDERS[name](tmp_path / name)
    return list(BENCHMARKS[name].read(tmp_path / name))


def test_seed_reads_the_image_dimensions_only(tmp_path):
    [question] = items(tmp_path, "seed")
    assert (
        question.id == "101669" and question.image.name == "1454426_2591111986.jpg"
    )  # data_id has no suffix
    assert (
        question.prompt
        == "How many towels are in the image?\nA. One\nB. Two\nC. Three\nD. Four" + OPTION_LETTER
    )
    assert question.reference == {"answer": "B", "category": "Instances Counting"}


def test_ai2d_keeps_the_test_ids(tmp_path):
    [question] = items(tmp_path, "ai2d")
    assert question.id == "4.png-0" and question.image.name == "4.png"
    assert question.prompt == "Which is a producer?\nA. fox\nB. grass\nC. owl" + OPTION_LETTER
    assert question.reference == {"answer": "B", "options": {"A": "fox", "B": "grass", "C": "owl"}, "group": "4.png-0",
                                  "raw_question": "Which is a producer?"}  # fmt: skip


def test_iconqa_reads_the_choose_txt_subset(tmp_path):
    [question] = items(tmp_path, "iconqa")
    assert question.id == "101" and question.image.name == "image.png"
    assert question.reference["answer"] == "B" and question.reference["options"] == {
        "A": "square",
        "B": "circle",
    }
    assert question.reference["category"] == "grade1"


def test_qbench_letters_the_candidates(tmp_path):
    [question] = items(tmp_path, "qbench")
    assert question.prompt == "How is the clarity of the image?\nA. High\nB. Medium\nC. Low" + OPTION_LETTER
    assert question.reference == {"answer": "C", "answer_text": "Low", "type": "how", "concern": "distortion"}


def test_mmvp_pairs_consecutive_questions(tmp_path):
    first, second = items(tmp_path, "mmvp")
    assert first.prompt == "Are the butterfly's wings closer to being open or closed? (a) Open (b) Closed"
    assert (first.reference, second.reference) == ({"answer": "(a)", "pair": 0}, {"answer": "(b)", "pair": 0})
    assert second.image.name == "2.jpg"


def test_cmmmu_prompts_per_question_type(tmp_path):
    choice, true_false, fill = items(tmp_path, "cmmmu")
    assert choice.prompt.startswith("请回答以下多项选择题")
    assert choice.prompt.endswith(
        "问题：<图片 1>图中是什么颜色？\n选项：\n(A) 红色\n(B) 蓝色\n(C) 绿色\n(D) 黄色\n\n正确答案：\n"
    )
    assert choice.reference == {"answer": "B", "question_type": "选择", "category": "艺术",
                                "options": {"A": "红色", "B": "蓝色", "C": "绿色", "D": "黄色"}}  # fmt: skip
    assert true_false.prompt.startswith("请回答以下判断题") and true_false.prompt.endswith(
        "问题：这是正方形。\n正确答案：\n"
    )
    assert fill.prompt.startswith("请回答以下填空题") and fill.reference["options"] == {}
    assert isinstance(choice.image, bytes)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(BenchmarkDataError, match="no questions/\\*.json"):
        list(readers_choice.read_ai2d(tmp_path))
    fixtures.qbench(tmp_path / "q")
    (tmp_path / "q" / "images" / "00079.jpg").unlink()
    # A missing image is not the reader's error: the runner reports the item as unanswered.
    [item, *_] = readers_choice.read_qbench(tmp_path / "q")
    assert item.image.name == "00079.jpg" and not item.image.exists()
