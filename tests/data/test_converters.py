"""Every converter on a tiny fixture written with the dataset's published field names; the records
are checked field by field. Boxes: pixel boxes of a 200 x 100 image in the corner-padded square
divide by the long side (200)."""

from __future__ import annotations

import csv
import hashlib
import json
import pickle
from pathlib import Path

import pytest
from PIL import Image

from sphinx_x.cli import main
from sphinx_x.data import prompts
from sphinx_x.data.converters import CONVERTERS, convert
from sphinx_x.data.converters.common import ConvertOptions

Q = prompts.SHORT_ANSWER


def run(kind, sources, tmp_path, **options):
    out = tmp_path / f"{kind}.jsonl"
    summary = convert(kind, [Path(s) for s in sources], out, ConvertOptions(**options))
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary.records == len(records)
    return records, summary.bad


def write_json(path: Path, content) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))
    return path


def one_of(templates, **fields) -> set[str]:
    return {template.format(**fields) for template in templates}


def questions(record):
    return [turn["value"] for turn in record["conversations"][0::2]]


def answers(record):
    return [turn["value"] for turn in record["conversations"][1::2]]


# -- language -----------------------------------------------------------------------------------


@pytest.mark.converts("sharegpt")
def test_sharegpt_normalises_roles_drops_system_and_trailing_questions(tmp_path):
    source = write_json(tmp_path / "sharegpt.json", [
        {"id": "a", "conversations": [{"from": "system", "value": "be nice"}, {"from": "human", "value": "Hi"},
                                      {"from": "gpt", "value": "Hello"}, {"from": "human", "value": "more?"}]},
        {"id": "b", "conversations": [{"from": "gpt", "value": "I start"}, {"from": "user", "value": "Q"},
                                      {"from": "user", "value": "Q2"}, {"from": "chatgpt", "value": "A"}]},
        {"id": "c", "conversations": [{"from": "human", "value": "unanswered"}]},
    ])  # fmt: skip
    records, bad = run("sharegpt", [source], tmp_path)
    assert records == [
        {"id": "a", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}], "task": "dialog"},
        {"id": "b", "conversations": [{"from": "human", "value": "Q\nQ2"}, {"from": "gpt", "value": "A"}], "task": "dialog"},
    ]  # fmt: skip
    assert (
        list(bad.reasons) == [f"{source}:[2]"]
        and "no question followed by an answer" in bad.reasons[f"{source}:[2]"]
    )


@pytest.mark.converts("ultrachat")
def test_ultrachat_both_releases_and_a_malformed_line(tmp_path):
    source = tmp_path / "ultrachat.jsonl"
    source.write_text(
        json.dumps({"id": "7", "data": ["q1", "a1", "q2", "a2"]}) + "\n{not json\n"
        + json.dumps({"prompt_id": "p", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}) + "\n"
    )  # fmt: skip
    records, bad = run("ultrachat", [source], tmp_path)
    assert [r["id"] for r in records] == ["7", "p"]
    assert questions(records[0]) == ["q1", "q2"] and answers(records[0]) == ["a1", "a2"]
    assert questions(records[1]) == ["hi"] and answers(records[1]) == ["yo"]
    assert bad.reasons[f"{source}:2"].startswith("malformed JSON line")


@pytest.mark.converts("flan", "mathinstruct", "metamathqa", "openorca", "wizardcoder")
@pytest.mark.parametrize(
    "kind, entry, question, answer",
    [
        ("openorca", {"id": "o1", "system_prompt": "You are helpful.", "question": "Why?", "response": "Because."},
         "You are helpful.\n\nWhy?", "Because."),
        ("flan", {"inputs": "Translate: chat", "targets": "cat"}, "Translate: chat", "cat"),
        ("metamathqa", {"query": "1+1?", "response": "2", "type": "GSM_Rephrased"}, "1+1?", "2"),
        ("mathinstruct", {"source": "data/CoT/gsm", "instruction": "2*3?", "output": "6"}, "2*3?", "6"),
        ("wizardcoder", {"instruction": "Sort it", "input": "[3, 1]", "output": "sorted(x)"}, "Sort it\n\n[3, 1]", "sorted(x)"),
    ],
)  # fmt: skip
def test_single_turn_language_formats(tmp_path, kind, entry, question, answer):
    source = write_json(tmp_path / f"{kind}.json", [entry, {"id": "empty"}])
    records, bad = run(kind, [source], tmp_path)
    assert len(records) == 1 and bad.total == 1
    assert records[0]["conversations"] == [
        {"from": "human", "value": question},
        {"from": "gpt", "value": answer},
    ]


