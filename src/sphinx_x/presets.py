"""Named presets of the SPHINX family, with the real dimensions of the released models.

The SPHINX-X presets pair two frozen visual experts (CLIP-ConvNeXt-XXL and DINOv2-g/14) with one
base LLM; the four-expert releases (SPHINX v1, SPHINX-1k, SPHINX-MoE, SPHINX-MoE-1k) add BLIP-2's
Q-Former and CLIP ViT-L/14 and use the release transform. The toy presets keep the SPHINX-X
structure at a size that trains on a laptop CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from transformers import (
    Blip2Config,
    CLIPVisionConfig,
    ConvNextConfig,
    Dinov2Config,
    LlamaConfig,
    MixtralConfig,
    PreTrainedConfig,
)

from .config import SphinxXConfig, VisualExpert

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


def clip_vit_large() -> CLIPVisionConfig:
    """OpenAI CLIP ViT-L/14 vision tower at 224, with the exact GELU the release runs it with (its
    weights were trained with QuickGELU: `hidden_act="quick_gelu"`)."""
    return CLIPVisionConfig(
        hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
        patch_size=14, image_size=224, hidden_act="gelu", layer_norm_eps=1e-5, projection_dim=768,
    )  # fmt: skip


def blip2_qformer() -> Blip2Config:
    """`Salesforce/blip2-opt-2.7b`'s vision tower (EVA ViT-g/14: 1408 wide, 39 layers) and Q-Former
    (768 wide, 12 layers, cross-attention every 2nd layer, 32 query tokens); transformers' defaults."""
    return Blip2Config()


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


def two_experts(convnext: ConvNextConfig, dinov2: Dinov2Config, convnext_view: int, dinov2_view: int):
    """SPHINX-X's mixture: ConvNeXt then DINOv2, channel-concatenated."""
    return [VisualExpert("convnext", "convnext", convnext, convnext_view),
            VisualExpert("dinov2", "dinov2", dinov2, dinov2_view)]  # fmt: skip


def four_experts(convnext_on_224_views: bool) -> list[VisualExpert]:
    """The four-expert releases: Q-Former tokens, then CLIP-L | ConvNeXt-XXL | DINOv2-g fused.
    SPHINX v1 / 1k feed ConvNeXt the 224 views (nearest to 256, 8x8 map repeated to 16x16);
    SPHINX-MoE feeds it 512 views."""
    convnext = (VisualExpert("convnext", "convnext", convnext_xxl(), 224, input_size=256, grid_repeat=2)
                if convnext_on_224_views else VisualExpert("convnext", "convnext", convnext_xxl(), 512))  # fmt: skip
    return [VisualExpert("qformer", "qformer", blip2_qformer(), 224),
            VisualExpert("clip", "clip_vit", clip_vit_large(), 224),
            convnext,
            VisualExpert("dinov2", "dinov2", dinov2_giant(), 224)]  # fmt: skip


def _full(llm: Callable, grid: int = 2) -> SphinxXConfig:
    return SphinxXConfig(
        text_config=llm(), visual_experts=two_experts(convnext_xxl(), dinov2_giant(), 512, 224), grid=grid
    )


def _release(llm: PreTrainedConfig, grid: int, convnext_on_224_views: bool) -> SphinxXConfig:
    """A four-expert release: the release transform (centred colour padding, no skip token)."""
    return SphinxXConfig(
        text_config=llm, visual_experts=four_experts(convnext_on_224_views), grid=grid, padding="center",
        use_skip_token=False,
    )  # fmt: skip


def _toy(llm: Callable) -> SphinxXConfig:
    return SphinxXConfig(
        text_config=llm(), visual_experts=two_experts(toy_convnext(), toy_dinov2(), 32, 32), grid=2,
        image_token_id=TOY_IMAGE_TOKEN_ID,
    )  # fmt: skip


def mixtral_with_aux_loss(weight: float) -> MixtralConfig:
    """Mixtral-8x7B with a release's load-balancing weight (0.1 SPHINX-MoE; 0.0 in SPHINX-MoE-1k's
    released config)."""
    config = mixtral_8x7b()
    config.router_aux_loss_coef = weight
    return config


RELEASED_TINY = "release SPHINX-Tiny / -Tiny-1k (`convert accessory`); or `convert assemble`"
ASSEMBLED = "`convert assemble` from {} + CLIP-ConvNeXt-XXL + DINOv2-g"
RELEASED = "release {} (`convert accessory`)"
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
        Preset("sphinx-v1", lambda: _release(llama2_13b(), 1, True), "LLaMA2-13B", RELEASED.format("SPHINX (llama_ens)")),
        Preset("sphinx-1k", lambda: _release(llama2_13b(), 2, True), "LLaMA2-13B",
               RELEASED.format("SPHINX-1k / SPHINX-v2-1k (llama_ens5)")),
        Preset("sphinx-moe", lambda: _release(mixtral_with_aux_loss(0.1), 1, False), "Mixtral-8x7B",
               RELEASED.format("SPHINX-MoE (mixtral_sparse_ens)")),
        Preset("sphinx-moe-1k", lambda: _release(mixtral_with_aux_loss(0.0), 2, False), "Mixtral-8x7B",
               RELEASED.format("SPHINX-MoE-1k (mixtral_sparse_ens5)")),
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
