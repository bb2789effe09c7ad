"""What each released SPHINX checkpoint is: its `meta.json` `llama_type` names a layout of the
release's code, and its weights' shapes give the dimensions.

    llama_type             checkpoints                     experts (fusion order)        LLM      views
    llama_ens_light        SPHINX-Tiny                     convnext, dinov2              LLaMA    1
    llama_ens5_light       SPHINX-Tiny-1k                  convnext, dinov2              LLaMA    2x2 + global
    llama_ens              SPHINX (v1)                     qformer, clip, convnext, dinov2  LLaMA    1
    llama_ens5             SPHINX-1k, SPHINX-v2-1k         qformer, clip, convnext, dinov2  LLaMA    2x2 + global
    mixtral_sparse_ens     SPHINX-MoE                      qformer, clip, convnext, dinov2  Mixtral  1
    mixtral_sparse_ens5    SPHINX-MoE-1k                   qformer, clip, convnext, dinov2  Mixtral  2x2 + global

View sizes. The two-expert layouts fix them in code (ConvNeXt 512, DINOv2 224). In the
four-expert layouts they follow from the weights: CLIP's position table gives the token grid
(16 x 16 at 224), and every other expert's view is the one that yields that grid (DINOv2 and the
Q-Former 224; ConvNeXt 512 in SPHINX-MoE, or the 224 views nearest-resized to 256, whose 8 x 8
map is repeated 2 x 2, in SPHINX v1 / 1k), which is what the release's code hard-codes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from transformers import LlamaConfig, MixtralConfig, PreTrainedConfig

from ..config import VisualExpert, convnext_stride
from .key_maps import (
    blip2_qformer_config,
    blip2_qformer_to_hf,
    convnext_timm_config,
    convnext_timm_to_hf,
    count_indices,
    dinov2_hub_config,
    dinov2_hub_to_hf,
    open_clip_vit_config,
    open_clip_vit_to_hf,
)  # fmt: skip
from .shards import AccessoryCheckpoint, CheckpointFormatError

TWO_EXPERTS = ("convnext", "dinov2")
FOUR_EXPERTS = ("qformer", "clip", "convnext", "dinov2")


@dataclass(frozen=True)
class ReleaseLayout:
    """What the release's code (not its weights) fixes."""

    grid: int
    experts: tuple[str, ...]  # our expert names, in the release's fusion order (Q-Former first)
    llm: str = "llama"  # "llama" | "mixtral"
    convnext_on_small_views: bool = False  # SPHINX v1 / 1k: ConvNeXt sees the 224 views at 256
    load_balancing_weight: float = 0.0  # the code's default; config.json may override it


RELEASE_LAYOUTS = {
    "llama_ens_light": ReleaseLayout(grid=1, experts=TWO_EXPERTS),
    "llama_ens5_light": ReleaseLayout(grid=2, experts=TWO_EXPERTS),
    "llama_ens": ReleaseLayout(grid=1, experts=FOUR_EXPERTS, convnext_on_small_views=True),
    "llama_ens5": ReleaseLayout(grid=2, experts=FOUR_EXPERTS, convnext_on_small_views=True),
    "mixtral_sparse_ens": ReleaseLayout(1, FOUR_EXPERTS, "mixtral", load_balancing_weight=0.1),
    "mixtral_sparse_ens5": ReleaseLayout(2, FOUR_EXPERTS, "mixtral", load_balancing_weight=0.01),
}
TWO_EXPERT_VIEWS = {"convnext": {"view_size": 512}, "dinov2": {"view_size": 224}}


@dataclass(frozen=True)
class ExpertSource:
    """Where a visual expert sits in a release checkpoint and how its weights become ours."""

    prefix: str  # of its keys in the release
    kind: str
    to_hf: Callable  # key map (name, tensor) -> pairs, see key_maps
    config: Callable[[Mapping], PreTrainedConfig]  # from its shapes (names without the prefix)


RELEASE_EXPERTS = {
    "qformer": ExpertSource("llma.qformer.", "qformer", blip2_qformer_to_hf, blip2_qformer_config),
    "clip": ExpertSource("llma.clip.", "clip_vit", open_clip_vit_to_hf, open_clip_vit_config),
    "convnext": ExpertSource("llma.openclip_convnext_xxl.", "convnext", convnext_timm_to_hf, convnext_timm_config),
    "dinov2": ExpertSource("llma.dinov2_vitg14.", "dinov2", dinov2_hub_to_hf, dinov2_hub_config),
}  # fmt: skip
PROJECTORS = {"llma.visual_proj.": "projector.", "llma.qformer_proj.": "query_projectors.qformer."}


def release_layout(meta: dict, source: Path) -> ReleaseLayout:
    llama_type = meta.get("llama_type")
    if llama_type not in RELEASE_LAYOUTS:
        raise CheckpointFormatError(
            f"{source / 'meta.json'}: llama_type {llama_type!r} unknown; supported: {', '.join(RELEASE_LAYOUTS)}"
        )
    return RELEASE_LAYOUTS[llama_type]


# -- the visual experts -------------------------------------------------------------------------


def release_experts(
    checkpoint: AccessoryCheckpoint,
    layout: ReleaseLayout,
    view_sizes: Mapping[str, int],
    clip_activation: str,
) -> list[VisualExpert]:
    """The experts of `layout` with their configs read off the weights; `view_sizes` overrides the
    release's view sizes by expert name (scaled-down checkpoints)."""
    if unknown := set(view_sizes) - set(layout.experts):
        raise ValueError(
            f"view sizes for {sorted(unknown)}: this release's experts are {', '.join(layout.experts)}"
        )
    configs = {name: expert_config(checkpoint, layout, name) for name in layout.experts}
    if "clip" in configs:
        configs["clip"].hidden_act = clip_activation
    recipes = four_expert_views(configs, layout) if "clip" in configs else dict(TWO_EXPERT_VIEWS)
    for name, size in view_sizes.items():
        recipes[name] = recipes[name] | {"view_size": size}
    return [
        VisualExpert(name, RELEASE_EXPERTS[name].kind, configs[name], **recipes[name])
        for name in layout.experts
    ]