@pytest.mark.converts("metamathqa")
def test_parquet_sources_stream(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"query": ["a?", "b?"], "response": ["A", "B"]}), tmp_path / "mm.parquet")
    records, _ = run("metamathqa", [tmp_path / "mm.parquet"], tmp_path)
    assert [answers(r) for r in records] == [["A"], ["B"]]


# -- vision -------------------------------------------------------------------------------------


def coco_file(tmp_path, annotations, categories, images=None, name="instances.json"):
    images = images or [{"id": 1, "file_name": "000001.jpg", "width": 200, "height": 100}]
    return write_json(
        tmp_path / name, {"images": images, "annotations": annotations, "categories": categories}
    )


@pytest.mark.converts("coco-detection")
def test_coco_detection_groups_boxes_by_category_and_skips_crowds(tmp_path):
    source = coco_file(tmp_path, [
        {"id": 10, "image_id": 1, "bbox": [20, 10, 40, 20], "category_id": 3, "iscrowd": 0},
        {"id": 11, "image_id": 2, "bbox": [0, 0, 10, 10], "category_id": 3, "iscrowd": 0},
        {"id": 12, "image_id": 1, "bbox": [100, 50, 100, 50], "category_id": 5, "iscrowd": 0},
        {"id": 13, "image_id": 1, "bbox": [0, 0, 200, 100], "category_id": 5, "iscrowd": 1},
        {"id": 14, "image_id": 1, "bbox": [0, 0, 50, 50], "category_id": 3, "iscrowd": 0},
    ], [{"id": 3, "name": "dog"}, {"id": 5, "name": "traffic_light"}],
        images=[{"id": 1, "file_name": "000001.jpg", "width": 200, "height": 100},
                {"id": 2, "coco_url": "http://images.cocodataset.org/val2017/000002.jpg", "width": 100, "height": 100}],
    )  # fmt: skip
    records, bad = run("coco-detection", [source], tmp_path)
    first, second = records
    assert first["id"] == "det-1" and first["image"] == "000001.jpg" and first["task"] == "detection"
    assert first["conversations"][0]["value"].startswith("<image>\n")
    assert questions(first)[0].removeprefix("<image>\n") in one_of(prompts.DETECT, category="dog")
    assert questions(first)[1] in one_of(prompts.DETECT, category="traffic light")
    assert answers(first) == [
        "<p>dog</p> [0.10, 0.05, 0.30, 0.15; 0.00, 0.00, 0.25, 0.25]",
        "<p>traffic light</p> [0.50, 0.25, 1.00, 0.50]",
    ]
    assert second["image"] == "000002.jpg" and answers(second) == ["<p>dog</p> [0.00, 0.00, 0.10, 0.10]"]
    assert bad.total == 0


@pytest.mark.converts("coco-detection")
def test_center_padding_shifts_boxes(tmp_path):
    source = coco_file(
        tmp_path,
        [{"id": 1, "image_id": 1, "bbox": [0, 0, 200, 100], "category_id": 1}],
        [{"id": 1, "name": "sky"}],
    )
    records, _ = run("coco-detection", [source], tmp_path, padding="center")
    assert answers(records[0]) == ["<p>sky</p> [0.00, 0.25, 1.00, 0.75]"]


@pytest.mark.converts("coco-keypoints")
def test_coco_keypoints_names_visible_points(tmp_path):
    names = ["nose", "left_eye"]
    source = coco_file(tmp_path, [
        {"id": 1, "image_id": 1, "bbox": [20, 0, 80, 100], "category_id": 1, "num_keypoints": 1, "keypoints": [40, 20, 2, 0, 0, 0]},
        {"id": 2, "image_id": 1, "bbox": [0, 0, 10, 10], "category_id": 1, "num_keypoints": 0, "keypoints": [0] * 6},
    ], [{"id": 1, "name": "person", "keypoints": names}])  # fmt: skip
    (record,), _ = run("coco-keypoints", [source], tmp_path)
    assert questions(record)[0].removeprefix("<image>\n") in one_of(
        prompts.KEYPOINTS, box="[0.10, 0.00, 0.50, 0.50]"
    )
    assert answers(record) == ["<p>nose</p> [0.20, 0.10]"]


@pytest.mark.converts("coco-layout")
def test_coco_layout_in_reading_order(tmp_path):
    source = coco_file(tmp_path, [
        {"id": 1, "image_id": 1, "bbox": [0, 50, 200, 50], "category_id": 1},
        {"id": 2, "image_id": 1, "bbox": [0, 0, 200, 20], "category_id": 2},
    ], [{"id": 1, "name": "Text"}, {"id": 2, "name": "Title"}])  # fmt: skip
    (record,), _ = run("coco-layout", [source], tmp_path)
    assert answers(record) == ["<p>title</p> [0.00, 0.00, 1.00, 0.10] <p>text</p> [0.00, 0.25, 1.00, 0.50]"]
    assert record["task"] == "layout"


