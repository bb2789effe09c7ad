import pytest

from sphinx_x.eval import readers
from sphinx_x.eval.benchmarks import BENCHMARKS

from . import fixtures


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return fixtures.build_all(tmp_path_factory.mktemp("benchmarks"))


def items(data_root, name):
    return list(BENCHMARKS[name].read(data_root / name))


def test_vqav2(data_root):
    first, second = items(data_root, "vqav2")
    assert first.id == "420" and first.prompt.startswith("What color is the box?\nAnswer the question using")
    assert first.reference["answers"] == ["red"] * 10 and first.image.name == "COCO_val2014_000000000042.jpg"
    assert second.reference["question_id"] == 421


def test_textvqa_docvqa_chartqa(data_root):
    [textvqa] = items(data_root, "textvqa")
    assert textvqa.reference == {"answers": ["stop"] * 10} and textvqa.image.name == "abc123.jpg"
    [docvqa] = items(data_root, "docvqa")
    assert docvqa.reference["answers"] == ["1 May 2020"] and docvqa.image.name == "doc1.png"
    chart = items(data_root, "chartqa")
    assert [(c.id, c.reference["answer"], c.reference["category"]) for c in chart] == [
        ("augmented-0", "7", "augmented"), ("human-0", "42", "human")]  # fmt: skip


def test_pope_and_mme(data_root):
    pope = items(data_root, "pope")
    assert {(p.reference["split"], p.reference["answer"]) for p in pope} == {
        ("random", "yes"),
        ("random", "no"),
        ("adversarial", "yes"),
    }
    mme = items(data_root, "mme")
    assert len(mme) == 4 and {m.reference["subtask"] for m in mme} == {"existence", "artwork"}
    artwork = [m for m in mme if m.reference["subtask"] == "artwork"]
    assert artwork[0].image.name == "10002.jpg" and artwork[0].reference["answer"] == "Yes"
    assert artwork[0].reference["image"] == artwork[1].reference["image"]  # both questions share the image


def test_mmbench_asks_every_circular_shift(data_root):
    mmbench = items(data_root, "mmbench")
    assert len(mmbench) == 3 + 2  # a 3-option and a 2-option question
    shifted = [m for m in mmbench if m.reference["group"] == "0"]
    assert [m.reference["options"]["A"] for m in shifted] == ["red", "green", "blue"]
    assert [m.reference["answer"] for m in shifted] == ["B", "A", "C"]  # "green" follows its option
    assert isinstance(shifted[0].image, bytes)
    hinted = [m for m in mmbench if m.reference["group"] == "1"][0]
    assert hinted.prompt.startswith(
        "Look closely.\nHow many squares?\nA. one\nB. two\nAnswer with the option's letter"
    )


def test_scienceqa_keeps_the_image_subset_of_the_split(data_root):
    [problem] = items(data_root, "scienceqa")
    assert (
        problem.id == "11" and problem.reference["answer"] == "A" and "A. whale\nB. shark" in problem.prompt
    )


def test_mmmu_parquet(data_root):
    choice, open_question = items(data_root, "mmmu")
    assert (
        choice.reference["options"] == {"A": "Baroque", "B": "Cubism", "C": "Gothic"}
        and choice.reference["answer"] == "B"
    )
    assert "<image 1>" not in choice.prompt and choice.reference["category"] == "Art"
    assert open_question.reference["answer"] == ["3", "3.0"] and isinstance(open_question.image, bytes)


def test_refcoco_per_split(data_root):
    [val] = items(data_root, "refcoco-val")
    assert (
        val.prompt
        == "Please provide the bounding box coordinate of the region this sentence describes: the red box."
    )
    assert val.reference == {"box": [4, 2, 24, 12], "width": 48, "height": 32}
    [test_a] = list(BENCHMARKS["refcoco-testA"].read(data_root / "refcoco-val"))
    assert test_a.reference["box"] == [0, 0, 10, 10]


def test_video_uses_the_middle_of_evenly_sampled_frames(data_root):
    [question] = items(data_root, "video")
    # 10 frames, 8 sampled at round(i * 9 / 7): 0, 1, 3, 4, 5, 6, 8, 9 -> the middle (index 4) is frame 5
    assert question.image.name == "0005.jpg" and question.reference["category"] == "action"


def test_missing_files_are_named(tmp_path):
    with pytest.raises(readers.BenchmarkDataError, match="no questions JSON"):
        list(readers.read_vqav2(tmp_path))
    fixtures.textvqa(tmp_path / "t")
    (tmp_path / "t" / "train_images" / "abc123.jpg").unlink()
    # A missing image is not the reader's error: the item names where it should be, the runner
    # reports it as unanswered and scores the rest (tests/reliability/test_bad_records.py).
    [item] = readers.read_textvqa(tmp_path / "t")
    assert item.image.name == "abc123.jpg" and not item.image.exists()
