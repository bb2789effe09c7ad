"""Scene text converters on ground-truth files written in each dataset's published format. Images are
200 x 100, so a pixel box divides by 200 in the corner-padded square."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from sphinx_x.data import prompts
from sphinx_x.data.converters import ConverterInputError, convert
from sphinx_x.data.converters.common import ConvertOptions


def run(kind, sources, tmp_path, **options):
    out = tmp_path / f"{kind}.jsonl"
    summary = convert(
        kind, [Path(s) for s in sources], out, ConvertOptions(image_root=tmp_path / "images", **options)
    )
    return [json.loads(line) for line in out.read_text().splitlines()], summary.bad


def image(tmp_path, name, size=(200, 100)):
    (tmp_path / "images").mkdir(exist_ok=True)
    Image.new("RGB", size, "white").save(tmp_path / "images" / name)


def turns(record):
    return [(q["value"].removeprefix("<image>\n"), a["value"]) for q, a in zip(record["conversations"][0::2],
                                                                                record["conversations"][1::2], strict=True)]  # fmt: skip


def region(box):
    return {template.format(box=box) for template in prompts.REGION_TEXT}


@pytest.mark.converts("icdar2015")
def test_icdar2015_quadrilaterals_become_boxes_and_dont_care_is_dropped(tmp_path):
    image(tmp_path, "img_1.jpg")
    gt = tmp_path / "ch4_training_localization_transcription_gt" / "gt_img_1.txt"
    gt.parent.mkdir()
    gt.write_text("\ufeff20,10,60,10,60,30,20,30,Hello, world\n100,50,140,50,140,70,100,70,###\n"
                  "100,60,160,52,162,80,102,88,62-03\n", encoding="utf-8")  # fmt: skip
    (record,), bad = run("icdar2015", [gt.parent], tmp_path)
    assert record["id"] == "ic15-img_1" and record["image"] == "img_1.jpg" and record["task"] == "spotting"
    (spot_q, spot_a), (q1, a1), (q2, a2) = turns(record)
    assert spot_q in set(prompts.SPOT)
    assert spot_a == "<p>Hello, world</p> [0.10, 0.05, 0.30, 0.15] <p>62-03</p> [0.50, 0.26, 0.81, 0.44]"
    assert q1 in region("[0.10, 0.05, 0.30, 0.15]") and a1 == "Hello, world"
    assert q2 in region("[0.50, 0.26, 0.81, 0.44]") and a2 == "62-03"
    assert bad.total == 0


@pytest.mark.converts("icdar2013")
def test_icdar2013_test_and_train_ground_truth(tmp_path):
    image(tmp_path, "img_5.jpg")
    image(tmp_path, "100.jpg")
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "gt_img_5.txt").write_text('38, 40, 120, 60, "Tiredness"\n')
    (tmp_path / "gt" / "gt_100.txt").write_text('20 20 100 40 "Footpath"\n10 50 30 70 "###"\n')
    (tmp_path / "gt" / "gt_7.txt").write_text("no quotes here\n")
    records, bad = run("icdar2013", [tmp_path / "gt"], tmp_path)
    assert [(r["image"], turns(r)[0][1]) for r in records] == [
        ("100.jpg", "<p>Footpath</p> [0.10, 0.10, 0.50, 0.20]"),
        ("img_5.jpg", "<p>Tiredness</p> [0.19, 0.20, 0.60, 0.30]"),
    ]
    [(where, reason)] = bad.reasons.items()
    assert where.endswith("gt_7.txt") and "line 1: expected x1 y1 x2 y2" in reason


@pytest.mark.converts("ctw1500")
def test_ctw1500_xml_training_labels_and_test_txt(tmp_path):
    image(tmp_path, "0001.jpg")
    image(tmp_path, "1002.jpg")
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "0001.xml").write_text(
        '<Annotations><image file="0001.jpg"><box height="40" left="20" top="10" width="100"><label>CURVED</label>'
        '<segs>20,10,70,12,120,10,120,50,70,48,20,50</segs><pts x="20" y="10" /></box></image></Annotations>'
    )
    (tmp_path / "labels" / "1002.txt").write_text(
        "0,0,40,0,40,20,0,20,####TEXT\n50,50,60,50,60,60,50,60,####\n"
    )
    first, second = run("ctw1500", [tmp_path / "labels"], tmp_path)[0]
    assert first["id"] == "ctw-0001" and turns(first)[0][1] == "<p>CURVED</p> [0.10, 0.05, 0.60, 0.25]"
    assert second["image"] == "1002.jpg" and turns(second)[0][1] == "<p>TEXT</p> [0.00, 0.00, 0.20, 0.10]"
    assert len(turns(second)) == 2  # the transcription-less region is a don't-care


@pytest.mark.converts("totaltext")
def test_totaltext_legacy_ground_truth_with_wrapped_polygons(tmp_path):
    image(tmp_path, "img11.jpg")
    (tmp_path / "Txt").mkdir()
    (tmp_path / "Txt" / "poly_gt_img11.txt").write_text(
        "x: [[100 140 160 120]], y: [[22 20 40 44]], ornt: [u'h'], transcriptions: [u'nauGHTY']\n"
        "x: [[10 30 30 10]], y: [[60 60 80 80]], ornt: [u'#'], transcriptions: [u'#']\n"
        "x: [[ 10  20  30  40\n  50  60]], y: [[ 6 6 7 8 9 10]], ornt: [u'c'], transcriptions: [u'curve']\n"
    )
    (record,), _ = run("totaltext", [tmp_path / "Txt"], tmp_path)
    assert record["id"] == "tt-img11" and record["image"] == "img11.jpg"
    assert (
        turns(record)[0][1] == "<p>nauGHTY</p> [0.50, 0.10, 0.80, 0.22] <p>curve</p> [0.05, 0.03, 0.30, 0.05]"
    )


@pytest.mark.converts("icdar2015")
def test_missing_images_are_reported_by_file(tmp_path):
    (tmp_path / "images").mkdir()
    image(tmp_path, "img_1.jpg")
    (tmp_path / "gt_img_1.txt").write_text("0,0,10,0,10,10,0,10,a\n")
    (tmp_path / "gt_img_9.txt").write_text("0,0,1,0,1,1,0,1,a\n")
    records, bad = run("icdar2015", [tmp_path / "gt_img_1.txt", tmp_path / "gt_img_9.txt"], tmp_path)
    assert len(records) == 1 and "no image img_9.jpg" in bad.reasons[str(tmp_path / "gt_img_9.txt")]
    # Nothing at all converted is not a success: the driver says so, with the reason.
    with pytest.raises(ConverterInputError, match="(?s)nothing converted.*no image img_9.jpg"):
        run("icdar2015", [tmp_path / "gt_img_9.txt"], tmp_path)