@pytest.mark.converts("openimages")
def test_openimages_reads_normalised_csv_and_image_sizes(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (200, 100)).save(images / "abc.jpg")
    (tmp_path / "oidv7-class-descriptions-boxable.csv").write_text("LabelName,DisplayName\n/m/01,Cat\n")
    with open(tmp_path / "oidv6-train-annotations-bbox.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ImageID", "Source", "LabelName", "Confidence", "XMin", "XMax", "YMin", "YMax", "IsOccluded",
                         "IsTruncated", "IsGroupOf", "IsDepiction", "IsInside"])  # fmt: skip
        writer.writerow(["abc", "xclick", "/m/01", 1, 0.1, 0.5, 0.0, 1.0, 0, 0, 0, 0, 0])
        writer.writerow(["missing", "xclick", "/m/01", 1, 0.1, 0.5, 0.0, 1.0, 0, 0, 0, 0, 0])
    sources = [
        tmp_path / "oidv6-train-annotations-bbox.csv",
        tmp_path / "oidv7-class-descriptions-boxable.csv",
    ]
    records, bad = run("openimages", sources, tmp_path, image_root=images)
    assert [r["image"] for r in records] == ["abc.jpg"]
    assert answers(records[0]) == ["<p>Cat</p> [0.10, 0.00, 0.50, 0.50]"]
    assert bad.total == 1 and "missing.jpg" in next(iter(bad.reasons.values()))


@pytest.mark.converts("imagenet")
def test_imagenet_class_folders_with_synset_names(tmp_path):
    train = tmp_path / "train"
    for wnid in ("n01440764", "n01443537"):
        (train / wnid).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(train / wnid / f"{wnid}_1.JPEG")
    (tmp_path / "LOC_synset_mapping.txt").write_text(
        "n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\n"
    )
    records, _ = run("imagenet", [train, tmp_path / "LOC_synset_mapping.txt"], tmp_path)
    assert [(r["image"], answers(r)) for r in records] == [
        ("n01440764/n01440764_1.JPEG", ["This is a tench"]),
        ("n01443537/n01443537_1.JPEG", ["This is a goldfish"]),
    ]
    assert questions(records[0])[0].removeprefix("<image>\n") in set(prompts.CLASSIFY)


@pytest.mark.converts("refcoco")
def test_refcoco_keeps_the_split_and_asks_both_ways(tmp_path):
    coco_file(
        tmp_path,
        [{"id": 5, "image_id": 1, "bbox": [20, 10, 40, 20], "category_id": 1}],
        [{"id": 1, "name": "man"}],
    )
    refs = [
        {"ref_id": 0, "ann_id": 5, "image_id": 1, "split": "train", "sentences": [{"sent": "man left"}, {"sent": "the guy"}]},
        {"ref_id": 1, "ann_id": 5, "image_id": 1, "split": "val", "sentences": [{"sent": "val only"}]},
    ]  # fmt: skip
    with open(tmp_path / "refs(unc).p", "wb") as handle:
        pickle.dump(refs, handle)
    (record,), _ = run("refcoco", [tmp_path], tmp_path)
    assert record["id"] == "ref-0" and record["image"] == "000001.jpg"
    assert questions(record)[0].removeprefix("<image>\n") in one_of(prompts.REC, phrase="man left")
    assert questions(record)[1] in one_of(prompts.REGION_CAPTION, box="[0.10, 0.05, 0.30, 0.15]")
    assert answers(record) == ["[0.10, 0.05, 0.30, 0.15]", "the guy"]


@pytest.mark.converts("visual-genome")
def test_visual_genome_regions(tmp_path):
    write_json(tmp_path / "image_data.json", [{"image_id": 9, "width": 200, "height": 100, "url": "x/9.jpg"}])
    write_json(tmp_path / "region_descriptions.json", [
        {"id": 9, "regions": [{"region_id": 1, "image_id": 9, "phrase": "a red kite", "x": 0, "y": 0, "width": 20, "height": 20},
                              {"region_id": 2, "image_id": 9, "phrase": "grass", "x": 0, "y": 50, "width": 200, "height": 50}]},
        {"id": 404, "regions": []},
    ])  # fmt: skip
    records, bad = run("visual-genome", [tmp_path], tmp_path)
    assert records[0]["image"] == "9.jpg" and answers(records[0]) == ["[0.00, 0.00, 0.10, 0.10]", "grass"]
    assert bad.total == 1


