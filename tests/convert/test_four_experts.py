"""The four-expert releases (SPHINX v1 / 1k, SPHINX-MoE / MoE-1k) convert and reproduce their
reference forward pass; the converted MoE model is a normal sphinx-x Mixtral model."""

import json

import openai
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from sphinx_x.cli import main
from sphinx_x.convert.accessory import ConversionError, convert_accessory
from sphinx_x.inference.chat import ChatSession
from sphinx_x.inference.sampling import DecodingSettings
from sphinx_x.loading import load_model

from ..eval import fixtures
from ..serve.conftest import data_url, running_server
from .four_expert_reference import (
    LAYOUTS,
    MIXTRAL,
    QFORMER,
    SMALL_VIEW,
    clip_reference,
    four_expert_state,
    qformer_reference,
    quick_gelu,
    reference_logits,
    release_args,
)
from .release_reference import release_views, train_sentencepiece, write_release

VOCAB = 400
TOKENS_PER_VIEW = QFORMER["queries"] + 4 * 4 + 1 + 2  # Q-Former tokens, pseudo-CLS + 4x4 grid, start/end


@pytest.fixture(scope="module")
def sentencepiece_model(tmp_path_factory):
    return train_sentencepiece(tmp_path_factory.mktemp("sentencepiece"))


@pytest.fixture(scope="module")
def states():
    return {
        "llama": four_expert_state(VOCAB, "llama", seed=0),
        "mixtral": four_expert_state(VOCAB, "mixtral", seed=1),
    }


def release(folder, states, sentencepiece_model, llama_type, parts=1, change=None):
    llm = LAYOUTS[llama_type][1]
    state = dict(states[llm])
    if change is not None:
        change(state)
    return write_release(folder / llama_type, state, sentencepiece_model, parts=parts, llama_type=llama_type,
                         args=release_args(llm), num_experts=MIXTRAL["experts"])  # fmt: skip


@pytest.fixture(scope="module")
def converted_moe(tmp_path_factory, states, sentencepiece_model):
    root = tmp_path_factory.mktemp("moe")
    convert_accessory(
        release(root, states, sentencepiece_model, "mixtral_sparse_ens5", parts=2), root / "out"
    )
    return root / "out"


