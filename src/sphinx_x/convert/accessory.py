"""Released SPHINX checkpoints (LLaMA2-Accessory format) -> a sphinx-x model folder.

    SRC/consolidated.XX-of-YY.model.pth   {"model": state dict}, every key starting with `llma.`
    SRC/config.json                       the LLM's ModelArgs (n_heads, n_kv_heads, norm_eps, ...)
    SRC/meta.json                         {"llama_type": "llama_ens_light" | "llama_ens5_light" | ...}
    SRC/tokenizer.model                   SentencePiece

The converted model uses the release's transform (centred colour padding, no skip token), so it
reproduces the release's outputs. Every source key must map to a model key of the right shape and
every model key must be produced: the conversion checks all of them on meta tensors first and
stops with the offending names before it writes anything.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm
from transformers import LlamaConfig, LlamaTokenizer

from ..config import SphinxXConfig
from ..model.sphinx import SphinxXForConditionalGeneration
from ..processing.processor import SphinxXProcessor
from ..processing.tokenizer import add_image_token
from .key_maps import (
    Pairs,
    convnext_timm_config,
    convnext_timm_to_hf,
    count_indices,
    dinov2_hub_config,
    dinov2_hub_to_hf,
    llama_meta_to_hf,
)  # fmt: skip
from .shards import AccessoryCheckpoint, CheckpointFormatError
from .writer import ShardedSafetensorsWriter

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReleaseLayout:
    """What the release's code (not its weights) fixes: the view grid and each expert's view size."""

    grid: int
    convnext_view_size: int = 512
    dinov2_view_size: int = 224


RELEASE_LAYOUTS = {
    "llama_ens_light": ReleaseLayout(grid=1),  # SPHINX-Tiny: one 512 view
    "llama_ens5_light": ReleaseLayout(grid=2),  # SPHINX-Tiny-1k: 2x2 + global, image 1024
}
UNSUPPORTED = {
    "mixtral_sparse_ens": "SPHINX-MoE checkpoints carry four visual encoders (CLIP-ViT, ConvNeXt, DINOv2, "
    "Q-Former) and a sparse-expert LLM; sphinx-x models the two-expert SPHINX-X design only",
}


class ConversionError(ValueError):
    """The checkpoint does not fit the model; the message lists every offending key."""


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointFormatError(f"{path}: missing") from None
    except json.JSONDecodeError as error:
        raise CheckpointFormatError(f"{path}: not valid JSON ({error})") from None


def release_layout(meta: dict, source: Path, overrides: dict[str, int]) -> ReleaseLayout:
    llama_type = meta.get("llama_type")
    for prefix, reason in UNSUPPORTED.items():
        if str(llama_type).startswith(prefix):
            raise CheckpointFormatError(
                f"{source / 'meta.json'}: llama_type {llama_type!r} is not supported: {reason}"
            )
    if llama_type not in RELEASE_LAYOUTS:
        raise CheckpointFormatError(
            f"{source / 'meta.json'}: llama_type {llama_type!r} unknown; supported: {', '.join(RELEASE_LAYOUTS)}"
        )
    layout = RELEASE_LAYOUTS[llama_type]
    return ReleaseLayout(
        grid=layout.grid,
        convnext_view_size=overrides.get("convnext_view_size") or layout.convnext_view_size,
        dinov2_view_size=overrides.get("dinov2_view_size") or layout.dinov2_view_size,
    )


# -- configs from shapes ----------------------------------------------------------------------


def llm_config(checkpoint: AccessoryCheckpoint, args: dict, source: Path) -> LlamaConfig:
    names = checkpoint.names()
    vocab_size, hidden_size = checkpoint.shape("llma.tok_embeddings.weight")
    layers = count_indices(names, r"llma\.layers\.(\d+)\.attention_norm\.weight")
    if "n_heads" not in args:
        raise CheckpointFormatError(f"{source / 'config.json'}: field 'n_heads' is required")
    heads = args["n_heads"]
    head_dim = hidden_size // heads
    kv_heads = checkpoint.shape("llma.layers.0.attention.wk.weight")[0] // head_dim
    for field, inferred in (
        ("dim", hidden_size),
        ("n_layers", layers),
        ("n_kv_heads", kv_heads),
        ("vocab_size", vocab_size),
    ):
        if args.get(field) not in (None, -1, inferred):
            raise CheckpointFormatError(
                f"{source / 'config.json'}: {field}={args[field]} but the weights say {inferred}"
            )
    return LlamaConfig(
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        intermediate_size=checkpoint.shape("llma.layers.0.feed_forward.w1.weight")[0],
        vocab_size=vocab_size,
        rms_norm_eps=args.get("norm_eps", 1e-5),
        rope_parameters={"rope_type": "default", "rope_theta": float(args.get("rope_theta", 10000.0))},
        max_position_embeddings=args.get("max_seq_len", 4096),
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=False,
    )


def sphinx_config(
    checkpoint: AccessoryCheckpoint, args: dict, layout: ReleaseLayout, source: Path
) -> SphinxXConfig:
    return SphinxXConfig(
        text_config=llm_config(checkpoint, args, source),
        convnext_config=convnext_timm_config(checkpoint.shapes("llma.openclip_convnext_xxl.")),
        dinov2_config=dinov2_hub_config(checkpoint.shapes("llma.dinov2_vitg14.")),
        padding="center",
        use_skip_token=False,
        grid=layout.grid,
        convnext_view_size=layout.convnext_view_size,
        dinov2_view_size=layout.dinov2_view_size,
    )


# -- key mapping ------------------------------------------------------------------------------


def release_key_map(config: SphinxXConfig) -> Callable[[str, torch.Tensor], Pairs | None]:
    head_dim = config.text_config.hidden_size // config.text_config.num_attention_heads
    parts: list[tuple[str, str, Callable]] = [
        ("llma.openclip_convnext_xxl.", "vision_experts.convnext.", convnext_timm_to_hf),
        ("llma.dinov2_vitg14.", "vision_experts.dinov2.", dinov2_hub_to_hf),
        (
            "llma.visual_proj.0.",
            "projector.linear.",
            lambda n, t: [(n, t)] if n in ("weight", "bias") else None,
        ),
        (
            "llma.visual_proj.1.",
            "projector.norm.",
            lambda n, t: [(n, t)] if n in ("weight", "bias") else None,
        ),
        (
            "llma.",
            "visual_tokens.",
            lambda n, t: [(n, t.reshape(1, -1))] if n in ("start_img", "end_img") else None,
        ),
        ("llma.", "language_model.", lambda n, t: llama_meta_to_hf(n, t, head_dim)),
    ]

    def map_key(name: str, tensor: torch.Tensor) -> Pairs | None:
        for source_prefix, target_prefix, mapping in parts:
            if (
                name.startswith(source_prefix)
                and (pairs := mapping(name[len(source_prefix) :], tensor)) is not None
            ):
                return [(target_prefix + target, value) for target, value in pairs]
        return None

    return map_key


def converted_tensors(checkpoint: AccessoryCheckpoint, map_key) -> Iterator[tuple[str, torch.Tensor]]:
    """(model key, tensor) for every source key, read and merged one at a time (after `check_keys`)."""
    for name in checkpoint.names():
        yield from map_key(name, checkpoint.tensor(name))


def check_keys(
    checkpoint: AccessoryCheckpoint, map_key, expected: dict[str, torch.Size], filled: set[str]
) -> None:
    """Dry run on meta tensors: every key known, produced once, of the model's shape."""
    unknown, misshaped, produced = [], [], set()
    for name in checkpoint.names():
        source = checkpoint.meta(name)
        try:
            pairs = map_key(name, source)
        except RuntimeError:  # a reshape in the key map cannot take this shape
            misshaped.append(f"{name}: {tuple(source.shape)} cannot be mapped")
            continue
        for target, tensor in pairs or []:
            if target not in expected:
                unknown.append(f"{name} (-> {target})")
            elif tensor.shape != expected[target]:
                misshaped.append(
                    f"{name} -> {target}: {tuple(tensor.shape)}, expected {tuple(expected[target])}"
                )
            produced.add(target)
        if pairs is None:
            unknown.append(name)
    missing = sorted(set(expected) - produced - filled)
    problems = [("unknown keys", unknown), ("missing keys", missing), ("keys of the wrong shape", misshaped)]
    message = "; ".join(
        f"{len(items)} {label}: {', '.join(items[:20])}" for label, items in problems if items
    )
    if message:
        raise ConversionError(f"{checkpoint.folder}: {message}")


