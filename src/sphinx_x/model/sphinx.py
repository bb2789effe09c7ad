"""The SPHINX-X model, top to bottom:

views (from the processor, one pixel tensor per expert) -> MoV features (fused grid + Q-Former
tokens) -> projectors -> [start|view|end] / [skip] blocks -> placed right after BOS in the LLM's
input embeddings -> causal LM -> loss on supervised tokens
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoTokenizer, GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.cache_utils import Cache
from transformers.utils import ModelOutput

from ..config import LEGACY_IMAGE_TOKEN_ID, SphinxXConfig
from .llm import build_llm
from .projector import Projector
from .token_layout import VisualTokenEmbeddings
from .vision_experts import MixtureOfVisualExperts, VisualFeatures

IGNORE_INDEX = -100  # labels of tokens the loss never sees (torch's cross-entropy default)
PIXEL_VALUES = "pixel_values_"  # + an expert's name: that expert's views (the processor's keys)


@dataclass
class SphinxXOutput(ModelOutput):
    """`loss` is the mean cross-entropy over supervised tokens; `cache` feeds the next decoding step."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    cache: Cache | None = None
    supervised_tokens: torch.Tensor | None = None
    # Mixtral only, with `output_router_logits=True`: the load-balancing loss (unweighted) and, per
    # decoder layer, the router's logits `[B * T, num_local_experts]`.
    aux_loss: torch.Tensor | None = None
    router_logits: tuple[torch.Tensor, ...] | None = None


class SphinxXPreTrainedModel(PreTrainedModel):
    config: SphinxXConfig
    config_class = SphinxXConfig
    base_model_prefix = ""
    input_modalities = ("image", "text")
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    _no_split_modules = ["LlamaDecoderLayer", "MixtralDecoderLayer", "Dinov2Layer", "ConvNextStage",
                         "CLIPEncoderLayer", "Blip2EncoderLayer", "Blip2QFormerLayer"]  # fmt: skip

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, VisualTokenEmbeddings):
            for parameter in (module.start_img, module.end_img, module.skip_img):
                init.normal_(parameter, mean=0.0, std=self.config.initializer_range)


