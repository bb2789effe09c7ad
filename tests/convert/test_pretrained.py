import json

import pytest
import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, Dinov2Model, LlamaForCausalLM

from sphinx_x import SphinxXForConditionalGeneration, preset_config
from sphinx_x.convert.export import export_llm
from sphinx_x.convert.pretrained import (
    WeightsNotFoundError,
    assemble,
    load_dinov2,
    load_llm,
    load_open_clip_convnext,
)  # fmt: skip
from sphinx_x.processing.tokenizer import train_toy_tokenizer

from .release_reference import convnext_reference, dinov2_reference, release_state

STATE = release_state(vocab_size=64, seed=1)


def part(prefix: str) -> dict[str, torch.Tensor]:
    return {name[len(prefix) :]: t.clone() for name, t in STATE.items() if name.startswith(prefix)}


def open_clip_checkpoint() -> dict[str, torch.Tensor]:
    """The layout of open_clip's convnext_xxlarge: a text tower beside the image trunk."""
    state = {"visual.trunk." + name: t for name, t in part("llma.openclip_convnext_xxl.").items()}
    state["visual.head.proj.weight"] = torch.zeros(8, 32)
    state["text.token_embedding.weight"] = torch.zeros(10, 8)
    state["logit_scale"] = torch.tensor(4.6)
    return state


@pytest.mark.parametrize("file_name", ["open_clip_pytorch_model.bin", "open_clip_model.safetensors"])
def test_open_clip_convnext_trunk_loads(tmp_path, file_name):
    state = open_clip_checkpoint()
    if file_name.endswith(".bin"):
        torch.save(state, tmp_path / file_name)
    else:
        save_file(state, tmp_path / file_name)
    convnext = load_open_clip_convnext(tmp_path)  # a folder, as downloaded from the Hub
    toy = preset_config("sphinx-x-toy")
    dinov2 = Dinov2Model(toy.expert("dinov2").config)
    from sphinx_x.model.vision_experts import MixtureOfVisualExperts

    experts = MixtureOfVisualExperts(toy.visual_experts, {"convnext": convnext, "dinov2": dinov2})
    pixels = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(
            experts.expert_tokens("convnext", pixels), convnext_reference(STATE, pixels), atol=1e-5, rtol=1e-5
        )


def test_dinov2_hub_file_and_transformers_folder_agree(tmp_path):
    torch.save(part("llma.dinov2_vitg14."), tmp_path / "dinov2_vitg14_pretrain.pth")
    from_hub = load_dinov2(tmp_path / "dinov2_vitg14_pretrain.pth")
    from_hub.save_pretrained(tmp_path / "hf")
    from_folder = load_dinov2(tmp_path / "hf")
    from sphinx_x.model.vision_experts import MixtureOfVisualExperts

    convnext = load_open_clip_convnext_from_state(tmp_path)
    pixels = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        specs = preset_config("sphinx-x-toy").visual_experts
        hub_features = MixtureOfVisualExperts(
            specs, {"convnext": convnext, "dinov2": from_hub}
        ).expert_tokens("dinov2", pixels)
        folder_features = MixtureOfVisualExperts(
            specs, {"convnext": convnext, "dinov2": from_folder}
        ).expert_tokens("dinov2", pixels)
        torch.testing.assert_close(hub_features, dinov2_reference(STATE, pixels), atol=1e-5, rtol=1e-5)
    assert torch.equal(hub_features, folder_features)


def load_open_clip_convnext_from_state(tmp_path):
    torch.save(open_clip_checkpoint(), tmp_path / "open_clip_pytorch_model.bin")
    return load_open_clip_convnext(tmp_path / "open_clip_pytorch_model.bin")


def test_missing_weights_are_reported(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="none of open_clip_model.safetensors"):
        load_open_clip_convnext(tmp_path)
    torch.save({"something.else": torch.zeros(1)}, tmp_path / "open_clip_pytorch_model.bin")
    with pytest.raises(ValueError, match="no 'visual.trunk.\\*' keys"):
        load_open_clip_convnext(tmp_path)