def picture(width: int, height: int) -> Image.Image:
    image = Image.new("RGB", (width, height), (240, 240, 230))
    draw = ImageDraw.Draw(image)
    draw.rectangle((5, 5, width // 2, height - 8), fill=(200, 30, 30))
    draw.ellipse((width // 2, 2, width - 3, height // 2), fill=(20, 60, 200))
    return image


def ours_and_reference(folder, state, llama_type, clip_activation=F.gelu):
    model, processor = load_model(folder, device="cpu")
    image, question = picture(70, 40), [{"role": "user", "content": "What is in the image?"}]
    batch = processor([question], [image])
    views = 1 + model.config.grid**2 if model.config.grid > 1 else 1
    assert processor.visual_token_count(*image.size) == views * TOKENS_PER_VIEW
    text_ids = batch["input_ids"][0, 1 + views * TOKENS_PER_VIEW :].tolist()
    with torch.no_grad():
        ours = model(**batch).logits[0, :, :VOCAB]  # without the <image> row the conversion added
    return ours, reference_logits(state, image, text_ids, 1, llama_type, clip_activation)


@pytest.mark.parametrize(
    ("llama_type", "parts"),
    [("llama_ens", 1), ("llama_ens5", 2), ("mixtral_sparse_ens", 1), ("mixtral_sparse_ens5", 2)],
)
def test_converted_release_reproduces_its_forward_pass(
    tmp_path, states, sentencepiece_model, llama_type, parts
):
    source = release(tmp_path, states, sentencepiece_model, llama_type, parts)
    assert len(list(source.glob("consolidated.*.pth"))) == parts
    config = convert_accessory(source, tmp_path / "out")
    grid, llm, v1 = LAYOUTS[llama_type]
    assert (config.grid, config.text_config.model_type, config.padding) == (grid, llm, "center")
    assert list(config.view_sizes) == ["qformer", "clip", "convnext", "dinov2"]
    convnext = config.expert("convnext")
    assert (convnext.view_size, convnext.input_size, convnext.grid_repeat) == (
        (12, 16, 2) if v1 else (32, None, 1)
    )
    ours, expected = ours_and_reference(tmp_path / "out", states[llm], llama_type)
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=1e-4)
    assert expected.abs().max() > 1  # a logit scale the tolerance is small against


def test_the_float16_rounding_of_the_views_is_what_makes_the_match(converted_moe, states, monkeypatch):
    from sphinx_x.model import views

    monkeypatch.setattr(views, "resize_in_half_precision", views.resize)  # float32 resizes, as before
    ours, expected = ours_and_reference(converted_moe, states["mixtral"], "mixtral_sparse_ens5")
    assert (ours - expected).abs().max() > 1e-3


def test_the_converted_moe_is_a_stock_mixtral_with_the_release_routing(converted_moe, states):
    model, processor = load_model(converted_moe, device="cpu")
    llm = model.language_model
    assert type(llm).__name__ == "MixtralForCausalLM"
    config = llm.config
    assert (config.num_local_experts, config.num_experts_per_tok, config.intermediate_size) == (4, 2, 32)
    assert (
        config.router_aux_loss_coef == 0.0 and config.rope_parameters["rope_theta"] == 1e6
    )  # from config.json
    layer = llm.model.layers[1].mlp
    w1, w2, w3 = (states["mixtral"][f"llma.layers.1.feed_forward.w{i}"].view(4, 32, 64) for i in (1, 2, 3))
    assert torch.equal(layer.experts.gate_up_proj[2], torch.cat([w1[2], w3[2]]))  # gate rows, then up rows
    assert torch.equal(layer.experts.down_proj[2], w2[2].T)  # the release stores it transposed
    assert torch.equal(layer.gate.weight, states["mixtral"]["llma.layers.1.feed_forward.gate.weight"])
    batch = processor([[{"role": "user", "content": "Hi"}]], [picture(30, 50)])
    output = model(**batch, output_router_logits=True)  # what the MoE routing analysis reads
    assert len(output.router_logits) == 2 and output.router_logits[0].shape == (batch["input_ids"].numel(), 4)
    generated = model.generate(**batch, max_new_tokens=3, do_sample=False)  # transformers' generate
    assert generated.shape == (1, batch["input_ids"].shape[1] + 3)


@pytest.mark.parametrize("parts", [2, 4])
def test_sparse_experts_merge_from_any_tensor_parallel_degree(
    tmp_path, converted_moe, states, sentencepiece_model, parts
):
    source = release(tmp_path, states, sentencepiece_model, "mixtral_sparse_ens5", parts)
    shard = torch.load(source / f"consolidated.00-of-0{parts}.model.pth", weights_only=True)["model"]
    assert shard["llma.layers.0.feed_forward.w2"].shape == (4 * 32 // parts, 64)
    convert_accessory(source, tmp_path / "out")
    one, many = (
        load_file(converted_moe / "model.safetensors"),
        load_file(tmp_path / "out" / "model.safetensors"),
    )
    assert one.keys() == many.keys() and all(torch.equal(one[k], many[k]) for k in one)


@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_clip_and_qformer_features_follow_the_release_recipe(converted_moe, states, dtype, tolerance):
    """transformers' CLIP tower and BLIP-2 parts compute the release's features: to float32 noise
    (attention kernels sum in other orders), and to 1e-12 in float64, where any recipe difference
    (a missing LayerNorm, a projection, QuickGELU) would show at 1e-2."""
    model, _ = load_model(converted_moe, device="cpu", dtype=dtype)
    views = release_views(picture(50, 30), 2, SMALL_VIEW, 64).to(dtype)
    with torch.no_grad():
        clip = model.vision_experts.expert_tokens("clip", views)
        qformer = model.vision_experts.expert_tokens("qformer", views)
    state = {name: tensor.to(dtype) for name, tensor in states["mixtral"].items()}
    torch.testing.assert_close(clip, clip_reference(state, views), atol=tolerance, rtol=tolerance)
    torch.testing.assert_close(qformer, qformer_reference(state, views), atol=tolerance, rtol=tolerance)
    assert clip.shape == (5, 17, 128) and qformer.shape == (5, QFORMER["queries"], QFORMER["dim"])


def test_quick_gelu_is_an_option_for_clip(tmp_path, states, sentencepiece_model):
    source = release(tmp_path, states, sentencepiece_model, "llama_ens")
    config = convert_accessory(source, tmp_path / "out", clip_activation="quick_gelu")
    assert config.expert("clip").config.hidden_act == "quick_gelu"
    ours, expected = ours_and_reference(tmp_path / "out", states["llama"], "llama_ens", quick_gelu)
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=1e-4)


def drop(name):
    return lambda state: state.pop(name)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (drop("llma.layers.0.feed_forward.w3"),
         r"missing keys: llma\.layers\.0\.feed_forward\.w3 \(read with llma\.layers\.0\.feed_forward\.w1\)"),
        (lambda s: s.update({"llma.layers.1.feed_forward.w2": torch.zeros(127, 64)}),
         r"keys of the wrong shape: llma\.layers\.1\.feed_forward\.w2: \(127, 64\) cannot be mapped"),
        (lambda s: s.update({"llma.clip.visual.attnpool.weight": torch.zeros(3)}),
         r"1 unknown keys: llma\.clip\.visual\.attnpool\.weight"),
        (drop("llma.qformer_proj.1.bias"), r"missing keys: query_projectors\.qformer\.norm\.bias"),
        (lambda s: s.update({"llma.qformer.qformer.encoder.layer.0.extra.weight": torch.zeros(3)}),
         r"unknown keys: llma\.qformer\.qformer\.encoder\.layer\.0\.extra\.weight \(-> vision_experts\.qformer\."),
    ],
)  # fmt: skip
def test_bad_keys_stop_the_conversion_by_name(tmp_path, states, sentencepiece_model, change, message):
    source = release(tmp_path, states, sentencepiece_model, "mixtral_sparse_ens", change=change)
    with pytest.raises(ConversionError, match=message):
        convert_accessory(source, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written


def test_command_line_dry_run_chat_and_llm_export(
    tmp_path, states, sentencepiece_model, converted_moe, capsys
):
    source = release(tmp_path, states, sentencepiece_model, "mixtral_sparse_ens")
    assert main(["convert", "accessory", str(source), str(tmp_path / "dry"), "--dry-run"]) == 0
    assert (
        "every key maps (mixtral; experts qformer 12, clip 12, convnext 32, dinov2 12)"
        in capsys.readouterr().out
    )
    assert not (tmp_path / "dry").exists()
    image = tmp_path / "picture.png"
    picture(60, 40).save(image)
    argv = [
        "chat",
        "--model",
        str(converted_moe),
        "--image",
        str(image),
        "--temperature",
        "0",
        "--max-new-tokens",
        "4",
    ]
    assert main([*argv, "What is it?"]) == 0
    fixtures.vqav2(tmp_path / "vqav2")
    assert main(["eval", "run", "--model", str(converted_moe), "--benchmark", "vqav2", "--data", str(tmp_path / "vqav2"),
                 "--out", str(tmp_path / "eval"), "--batch-size", "2", "--temperature", "0"]) == 0  # fmt: skip
    assert len(json.loads((tmp_path / "eval" / "vqav2.json").read_text())["items"]) == 2
    assert main(["convert", "export-llm", str(converted_moe), str(tmp_path / "llm")]) == 0
    assert json.loads((tmp_path / "llm" / "config.json").read_text())["architectures"] == [
        "MixtralForCausalLM"
    ]
    exported = AutoModelForCausalLM.from_pretrained(tmp_path / "llm").eval()
    model, processor = load_model(converted_moe, device="cpu")
    text = processor([[{"role": "user", "content": "Hi"}]])
    with torch.no_grad():
        assert torch.equal(exported(text["input_ids"]).logits, model(**text).logits)


def test_a_training_step_trains_the_projectors_not_the_experts(converted_moe):
    model, processor = load_model(converted_moe, device="cpu")
    batch = processor(
        [[{"role": "user", "content": "What is it?"}, {"role": "assistant", "content": "A red square."}]],
        [picture(50, 30)], add_generation_prompt=False,
    )  # fmt: skip
    model.train()
    model(**batch).loss.backward()
    for name in ("projector.linear.weight", "query_projectors.qformer.linear.weight", "visual_tokens.start_img",
                 "language_model.model.layers.0.mlp.experts.gate_up_proj"):  # fmt: skip
        assert model.get_parameter(name).grad.abs().sum() > 0, name
    assert all(parameter.grad is None for parameter in model.vision_experts.parameters())


def test_the_converted_moe_is_served_with_images(converted_moe):
    """An image request through the OpenAI API gets the answer a local chat gives (four visual experts)."""
    model, processor = load_model(converted_moe, device="cpu")
    image = picture(70, 35)
    settings = DecodingSettings(max_new_tokens=6, temperature=0)
    alone = ChatSession(model, processor, image, settings).ask("What is it?")
    with running_server(model, processor, name="sphinx-moe") as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="none", max_retries=0, timeout=60)
        content = [
            {"type": "text", "text": "What is it?"},
            {"type": "image_url", "image_url": {"url": data_url(image)}},
        ]
        reply = client.chat.completions.create(
            model="sphinx-moe", messages=[{"role": "user", "content": content}], max_tokens=6, temperature=0
        )
    expected = processor.encode([{"role": "user", "content": "What is it?"}], image, True)
    assert reply.choices[0].message.content == alone
    assert reply.usage.prompt_tokens_details.image_tokens == expected.num_visual > 0
