"""sphinx_x.quantize through load_model: what is quantized, what stays, how close the logits stay."""

import pytest
import torch
from torch import nn

from sphinx_x.cli import main
from sphinx_x.loading import cpu_has_native_bfloat16, fastest_dtype, load_model, resolve_dtype
from sphinx_x.quantize import UnfusedExperts, quantize_model, quantized_linears, unfuse_experts, weight_bytes

QUESTION = [{"role": "user", "content": "What is on the left of the picture, and what colour is it?"}]


def toy(preset="sphinx-x-toy", **options):
    torch.manual_seed(0)
    return load_model(preset, device="cpu", **options)


def logits(model, processor, image):
    with torch.no_grad():
        return model(**processor([QUESTION], [image])).logits


def relative_error(ours, reference) -> float:
    return ((ours - reference).norm() / reference.norm()).item()


@pytest.fixture(scope="module")
def image():
    from tests.conftest import shapes_image

    return shapes_image(96, 48)


@pytest.mark.parametrize("method, weight_type", [("int8", "Int8Tensor"), ("int4", "Params4bit")])
def test_the_llm_layers_are_quantized_and_the_rest_stays(method, weight_type, image):
    reference, processor = toy()
    model, _ = toy(quantize=method)
    layer = model.language_model.model.layers[0]
    for linear in (layer.self_attn.q_proj, layer.self_attn.o_proj, layer.mlp.gate_proj, layer.mlp.down_proj):
        assert type(linear.weight).__name__ == weight_type
    full = [model.projector.linear.weight, model.projector.norm.weight, model.visual_tokens.skip_img,
            model.language_model.lm_head.weight, model.language_model.model.embed_tokens.weight,
            layer.input_layernorm.weight, model.vision_experts.dinov2.encoder.layer[0].mlp.gate_proj.weight]  # fmt: skip
    assert all(type(tensor) is nn.Parameter and tensor.dtype == torch.float32 for tensor in full)
    # Measured on this random toy: int8 0.6%, int4 8% of the logits' norm. A bound that fails if
    # quantization broke a layer, and a floor that fails if nothing was quantized.
    error = relative_error(logits(model, processor, image), logits(reference, processor, image))
    assert {"int8": 1e-4 < error < 0.02, "int4": 0.01 < error < 0.2}[method], error


def test_weight_memory_counts_what_is_stored():
    full, _ = toy()
    int8, _ = toy(quantize="int8")
    int4, _ = toy(quantize="int4", quantize_vision=True)
    quantized = [full.get_submodule(name).weight for name in quantized_linears(full)]
    linear_bytes = sum(weight.numel() * 4 for weight in quantized)
    # int8: one byte per weight, a float32 scale and an int8 zero point per output row.
    rows = sum(weight.shape[0] for weight in quantized)
    assert (
        weight_bytes(int8)["llm"] == weight_bytes(full)["llm"] - linear_bytes + linear_bytes // 4 + rows * 5
    )
    assert weight_bytes(int8)["vision"] == weight_bytes(full)["vision"]
    assert (
        weight_bytes(int4)["llm"] < weight_bytes(int8)["llm"]
        and weight_bytes(int4)["vision"] < weight_bytes(full)["vision"]
    )
    assert weight_bytes(full)["total"] == sum(p.numel() * 4 for p in full.parameters()) + sum(
        b.numel() * b.element_size() for b in full.buffers()
    )


def test_vision_experts_are_quantized_only_when_asked(image):
    model, processor = toy(quantize="int8", quantize_vision=True)
    dinov2, convnext = model.vision_experts.dinov2, model.vision_experts.convnext
    assert type(dinov2.encoder.layer[0].attention.q_proj.weight).__name__ == "Int8Tensor"
    assert type(convnext.encoder.stages[0].layers[0].pwconv1.weight).__name__ == "Int8Tensor"
    assert type(convnext.embeddings.patch_embeddings.weight) is nn.Parameter  # convolutions stay
    assert type(model.projector.linear.weight) is nn.Parameter
    assert torch.isfinite(logits(model, processor, image)).all()


def test_mixtral_experts_are_unfused_then_quantized(image):
    fused, processor = toy("sphinx-x-toy-moe")
    reference = logits(fused, processor, image)
    unfused, _ = toy("sphinx-x-toy-moe")
    assert unfuse_experts(unfused.language_model) == 2  # one experts module per decoder layer
    experts = unfused.language_model.model.layers[0].mlp.experts
    assert isinstance(experts, UnfusedExperts) and len(experts.gate_up_proj) == 4
    torch.testing.assert_close(logits(unfused, processor, image), reference, atol=1e-5, rtol=1e-5)
    quantize_model(unfused, "int8")
    assert type(experts.gate_up_proj[3].weight).__name__ == "Int8Tensor"
    assert type(unfused.language_model.model.layers[0].mlp.gate.weight) is nn.Parameter  # the router stays
    assert weight_bytes(unfused)["llm"] < 0.6 * weight_bytes(fused)["llm"]
    assert relative_error(logits(unfused, processor, image), reference) < 0.02


def test_fastest_dtype_follows_the_cpu():
    expected = torch.bfloat16 if cpu_has_native_bfloat16() else torch.float32
    assert fastest_dtype(torch.device("cpu")) == resolve_dtype("fastest", torch.device("cpu")) == expected


def test_the_command_line_quantizes_and_refuses_nonsense(capsys):
    assert main(["chat", "--quantize", "int8", "--max-new-tokens", "3", "--seed", "0", "Hi"]) == 0
    assert main(["chat", "--quantize-vision", "Hi"]) == 2
    assert "--quantize-vision needs --quantize int8 or int4" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["chat", "--quantize", "int3", "Hi"])
    with pytest.raises(ValueError, match="--quantize 'int3': expected one of int8, int4"):
        load_model("sphinx-x-toy", quantize="int3")
