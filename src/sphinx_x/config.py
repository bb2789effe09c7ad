"""`SphinxXConfig`: one typed, saved configuration for the whole model.

It composes three stock transformers configs (the base LLM, CLIP-ConvNeXt, DINOv2) and adds the
few values that belong to SPHINX-X itself: how an image is padded and cut into views, and how the
visual tokens are laid out. Presets with real dimensions live in `presets.py`.
"""

from __future__ import annotations

from typing import ClassVar

from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from . import auto_classes

PADDINGS = ("center", "corner")

# Folders saved before sphinx-x 0.2 wrote this sentinel instead of a real `<image>` token id;
# `sphinx_x.load_model` upgrades them (adds the token to the tokenizer and the embeddings).
LEGACY_IMAGE_TOKEN_ID = -200


class SphinxXConfig(PreTrainedConfig):
    """Configuration of a SPHINX-X model.

    Fields (besides the three sub-configs):
        padding: "corner" = the SPHINX-X transform (aspect-preserving resize, image at the top-left,
            zero padding, skip tokens possible); "center" = the released checkpoints' transform
            (centred square padding with the CLIP-mean colour, never a skip token).
        use_skip_token: replace fully padded sub-images by one learned `skip_img` embedding.
            Only meaningful with corner padding.
        grid: sub-images per side (1 = global view only, 2 = 2x2 + global, 3 = 3x3 + global).
        convnext_view_size / dinov2_view_size: the side of one view as each expert sees it.
        image_token_id: id of the tokenizer's `<image>` special token, which the processor writes
            once per visual token and the model fills with visual embeddings. None until the model
            is given a tokenizer (real-size presets: by `convert` or `assemble`).
        projector_layernorm_eps: eps of the LayerNorm after the projector's Linear.
        initializer_range: std of the normal init of the projector and the start/end/skip tokens.
    """

    model_type: ClassVar[str] = "sphinx_x"
    sub_configs_defaults: ClassVar[dict] = {
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="llama"),
        # Through AutoConfig: importing the ConvNeXt / DINOv2 configs here would load transformers'
        # model registry, and this module must stay light (see auto_classes.py).
        "convnext_config": SubConfigSpec(config_class=AutoConfig, model_type="convnext"),
        "dinov2_config": SubConfigSpec(config_class=AutoConfig, model_type="dinov2"),
    }

    text_config: dict | PreTrainedConfig | None = None
    convnext_config: dict | PreTrainedConfig | None = None
    dinov2_config: dict | PreTrainedConfig | None = None
    padding: str = "corner"
    use_skip_token: bool = True
    grid: int = 2
    convnext_view_size: int = 512
    dinov2_view_size: int = 224
    image_token_id: int | None = None
    projector_layernorm_eps: float = 1e-5
    initializer_range: float = 0.02
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self.validate_sphinx_fields()

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
        convnext_side = self.convnext_view_size // convnext_stride(self.convnext_config)
        dinov2_side = self.dinov2_view_size // self.dinov2_config.patch_size
        if convnext_side != dinov2_side:
            raise ValueError(
                "the two visual experts must produce aligned token grids, got ConvNeXt "
                f"{convnext_side}x{convnext_side} (view {self.convnext_view_size}, stride "
                f"{convnext_stride(self.convnext_config)}) and DINOv2 {dinov2_side}x{dinov2_side} "
                f"(view {self.dinov2_view_size}, patch {self.dinov2_config.patch_size})"
            )

    @property
    def feature_grid_side(self) -> int:
        """Side of the aligned token grid of one view (16 for the released models)."""
        return self.convnext_view_size // convnext_stride(self.convnext_config)

    @property
    def tokens_per_view(self) -> int:
        """Visual tokens of one encoded view: the pseudo-CLS plus the grid (257 when released)."""
        return self.feature_grid_side**2 + 1

    @property
    def visual_feature_size(self) -> int:
        """Channels after concatenating ConvNeXt and DINOv2 features (3072 + 1536 = 4608)."""
        return self.convnext_config.hidden_sizes[-1] + self.dinov2_config.hidden_size

    @property
    def view_sizes(self) -> dict[str, int]:
        return {"convnext": self.convnext_view_size, "dinov2": self.dinov2_view_size}


auto_classes.config_defined()  # registrations that waited for this module (see auto_classes.py)


def convnext_stride(config) -> int:
    """Total downsampling of a ConvNeXt trunk: the patchify stem, then x2 per later stage."""
    return config.patch_size * 2 ** (config.num_stages - 1)
