import json

import pytest
import torch
from PIL import Image

from sphinx_x.cli import main

from .scripted import ScriptedAnswers


def test_info_json_of_sphinx_x_tiny(capsys):
    assert main(["info", "sphinx-x-tiny", "--image", "1000x500", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    params = info["params"]
    assert set(params) == {"convnext", "dinov2", "projector", "llm", "total", "trainable"}
    assert round(params["convnext"] / 1e9, 2) == 0.84 and round(params["dinov2"] / 1e9, 2) == 1.14
    assert round(params["llm"] / 1e9, 2) == 1.10
    assert params["trainable"] == params["total"] - params["convnext"] - params["dinov2"]
    assert info["visual_tokens"] == 779


def test_info_without_skip_tokens(capsys):
    main(["info", "sphinx-x-tiny", "--image", "1000x500", "--no-skip", "--json"])
    assert json.loads(capsys.readouterr().out)["visual_tokens"] == 1295


def test_info_rejects_a_bad_size_and_an_unknown_preset(capsys):
    assert main(["info", "sphinx-x-tiny", "--image", "wide"]) == 2
    assert "--image must look like 1000x500" in capsys.readouterr().err
    assert main(["info", "sphinx-x-huge"]) == 2
    assert "known presets: sphinx-x-tiny" in capsys.readouterr().err


def test_info_train_gives_the_memory_per_process_of_the_trainers_policy(capsys):
    main(["info", "sphinx-x-moe", "--json"])
    params = json.loads(capsys.readouterr().out)["params"]
    assert main(["info", "sphinx-x-moe", "--train", "--world-size", "32", "--world-size", "8", "--json"]) == 0
    at_32, at_8 = json.loads(capsys.readouterr().out)
    assert (
        at_32["trainable"] == params["trainable"] and at_32["frozen"] == params["convnext"] + params["dinov2"]
    )
    # fp32 master weights, fp32 gradients and AdamW's two fp32 moments, each sharded over the processes.
    assert at_32["parameters"] == at_32["gradients"] == 4 * params["trainable"] / 32
    assert at_32["optimizer"] == 2 * at_32["parameters"] and at_8["optimizer"] == 4 * at_32["optimizer"]
    # What a full-state checkpoint gathered onto one process (weights + two moments): about 560 GB.
    assert round((at_8["parameters"] + at_8["optimizer"]) * 8 / 1e9) == 561
    assert at_32["frozen_experts"] == 4 * at_32["frozen"]  # replicated on every process
    assert at_32["gathered_zero3"] < at_32["gathered_zero2"] == 2 * params["trainable"]  # bf16 copies


def test_info_train_table_covers_the_family(capsys):
    assert main(["info", "--train", "--world-size", "64"]) == 0
    table = capsys.readouterr().out
    assert "| sphinx-x-moe | 64 | 46.72 B |" in table and "| sphinx-x-plus | 64 |" in table
    assert "sphinx-x-toy" not in table


def scripted_loading(monkeypatch, answers: list[str]) -> list:
    """`sphinx-x chat` loads its model through sphinx_x.loading: make that model answer `answers`."""
    from sphinx_x import loading

    real, loaded = loading.load_model, []

    def load_and_script(*args, **kwargs):
        model, processor = real(*args, **kwargs)
        ScriptedAnswers(model, processor.tokenizer, answers).__enter__()
        loaded.append((model, processor))
        return model, processor

    monkeypatch.setattr(loading, "load_model", load_and_script)
    return loaded


def test_chat_streams_the_answer_and_draws_its_boxes(tmp_path, capsys, monkeypatch):
    image = tmp_path / "picture.png"
    Image.new("RGB", (80, 40), (10, 200, 30)).save(image)
    scripted_loading(monkeypatch, ["<p>the field</p> [0.10, 0.05, 0.60, 0.40]"])
    argv = ["chat", "--image", str(image), "--max-new-tokens", "40", "--temperature", "0",
            "--boxes-out", str(tmp_path / "boxes.png"), "Where is the field?"]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "untrained" in captured.err
    assert captured.out.splitlines()[0] == "<p>the field</p> [0.10, 0.05, 0.60, 0.40]"
    assert f"boxes and points drawn on the image: {tmp_path / 'boxes.png'}" in captured.out
    drawn = Image.open(tmp_path / "boxes.png")
    assert drawn.size == (80, 40) and drawn.getpixel((8, 10)) != (10, 200, 30)  # the box's left edge, x = 8


def test_chat_on_a_saved_model_folder_keeps_its_dtype(
    tmp_path, capsys, monkeypatch, toy_model, toy_processor
):
    toy_model.to(torch.bfloat16).save_pretrained(tmp_path / "model")
    toy_processor.save_pretrained(tmp_path / "model")
    loaded = scripted_loading(monkeypatch, ["Hello there."])
    argv = ["chat", "--model", str(tmp_path / "model"), "--temperature", "0", "--max-new-tokens", "8", "Hi"]
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines()[0] == "Hello there."
    assert loaded[0][0].dtype == torch.bfloat16  # saved in bf16, loaded as bf16 unless told otherwise
    assert main([*argv, "--dtype", "float32"]) == 0 and loaded[1][0].dtype == torch.float32


def test_chat_on_a_gpu_without_one_is_a_clear_error(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["chat", "--device", "cuda", "Hi"]) == 2
    assert "--device cuda: torch" in capsys.readouterr().err


def test_chat_reports_a_broken_image(tmp_path, capsys):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG garbage")
    assert main(["chat", "--image", str(broken), "Hi"]) == 2
    assert "broken.png" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["chat"], ["chat", "--model", "sphinx-x-tiny", "Hi"]])
