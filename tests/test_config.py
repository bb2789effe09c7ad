import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sphinx_x import SphinxXForConditionalGeneration, preset_config
from sphinx_x.config import SphinxXConfig, VisualExpert
from sphinx_x.loading import load_model
from sphinx_x.presets import toy_convnext, toy_dinov2, two_experts
from sphinx_x.processing.processor import SphinxXProcessor

# config.json files written by sphinx-x before the expert list (commit 4187f14), for two presets.
LEGACY = Path(__file__).parent / "model" / "data"


@pytest.mark.parametrize("preset", ["sphinx-x-toy", "sphinx-x-toy-moe"])
def test_a_folder_saved_before_the_expert_list_loads_with_the_same_logits(
    tmp_path, preset, toy_tokenizer, mixed_batch_inputs
):
    legacy = LEGACY / f"{preset}-config-v0.2.json"
    saved = json.loads(legacy.read_text())
    assert "convnext_config" in saved and "visual_experts" not in saved  # today's format before the change
    torch.manual_seed(0)
    config = preset_config(preset)
    model = SphinxXForConditionalGeneration(config).eval()
    processor = SphinxXProcessor.for_model(toy_tokenizer, config)
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(legacy.read_text())

    reloaded, info = SphinxXForConditionalGeneration.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]  # the weights keep their names
    loaded, loaded_processor = load_model(tmp_path, device="cpu")
    assert loaded.config.view_sizes == {"convnext": 32, "dinov2": 32}
    assert loaded.config.expert("convnext").config.hidden_sizes == [16, 32]
    conversations, images = mixed_batch_inputs
    batch = loaded_processor(conversations, images, add_generation_prompt=False)
    with torch.no_grad():
        assert torch.equal(loaded(**batch).logits, model(**batch).logits)
    loaded.save_pretrained(tmp_path / "again")  # saved again: in the list format, same model
    assert "visual_experts" in json.loads((tmp_path / "again" / "config.json").read_text())
    assert SphinxXConfig.from_pretrained(tmp_path / "again").to_diff_dict() == loaded.config.to_diff_dict()


def test_the_four_expert_config_round_trips_through_config_json(tmp_path):
    config = preset_config("sphinx-moe-1k")
    config.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert [(e["name"], e["kind"], e["view_size"]) for e in saved["visual_experts"]] == [
        ("qformer", "qformer", 224), ("clip", "clip_vit", 224), ("convnext", "convnext", 512), ("dinov2", "dinov2", 224)
    ]  # fmt: skip
    reloaded = SphinxXConfig.from_pretrained(tmp_path)
    assert reloaded.to_diff_dict() == config.to_diff_dict()
    assert (reloaded.tokens_per_view, reloaded.visual_feature_size) == (32 + 257, 1024 + 3072 + 1536)
    assert reloaded.expert("clip").config.hidden_act == "gelu"
    v1 = preset_config("sphinx-v1").expert("convnext")
    assert (v1.view_size, v1.input_size, v1.grid_repeat, v1.grid_side) == (224, 256, 2, 16)


def expert(name, kind="dinov2", view_size=32, **fields):
    config = toy_dinov2() if kind == "dinov2" else toy_convnext()
    return VisualExpert(name, kind, config, view_size, **fields)


@pytest.mark.parametrize(
    ("experts", "message"),
    [
        ([expert("convnext", "convnext", 32), expert("dinov2", view_size=16)],
         r"aligned token grids, got convnext 4x4 \(view 32\), dinov2 2x2 \(view 16\)"),
        ([expert("a"), expert("a")], r"names must be unique, got \['a', 'a'\]"),
        ([expert("pixel-values")], r"visual_experts\[0\]\.name: 'pixel-values' must be an identifier"),
        ([expert("d", grid_repeat=2)], r"visual_experts\[0\]: input_size and grid_repeat are ConvNeXt options"),
        ([{"name": "x", "kind": "resnet", "view_size": 32}], r"visual_experts\[0\]\.kind: 'resnet' is not one of"),
        ([{"name": "x", "kind": "dinov2"}], r"visual_experts\[0\]: unknown fields \[\], missing fields \['view_size'\]"),
    ],
)  # fmt: skip
def test_bad_expert_lists_name_the_field(experts, message):
    with pytest.raises(ValueError, match=message):
        SphinxXConfig(visual_experts=experts)


def test_the_list_and_the_legacy_fields_are_not_mixed():
    with pytest.raises(ValueError, match="give visual_experts or the legacy convnext_view_size, not both"):
        SphinxXConfig(visual_experts=two_experts(toy_convnext(), toy_dinov2(), 32, 32), convnext_view_size=32)


def test_the_config_module_stays_light():
    code = "import sys, sphinx_x.config; print([m for m in sys.modules if m.startswith(('transformers.models.clip', 'transformers.models.blip_2', 'transformers.models.convnext'))])"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"
