"""The Set-of-Mark pipeline: marks from converted records and mark lists, drawn for the captioner,
described in text over the raw image; the template captioner and an OpenAI-compatible endpoint."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from PIL import Image

from sphinx_x.cli import main
from sphinx_x.data.set_of_mark import (
    Mark,
    build_som_dataset,
    draw_marks,
    marks_from_list,
    marks_from_record,
)
from sphinx_x.data.validate import validate


@pytest.fixture
def dataset(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (200, 100), "white").save(images / "a.jpg")
    Image.new("RGB", (100, 100), "white").save(images / "b.jpg")
    records = [
        {"id": "det-1", "image": "a.jpg", "conversations": [
            {"from": "human", "value": "<image>\nDetect all dog shown in the image."},
            {"from": "gpt", "value": "<p>dog</p> [0.10, 0.05, 0.30, 0.15; 0.60, 0.05, 0.90, 0.45]"},
            {"from": "human", "value": "What is in the region [0.00, 0.30, 0.20, 0.45]?"},
            {"from": "gpt", "value": "a red ball"}]},
        {"id": "marks-2", "image": "b.jpg", "marks": [
            {"label": "OK button", "box": [0.1, 0.1, 0.3, 0.2]}, {"label": "cursor", "point": [0.5, 0.5]},
            {"label": "panel", "polygon": [0.6, 0.6, 0.9, 0.6, 0.9, 0.9]}]},
        {"id": "nothing", "image": "a.jpg", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]},
        {"id": "gone", "image": "missing.jpg", "marks": [{"label": "x", "point": [0.5, 0.5]}]},
    ]  # fmt: skip
    source = tmp_path / "records.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    return source, images


def test_marks_from_records_and_lists(dataset):
    source, _ = dataset
    lines = [json.loads(line) for line in source.read_text().splitlines()]
    marks = marks_from_record(lines[0], max_marks=10)
    assert [(m.number, m.kind, m.coordinates, m.label) for m in marks] == [
        (1, "box", [0.10, 0.05, 0.30, 0.15], "dog"),
        (2, "box", [0.60, 0.05, 0.90, 0.45], "dog"),
        (3, "box", [0.00, 0.30, 0.20, 0.45], "a red ball"),
    ]
    listed = marks_from_list(lines[1], max_marks=2)
    assert [(m.kind, m.label) for m in listed] == [("box", "OK button"), ("point", "cursor")]
    assert listed[1].as_text() == "mark 2 at [0.50, 0.50]"
    polygon = Mark(3, "polygon", [0.6, 0.6, 0.9, 0.6, 0.9, 0.9])
    assert polygon.as_text() == "mark 3 (outlined region) at [0.60, 0.60, 0.90, 0.90]"
    with pytest.raises(ValueError, match=r"marks\[0\]"):
        marks_from_list({"marks": [{"box": [0.1, 0.2, 1.5, 0.3]}]}, 10)


def test_draw_marks_changes_only_the_copy():
    image = Image.new("RGB", (200, 100), "white")
    marked = draw_marks(image, [Mark(1, "box", [0.1, 0.05, 0.3, 0.15]), Mark(2, "point", [0.5, 0.25]),
                                Mark(3, "polygon", [0.6, 0.1, 0.9, 0.1, 0.9, 0.4])], "corner")  # fmt: skip
    assert image.getcolors() == [(200 * 100, (255, 255, 255))]
    assert marked.getpixel((20, 15)) != (255, 255, 255)  # the box's corner (corner padding: x 0.1 * 200)
    assert marked.getpixel((100, 50)) != (255, 255, 255)  # the point


def test_pipeline_writes_conversations_over_raw_images(dataset, tmp_path):
    source, images = dataset
    summary = build_som_dataset([source], images, tmp_path / "som")
    records = [json.loads(line) for line in (tmp_path / "som" / "som.jsonl").read_text().splitlines()]
    assert (summary.images, summary.records, summary.bad.total) == (2, 2, 2)
    assert summary.bad.reasons.keys() == {f"{source}:3", f"{source}:4"}
    assert "no box, point or polygon" in summary.bad.reasons[f"{source}:3"]
    assert "missing.jpg" in summary.bad.reasons[f"{source}:4"]
    first = records[0]
    assert first["image"] == "a.jpg" and first["task"] == "som-natural"  # the raw image, not the marked copy
    question, answer = first["conversations"][0]["value"], first["conversations"][1]["value"]
    assert (
        "mark 1 at [0.10, 0.05, 0.30, 0.15]; mark 2 at [0.60, 0.05, 0.90, 0.45]; mark 3 at [0.00, 0.30, 0.20, 0.45]"
        in question
    )
    assert answer == (
        "The image has 3 marked objects. Mark 1 is dog. Mark 2 is dog. Mark 3 is a red ball. "
        "Mark 1 is left of mark 2. Mark 2 is right of mark 3."
    )
    assert (tmp_path / "som" / "marked" / "det-1.png").is_file()
    report = validate([tmp_path / "som" / "som.jsonl"], images)
    assert report.problems == []


class FakeChatServer(BaseHTTPRequestHandler):
    seen: list = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeChatServer.seen.append((self.path, self.headers.get("Authorization"), body))
        reply = {"choices": [{"message": {"role": "assistant", "content": " Mark 1 is a dog. "}}]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_openai_compatible_captioner(dataset, tmp_path, monkeypatch):
    source, images = dataset
    server = HTTPServer(("127.0.0.1", 0), FakeChatServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("MY_KEY", "secret")
        url = f"http://127.0.0.1:{server.server_port}/v1"
        code = main(["data", "som", str(source), "--image-root", str(images), "--out", str(tmp_path / "o"),
                     "--domain", "gui", "--captioner-url", url, "--captioner-model", "m", "--captioner-key-env", "MY_KEY"])  # fmt: skip
    finally:
        server.shutdown()
    assert code == 0
    path, auth, body = FakeChatServer.seen[0]
    assert path == "/v1/chat/completions" and auth == "Bearer secret" and body["model"] == "m"
    content = body["messages"][0]["content"]
    assert (
        content[0]["text"].startswith("This is a screenshot")
        and "mark 1 at [0.10, 0.05, 0.30, 0.15]" in content[0]["text"]
    )
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")
    records = [json.loads(line) for line in (tmp_path / "o" / "som.jsonl").read_text().splitlines()]
    assert records[0]["conversations"][1]["value"] == "Mark 1 is a dog."


def test_bad_records_are_counted_not_fatal(tmp_path):
    (tmp_path / "x.jsonl").write_text("{oops\n")
    summary = build_som_dataset([tmp_path / "x.jsonl"], tmp_path, tmp_path / "o")
    assert summary.records == 0 and summary.bad.reasons.keys() == {f"{tmp_path / 'x.jsonl'}:1"}


def test_coco_polygons_become_polygon_marks(tmp_path):
    Image.new("RGB", (200, 100), "white").save(tmp_path / "000001.jpg")
    (tmp_path / "instances.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "000001.jpg", "width": 200, "height": 100}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [20, 10, 40, 40], "iscrowd": 0,
             "segmentation": [[20, 10, 60, 10, 60, 50], [0, 0, 1, 1, 2, 2, 3, 3]]},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [100, 0, 100, 50], "iscrowd": 0,
             "segmentation": {"counts": "abc", "size": [100, 200]}},
        ],
        "categories": [{"id": 1, "name": "kite"}, {"id": 2, "name": "traffic_light"}],
    }))  # fmt: skip
    assert main(["data", "som", str(tmp_path / "instances.json"), "--coco", "--image-root", str(tmp_path),
                 "--out", str(tmp_path / "o")]) == 0  # fmt: skip
    (record,) = [json.loads(line) for line in (tmp_path / "o" / "som.jsonl").read_text().splitlines()]
    assert record["image"] == "000001.jpg"
    question, answer = record["conversations"][0]["value"], record["conversations"][1]["value"]
    assert "mark 1 (outlined region) at [0.10, 0.05, 0.30, 0.25]" in question  # the larger polygon's extent
    assert "mark 2 at [0.50, 0.00, 1.00, 0.25]" in question  # an RLE mask: its box
    assert "Mark 1 is kite. Mark 2 is traffic light." in answer