class SphinxXForConditionalGeneration(SphinxXPreTrainedModel, GenerationMixin):
    def __init__(self, config: SphinxXConfig):
        super().__init__(config)
        hidden_size = config.text_config.hidden_size
        self.vision_experts = MixtureOfVisualExperts(config.visual_experts)
        self.projector = Projector(config.visual_feature_size, hidden_size, config.projector_layernorm_eps)
        # The Q-Former's tokens have a projector of their own (the release's `qformer_proj`).
        self.query_projectors = nn.ModuleDict(
            {e.name: Projector(e.channels, hidden_size, config.projector_layernorm_eps) for e in config.query_experts}
        )  # fmt: skip
        self.visual_tokens = VisualTokenEmbeddings(hidden_size)
        self.language_model = build_llm(config.text_config)
        self.post_init()
        if config.image_token_id is not None and config.image_token_id >= 0:
            self.generation_config.suppress_tokens = [config.image_token_id]  # a placeholder, never an answer

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        loaded = super().from_pretrained(*args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded  # output_loading_info=True
        model.vision_experts.requires_grad_(False)  # loading makes new parameters; the experts stay frozen
        return loaded

    def get_input_embeddings(self):
        return self.language_model.get_input_embeddings()

    def get_output_embeddings(self):
        return self.language_model.get_output_embeddings()

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        views_skipped: torch.BoolTensor | None = None,
        has_image: torch.BoolTensor | None = None,
        labels: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        use_cache: bool = False,
        logits_to_keep: int = 0,
        loss_only: bool = False,
        **inputs,
    ) -> SphinxXOutput:
        """One pass over a batch, prefill or training.

        input_ids: `[B, T]`, one `image_token_id` per visual token (the processor writes them).
        pixel_values_{name}: `[N, 3, V, V]` for each visual expert of the config, the encoded views of
            all images of the batch, sample by sample (keyword arguments, as the processor names them).
        views_skipped: `[S, 1 + grid**2]`, True where a sub-image is replaced by the skip token; one
            row per sample (S = B, or more when rows are packed: samples in row order).
        has_image: `[S]`, False for text-only samples (their `views_skipped` row is ignored).
        labels: `[B, T]`, `IGNORE_INDEX` everywhere but the supervised tokens.
        loss_only: with `labels`, the LM head runs only where some row predicts a supervised token
            (training: most positions are prompt and visual tokens); `logits` are then `[B, K, V]`
            for those K positions.
        position_ids: `[B, T]`; for packed rows (see `sphinx_x.train.packing`) they restart at 0 on
            every sample and `attention_mask` is None: the LLM then attends within each sample only.
        The other keyword arguments go to the LLM (e.g. `output_router_logits=True` for Mixtral).
        """
        pixel_values, llm_kwargs = split_pixel_values(inputs)
        if position_ids is None:
            position_ids = positions_after(cache, attention_mask, input_ids)
        inputs_embeds = self.embed_inputs(input_ids, pixel_values, views_skipped, has_image)
        predicting = supervised_positions(labels) if loss_only and labels is not None else None
        if predicting is not None:
            logits_to_keep = predicting
        output = self.language_model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            use_cache=use_cache,
            logits_to_keep=logits_to_keep,
            **llm_kwargs,
        )
        loss, supervised = (
            (None, None) if labels is None else supervised_loss(output.logits, labels, predicting)
        )
        return SphinxXOutput(
            loss=loss,
            logits=output.logits,
            cache=output.cache,
            supervised_tokens=supervised,
            aux_loss=getattr(output, "aux_loss", None),
            router_logits=getattr(output, "router_logits", None),
        )

    def embed_inputs(
        self,
        input_ids: torch.LongTensor,
        pixel_values: Mapping[str, torch.Tensor] | None,
        views_skipped: torch.BoolTensor | None,
        has_image: torch.BoolTensor | None,
    ) -> torch.Tensor:
        """`[B, T]` ids -> `[B, T, D]` embeddings, visual tokens filled in at their placeholders.
        `pixel_values`: expert name -> `[N, 3, V, V]` (None or empty for a text-only batch)."""
        if self.config.image_token_id in (None, LEGACY_IMAGE_TOKEN_ID):
            raise ValueError(
                "this model has no <image> token (a folder saved before sphinx-x 0.2, or a preset without "
                "a tokenizer): load it with sphinx_x.load_model, which adds it, or `sphinx-x convert upgrade`"
            )
        is_visual = input_ids == self.config.image_token_id
        embeds = self.get_input_embeddings()(input_ids)
        images = self.image_blocks(pixel_values, views_skipped, has_image)
        check_visual_token_counts(is_visual, images)
        if self.training:
            embeds = embeds + self.zero_from_visual_parameters().to(embeds.dtype)
        if not images:
            return embeds
        visual = torch.cat(images).to(embeds.dtype)
        return embeds.masked_scatter(is_visual[..., None], visual)

    def zero_from_visual_parameters(self) -> torch.Tensor:
        """0, computed from every projector / start / end / skip parameter.

        A text-only batch uses no visual parameter and a batch of square images no skip token; in
        data-parallel training (FSDP, DDP) every process must produce gradients for the same
        parameters, so each training graph touches them all, with weight zero.
        """
        parameters = [*self.projector.parameters(), *self.query_projectors.parameters(),
                      *self.visual_tokens.parameters()]  # fmt: skip
        return sum(parameter.sum() for parameter in parameters) * 0.0

    def image_blocks(
        self,
        pixel_values: Mapping[str, torch.Tensor] | None,
        views_skipped: torch.BoolTensor | None,
        has_image: torch.BoolTensor | None,
    ) -> list[torch.Tensor]:
        """One `[visual tokens, D]` block per image of the batch (text-only samples have none)."""
        if not pixel_values:
            return []
        view_tokens = self.project(
            self.vision_experts(pixel_values)
        )  # [N, tokens_per_view, D]; no graph in the experts
        blocks, start = [], 0
        for skipped in views_skipped[has_image].tolist():
            num_encoded = skipped.count(False)
            blocks.append(self.visual_tokens.image_block(view_tokens[start : start + num_encoded], skipped))
            start += num_encoded
        if start != view_tokens.shape[0]:
            raise ValueError(
                f"views_skipped asks for {start} encoded views, pixel_values holds {view_tokens.shape[0]}"
            )
        return blocks

    def project(self, features: VisualFeatures) -> torch.Tensor:
        """The tokens of each view at the LLM's width: the query experts' tokens first, then the
        fused grid -> `[N, tokens_per_view, D]` (32 + 257 with a Q-Former, else 257)."""
        dtype = self.projector.linear.weight.dtype
        queries = [self.query_projectors[name](tokens.to(dtype)) for name, tokens in features.queries.items()]
        return torch.cat([*queries, self.projector(features.fused.to(dtype))], dim=1)

    # -- transformers' generate() ------------------------------------------------------------

    IMAGE_INPUTS = ("views_skipped", "has_image")  # besides every `pixel_values_*`

    def prepare_inputs_for_generation(self, *args, is_first_iteration: bool = False, **kwargs):
        """Images are encoded once, at prefill: later steps get only the new token and the cache."""
        inputs = super().prepare_inputs_for_generation(*args, is_first_iteration=is_first_iteration, **kwargs)
        if not is_first_iteration and inputs.get("cache") is not None:
            for key in [k for k in inputs if k.startswith(PIXEL_VALUES) or k in self.IMAGE_INPUTS]:
                inputs.pop(key)
        return inputs

    def _validate_model_kwargs(self, model_kwargs: dict) -> None:
        """transformers checks generate()'s inputs against forward's named parameters; the experts'
        `pixel_values_{name}` come through `**inputs`, so they are checked here, by the config."""
        pixels = {PIXEL_VALUES + name for name in self.config.view_sizes}
        super()._validate_model_kwargs(
            {key: value for key, value in model_kwargs.items() if key not in pixels}
        )

    def generate(self, *args, tokenizer=None, **kwargs):
        """transformers' `generate`, stopping at the template's `\\n###` as the release does. A stop
        string needs the tokenizer: the one passed, else the one saved beside the weights."""
        from ..processing.conversation import STOP_STRING

        tokenizer = tokenizer or self.saved_tokenizer()
        if tokenizer is not None:
            kwargs.setdefault("stop_strings", [STOP_STRING])
        return super().generate(*args, tokenizer=tokenizer, **kwargs)

    def saved_tokenizer(self):
        if not hasattr(self, "_saved_tokenizer"):
            folder = Path(self.name_or_path or "")
            found = (folder / "tokenizer_config.json").is_file()
            self._saved_tokenizer = AutoTokenizer.from_pretrained(folder) if found else None
        return self._saved_tokenizer


