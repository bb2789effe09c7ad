"""Class 4: errors a person can act on. Through the CLI's one handler: one line naming the file or
option and what was expected, exit 2; --debug shows the traceback."""

from __future__ import annotations

import json

import pytest

from sphinx_x.cli import main
from sphinx_x.data.records import BadRecords

from ..eval import fixtures


def run(capsys, *argv) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def test_exporting_a_result_in_a_format_it_cannot_have(tmp_path, capsys):
    fixtures.pope(tmp_path / "pope")
    assert main(["eval", "run", "--model", "sphinx-x-toy", "--benchmark", "pope", "--data", str(tmp_path / "pope"),
                 "--out", str(tmp_path / "out"), "--temperature", "0"]) == 0  # fmt: skip
    capsys.readouterr()
    code, err = run(
        capsys,
        "eval",
        "export",
        str(tmp_path / "out" / "pope.json"),
        "--format",
        "vqav2",
        "--out",
        str(tmp_path / "x.json"),
    )
    assert code == 2 and "--format vqav2 is for vqav2 / okvqa results; this one is 'pope'" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_bad_tokenizer_path_for_mix(tmp_path, capsys):
    (tmp_path / "a.jsonl").write_text(
        json.dumps({"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}) + "\n"
    )
    (tmp_path / "mix.yaml").write_text("sources:\n  - {path: a.jsonl}\n")
    code, err = run(
        capsys,
        "data",
        "mix",
        str(tmp_path / "mix.yaml"),
        "--out",
        str(tmp_path / "out"),
        "--tokenizer",
        str(tmp_path / "nope"),
    )
    assert code == 2 and f"--tokenizer {tmp_path / 'nope'}: not a tokenizer folder or model id" in err
    assert err.count("\n") == 1


@pytest.fixture
def model_folder(tmp_path, toy_model, toy_processor):
    toy_model.save_pretrained(tmp_path / "model")
    toy_processor.save_pretrained(tmp_path / "model")
    return tmp_path / "model"


def test_a_corrupt_weights_file_is_named(model_folder, capsys):
    (model_folder / "model.safetensors").write_bytes(b"\x12" * 64)
    code, err = run(capsys, "chat", "--model", str(model_folder), "Hi")
    assert code == 2 and "the weights cannot be read (model.safetensors)" in err and str(model_folder) in err


def test_a_missing_tokenizer_is_named_not_blamed_on_sentencepiece(model_folder, capsys):
    (model_folder / "tokenizer.json").unlink()
    code, err = run(capsys, "chat", "--model", str(model_folder), "Hi")
    assert (
        code == 2
        and "no tokenizer (tokenizer.json or tokenizer.model)" in err
        and "sentencepiece" not in err.lower()
    )


def test_debug_shows_the_traceback(model_folder):
    (model_folder / "model.safetensors").write_bytes(b"\x12" * 64)
    with pytest.raises(ValueError, match="the weights cannot be read"):
        main(["--debug", "chat", "--model", str(model_folder), "Hi"])


def test_bad_records_are_listed_in_file_and_line_order():
    bad = BadRecords(
        {"a.jsonl:12": "x", "a.jsonl:13": "x", "a.jsonl:18": "x", "a.jsonl:2": "x", "b.json:[3]": "y"}
    )
    places = [line.split(": ")[0].strip() for line in bad.report().splitlines()[1:]]
    assert places == ["a.jsonl:2", "a.jsonl:12", "a.jsonl:13", "a.jsonl:18", "b.json:[3]"]


def test_the_image_battery_through_chat_and_validate(tmp_path, capsys):
    from .bad_inputs import REFUSED, image_battery

    battery = image_battery(tmp_path / "images")
    for name, path in battery.items():
        code, err = run(
            capsys, "chat", "--image", str(path), "--max-new-tokens", "2", "--temperature", "0", "Hi"
        )
        assert (code, name in REFUSED) in ((2, True), (0, False)), (name, err)
        if name in REFUSED:
            [error] = [
                line for line in err.splitlines() if "error:" in line
            ]  # one line, after the untrained note
            assert str(path) in error and "Traceback" not in err
    lines = [{"id": name, "image": path.name, "conversations": [{"from": "human", "value": "<image>\nQ?"}, {"from": "gpt", "value": "A."}]}
             for name, path in battery.items()]  # fmt: skip
    (tmp_path / "images" / "records.jsonl").write_text(
        "".join(json.dumps(line) + "\n" for line in lines) + "{torn"
    )
    assert main(["data", "validate", str(tmp_path / "images" / "records.jsonl")]) == 1
    out = capsys.readouterr().out
    assert f"{len(battery) + 1} records, {len(REFUSED) + 1} bad" in out and "malformed JSON" in out