def convert_accessory(
    source: str | Path,
    output: str | Path,
    dtype: torch.dtype | None = None,
    convnext_view_size: int | None = None,
    dinov2_view_size: int | None = None,
    max_shard_bytes: int = 2 * 1024**3,
) -> SphinxXConfig:
    """Convert a release folder; returns the config written to `output`."""
    source, output = Path(source), Path(output)
    layout = release_layout(
        read_json(source / "meta.json"), source,
        {"convnext_view_size": convnext_view_size, "dinov2_view_size": dinov2_view_size},
    )  # fmt: skip
    checkpoint = AccessoryCheckpoint(source)
    config = sphinx_config(checkpoint, read_json(source / "config.json"), layout, source)
    tokenizer = load_release_tokenizer(source)
    new_rows = reserve_image_token(config, tokenizer)
    with torch.device("meta"):
        expected = {name: t.shape for name, t in SphinxXForConditionalGeneration(config).state_dict().items()}
    map_key = with_new_vocabulary_rows(release_key_map(config), new_rows)
    filled = {"visual_tokens.skip_img"}  # the release has none; unused with centred padding
    check_keys(checkpoint, map_key, expected, filled)

    writer = ShardedSafetensorsWriter(output, max_shard_bytes=max_shard_bytes, dtype=dtype)
    tensors = tqdm(
        converted_tensors(checkpoint, map_key),
        total=len(expected) - len(filled),
        desc="converting",
        unit="tensor",
    )
    for target, tensor in tensors:
        writer.add(target, tensor)
    writer.add("visual_tokens.skip_img", torch.zeros(expected["visual_tokens.skip_img"]))
    writer.close()
    config.dtype = dtype
    config.architectures = [SphinxXForConditionalGeneration.__name__]
    config.save_pretrained(output)
    SphinxXProcessor.for_model(tokenizer, config).save_pretrained(output)
    logger.info("converted %s -> %s", source, output)
    return config