@pytest.mark.converts("flickr30k")
def test_flickr30k_entities_grounded_captions(tmp_path):
    (tmp_path / "Sentences").mkdir()
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Sentences" / "42.txt").write_text(
        "[/EN#1/people A man] holds [/EN#2/other two cups] in [/EN#3/scene the park] .\n"
    )
    (tmp_path / "Annotations" / "42.xml").write_text(
        "<annotation><size><width>200</width><height>100</height><depth>3</depth></size>"
        "<object><name>1</name><bndbox><xmin>0</xmin><ymin>0</ymin><xmax>100</xmax><ymax>100</ymax></bndbox></object>"
        "<object><name>2</name><bndbox><xmin>100</xmin><ymin>0</ymin><xmax>120</xmax><ymax>20</ymax></bndbox></object>"
        "<object><name>2</name><bndbox><xmin>140</xmin><ymin>0</ymin><xmax>160</xmax><ymax>20</ymax></bndbox></object>"
        "<object><name>3</name><scene>1</scene></object></annotation>"
    )
    (record,), _ = run("flickr30k", [tmp_path], tmp_path)
    assert record["image"] == "42.jpg"
    assert answers(record) == [
        "<p>A man</p> [0.00, 0.00, 0.50, 0.50] holds <p>two cups</p> [0.50, 0.00, 0.60, 0.10; 0.70, 0.00, 0.80, 0.10] in the park ."
    ]


# -- vision-language ----------------------------------------------------------------------------


@pytest.mark.converts("vqav2")
def test_vqav2_joins_questions_and_answers_per_image(tmp_path):
    write_json(tmp_path / "v2_OpenEnded_mscoco_train2014_questions.json", {"data_subtype": "train2014", "questions": [
        {"question_id": 1, "image_id": 7, "question": "What color?"},
        {"question_id": 2, "image_id": 8, "question": "How many?"},
        {"question_id": 3, "image_id": 7, "question": "Is it?"},
        {"question_id": 4, "image_id": 8, "question": "Unannotated?"},
    ]})  # fmt: skip
    write_json(tmp_path / "v2_mscoco_train2014_annotations.json", {"annotations": [
        {"question_id": 1, "multiple_choice_answer": "red", "answers": [{"answer": "red"}]},
        {"question_id": 2, "answers": [{"answer": "2"}, {"answer": "3"}, {"answer": "2"}]},  # OK-VQA: votes only
        {"question_id": 3, "multiple_choice_answer": "yes", "answers": []},
    ]})  # fmt: skip
    records, bad = run("vqav2", [tmp_path], tmp_path)
    assert [(r["image"], questions(r), answers(r)) for r in records] == [
        ("COCO_train2014_000000000007.jpg", ["<image>\nWhat color?" + Q, "Is it?" + Q], ["red", "yes"]),
        ("COCO_train2014_000000000008.jpg", ["<image>\nHow many?" + Q], ["2"]),
    ]
    assert bad.total == 1


@pytest.mark.converts("gqa")
def test_max_turns_splits_an_image_into_records(tmp_path):
    write_json(tmp_path / "train_balanced_questions.json", {
        str(i): {"imageId": "n1", "question": f"q{i}?", "answer": f"a{i}", "fullAnswer": "..."} for i in range(5)
    })  # fmt: skip
    records, _ = run("gqa", [tmp_path / "train_balanced_questions.json"], tmp_path, max_turns=2)
    assert [(r["id"], r["image"], answers(r)) for r in records] == [
        ("vqa-n1", "n1.jpg", ["a0", "a1"]), ("vqa-n1-1", "n1.jpg", ["a2", "a3"]), ("vqa-n1-2", "n1.jpg", ["a4"]),
    ]  # fmt: skip