def split_pixel_values(inputs: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """`pixel_values_{name}` keyword arguments as {name: tensor}, and the rest (for the LLM)."""
    pixels = {
        key[len(PIXEL_VALUES) :]: value for key, value in inputs.items() if key.startswith(PIXEL_VALUES)
    }
    rest = {key: value for key, value in inputs.items() if not key.startswith(PIXEL_VALUES)}
    return {name: value for name, value in pixels.items() if value is not None}, rest


def check_visual_token_counts(is_visual: torch.BoolTensor, images: Sequence[torch.Tensor]) -> None:
    """The processor's placeholders and the model's image blocks must agree, image by image.

    Each image's placeholders are one unbroken run right after its sample's BOS, so the runs, read
    row by row, are the images in batch order; a packed row (several samples) holds several runs.
    """
    runs = placeholder_runs(is_visual)
    if len(runs) != len(images):
        raise ValueError(
            f"Image features and image tokens do not match: input_ids hold {len(runs)} runs of image tokens "
            f"(one per image) but the batch has {len(images)} images"
        )
    for index, (count, block) in enumerate(zip(runs, images, strict=True)):
        if count != len(block):
            raise ValueError(
                f"Image features and image tokens do not match: image {index} of the batch has {count} image "
                f"tokens in input_ids but gives {len(block)} visual tokens"
            )


def placeholder_runs(is_visual: torch.BoolTensor) -> list[int]:
    """Lengths of the unbroken runs of image tokens in `[B, T]`, row by row."""
    bounded = F.pad(is_visual.int(), (1, 1)).flatten()  # a 0 on both sides of every row
    edges = torch.diff(bounded)
    return ((edges == -1).nonzero() - (edges == 1).nonzero()).flatten().tolist()


def positions_after(
    cache: Cache | None, attention_mask: torch.Tensor | None, input_ids: torch.LongTensor
) -> torch.LongTensor:
    """RoPE positions of the new tokens `input_ids`: from the mask, which covers the cached tokens
    too, else counted on from the cache."""
    length = input_ids.shape[1]
    if attention_mask is not None:
        return positions_from_mask(attention_mask)[:, -length:]
    past = cache.get_seq_length() if cache is not None else 0
    return torch.arange(past, past + length, device=input_ids.device)[None]


def positions_from_mask(attention_mask: torch.Tensor) -> torch.LongTensor:
    """RoPE positions that start at 0 on each sample's first real token (left padding safe)."""
    return (attention_mask.long().cumsum(dim=-1) - 1).clamp(min=0)


def supervised_positions(labels: torch.LongTensor) -> torch.LongTensor:
    """The positions (of any row) whose next token is supervised: the only logits the loss reads."""
    return (labels[:, 1:] != IGNORE_INDEX).any(dim=0).nonzero().flatten()


def supervised_loss(
    logits: torch.Tensor, labels: torch.LongTensor, positions: torch.LongTensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean next-token cross-entropy over supervised positions, and their number. `positions`:
    the sequence positions `logits` were computed at (`supervised_positions`); None: all of them."""
    targets = labels[:, 1:] if positions is None else labels[:, positions + 1]
    predictions = logits[:, :-1] if positions is None else logits
    supervised = (targets != IGNORE_INDEX).sum()
    loss = F.cross_entropy(
        predictions.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE_INDEX, reduction="sum"
    )
    return loss / supervised.clamp(min=1), supervised