VOCABULARY_KEYS = ("language_model.model.embed_tokens.weight", "language_model.lm_head.weight")


def reserve_image_token(config: SphinxXConfig, tokenizer) -> int:
    """Add `<image>` to the release's tokenizer (its vocabulary is full: id = vocab size) and to the
    config; returns how many rows the embedding and output matrices gain."""
    token_id = add_image_token(tokenizer)
    new_rows = max(0, token_id + 1 - config.text_config.vocab_size)
    config.text_config.vocab_size += new_rows
    config.image_token_id = token_id
    return new_rows


def with_new_vocabulary_rows(map_key, new_rows: int):
    """The key map, with `new_rows` rows appended to the token embedding and the output layer: the
    mean of the released rows (transformers' `mean_resizing`). The image token's input row is never
    read (visual embeddings replace it) and its output logit is suppressed at generation."""

    def mapped(name: str, tensor: torch.Tensor) -> Pairs | None:
        pairs = map_key(name, tensor)
        if not new_rows or pairs is None:
            return pairs
        return [
            (
                target,
                torch.cat([value, value.float().mean(0, keepdim=True).to(value.dtype).expand(new_rows, -1)]),
            )
            if target in VOCABULARY_KEYS
            else (target, value)
            for target, value in pairs
        ]

    return mapped


def load_release_tokenizer(source: Path) -> LlamaTokenizer:
    path = source / "tokenizer.model"
    if not path.exists():
        raise CheckpointFormatError(f"{path}: missing (the release's SentencePiece tokenizer)")
    return LlamaTokenizer.from_pretrained(source, vocab_file=str(path))