@pytest.mark.converts("chartqa", "docvqa", "infographicsvqa", "textvqa", "vizwiz")
@pytest.mark.parametrize(
    "kind, content, image, question, answer",
    [
        ("textvqa", {"data": [{"question_id": 1, "image_id": "0054c91397f2fe05", "question": "What brand?",
                               "answers": ["nokia", "nokia", "toshiba"]}]}, "0054c91397f2fe05.jpg", "What brand?", "nokia"),
        ("vizwiz", [{"image": "VizWiz_train_00000000.jpg", "question": "What is this?", "answerable": 1,
                     "answers": [{"answer": "soup", "answer_confidence": "yes"}, {"answer": "soup", "answer_confidence": "maybe"}]}],
         "VizWiz_train_00000000.jpg", "What is this?", "soup"),
        ("docvqa", {"dataset_name": "docvqa", "data": [{"questionId": 3, "question": "What is the date?",
                                                        "image": "documents/xnbl0037_1.png", "answers": ["1/8/93"]}]},
         "documents/xnbl0037_1.png", "What is the date?", "1/8/93"),
        ("infographicsvqa", {"data": [{"questionId": 9, "question": "Which year?", "image_local_name": "10002.jpeg",
                                       "answers": ["2019", "2019."]}]}, "10002.jpeg", "Which year?", "2019"),
        ("chartqa", [{"imgname": "41699051005347.png", "query": "What is the peak?", "label": 44}],
         "41699051005347.png", "What is the peak?", "44"),
    ],
)  # fmt: skip
def test_vqa_formats(tmp_path, kind, content, image, question, answer):
    source = write_json(tmp_path / "train.json", content)
    (record,), bad = run(kind, [source], tmp_path)
    assert (record["image"], questions(record), answers(record)) == (
        image,
        ["<image>\n" + question + Q],
        [answer],
    )
    assert bad.total == 0


@pytest.mark.converts("ocrvqa")
def test_ocrvqa_keeps_the_training_split(tmp_path):
    write_json(tmp_path / "dataset.json", {
        "1": {"imageURL": "http://x/51.jpg", "questions": ["Who wrote this book?", "Is this a comic?"],
              "answers": ["Ann", "No"], "title": "t", "split": 1},
        "2": {"imageURL": "http://x/2.gif", "questions": ["q"], "answers": ["a"], "split": 3},
    })  # fmt: skip
    (record,), _ = run("ocrvqa", [tmp_path / "dataset.json"], tmp_path)
    assert (record["image"], answers(record)) == ("1.jpg", ["Ann", "No"])


@pytest.mark.converts("ai2d", "scienceqa")
def test_ai2d_and_scienceqa_multiple_choice(tmp_path):
    write_json(tmp_path / "ai2d" / "questions" / "4.png.json", {"imageName": "4.png", "questions": {
        "Which is a producer?": {"abcLabel": False, "answerTexts": ["fox", "grass"], "correctAnswer": 1, "questionId": "4.png-0"},
    }})  # fmt: skip
    (record,), _ = run("ai2d", [tmp_path / "ai2d"], tmp_path)
    assert record["image"] == "4.png"
    assert questions(record) == ["<image>\nWhich is a producer?\nA. fox\nB. grass" + prompts.OPTION_LETTER]
    assert answers(record) == ["B"]

    write_json(tmp_path / "problems.json", {
        "5": {"question": "Which is hot?", "choices": ["ice", "sun"], "answer": 1, "hint": "Look up.", "image": "image.png", "split": "train"},
        "6": {"question": "2+2?", "choices": ["4", "5"], "answer": 0, "hint": "", "image": None, "split": "train"},
        "7": {"question": "test", "choices": ["a"], "answer": 0, "hint": "", "image": None, "split": "test"},
    })  # fmt: skip
    with_image, text_only = run("scienceqa", [tmp_path / "problems.json"], tmp_path)[0]
    assert with_image["image"] == "train/5/image.png"
    assert questions(with_image) == [
        "<image>\nContext: Look up.\nWhich is hot?\nA. ice\nB. sun" + prompts.OPTION_LETTER
    ]
    assert answers(with_image) == ["B"] and "image" not in text_only and answers(text_only) == ["A"]


@pytest.mark.converts("tabfact", "wtq")
def test_tables_are_rendered_once_and_asked_about(tmp_path):
    (tmp_path / "all_csv").mkdir()
    (tmp_path / "all_csv" / "1-1.html.csv").write_text("team#points\nreds#3\nblues#5\n")
    write_json(
        tmp_path / "r1_training_all.json",
        {"1-1.html.csv": [["the blues have 5 points", "the reds won"], [1, 0], "league"]},
    )
    out_images = tmp_path / "rendered"
    (record,), _ = run(
        "tabfact", [tmp_path / "r1_training_all.json", tmp_path], tmp_path, image_out=out_images
    )
    assert answers(record) == ["True", "False"]
    assert questions(record)[1] in one_of(prompts.TABLE_FACT, statement="the reds won")
    assert Image.open(out_images / record["image"]).width > 50

    (tmp_path / "wtq" / "data").mkdir(parents=True)
    (tmp_path / "wtq" / "csv" / "204-csv").mkdir(parents=True)
    (tmp_path / "wtq" / "csv" / "204-csv" / "590.csv").write_text('"Year","City"\n"2004","Athens"\n')
    (tmp_path / "wtq" / "data" / "training.tsv").write_text(
        "id\tutterance\tcontext\ttargetValue\nnt-0\twhich city in 2004?\tcsv/204-csv/590.csv\tAthens|Greece\n"
    )
    (record,), _ = run("wtq", [tmp_path / "wtq" / "data" / "training.tsv"], tmp_path, image_out=out_images)
    assert questions(record) == ["<image>\nwhich city in 2004?" + Q] and answers(record) == ["Athens, Greece"]
    assert (out_images / record["image"]).is_file()


