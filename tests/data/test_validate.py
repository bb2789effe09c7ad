import json

from PIL import Image

from sphinx_x.cli import main
from sphinx_x.data.validate import validate

GOOD = {"id": "ok", "image": "ok.png", "conversations": [
    {"from": "human", "value": "<image>\nWhere is it?"}, {"from": "gpt", "value": "<p>it</p> [0.10, 0.20, 0.30, 0.40]"}]}  # fmt: skip


def write(tmp_path, lines):
    Image.new("RGB", (8, 8)).save(tmp_path / "ok.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def test_every_bad_record_case_is_reported_by_line_and_field(tmp_path):
    path = write(tmp_path, [
        GOOD,
        "{not json",
        GOOD | {"image": "missing.png"},
        GOOD | {"image": "broken.png"},
        {"id": "x", "conversations": []},
        {"id": "x", "conversations": [{"from": "human", "value": "a"}, {"from": "human", "value": "b"}]},
        {"id": "x", "conversations": [{"from": "human", "value": "only a question"}]},
        {"id": "x", "conversations": [{"from": "human", "value": "where?"}, {"from": "gpt", "value": "[0.1, 0.2, 1.3, 0.4]"}]},
        {"id": "x", "conversations": [{"from": "human", "value": ""}, {"from": "gpt", "value": "a"}]},
        [1, 2],
    ])  # fmt: skip
    report = validate([path])
    found = [str(problem) for problem in report.problems]
    expected = [
        f"{path}:2: line: malformed JSON",
        f"{path}:3: image: file not found: {tmp_path / 'missing.png'}",
        f"{path}:4: image: {tmp_path / 'broken.png'}: not a readable image",
        f"{path}:5: conversations: expected a non-empty list of turns",
        f"{path}:6: conversations: turn 1 is from 'user', expected 'assistant'",
        f"{path}:7: conversations: no assistant ('gpt') turn",
        f"{path}:8: conversations[1].value: box outside [0, 1]: [0.1, 0.2, 1.3, 0.4]",
        f"{path}:9: conversations: turn 0 (user) is empty",
        f"{path}:10: record: expected a JSON object, got list",
    ]
    assert len(found) == len(expected)
    for line, prefix in zip(found, expected, strict=True):
        assert line.startswith(prefix), line
    assert report.records == 10 and report.bad_records == 9


def test_command_line_exit_status_and_summary(tmp_path, capsys):
    good = write(tmp_path, [GOOD, GOOD])
    assert main(["data", "validate", str(good)]) == 0
    assert "1 files, 2 records, 0 bad" in capsys.readouterr().out
    bad = write(tmp_path, [GOOD, "{oops"])
    assert main(["data", "validate", str(bad), "--no-decode"]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:2: line: malformed JSON" in out and "2 records, 1 bad (1 line)" in out
