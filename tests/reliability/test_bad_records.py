"""Class 1: a bad record never stops a run and never trains. Against the shared mechanisms: the
one image reader, the trainer's batcher and step, the eval runner's counts, the converter driver."""

from __future__ import annotations

import json

import pytest

from sphinx_x.data.converters import ConverterInputError, ConvertOptions, convert
from sphinx_x.data.papertext import build_ocr_dataset
from sphinx_x.eval.benchmarks import BENCHMARKS
from sphinx_x.eval.runner import run_benchmark
from sphinx_x.processing.images import (
    DEFAULT_MAX_PIXELS,
    ImageLoadError,
    ImageTooLargeError,
    image_size,
    load_image,
)
from sphinx_x.train.config import TrainConfig
from sphinx_x.train.trainer import Trainer, read_losses

from ..eval import fixtures
from ..train.records import toy_config, write_dataset
from .bad_inputs import REFUSED, REFUSED_FROM_THE_HEADER, damaged_pdf, image_battery


def test_the_one_image_reader_refuses_or_reads_every_image_of_the_battery(tmp_path):
    for name, path in image_battery(tmp_path).items():
        if name in REFUSED:
            with pytest.raises(ImageLoadError, match=str(path)):
                load_image(path)
            if name in REFUSED_FROM_THE_HEADER:
                with pytest.raises(ImageLoadError, match=str(path)):
                    image_size(path)
        else:
            image = load_image(path)
            assert image.mode == "RGB" and image.size == ((20, 40) if name == "exif" else (40, 20)), name


def test_a_decompression_bomb_is_refused_by_our_limit_before_decoding(tmp_path):
    bomb = image_battery(tmp_path)["bomb"]
    with pytest.raises(
        ImageTooLargeError, match=rf"900000000 pixels exceeds the limit of {DEFAULT_MAX_PIXELS}"
    ):
        image_size(bomb)  # Pillow itself refuses at twice its own limit; the message is ours
    with pytest.raises(ImageTooLargeError, match="40x20 = 800 pixels exceeds the limit of 500"):
        load_image(tmp_path / "good.png", max_pixels=500)