@pytest.mark.converts("coco-captions", "llava")
def test_coco_captions_and_llava(tmp_path):
    source = write_json(tmp_path / "captions_train2017.json", {
        "images": [{"id": 1, "file_name": "000001.jpg"}],
        "annotations": [{"id": 10, "image_id": 1, "caption": "A dog runs. "}, {"id": 11, "image_id": 99, "caption": "lost"}],
    })  # fmt: skip
    records, bad = run("coco-captions", [source], tmp_path)
    assert [(r["image"], answers(r)) for r in records] == [("000001.jpg", ["A dog runs."])]
    assert questions(records[0])[0].removeprefix("<image>\n") in set(prompts.CAPTION) and bad.total == 1

    source = write_json(tmp_path / "llava.json", [
        {"id": "1", "image": "coco/train2017/1.jpg", "conversations": [{"from": "human", "value": "What is it?\n<image>"}, {"from": "gpt", "value": "A dog."}]},
        {"id": "2", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]},
    ])  # fmt: skip
    with_image, text_only = run("llava", [source], tmp_path)[0]
    assert (
        with_image["conversations"][0]["value"] == "<image>\nWhat is it?"
        and with_image["image"] == "coco/train2017/1.jpg"
    )
    assert "image" not in text_only and text_only["conversations"][0]["value"] == "Hi"


@pytest.mark.converts("docbank")
def test_docbank_reading_spotting_and_layout(tmp_path):
    Image.new("RGB", (200, 100), "white").save(tmp_path / "page_ori.jpg")
    rows = [
        ("Title", 0, 0, 500, 100, "title"),
        ("Hello", 0, 500, 250, 600, "paragraph"),
        ("world", 300, 500, 500, 600, "paragraph"),
    ]
    (tmp_path / "page.txt").write_text(
        "".join(f"{t}\t{a}\t{b}\t{c}\t{d}\t0\t0\t0\tArial\t{label}\n" for t, a, b, c, d, label in rows)
    )
    (record,), _ = run("docbank", [tmp_path / "page.txt"], tmp_path)
    assert record["image"] == "page_ori.jpg"
    assert answers(record) == [
        "Title Hello world",
        "<p>Title</p> [0.00, 0.00, 0.50, 0.05] <p>Hello</p> [0.00, 0.25, 0.25, 0.30] <p>world</p> [0.30, 0.25, 0.50, 0.30]",
        "<p>title</p> [0.00, 0.00, 0.50, 0.05] <p>paragraph</p> [0.00, 0.25, 0.50, 0.30]",
    ]


# -- the rest of Table 1 ----------------------------------------------------------------------------


@pytest.mark.converts("unipose")
def test_unipose_names_the_category_and_its_own_keypoints(tmp_path):
    source = coco_file(tmp_path, [
        {"id": 1, "image_id": 1, "bbox": [20, 0, 80, 100], "category_id": 7, "num_keypoints": 2,
         "keypoints": [40, 20, 2, 60, 40, 1, 0, 0, 0]},
    ], [{"id": 7, "name": "horse", "keypoints": ["left_eye", "nose", "tail"], "skeleton": []}])  # fmt: skip
    (record,), _ = run("unipose", [source], tmp_path)
    assert record["id"] == "unipose-1" and record["task"] == "pose"
    assert questions(record)[0].removeprefix("<image>\n") in one_of(
        prompts.KEYPOINTS_OF, category="horse", box="[0.10, 0.00, 0.50, 0.50]"
    )
    assert answers(record) == [
        "<p>left eye</p> [0.20, 0.10] <p>nose</p> [0.30, 0.20]"
    ]  # v = 1 counts: labelled


@pytest.mark.converts("m6doc")
def test_m6doc_is_coco_format_layout(tmp_path):
    source = coco_file(tmp_path, [{"id": 1, "image_id": 1, "bbox": [0, 0, 200, 20], "category_id": 3}],
                       [{"id": 3, "name": "headline"}], name="m6doc_train.json")  # fmt: skip
    (record,), _ = run("m6doc", [source], tmp_path)
    assert answers(record) == ["<p>headline</p> [0.00, 0.00, 1.00, 0.10]"] and record["task"] == "layout"


