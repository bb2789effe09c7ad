"""SeeClick's three training-data layouts, as its readme_data.md describes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from sphinx_x.data import prompts
from sphinx_x.data.converters import convert
from sphinx_x.data.converters.common import ConvertOptions
from sphinx_x.data.set_of_mark import marks_from_record


@pytest.mark.converts("seeclick")
def test_seeclick_grounding_web_and_summaries(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for name in ("mobile_1.png", "web_1.png", "web_2.png"):
        Image.new("RGB", (200, 100), "white").save(images / name)
    source = tmp_path / "seeclick.json"
    source.write_text(json.dumps([
        {"img_filename": "mobile_1.png", "instruction": "open settings", "bbox": [0.1, 0.2, 0.3, 0.6]},
        {"img_filename": "web_1.png", "url": "https://x.org", "elements": [
            {"instruction": "Login", "bbox": [0.5, 0.4, 1.0, 1.0], "data_type": "text"}]},
        {"img_filename": "mobile_1.png", "instruction": "go back", "bbox": [0.0, 0.0, 0.1, 0.2]},
        {"img_filename": "mobile_1.png", "captions": ["a settings screen", "settings"]},
        {"instruction": "no image"},
        {"img_filename": "web_2.png", "elements": [{"instruction": "bad", "bbox": [0.5, 0.1, 0.2, 0.3]}]},
    ]))  # fmt: skip
    out = tmp_path / "out.jsonl"
    summary = convert("seeclick", [source], out, ConvertOptions(image_root=images))
    summary_record, mobile, web = [json.loads(line) for line in out.read_text().splitlines()]
    assert (
        summary_record["task"] == "caption"
        and summary_record["conversations"][1]["value"] == "a settings screen"
    )
    assert mobile["id"] == "gui-mobile_1" and mobile["image"] == "mobile_1.png" and mobile["task"] == "gui"
    point_q, point_a, element_q, element_a = (turn["value"] for turn in mobile["conversations"])
    assert point_q.removeprefix("<image>\n") in {
        t.format(instruction="open settings") for t in prompts.GUI_POINT
    }
    assert point_a == "[0.20, 0.20]"  # pixel box 20..60 x 20..60 -> square 0.10..0.30, centre 0.20
    assert element_q in {t.format(box="[0.00, 0.00, 0.10, 0.10]") for t in prompts.GUI_ELEMENT}
    assert element_a == "go back"
    assert web["conversations"][1]["value"] == "[0.75, 0.35]"
    # the GUI Set-of-Mark domain reads marks from these records: the element box is labelled
    marks = marks_from_record(mobile, max_marks=8)
    assert [(m.kind, m.label) for m in marks] == [("point", None), ("box", "go back")]
    reasons = sorted(summary.bad.reasons.items())
    assert reasons[0][0] == f"{source}:[4]" and "img_filename" in reasons[0][1]
    assert reasons[1][0] == f"{source}:web_2.png" and "expected [left, top, right, bottom]" in reasons[1][1]
    assert Path(out).exists() and summary.records == 3