def test_chat_explains_what_is_missing(argv, capsys):
    assert main(argv) == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize(("preset", "views", "tokens"), [("sphinx-moe", 1, 291), ("sphinx-moe-1k", 5, 1455)])
def test_info_of_the_four_expert_moe_releases(preset, views, tokens, capsys):
    assert main(["info", preset, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    params = {part: round(count / 1e9, 2) for part, count in info["params"].items()}
    experts = {"qformer": 1.09, "clip": 0.30, "convnext": 0.84, "dinov2": 1.14}
    assert {part: params[part] for part in experts} == experts and params["llm"] == 46.70  # Mixtral-8x7B
    assert info["params"]["trainable"] == info["params"]["total"] - sum(
        info["params"][part] for part in experts
    )
    assert (info["views_encoded"], info["tokens_per_view"], info["visual_tokens"]) == (views, 291, tokens)
    assert "mixtral_sparse_ens" in info["weights"]


def test_serve_hands_its_limits_to_the_server(monkeypatch, tmp_path):
    from sphinx_x.serve import server

    calls = []
    monkeypatch.setattr(server, "serve", lambda *args, **kwargs: calls.append((args, kwargs)))
    monkeypatch.setenv("SPHINX_X_API_KEY", "from-env")
    argv = ["serve", "--model", "sphinx-x-toy", "--port", "9000", "--max-running", "4", "--max-queue", "8",
            "--max-image-mb", "2", "--allow-remote-host", "Images.Example.com", "--allowed-media-dir", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    (model, limits, host, port), options = calls[0]
    assert (model, host, port) == ("sphinx-x-toy", "127.0.0.1", 9000)
    assert limits.max_running == 4 and limits.max_queue == 8 and limits.max_image_bytes == 2 * 1024 * 1024
    assert (
        limits.allowed_remote_hosts == ("images.example.com",)
        and limits.allowed_media_dir == tmp_path.resolve()
    )
    assert options["api_key"] == "from-env"
    assert main(["serve", "--model", "sphinx-x-toy", "--dtype", "bfloat16", "--quantize", "int8"]) == 0
    assert {key: calls[1][1][key] for key in ("dtype", "quantize", "quantize_vision")} == {
        "dtype": "bfloat16", "quantize": "int8", "quantize_vision": False}  # fmt: skip


def test_web_hands_the_precision_options_to_the_loader(monkeypatch):
    pytest.importorskip("gradio")
    from sphinx_x.web import app, chat

    calls = []
    monkeypatch.setattr(chat, "build_chat", lambda *args, **kwargs: calls.append(kwargs))
    monkeypatch.setattr(app, "launch", lambda *args: None)
    assert main(["web", "--model", "sphinx-x-toy", "--dtype", "bfloat16", "--quantize", "int8"]) == 0
    assert {key: calls[0][key] for key in ("dtype", "quantize", "quantize_vision")} == {
        "dtype": "bfloat16", "quantize": "int8", "quantize_vision": False}  # fmt: skip


@pytest.mark.parametrize("command", [["chat"], ["eval", "run", "--benchmark", "pope", "--data", "x"],
                                     ["eval", "suite", "--data-root", "x"], ["serve"]])  # fmt: skip
def test_every_model_command_takes_the_precision_options(command):
    from sphinx_x.cli import build_parser

    args = build_parser().parse_args([*command, "--model", "m", "--dtype", "float16", "--quantize", "int4",
                                      "--quantize-vision"])  # fmt: skip
    assert (args.dtype, args.quantize, args.quantize_vision) == ("float16", "int4", True)


@pytest.mark.parametrize(
    "argv, message",
    [(["--max-running", "0"], "max_running must be positive"),
     (["--allowed-media-dir", "/no/such/folder"], "not a directory"),
     (["--allow-remote-host", "*.example.com"], "exact host names")],
)  # fmt: skip
def test_serve_refuses_bad_limits_in_one_line(argv, message, capsys):
    assert main(["serve", "--model", "sphinx-x-toy", *argv]) == 2
    assert message in capsys.readouterr().err


def test_web_loads_the_model_and_hands_its_limits_to_the_page(monkeypatch):
    from sphinx_x.web import app

    calls = []
    monkeypatch.setattr(app, "launch", lambda *args, **kwargs: calls.append((args, kwargs)))
    argv = ["web", "--model", "sphinx-x-toy", "--port", "7999", "--max-running", "3", "--max-tokens", "32",
            "--max-image-mb", "1", "--served-model-name", "toy"]  # fmt: skip
    assert main(argv) == 0
    (chat, host, port), _ = calls[0]
    assert (host, port, chat.model_name) == ("127.0.0.1", 7999, "toy")
    assert (
        chat.limits.max_running == 3
        and chat.limits.max_tokens == 32
        and chat.limits.max_image_bytes == 1024**2
    )
    assert chat.engine.scheduler.max_running == 3 and not chat.engine.is_running  # launch starts it


def test_web_help_names_its_options(capsys):
    with pytest.raises(SystemExit):
        main(["web", "--help"])
    out = capsys.readouterr().out
    assert "--model" in out and "--host" in out and "--port" in out