@pytest.mark.converts("clevr", "dvqa", "visual-genome-qa")
def test_clevr_dvqa_and_visual_genome_qa(tmp_path):
    write_json(tmp_path / "CLEVR_train_questions.json", {"info": {"split": "train"}, "questions": [
        {"image_index": 0, "image_filename": "CLEVR_train_000000.png", "question": "Are there more cubes than spheres?",
         "answer": "yes", "question_family_index": 1, "split": "train", "program": []},
        {"image_index": 0, "image_filename": "CLEVR_train_000000.png", "question": "How many cubes?", "answer": 2},
    ]})  # fmt: skip
    (record,), _ = run("clevr", [tmp_path / "CLEVR_train_questions.json"], tmp_path)
    assert record["image"] == "CLEVR_train_000000.png" and record["task"] == "clevr"
    assert questions(record) == ["<image>\nAre there more cubes than spheres?" + Q, "How many cubes?" + Q]
    assert answers(record) == ["yes", "2"]

    write_json(tmp_path / "dvqa" / "train_qa.json", [
        {"image": "bar_train_00000000.png", "question": "What is the label of the third bar?", "answer": "cheek",
         "question_id": 1, "template_id": "structure", "answer_bbox": [10, 20, 30, 40]}])  # fmt: skip
    (record,), _ = run("dvqa", [tmp_path / "dvqa"], tmp_path)
    assert (record["image"], answers(record), record["task"]) == ("bar_train_00000000.png", ["cheek"], "dvqa")

    write_json(tmp_path / "question_answers.json", [
        {"id": 10, "qas": [{"qa_id": 1, "image_id": 10, "question": "What color is the car?", "answer": "White.",
                            "a_objects": [], "q_objects": []}]},
        {"id": 11, "qas": []},
    ])  # fmt: skip
    (record,), bad = run("visual-genome-qa", [tmp_path / "question_answers.json"], tmp_path)
    assert (record["id"], record["image"], answers(record)) == ("vgqa-10", "10.jpg", ["White"])
    assert bad.total == 1  # an image without questions


@pytest.mark.converts("geometry3k")
def test_geometry3k_multiple_choice_with_the_diagram(tmp_path):
    write_json(tmp_path / "geometry3k" / "train" / "2" / "data.json", {
        "id": 2, "problem_text": "Find x.", "choices": ["3", "4", "5", "6"], "answer": "C",
        "problem_type_graph": ["Triangle"], "problem_type_goal": ["Length"], "source": "McGraw-Hill"})  # fmt: skip
    write_json(tmp_path / "geometry3k" / "train" / "3" / "data.json",
               {"id": 3, "problem_text": "Find y.", "choices": ["1", "2"], "answer": "E"})  # fmt: skip
    (record,), bad = run("geometry3k", [tmp_path / "geometry3k"], tmp_path)
    assert record["id"] == "geo3k-train-2" and record["image"] == "train/2/img_diagram.png"
    assert questions(record) == ["<image>\nFind x.\nA. 3\nB. 4\nC. 5\nD. 6" + prompts.OPTION_LETTER]
    assert answers(record) == ["C"] and "answer 'E'" in next(iter(bad.reasons.values()))


@pytest.mark.converts("due")
def test_due_documents_render_the_first_page_and_ask_each_key(tmp_path):
    import pymupdf

    (tmp_path / "DeepForm" / "pdfs").mkdir(parents=True)
    with pymupdf.open() as document:
        document.new_page(width=200, height=100).insert_text((20, 40), "ADVERTISER: ACME")
        document.save(tmp_path / "DeepForm" / "pdfs" / "doc1.pdf")
    (tmp_path / "DeepForm" / "train").mkdir()
    (tmp_path / "DeepForm" / "train" / "document.jsonl").write_text(
        json.dumps({"name": "doc1", "language": "en", "split": "train", "annotations": [
            {"id": "0", "key": "advertiser", "values": [{"value": "ACME", "value_variants": ["Acme Inc"]}]},
            {"id": "1", "key": "gross_amount", "values": [{"value": "1,200.00"}]},
            {"id": "2", "key": "flight_from", "values": []}]}) + "\n"
        + json.dumps({"name": "missing", "split": "train", "annotations": []}) + "\n"
    )  # fmt: skip
    records, bad = run("due", [tmp_path / "DeepForm"], tmp_path, image_out=tmp_path / "rendered")
    (record,) = records
    assert record["id"] == "due-doc1" and record["task"] == "key-value"
    assert questions(record)[0].removeprefix("<image>\n") in one_of(prompts.KEY_VALUE, key="advertiser")
    assert questions(record)[1] in one_of(prompts.KEY_VALUE, key="gross amount")
    assert answers(record) == ["ACME", "1,200.00"]  # a key without a value is not asked
    assert Image.open(tmp_path / "rendered" / record["image"]).size == (400, 200)  # 144 dpi
    assert "no missing.pdf" in next(iter(bad.reasons.values()))


