import pytest

from sphinx_x.eval import readers_open
from sphinx_x.eval.benchmarks import BENCHMARKS
from sphinx_x.eval.readers import SHORT_ANSWER, BenchmarkDataError

from . import fixtures


def items(tmp_path, name):
    fixtures.ISSUE22_BUILDERS[name](tmp_path / name)
    return list(BENCHMARKS[name].read(tmp_path / name))


def test_vizwiz_asks_to_say_unanswerable(tmp_path):
    [question] = items(tmp_path, "vizwiz")
    assert question.prompt == ("What is this?\nWhen the provided information is insufficient, respond with 'Unanswerable'."
                               + SHORT_ANSWER)  # fmt: skip
    assert (
        question.reference == {"answers": ["soup"] * 9 + ["unanswerable"]}
        and question.id == "VizWiz_val_00000000"
    )


def test_ocrvqa_reads_the_test_split_one_item_per_question(tmp_path):
    first, second = items(tmp_path, "ocrvqa")
    assert (first.id, first.reference, first.image.name) == (
        "000001-0",
        {"answers": ["Ann Lee"]},
        "000001.jpg",
    )
    assert second.prompt == "Is this a comic?" + SHORT_ANSWER


def test_mathvista_prompts_with_the_query(tmp_path):
    free, choice = items(tmp_path, "mathvista")
    assert (
        free.prompt.startswith("Hint: Please answer the question requiring an integer")
        and free.image.name == "1.jpg"
    )
    assert free.reference["answer_type"] == "integer" and free.reference["query"] == free.prompt
    assert (
        choice.reference["choices"] == ["left", "right"]
        and choice.reference["metadata"]["task"] == "math word problem"
    )


def test_mmvet_and_llava_bench(tmp_path):
    first, _ = items(tmp_path, "mmvet")
    assert first.prompt == "What is x in this equation?" and first.reference["capability"] == ["ocr", "math"]
    conv, detail = items(tmp_path, "llava-bench")
    assert conv.reference == {"question": "What is the name of this famous sight?", "gpt4_answer": "The Diamond Head crater.",
                              "caption": "An aerial view of Diamond Head.", "category": "conv"}  # fmt: skip
    assert detail.image.name == "001.jpg" and detail.id == "1"


def test_hallusion_asks_without_image_when_there_is_no_visual_input(tmp_path):
    original, edited, no_visual = items(tmp_path, "hallusionbench")
    assert (
        original.id == "VD_chart_0_0_0"
        and original.image.name == "0_0.png"
        and edited.image.name == "0_1.png"
    )
    assert edited.reference["gt_answer"] == "0" and edited.reference["figure_id"] == "1"
    assert no_visual.image is None and no_visual.reference["category"] == "VS"


def test_screenspot_reads_sizes_and_platforms(tmp_path):
    mobile, web = items(tmp_path, "screenspot")
    assert (
        mobile.prompt
        == 'In this UI screenshot, what is the position of the element corresponding to the command "open settings" (with point)?'
    )
    assert mobile.reference == {"bbox": [10, 4, 20, 10], "width": 32, "height": 48, "platform": "mobile",
                                "data_type": "icon", "data_source": "ios"}  # fmt: skip
    assert web.id == "web-0" and web.reference["platform"] == "web"


def test_refcoco_plus_and_g_read_their_own_split_files(tmp_path):
    fixtures.refcoco_family(tmp_path)
    [plus] = BENCHMARKS["refcoco+-val"].read(tmp_path / "refcoco+")
    [g] = BENCHMARKS["refcocog-val"].read(tmp_path / "refcocog")  # refs(umd).p, not refs(google).p
    assert plus.prompt.endswith("refs(unc).p box.") and g.prompt.endswith("refs(umd).p box.")
    assert g.reference == {"box": [4, 2, 24, 12], "width": 48, "height": 32}
    assert list(BENCHMARKS["refcocog-test"].read(tmp_path / "refcocog")) == []


def test_missing_files_are_named(tmp_path):
    with pytest.raises(BenchmarkDataError, match="no screenspot_mobile/desktop/web.json"):
        list(readers_open.read_screenspot(tmp_path))
    fixtures.mathvista(tmp_path / "m")
    (tmp_path / "m" / "query.json").unlink()
    with pytest.raises(BenchmarkDataError, match="no MathVista query.json"):
        list(readers_open.read_mathvista(tmp_path / "m"))