def pack_internlm2(llama: LlamaForCausalLM) -> dict[str, torch.Tensor]:
    """Write a Llama model in InternLM2's layout (packed wqkv per KV group), independently of the loader."""
    config = llama.config
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    head_dim = config.hidden_size // heads
    state = {"model.tok_embeddings.weight": llama.model.embed_tokens.weight, "model.norm.weight": llama.model.norm.weight,
             "output.weight": llama.lm_head.weight}  # fmt: skip
    for index, layer in enumerate(llama.model.layers):
        attention, mlp, prefix = layer.self_attn, layer.mlp, f"model.layers.{index}."
        q = attention.q_proj.weight.view(kv_heads, heads // kv_heads, head_dim, -1)
        k = attention.k_proj.weight.view(kv_heads, 1, head_dim, -1)
        v = attention.v_proj.weight.view(kv_heads, 1, head_dim, -1)
        state[prefix + "attention.wqkv.weight"] = torch.cat([q, k, v], dim=1).reshape(-1, config.hidden_size)
        state[prefix + "attention.wo.weight"] = attention.o_proj.weight
        state[prefix + "feed_forward.w1.weight"] = mlp.gate_proj.weight
        state[prefix + "feed_forward.w2.weight"] = mlp.down_proj.weight
        state[prefix + "feed_forward.w3.weight"] = mlp.up_proj.weight
        state[prefix + "attention_norm.weight"] = layer.input_layernorm.weight
        state[prefix + "ffn_norm.weight"] = layer.post_attention_layernorm.weight
    return {name: t.detach().clone().contiguous() for name, t in state.items()}


def test_internlm2_unpacks_into_llama(tmp_path, sentencepiece_model):
    torch.manual_seed(0)
    config = preset_config("sphinx-x-toy").text_config
    config.num_attention_heads, config.num_key_value_heads = 4, 2
    original = LlamaForCausalLM(config).eval()
    save_file(pack_internlm2(original), tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "internlm2", "architectures": ["InternLM2ForCausalLM"], "hidden_size": 64,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128,
        "vocab_size": 512, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 2048,
    }))  # fmt: skip
    (tmp_path / "tokenizer.model").write_bytes(sentencepiece_model.read_bytes())
    model, tokenizer = load_llm(tmp_path)
    ids = torch.randint(0, 400, (1, 12))
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, original(ids).logits, atol=1e-5, rtol=1e-5)
    assert tokenizer.encode("What is in the image?", add_special_tokens=False)


@pytest.fixture(scope="module")
def sentencepiece_model(tmp_path_factory):
    from .release_reference import train_sentencepiece

    return train_sentencepiece(tmp_path_factory.mktemp("sp"))


def test_assemble_from_public_parts_then_export_the_llm(tmp_path):
    torch.manual_seed(0)
    toy = preset_config("sphinx-x-toy")
    LlamaForCausalLM(toy.text_config).save_pretrained(tmp_path / "llm")
    tokenizer = train_toy_tokenizer()
    tokenizer.save_pretrained(tmp_path / "llm")
    torch.save(part("llma.dinov2_vitg14."), tmp_path / "dinov2.pth")
    llm, loaded_tokenizer = load_llm(tmp_path / "llm")
    convnext = load_open_clip_convnext_from_state(tmp_path)
    base = preset_config("sphinx-x-toy")
    base.expert("dinov2").view_size = 16  # the test DINOv2 has patch 4: 16 / 4 = 4 = 32 / 8, as ConvNeXt
    model, processor = assemble(base, llm, loaded_tokenizer, convnext, load_dinov2(tmp_path / "dinov2.pth"))
    assert (
        model.projector.linear.weight.device.type == "cpu" and model.projector.linear.in_features == 32 + 128
    )
    assert torch.equal(model.language_model.lm_head.weight, llm.lm_head.weight)
    assert processor.image_token == model.config.image_token_id == tokenizer.convert_tokens_to_ids("<image>")
    batch = processor([[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]],
                      [__import__("PIL.Image").Image.new("RGB", (40, 20))], add_generation_prompt=False)  # fmt: skip
    assert torch.isfinite(model(**batch).loss)

    model.save_pretrained(tmp_path / "sphinx")
    processor.save_pretrained(tmp_path / "sphinx")
    export_llm(tmp_path / "sphinx", tmp_path / "exported")
    exported = AutoModelForCausalLM.from_pretrained(tmp_path / "exported").eval()
    assert type(exported).__name__ == "LlamaForCausalLM"
    text = processor([[{"role": "user", "content": "Hi"}]])
    with torch.no_grad():
        reloaded = SphinxXForConditionalGeneration.from_pretrained(tmp_path / "sphinx").eval()
        assert torch.equal(exported(text["input_ids"], attention_mask=text["attention_mask"]).logits,
                           reloaded(**text).logits)  # fmt: skip