def write_records(root, images: dict, lines: list) -> None:
    (root / "images").mkdir(parents=True, exist_ok=True)
    for path in images.values():
        (root / "images" / path.name).write_bytes(path.read_bytes())
    (root / "bad.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_a_bomb_in_the_data_is_a_counted_record_under_the_type_batched_sampler(tmp_path):
    files = write_dataset(tmp_path / "data", bad=False)
    battery = image_battery(tmp_path / "battery")
    question = [{"from": "human", "value": "<image>\nWhat colour?"}, {"from": "gpt", "value": "Red."}]
    lines = [
        {"id": name, "image": f"{path.name}", "conversations": question} for name, path in battery.items()
    ]
    write_records(tmp_path / "data", battery, lines)
    mixture = files["mixture"]
    mixture.write_text(
        mixture.read_text()
        + "  - {name: battery, path: bad.jsonl, image_root: images, weight: 1.0, type: vision}\n"
    )
    config = TrainConfig.from_dict(toy_config(tmp_path / "data", tmp_path / "run"))
    assert config.data.by_type  # the sampler whose length estimate a bomb used to crash
    summary = Trainer(config).train()
    assert summary.final_loss == summary.final_loss  # trained: not nan
    reasons = {
        where.rsplit(":", 1)[1]: why
        for where, why in summary.bad_records.reasons.items()
        if "bad.jsonl" in where
    }
    by_name = {name: reasons.get(str(number + 1)) for number, name in enumerate(battery)}
    assert {name for name, why in by_name.items() if why} == REFUSED
    assert all(by_name[name].startswith(f"bad image: {tmp_path / 'data' / 'images'}") for name in REFUSED)
    assert f"exceeds the limit of {DEFAULT_MAX_PIXELS}" in by_name["bomb"]


def test_a_global_batch_of_skipped_samples_is_not_a_step(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    long_answer = " ".join(["word"] * 400)
    lines = [{"id": f"long{i}", "conversations": [{"from": "human", "value": "Talk."}, {"from": "gpt", "value": long_answer}]}
             for i in range(4)]  # fmt: skip
    short = [{"id": f"s{i}", "conversations": [{"from": "human", "value": f"{i} plus 1?"}, {"from": "gpt", "value": f"{i + 1}"}]}
             for i in range(4)]  # fmt: skip
    (root / "long.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (root / "short.jsonl").write_text("".join(json.dumps(line) + "\n" for line in short))
    (root / "mixture.yaml").write_text(
        "sources:\n  - {path: long.jsonl, type: long}\n  - {path: short.jsonl, type: short}\n"
    )
    config = toy_config(root, tmp_path / "run")
    config["data"]["max_length"] = 120  # every long sample is skipped: its whole (one-type) batch
    trainer = Trainer(TrainConfig.from_dict(config))
    before = {
        name: value.detach().clone()
        for name, value in trainer.model.named_parameters()
        if value.requires_grad
    }
    summary = trainer.train()
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    skipped = [entry for entry in logged if "skipped" in entry]
    assert len(logged) == summary.steps == 2 and len(skipped) == 1 and "loss" not in skipped[0]
    assert list(read_losses(tmp_path / "run").values()) == [summary.final_loss] and summary.final_loss > 0
    assert summary.bad_records.counts == {"SampleTooLongError": 4}
    # Only the real step moved the weights: AdamW took one step, not two.
    assert trainer.optimizer.state[next(iter(trainer.optimizer.state))]["step"] == 1
    assert any(
        not (before[name] == value).all()
        for name, value in trainer.model.named_parameters()
        if name in before
    )


def test_eval_counts_missing_and_unreadable_images_and_scores_the_rest(
    tmp_path, toy_model, toy_processor, capsys
):
    fixtures.mmbench(tmp_path / "mmbench")
    data = tmp_path / "mmbench"
    items = list(BENCHMARKS["mmbench"].read(data))
    assert len(items) == 5
    result = run_benchmark(
        toy_model, toy_processor, BENCHMARKS["mmbench"], data, tmp_path / "out", temperature=0
    )
    assert result["scores"]["items_total"] == 5 and result["scores"]["items_unanswered"] == 0

    fixtures.textvqa(tmp_path / "textvqa")
    questions = tmp_path / "textvqa" / "TextVQA_0.5.1_val.json"
    content = json.loads(questions.read_text())
    entry = content["data"][0]
    content["data"] = [entry | {"question_id": 1, "image_id": "gone"}, entry | {"question_id": 2, "image_id": "broken"},
                       entry | {"question_id": 3}]  # fmt: skip
    questions.write_text(json.dumps(content))
    (tmp_path / "textvqa" / "train_images" / "broken.jpg").write_bytes(b"not a jpeg")
    result = run_benchmark(
        toy_model, toy_processor, BENCHMARKS["textvqa"], tmp_path / "textvqa", tmp_path / "out2"
    )
    assert (
        result["scores"]["items"],
        result["scores"]["items_total"],
        result["scores"]["items_unanswered"],
    ) == (1, 3, 2)
    assert any("gone.jpg: no such image file" in error for error in result["errors"])
    assert any("broken.jpg: not a readable image" in error for error in result["errors"])
    assert "Scored over 1 of 3 items (2 could not be asked" in (tmp_path / "out2" / "textvqa.md").read_text()


def test_a_converter_that_produces_nothing_fails_loudly(tmp_path):
    docvqa = tmp_path / "val_v1.0.json"
    docvqa.write_text(
        json.dumps(
            {
                "data": [
                    {"questionId": 5, "question": "Date?", "image": "documents/d.png", "answers": ["1 May"]}
                ]
            }
        )
    )
    with pytest.raises(
        ConverterInputError,
        match="(?s)textvqa: nothing converted from .*missing field 'image_id'.*is 'textvqa' the format",
    ):
        convert("textvqa", [docvqa], tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "out.jsonl.partial").exists()


def test_a_bad_coco_annotation_drops_itself_not_its_image(tmp_path):
    coco = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 50}],
        "categories": [{"id": 1, "name": "dog"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "iscrowd": 0},
            {
                "id": 11,
                "image_id": 1,
                "category_id": 99,
                "bbox": [0, 0, 5, 5],
                "iscrowd": 0,
            },  # unknown category
            {"id": 12, "image_id": 1, "category_id": 1, "iscrowd": 0},  # no bbox
            {"id": 13, "image_id": 1, "category_id": 1, "bbox": [90, 40, 30, 30], "iscrowd": 0},  # sticks out
            {"id": 14, "image_id": 1, "category_id": 1, "bbox": [30, 30, 0, 10], "iscrowd": 0},  # no area
            {"id": 15, "image_id": 1, "category_id": 1, "bbox": [150, 10, 10, 10], "iscrowd": 0},  # outside
        ],
    }
    (tmp_path / "instances.json").write_text(json.dumps(coco))
    summary = convert(
        "coco-detection", [tmp_path / "instances.json"], tmp_path / "out.jsonl", ConvertOptions(seed=1)
    )
    [record] = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    answer = record["conversations"][1]["value"]
    # Boxes in the corner-padded square of side 100: the clipped one ends at the image's edge (1.00, 0.50).
    assert answer == "<p>dog</p> [0.10, 0.10, 0.30, 0.30; 0.90, 0.40, 1.00, 0.50]"
    dropped = {where.rsplit("annotation ", 1)[1]: why for where, why in summary.bad.reasons.items()}
    assert set(dropped) == {"11", "12", "14", "15"}
    assert "category_id 99" in dropped["11"] and "no bbox" in dropped["12"] and "no area" in dropped["14"]


def test_a_damaged_pdf_loses_its_damaged_pages_quietly_and_says_so(tmp_path, capfd):
    (tmp_path / "pdfs").mkdir()
    damaged_pdf(tmp_path / "pdfs" / "cut.pdf")
    summary = build_ocr_dataset(tmp_path / "pdfs", tmp_path / "out")
    output = capfd.readouterr()
    assert "syntax error" not in output.out + output.err and "premature" not in output.out + output.err
    damaged = summary.pages_damaged.get(str(tmp_path / "pdfs" / "cut.pdf"), 0)
    assert damaged >= 1 and summary.pages_kept + damaged + sum(summary.pages_dropped.values()) == 4
    assert f"damaged in {tmp_path / 'pdfs' / 'cut.pdf'}: {damaged} (skipped)" in summary.table()