@pytest.mark.converts("laion-gpt4v", "visualmrc")
def test_visualmrc_and_laion_gpt4v(tmp_path):
    source = tmp_path / "visualmrc.jsonl"
    source.write_text(json.dumps({"id": "vm1", "image_filename": "screenshot/a.png", "url": "https://x.org",
                                  "qa_data": [{"id": 1, "question": {"text": "What is this page about?"},
                                               "answer": {"text": "It is about tea."}}]}) + "\n")  # fmt: skip
    (record,), _ = run("visualmrc", [source], tmp_path)
    assert (record["id"], record["image"]) == ("vmrc-vm1", "screenshot/a.png")
    assert questions(record) == ["<image>\nWhat is this page about?"] and answers(record) == [
        "It is about tea."
    ]

    source = write_json(tmp_path / "laion_gpt4v.json", [
        {"link": "https://example.com/cat.png?size=large", "caption": "A grey cat sleeps on a red sofa."},
        {"link": "https://example.com/noext", "caption": " "}])  # fmt: skip
    (record,), bad = run("laion-gpt4v", [source], tmp_path)
    name = hashlib.sha1(b"https://example.com/cat.png?size=large").hexdigest()[:16] + ".png"
    assert record["image"] == name and answers(record) == ["A grey cat sleeps on a red sofa."]
    assert questions(record)[0].removeprefix("<image>\n") in set(prompts.DETAILED_CAPTION)
    assert "caption: expected a non-empty string" in next(iter(bad.reasons.values()))


# -- the driver -----------------------------------------------------------------------------------


def test_every_kind_has_a_test_that_converts_it():
    """Each kind is named by a `converts` marker, and tests/data/conftest.py fails a marked test
    that does not convert a record of every kind it names."""
    import importlib

    named = set()
    for path in Path(__file__).parent.glob("test_converters*.py"):
        module = importlib.import_module(f"{__package__}.{path.stem}")
        for test in vars(module).values():
            named |= {
                kind
                for mark in getattr(test, "pytestmark", [])
                if mark.name == "converts"
                for kind in mark.args
            }
    assert sorted(set(CONVERTERS) - named) == []


@pytest.mark.converts("coco-detection")
def test_same_seed_same_bytes_and_cli(tmp_path, capsys):
    source = coco_file(tmp_path, [{"id": i, "image_id": 1, "bbox": [i, i, 5, 5], "category_id": i % 3} for i in range(9)],
                       [{"id": i, "name": f"thing{i}"} for i in range(3)])  # fmt: skip
    for name in ("a.jsonl", "b.jsonl"):
        assert (
            main(
                [
                    "data",
                    "convert",
                    "coco-detection",
                    str(source),
                    "--out",
                    str(tmp_path / name),
                    "--seed",
                    "3",
                ]
            )
            == 0
        )
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert "1 records written" in capsys.readouterr().out
    assert (
        main(["data", "convert", "gqa", str(tmp_path / "nothing.json"), "--out", str(tmp_path / "x.jsonl")])
        == 2
    )


@pytest.mark.converts("coco-detection")
def test_converters_stream_memory_stays_flat(tmp_path, monkeypatch):
    """Peak Python memory converting 20x the annotations stays within 2x (a json.load would grow 20x)."""
    import tracemalloc

    monkeypatch.setenv("TQDM_DISABLE", "1")  # pytest keeps the progress bar's output in memory

    def peak(annotations: int) -> int:
        images = [
            {"id": i, "file_name": f"{i}.jpg", "width": 100, "height": 100} for i in range(annotations // 4)
        ]
        anns = [
            {"id": i, "image_id": i // 4, "bbox": [1, 2, 3, 4], "category_id": i % 5}
            for i in range(annotations)
        ]
        source = coco_file(
            tmp_path,
            anns,
            [{"id": i, "name": f"c{i}"} for i in range(5)],
            images,
            name=f"big{annotations}.json",
        )
        del images, anns
        tracemalloc.start()
        convert("coco-detection", [source], tmp_path / "big.jsonl")
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(1_000), peak(20_000)
    assert large < 2 * small, (small, large)