def expert_config(checkpoint: AccessoryCheckpoint, layout: ReleaseLayout, name: str) -> PreTrainedConfig:
    prefix = RELEASE_EXPERTS[name].prefix
    shapes = checkpoint.shapes(prefix)
    if not shapes:
        raise CheckpointFormatError(
            f"{checkpoint.folder}: no {prefix}* keys; this release's layout has the experts {', '.join(layout.experts)}"
        )
    try:
        return RELEASE_EXPERTS[name].config(shapes)
    except (KeyError, ValueError) as error:
        raise CheckpointFormatError(f"{checkpoint.folder}: {prefix}*: {error}") from None


def four_expert_views(configs: Mapping[str, PreTrainedConfig], layout: ReleaseLayout) -> dict[str, dict]:
    """Each expert's view size (and ConvNeXt's recipe) that gives it CLIP's token grid."""
    clip = configs["clip"]
    side = clip.image_size // clip.patch_size  # 16 for ViT-L/14 at 224
    stride = convnext_stride(configs["convnext"])  # 32
    if layout.convnext_on_small_views:  # the 224 views, nearest-resized to 256; the 8x8 map repeated 2x2
        convnext = {"view_size": clip.image_size, "input_size": side // 2 * stride, "grid_repeat": 2}
    else:
        convnext = {"view_size": side * stride}  # 512
    return {
        "qformer": {"view_size": configs["qformer"].vision_config.image_size},
        "clip": {"view_size": clip.image_size},
        "convnext": convnext,
        "dinov2": {"view_size": side * configs["dinov2"].patch_size},
    }


# -- the LLM ------------------------------------------------------------------------------------


def llm_config(
    checkpoint: AccessoryCheckpoint, args: dict, layout: ReleaseLayout, source: Path
) -> PreTrainedConfig:
    """The LLM's config from its shapes and the release's config.json (`args`, its ModelArgs)."""
    return LLM_CONFIGS[layout.llm](checkpoint, args, layout, source)


def llm_dims(checkpoint: AccessoryCheckpoint, args: dict, source: Path, extra: dict | None = None) -> dict:
    """Dimensions read off the weights, checked against config.json where it states them."""
    vocab_size, hidden_size = checkpoint.shape("llma.tok_embeddings.weight")
    if "n_heads" not in args:
        raise CheckpointFormatError(f"{source / 'config.json'}: field 'n_heads' is required")
    head_dim = hidden_size // args["n_heads"]
    dims = {
        "dim": hidden_size,
        "n_layers": count_indices(checkpoint.names(), r"llma\.layers\.(\d+)\.attention_norm\.weight"),
        "n_kv_heads": checkpoint.shape("llma.layers.0.attention.wk.weight")[0] // head_dim,
        "vocab_size": vocab_size,
    } | (extra or {})
    for field, inferred in dims.items():
        if args.get(field) not in (None, -1, inferred):
            raise CheckpointFormatError(
                f"{source / 'config.json'}: {field}={args[field]} but the weights say {inferred}"
            )
    return dims


def common_llm_fields(dims: dict, args: dict, default_theta: float) -> dict:
    return {
        "hidden_size": dims["dim"],
        "num_hidden_layers": dims["n_layers"],
        "num_attention_heads": args["n_heads"],
        "num_key_value_heads": dims["n_kv_heads"],
        "vocab_size": dims["vocab_size"],
        "rms_norm_eps": args.get("norm_eps", 1e-5),
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": float(args.get("rope_theta", default_theta)),
        },
        "max_position_embeddings": args.get("max_seq_len", 4096),
        "bos_token_id": 1,
        "eos_token_id": 2,
        "tie_word_embeddings": False,
    }


def llama_config(
    checkpoint: AccessoryCheckpoint, args: dict, layout: ReleaseLayout, source: Path
) -> LlamaConfig:
    dims = llm_dims(checkpoint, args, source)
    intermediate = checkpoint.shape("llma.layers.0.feed_forward.w1.weight")[0]
    return LlamaConfig(intermediate_size=intermediate, **common_llm_fields(dims, args, 10000.0))


def mixtral_config(
    checkpoint: AccessoryCheckpoint, args: dict, layout: ReleaseLayout, source: Path
) -> MixtralConfig:
    """Mixtral: `feed_forward.gate.weight [E, D]` gives the experts, `w1 [E * I, D]` their width."""
    experts = checkpoint.shape("llma.layers.0.feed_forward.gate.weight")[0]
    intermediate = checkpoint.shape("llma.layers.0.feed_forward.w1")[0] // experts
    dims = llm_dims(checkpoint, args, source, {"hidden_dim": intermediate})
    moe = args.get("moe") or {}
    if moe.get("num_experts", experts) != experts:
        raise CheckpointFormatError(
            f"{source / 'config.json'}: moe.num_experts={moe['num_experts']} but the weights have {experts}"
        )
    return MixtralConfig(
        intermediate_size=intermediate,
        num_local_experts=experts,
        num_experts_per_tok=moe.get("num_experts_per_tok", 2),
        router_aux_loss_coef=float(args.get("load_balancing_weight", layout.load_balancing_weight)),
        **common_llm_fields(dims, args, 1e6),
    )


LLM_CONFIGS = {"llama": llama_config, "mixtral": mixtral_config}
