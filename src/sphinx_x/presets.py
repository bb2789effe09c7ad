"""Named presets of the SPHINX-X family, with the real dimensions of the released models.

Every preset pairs the two frozen visual experts (CLIP-ConvNeXt-XXL and DINOv2-g/14) with one base
LLM. The toy presets keep the same structure at a size that trains on a laptop CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from transformers import ConvNextConfig, Dinov2Config, LlamaConfig, MixtralConfig

from .config import SphinxXConfig

# -- visual experts ---------------------------------------------------------------------------


def convnext_xxl() -> ConvNextConfig:
    """open_clip `convnext_xxlarge` trunk; eps 1e-5 everywhere (applied by the expert wrapper)."""
    return ConvNextConfig(
        hidden_sizes=[384, 768, 1536, 3072], depths=[3, 4, 30, 3], layer_norm_eps=1e-5, image_size=512
    )


def dinov2_giant() -> Dinov2Config:
    """`dinov2_vitg14`: SwiGLU FFN (hidden 4096), trained at 518 (37x37 positions), no registers."""
    return Dinov2Config(
        hidden_size=1536,
        num_hidden_layers=40,
        num_attention_heads=24,
        mlp_ratio=4,
        use_swiglu_ffn=True,
        patch_size=14,
        image_size=518,
        layer_norm_eps=1e-6,
    )


def toy_convnext() -> ConvNextConfig:
    return ConvNextConfig(
        hidden_sizes=[16, 32], depths=[1, 1], num_stages=2, layer_norm_eps=1e-5, image_size=32
    )


def toy_dinov2() -> Dinov2Config:
    return Dinov2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        use_swiglu_ffn=True,
        patch_size=8,
        image_size=32,
    )


# -- base LLMs -------------------------------------------------------------------------------


def _rope(theta: float) -> dict:
    return {"rope_type": "default", "rope_theta": theta}


def tinyllama_1b() -> LlamaConfig:
    return LlamaConfig(
        hidden_size=2048, num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4,
        intermediate_size=5632, vocab_size=32000, rms_norm_eps=1e-5, rope_parameters=_rope(1e4),
        max_position_embeddings=4096,
    )  # fmt: skip


def llama2_13b() -> LlamaConfig:
    return LlamaConfig(
        hidden_size=5120, num_hidden_layers=40, num_attention_heads=40, num_key_value_heads=40,
        intermediate_size=13824, vocab_size=32000, rms_norm_eps=1e-5, rope_parameters=_rope(1e4),
        max_position_embeddings=4096,
    )  # fmt: skip


def internlm2_7b() -> LlamaConfig:
    """InternLM2-7B in Llama layout (its packed `wqkv` unpacked by the loader)."""
    return LlamaConfig(
        hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
        intermediate_size=14336, vocab_size=92544, rms_norm_eps=1e-5, rope_parameters=_rope(1e6),
        max_position_embeddings=32768,
    )  # fmt: skip


def mixtral_8x7b() -> MixtralConfig:
    return MixtralConfig(
        hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
        intermediate_size=14336, num_local_experts=8, num_experts_per_tok=2, vocab_size=32000,
        rms_norm_eps=1e-5, rope_parameters=_rope(1e6), max_position_embeddings=32768,
        router_aux_loss_coef=0.01,
    )  # fmt: skip


TOY_VOCAB_SIZE = 512
TOY_IMAGE_TOKEN_ID = 4  # `<image>` in the toy tokenizer (processing/tokenizer.py SPECIAL_TOKENS)


def toy_llama() -> LlamaConfig:
    return LlamaConfig(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=128, vocab_size=TOY_VOCAB_SIZE, rms_norm_eps=1e-5, rope_parameters=_rope(1e4),
        max_position_embeddings=2048, bos_token_id=1, eos_token_id=2, pad_token_id=3,
    )  # fmt: skip


def toy_mixtral() -> MixtralConfig:
    return MixtralConfig(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=64, num_local_experts=4, num_experts_per_tok=2, vocab_size=TOY_VOCAB_SIZE,
        rms_norm_eps=1e-5, rope_parameters=_rope(1e6), max_position_embeddings=2048,
        bos_token_id=1, eos_token_id=2, pad_token_id=3,
    )  # fmt: skip


# -- the family ------------------------------------------------------------------------------


def _full(llm: Callable, grid: int = 2) -> SphinxXConfig:
    return SphinxXConfig(
        text_config=llm(), convnext_config=convnext_xxl(), dinov2_config=dinov2_giant(), grid=grid,
        convnext_view_size=512, dinov2_view_size=224,
    )  # fmt: skip


def _toy(llm: Callable) -> SphinxXConfig:
    return SphinxXConfig(
        text_config=llm(), convnext_config=toy_convnext(), dinov2_config=toy_dinov2(), grid=2,
        convnext_view_size=32, dinov2_view_size=32, image_token_id=TOY_IMAGE_TOKEN_ID,
    )  # fmt: skip


RELEASED_TINY = "release SPHINX-Tiny / -Tiny-1k (`convert accessory`); or `convert assemble`"
ASSEMBLED = "`convert assemble` from {} + CLIP-ConvNeXt-XXL + DINOv2-g"
TOY = "random init + toy tokenizer (trains on a CPU)"


@dataclass(frozen=True)
class Preset:
    """A member of the family: its config, its base LLM, and where its weights come from.

    `toy` presets build with the toy tokenizer and random weights (they train on a CPU here);
    the others describe released or assemblable models and have no weights without a download.
    """

    name: str
    build: Callable[[], SphinxXConfig]
    base_llm: str
    weights: str
    toy: bool = False


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in [
        Preset("sphinx-x-tiny", lambda: _full(tinyllama_1b), "TinyLlama-1.1B", RELEASED_TINY),
        Preset("sphinx-x-intern2", lambda: _full(internlm2_7b), "InternLM2-7B", ASSEMBLED.format("InternLM2-7B")),
        Preset("sphinx-x-plus", lambda: _full(llama2_13b), "LLaMA2-13B", ASSEMBLED.format("LLaMA2-13B")),
        Preset("sphinx-x-plus-2k", lambda: _full(llama2_13b, grid=3), "LLaMA2-13B", ASSEMBLED.format("LLaMA2-13B")),
        Preset("sphinx-x-moe", lambda: _full(mixtral_8x7b), "Mixtral-8x7B", ASSEMBLED.format("Mixtral-8x7B")),
        Preset("sphinx-x-toy", lambda: _toy(toy_llama), "toy Llama (2 layers, width 64)", TOY, toy=True),
        Preset("sphinx-x-toy-moe", lambda: _toy(toy_mixtral), "toy Mixtral (4 routed FFNs, top-2)", TOY, toy=True),
    ]
}  # fmt: skip


def get_preset(name: str) -> Preset:
    """A named preset; a `ValueError` lists the known names."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    return PRESETS[name]


def preset_config(name: str) -> SphinxXConfig:
    """The config of a named preset; a `ValueError` lists the known names."""
    return get_preset(name).build()
