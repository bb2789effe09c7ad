"""The PaperText OCR pipeline on PDFs written here with PyMuPDF: kept and dropped pages, damaged,
encrypted and non-PDF files, text merging and the records of each OCR task."""

from __future__ import annotations

import json

import pymupdf
import pytest
from PIL import Image

from sphinx_x.cli import main
from sphinx_x.data import prompts
from sphinx_x.data.papertext import OcrSettings, build_ocr_dataset, clean_text, join_lines, merge_spans
from sphinx_x.processing.locations import parse_locations


def text_page(document, lines, size=14, width=300, height=200):
    page = document.new_page(width=width, height=height)
    for k, line in enumerate(lines):
        page.insert_text((20, 40 + k * (size + 4)), line, fontsize=size)
    return page


@pytest.fixture
def pdf_dir(tmp_path):
    folder = tmp_path / "pdfs"
    (folder / "sub").mkdir(parents=True)
    document = pymupdf.open()
    text_page(document, ["A first line of text, with an exam-", "ple that continues here."])
    document.new_page()  # empty
    page = document.new_page(width=300, height=200)  # image-only
    page.insert_image(
        pymupdf.Rect(10, 10, 200, 150), pixmap=pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 20, 20), 0)
    )
    text_page(document, ["this text is far too small to read in a rendered page"], size=3)
    document.save(folder / "paper.pdf")

    other = pymupdf.open()
    text_page(other, ["Second document, one page only, long enough."])
    other.save(folder / "sub" / "other.pdf")
    other.save(
        folder / "locked.pdf",
        encryption=pymupdf.PDF_ENCRYPT_AES_256,
        owner_pw="owner",
        user_pw="user",
    )
    (folder / "notes.pdf").write_text("this is not a PDF at all")
    (folder / "broken.pdf").write_bytes((folder / "paper.pdf").read_bytes()[:200])
    return folder


def test_pipeline_keeps_good_pages_and_reports_the_rest(pdf_dir, tmp_path):
    out = tmp_path / "ocr"
    summary = build_ocr_dataset(pdf_dir, out, OcrSettings(dpi=72))
    assert summary.files == 2
    assert set(summary.files_skipped) == {
        str(pdf_dir / name) for name in ("locked.pdf", "notes.pdf", "broken.pdf")
    }
    assert "encrypted" in summary.files_skipped[str(pdf_dir / "locked.pdf")]
    assert summary.pages_kept == 2
    assert summary.pages_dropped == {"empty": 1, "image-only": 1, "tiny text": 1}
    records = [json.loads(line) for line in (out / "ocr.jsonl").read_text().splitlines()]
    assert summary.records == len(records) == 8  # 2 pages x 4 tasks
    assert json.loads((out / "summary.json").read_text())["pages_kept"] == 2

    by_task = {r["task"]: r for r in records if r["id"].startswith("paper-p0001")}
    read = by_task["ocr-read"]
    assert read["image"] == "paper-p0001.png"
    assert Image.open(out / "images" / read["image"]).size == (300, 200)  # 72 dpi: one pixel per point
    assert read["conversations"][0]["value"].removeprefix("<image>\n") in prompts.READ
    assert read["conversations"][1]["value"] == "A first line of text, with an example that continues here."

    spot = by_task["ocr-spot"]["conversations"][1]["value"]
    lines = parse_locations(spot)
    assert [line.phrase for line in lines] == [
        "A first line of text, with an exam-",
        "ple that continues here.",
    ]
    x1, y1, x2, y2 = lines[0].coordinates  # the first line starts at x = 20 pt of a 300 pt page
    assert x1 == pytest.approx(20 / 300, abs=0.01) and y2 < lines[1].coordinates[3] and x2 > x1

    region = by_task["ocr-region"]["conversations"]
    assert region[1]["value"] == "A first line of text, with an example that continues here."
    assert "<p>text</p>" in by_task["ocr-layout"]["conversations"][1]["value"]
    assert {r["image"] for r in records} == {"paper-p0001.png", "sub__other-p0001.png"}


def test_same_pdfs_same_records(pdf_dir, tmp_path):
    build_ocr_dataset(pdf_dir, tmp_path / "a", OcrSettings(dpi=72))
    build_ocr_dataset(pdf_dir, tmp_path / "b", OcrSettings(dpi=72))
    assert (tmp_path / "a" / "ocr.jsonl").read_bytes() == (tmp_path / "b" / "ocr.jsonl").read_bytes()


def test_text_quality_helpers():
    assert clean_text("caf\ufffd \x07ok\ue000") == ("caf ok", 3)
    spans = [
        {"text": "Big", "bbox": (0, 0, 30, 10), "size": 10},
        {"text": "Word", "bbox": (34, 0, 60, 10), "size": 10},  # gap of 4 > 0.2 x 10: a space
        {"text": "s", "bbox": (60.5, 0, 65, 10), "size": 10},  # touching: same word
    ]
    assert merge_spans(spans) == "Big Words"
    assert join_lines(["exam-", "ple", "Next-", "Line"]) == "example Next- Line"


def test_a_page_of_mostly_unmappable_characters_is_dropped(tmp_path, monkeypatch):
    from sphinx_x.data import papertext

    folder = tmp_path / "pdfs"
    folder.mkdir()
    document = pymupdf.open()
    text_page(document, ["Readable words that are long enough to keep."])
    document.save(folder / "a.pdf")
    original = papertext.merge_spans
    monkeypatch.setattr(papertext, "merge_spans", lambda spans: "\ufffd" * 10 + original(spans))
    summary = build_ocr_dataset(folder, tmp_path / "out", OcrSettings(dpi=72))
    assert summary.pages_dropped == {"unmappable characters": 1} and summary.records == 0


def test_cli(pdf_dir, tmp_path, capsys):
    assert (
        main(
            ["data", "ocr", str(pdf_dir), "--out", str(tmp_path / "o"), "--dpi", "72", "--tasks", "read,spot"]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "pages: 2 kept, 3 dropped" in printed and "records: 4" in printed
    assert main(["data", "ocr", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o2")]) == 2
