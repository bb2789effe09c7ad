import json

import pytest
from PIL import Image

from sphinx_x.cli import main


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


def test_chat_answers_on_a_toy_model(tmp_path, capsys):
    image = tmp_path / "picture.png"
    Image.new("RGB", (80, 40), (10, 200, 30)).save(image)
    assert main(["chat", "--image", str(image), "--max-new-tokens", "6", "--seed", "0", "What is it?"]) == 0
    assert "untrained" in capsys.readouterr().err


def test_chat_on_a_saved_model_folder(tmp_path, capsys, toy_model, toy_processor):
    toy_model.save_pretrained(tmp_path / "model")
    toy_processor.save_pretrained(tmp_path / "model")
    assert (
        main(
            ["chat", "--model", str(tmp_path / "model"), "--temperature", "0", "--max-new-tokens", "4", "Hi"]
        )
        == 0
    )


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
