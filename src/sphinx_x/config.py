"""`SphinxXConfig`: one typed, saved configuration for the whole model.

It composes stock transformers configs (the base LLM and one per visual expert) and adds the few
values that belong to SPHINX itself: which visual experts there are, how an image is padded and cut
into views, and how the visual tokens are laid out. Presets with real dimensions live in `presets.py`.

The mixture of visual experts is a list, in the order the release fuses them:

    visual_experts = [qformer, clip, convnext, dinov2]        (SPHINX v1 / 1k, SPHINX-MoE)
                   = [convnext, dinov2]                       (SPHINX-X: Tiny, Plus, MoE, Intern2)

    one view ->  query experts (Q-Former)   -> [32 tokens]  -> their own projector ---------+
                 grid experts, in list order -> [1 + h*w tokens each], channels concatenated |
                   (token 0: CLS / pseudo-CLS, then the aligned h x w grid, row-major)       |
                   -> the fused projector ------------------------------------------------+
                 view tokens = Q-Former tokens first, then the fused 1 + h*w (32 + 257 = 289)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from . import auto_classes

PADDINGS = ("center", "corner")

# Folders saved before sphinx-x 0.2 wrote this sentinel instead of a real `<image>` token id;
# `sphinx_x.load_model` upgrades them (adds the token to the tokenizer and the embeddings).
LEGACY_IMAGE_TOKEN_ID = -200

# Each kind of visual expert and the transformers `model_type` of its sub-config. The configs are
# resolved through AutoConfig when a config is built: importing their classes here would load
# transformers' model registry, and this module must stay light (see auto_classes.py).
EXPERT_KINDS = {
    "convnext": "convnext",  # CLIP-ConvNeXt trunk: ConvNextConfig
    "dinov2": "dinov2",  # DINOv2: Dinov2Config
    "clip_vit": "clip_vision_model",  # CLIP ViT vision tower: CLIPVisionConfig
    "qformer": "blip-2",  # BLIP-2 vision tower + Q-Former: Blip2Config (its text_config is unused)
}
QUERY_KINDS = ("qformer",)  # experts with their own tokens; every other kind is a grid expert

# Folders saved before the expert list (sphinx-x 0.2) name the two SPHINX-X experts one by one.
LEGACY_EXPERT_FIELDS = {"convnext": ("convnext_config", "convnext_view_size", 512),
                        "dinov2": ("dinov2_config", "dinov2_view_size", 224)}  # fmt: skip


@dataclass
class VisualExpert:
    """One frozen expert of the mixture, and its feature recipe.

    name: key of its pixel values (`pixel_values_{name}`) and of its weights (`vision_experts.{name}`).
    kind: convnext | dinov2 | clip_vit | qformer (see `EXPERT_KINDS`).
    config: its transformers config (ConvNextConfig, Dinov2Config, CLIPVisionConfig, Blip2Config).
    view_size: side of one view as the processor cuts it for this expert.
    input_size: ConvNeXt only: the view is nearest-resized to this side inside the model, in float16
        as the release does (SPHINX v1: the 224 views become 256). None = the view as it comes.
    grid_repeat: ConvNeXt only: each position of its feature map is repeated this many times per side
        (SPHINX v1: the 8x8 map of a 256 input becomes the 16x16 grid of the other experts).
    """

    name: str
    kind: str
    config: PreTrainedConfig
    view_size: int
    input_size: int | None = None
    grid_repeat: int = 1

    @classmethod
    def from_value(cls, value, where: str) -> VisualExpert:
        """A `VisualExpert` from itself or from its saved dict (`where` names it in errors)."""
        if isinstance(value, VisualExpert):
            return value
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a dict with name, kind, config, view_size, got {value!r}")
        unknown = set(value) - {field.name for field in dataclasses.fields(cls)}
        missing = {"name", "kind", "view_size"} - set(value)
        if unknown or missing:
            raise ValueError(f"{where}: unknown fields {sorted(unknown)}, missing fields {sorted(missing)}")
        kind = value["kind"]
        if kind not in EXPERT_KINDS:
            raise ValueError(f"{where}.kind: {kind!r} is not one of {', '.join(EXPERT_KINDS)}")
        spec = SubConfigSpec(config_class=AutoConfig, model_type=EXPERT_KINDS[kind])
        config, _ = spec.create_subconfig(f"{where}.config", value.get("config"))
        return cls(**(value | {"config": config}))

    def to_dict(self) -> dict:
        config = self.config.to_diff_dict()
        config.pop("transformers_version", None)
        config["model_type"] = self.config.model_type
        fields = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        return fields | {"config": config}

    @property
    def is_query(self) -> bool:
        """True for experts whose tokens are their own (the Q-Former's), not a fused grid."""
        return self.kind in QUERY_KINDS

    @property
    def channels(self) -> int:
        """Width of one of its tokens (ConvNeXt-XXL 3072, DINOv2-g 1536, CLIP-L 1024, Q-Former 768)."""
        return CHANNELS[self.kind](self.config)

    @property
    def grid_side(self) -> int:
        """Side of its token grid for one view (16 in the releases); grid experts only."""
        return GRID_SIDES[self.kind](self)

    @property
    def num_tokens(self) -> int:
        """Tokens it gives one view: the query tokens, or CLS / pseudo-CLS + the grid."""
        return self.config.num_query_tokens if self.is_query else self.grid_side**2 + 1

    def check(self, where: str) -> None:
        if not self.name.isidentifier():
            raise ValueError(
                f"{where}.name: {self.name!r} must be an identifier (it names pixel_values_NAME)"
            )
        if self.kind not in EXPERT_KINDS:
            raise ValueError(f"{where}.kind: {self.kind!r} is not one of {', '.join(EXPERT_KINDS)}")
        if self.config.model_type != EXPERT_KINDS[self.kind]:
            raise ValueError(
                f"{where}.config: a {self.kind} expert needs model_type {EXPERT_KINDS[self.kind]!r}, "
                f"got {self.config.model_type!r}"
            )
        if self.kind != "convnext" and (self.input_size is not None or self.grid_repeat != 1):
            raise ValueError(f"{where}: input_size and grid_repeat are ConvNeXt options, not {self.kind}'s")
        if self.view_size < 1 or self.grid_repeat < 1:
            raise ValueError(f"{where}: view_size and grid_repeat must be >= 1")


def convnext_stride(config) -> int:
    """Total downsampling of a ConvNeXt trunk: the patchify stem, then x2 per later stage."""
    return config.patch_size * 2 ** (config.num_stages - 1)


def convnext_grid_side(expert: VisualExpert) -> int:
    return (expert.input_size or expert.view_size) // convnext_stride(expert.config) * expert.grid_repeat


def vit_grid_side(expert: VisualExpert) -> int:
    return expert.view_size // expert.config.patch_size


GRID_SIDES = {"convnext": convnext_grid_side, "dinov2": vit_grid_side, "clip_vit": vit_grid_side}
CHANNELS = {
    "convnext": lambda config: config.hidden_sizes[-1],
    "dinov2": lambda config: config.hidden_size,
    "clip_vit": lambda config: config.hidden_size,
    "qformer": lambda config: config.qformer_config.hidden_size,
}


class SphinxXConfig(PreTrainedConfig):
    """Configuration of a SPHINX model (the SPHINX-X family and the four-expert releases).

    Fields (besides `text_config`, the base LLM's config):
        visual_experts: the mixture of visual experts, a list of `VisualExpert` (dicts in config.json)
            in the release's fusion order; see the module docstring. Default: ConvNeXt + DINOv2.
        padding: "corner" = the SPHINX-X transform (aspect-preserving resize, image at the top-left,
            zero padding, skip tokens possible); "center" = the released checkpoints' transform
            (centred square padding with the CLIP-mean colour, never a skip token, resized views
            rounded through float16 as the release does).
        use_skip_token: replace fully padded sub-images by one learned `skip_img` embedding.
            Only meaningful with corner padding.
        grid: sub-images per side (1 = global view only, 2 = 2x2 + global, 3 = 3x3 + global).
        image_token_id: id of the tokenizer's `<image>` special token, which the processor writes
            once per visual token and the model fills with visual embeddings. None until the model
            is given a tokenizer (real-size presets: by `convert` or `assemble`).
        projector_layernorm_eps: eps of the LayerNorm after each projector's Linear.
        initializer_range: std of the normal init of the projectors and the start/end/skip tokens.

    Folders saved before the expert list (`convnext_config`, `dinov2_config`, `convnext_view_size`,
    `dinov2_view_size`) load as the same two experts.
    """

    model_type: ClassVar[str] = "sphinx_x"
    sub_configs_defaults: ClassVar[dict] = {
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="llama"),
    }

    text_config: dict | PreTrainedConfig | None = None
    visual_experts: list | None = None
    padding: str = "corner"
    use_skip_token: bool = True
    grid: int = 2
    image_token_id: int | None = None
    projector_layernorm_eps: float = 1e-5
    initializer_range: float = 0.02
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs):
        legacy = {key: kwargs.pop(key) for fields in LEGACY_EXPERT_FIELDS.values() for key in fields[:2]
                  if key in kwargs}  # fmt: skip
        super().__post_init__(**kwargs)
        self.visual_experts = self.experts_from(self.visual_experts, legacy)
        self.validate_sphinx_fields()

    @staticmethod
    def experts_from(value: list | None, legacy: dict) -> list[VisualExpert]:
        if value is not None and legacy:
            raise ValueError(
                f"SphinxXConfig: give visual_experts or the legacy {', '.join(legacy)}, not both"
            )
        if value is None:
            value = [
                {"name": name, "kind": name, "config": legacy.get(config_key), "view_size": legacy.get(size_key, size)}
                for name, (config_key, size_key, size) in LEGACY_EXPERT_FIELDS.items()
            ]  # fmt: skip
        return [VisualExpert.from_value(expert, f"visual_experts[{i}]") for i, expert in enumerate(value)]

    def validate_sphinx_fields(self) -> None:
        if self.padding not in PADDINGS:
            raise ValueError(f"SphinxXConfig.padding must be one of {PADDINGS}, got {self.padding!r}")
        if self.use_skip_token and self.padding != "corner":
            raise ValueError(
                "SphinxXConfig.use_skip_token=True needs padding='corner': with centred padding no "
                "sub-image is ever fully padded (the released checkpoints have no skip token)"
            )
        if self.grid < 1:
            raise ValueError(f"SphinxXConfig.grid must be >= 1, got {self.grid}")
        if self.image_token_id is not None and not (
            self.image_token_id == LEGACY_IMAGE_TOKEN_ID
            or 0 <= self.image_token_id < self.text_config.vocab_size
        ):
            raise ValueError(
                f"SphinxXConfig.image_token_id={self.image_token_id} is not a token of the LLM's vocabulary "
                f"(size {self.text_config.vocab_size})"
            )
        self.validate_experts()

    def validate_experts(self) -> None:
        for index, expert in enumerate(self.visual_experts):
            expert.check(f"SphinxXConfig.visual_experts[{index}]")
        names = [expert.name for expert in self.visual_experts]
        if len(set(names)) != len(names):
            raise ValueError(f"SphinxXConfig.visual_experts: names must be unique, got {names}")
        if not self.grid_experts:
            raise ValueError(
                "SphinxXConfig.visual_experts: at least one grid expert (not a Q-Former) is needed"
            )
        sides = {expert.name: expert.grid_side for expert in self.grid_experts}
        if len(set(sides.values())) != 1:
            raise ValueError(
                "the grid experts must produce aligned token grids, got "
                + ", ".join(f"{name} {side}x{side} (view {self.expert(name).view_size})" for name, side in sides.items())
            )  # fmt: skip

    def to_dict(self) -> dict:
        output = super().to_dict()
        output["visual_experts"] = [expert.to_dict() for expert in self.visual_experts]
        return output

    def expert(self, name: str) -> VisualExpert:
        for expert in self.visual_experts:
            if expert.name == name:
                return expert
        raise KeyError(f"no visual expert named {name!r}; the model has {', '.join(self.view_sizes)}")

    @property
    def grid_experts(self) -> list[VisualExpert]:
        """The experts whose grids are fused by channel concatenation, in fusion order."""
        return [expert for expert in self.visual_experts if not expert.is_query]

    @property
    def query_experts(self) -> list[VisualExpert]:
        """The experts with tokens of their own (Q-Former), placed first in each view."""
        return [expert for expert in self.visual_experts if expert.is_query]

    @property
    def feature_grid_side(self) -> int:
        """Side of the aligned token grid of one view (16 for the released models)."""
        return self.grid_experts[0].grid_side

    @property
    def tokens_per_view(self) -> int:
        """Visual tokens of one encoded view: query tokens, then the pseudo-CLS and the grid
        (257 for SPHINX-X, 32 + 257 = 289 for the four-expert releases)."""
        return sum(expert.num_tokens for expert in self.query_experts) + self.feature_grid_side**2 + 1

    @property
    def visual_feature_size(self) -> int:
        """Channels of the fused grid (3072 + 1536 = 4608; 1024 + 3072 + 1536 = 5632 with CLIP)."""
        return sum(expert.channels for expert in self.grid_experts)

    @property
    def view_sizes(self) -> dict[str, int]:
        """Each expert's view size, by name, in the list's order (the processor's `view_sizes`)."""
        return {expert.name: expert.view_size for expert in self.visual_experts}


auto_classes.config_defined()  # registrations that waited for this module (see auto_classes.py)
