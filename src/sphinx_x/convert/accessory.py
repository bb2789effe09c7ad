"""Released SPHINX checkpoints (LLaMA2-Accessory format) -> a sphinx-x model folder.

    SRC/consolidated.XX-of-YY.model.pth   {"model": state dict}, every key starting with `llma.`
    SRC/config.json                       the LLM's ModelArgs (n_heads, n_kv_heads, norm_eps, ...)
    SRC/meta.json                         {"llama_type": "llama_ens5_light" | "mixtral_sparse_ens" | ...}
    SRC/tokenizer.model                   SentencePiece

Every released layout converts (release_layouts.py lists them): the two-expert SPHINX-Tiny
models, and the four-expert SPHINX v1 / 1k / v2-1k and SPHINX-MoE / MoE-1k. The converted model
uses the release's transform (centred colour padding, no skip token, float16 resizes), so it
reproduces the release's outputs. Every source key must map to a model key of the right shape (or
be a known unused one) and every model key must be produced: the conversion checks all of them on
meta tensors first and stops with the offending names before it writes anything.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import torch
from tqdm import tqdm
from transformers import LlamaTokenizer

from ..config import SphinxXConfig
from ..model.sphinx import SphinxXForConditionalGeneration
from ..processing.processor import SphinxXProcessor
from ..processing.tokenizer import add_image_token
from .key_maps import Pairs, llama_meta_to_hf, mixtral_sparse_to_hf
from .release_layouts import (
    PROJECTORS,
    RELEASE_EXPERTS,
    ReleaseLayout,
    llm_config,
    release_experts,
    release_layout,
)
from .shards import AccessoryCheckpoint, CheckpointFormatError
from .writer import ShardedSafetensorsWriter

logger = logging.getLogger(__name__)

CLIP_ACTIVATIONS = ("gelu", "quick_gelu")
# A key map of the whole checkpoint: (name, tensor, read) -> pairs ([] = known, unused) or None
# (unknown); `read(name)` gives another key of the checkpoint, for targets built from two sources.
KeyMap = Callable[[str, torch.Tensor, Callable[[str], torch.Tensor]], Pairs | None]


class ConversionError(ValueError):
    """The checkpoint does not fit the model; the message lists every offending key."""


class MissingSourceKey(KeyError):
    """A key map asked for a companion key the checkpoint does not have."""


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointFormatError(f"{path}: missing") from None
    except json.JSONDecodeError as error:
        raise CheckpointFormatError(f"{path}: not valid JSON ({error})") from None


def sphinx_config(
    checkpoint: AccessoryCheckpoint,
    args: dict,
    layout: ReleaseLayout,
    source: Path,
    view_sizes: Mapping[str, int],
    clip_activation: str,
) -> SphinxXConfig:
    experts = release_experts(checkpoint, layout, view_sizes, clip_activation)  # first: says which release
    return SphinxXConfig(
        text_config=llm_config(checkpoint, args, layout, source),
        visual_experts=experts,
        padding="center",
        use_skip_token=False,
        grid=layout.grid,
    )


# -- key mapping ------------------------------------------------------------------------------


def release_key_map(config: SphinxXConfig, layout: ReleaseLayout) -> KeyMap:
    """Source prefix -> model prefix and the map of the names under it, most specific first."""
    head_dim = config.text_config.hidden_size // config.text_config.num_attention_heads
    parts: list[tuple[str, str, Callable]] = [
        (RELEASE_EXPERTS[name].prefix, f"vision_experts.{name}.", ignoring_read(RELEASE_EXPERTS[name].to_hf))
        for name in layout.experts
    ]
    parts += [(source, target, ignoring_read(linear_and_norm)) for source, target in PROJECTORS.items()]
    parts += [
        ("llma.", "visual_tokens.", ignoring_read(image_tags)),
        ("llma.", "language_model.", llm_map(config, head_dim)),
    ]

    def map_key(name: str, tensor: torch.Tensor, read) -> Pairs | None:
        for source_prefix, target_prefix, mapping in parts:
            if not name.startswith(source_prefix):
                continue
            pairs = mapping(
                name[len(source_prefix) :], tensor, lambda other, prefix=source_prefix: read(prefix + other)
            )
            if pairs is not None:
                return [(target_prefix + target, value) for target, value in pairs]
        return None

    return map_key


def ignoring_read(mapping: Callable[[str, torch.Tensor], Pairs | None]):
    return lambda name, tensor, read: mapping(name, tensor)


def linear_and_norm(name: str, tensor: torch.Tensor) -> Pairs | None:
    """`visual_proj` / `qformer_proj` = `nn.Sequential(Linear, LayerNorm)` -> `Projector`."""
    renames = {
        "0.weight": "linear.weight",
        "0.bias": "linear.bias",
        "1.weight": "norm.weight",
        "1.bias": "norm.bias",
    }
    return [(renames[name], tensor)] if name in renames else None


def image_tags(name: str, tensor: torch.Tensor) -> Pairs | None:
    return [(name, tensor.reshape(1, -1))] if name in ("start_img", "end_img") else None


def llm_map(config: SphinxXConfig, head_dim: int):
    if config.text_config.model_type == "mixtral":
        experts = config.text_config.num_local_experts
        return lambda name, tensor, read: mixtral_sparse_to_hf(name, tensor, read, experts, head_dim)
    return ignoring_read(lambda name, tensor: llama_meta_to_hf(name, tensor, head_dim))


def converted_tensors(checkpoint: AccessoryCheckpoint, map_key: KeyMap) -> Iterator[tuple[str, torch.Tensor]]:
    """(model key, tensor) for every source key, read and merged one at a time (after `check_keys`)."""
    for name in checkpoint.names():
        yield from map_key(name, checkpoint.tensor(name), checkpoint.tensor)


def check_keys(
    checkpoint: AccessoryCheckpoint, map_key: KeyMap, expected: dict[str, torch.Size], filled: set[str]
) -> list[str]:
    """Dry run on meta tensors: every key known, produced once, of the model's shape. Returns the
    source keys that are known and unused (dropped)."""
    unknown, misshaped, missing_sources, dropped, produced = [], [], [], [], set()

    def read_meta(other: str) -> torch.Tensor:
        if other not in checkpoint.shards[0]:
            raise MissingSourceKey(other)
        return checkpoint.meta(other)

    for name in checkpoint.names():
        source = checkpoint.meta(name)
        try:
            pairs = map_key(name, source, read_meta)
        except MissingSourceKey as error:
            missing_sources.append(f"{error.args[0]} (read with {name})")
            continue
        except RuntimeError:  # a reshape in the key map cannot take this shape
            misshaped.append(f"{name}: {tuple(source.shape)} cannot be mapped")
            continue
        if pairs is None:
            unknown.append(name)
        elif not pairs:
            dropped.append(name)
        for target, tensor in pairs or []:
            if target not in expected:
                unknown.append(f"{name} (-> {target})")
            elif tensor.shape != expected[target]:
                misshaped.append(
                    f"{name} -> {target}: {tuple(tensor.shape)}, expected {tuple(expected[target])}"
                )
            produced.add(target)
    missing = missing_sources + sorted(set(expected) - produced - filled)
    problems = [("unknown keys", unknown), ("missing keys", missing), ("keys of the wrong shape", misshaped)]
    message = "; ".join(
        f"{len(items)} {label}: {', '.join(items[:20])}" for label, items in problems if items
    )
    if message:
        raise ConversionError(f"{checkpoint.folder}: {message}")
    return dropped


def convert_accessory(
    source: str | Path,
    output: str | Path,
    dtype: torch.dtype | None = None,
    view_sizes: Mapping[str, int] | None = None,
    clip_activation: str = "gelu",
    max_shard_bytes: int = 2 * 1024**3,
    dry_run: bool = False,
) -> SphinxXConfig:
    """Convert a release folder; returns the config written to `output`.

    view_sizes: override the release's view size of experts by name (scaled-down checkpoints).
    clip_activation: "gelu" reproduces the release; "quick_gelu" is what the OpenAI CLIP weights
        were trained with. dry_run: check every key, write nothing.
    """
    if clip_activation not in CLIP_ACTIVATIONS:
        raise ValueError(
            f"clip_activation must be one of {', '.join(CLIP_ACTIVATIONS)}, got {clip_activation!r}"
        )
    source, output = Path(source), Path(output)
    layout = release_layout(read_json(source / "meta.json"), source)
    checkpoint = AccessoryCheckpoint(source)
    args = read_json(source / "config.json")
    config = sphinx_config(checkpoint, args, layout, source, view_sizes or {}, clip_activation)
    tokenizer = load_release_tokenizer(source)
    new_rows = reserve_image_token(config, tokenizer)
    with torch.device("meta"):
        expected = {name: t.shape for name, t in SphinxXForConditionalGeneration(config).state_dict().items()}
    map_key = with_new_vocabulary_rows(release_key_map(config, layout), new_rows)
    filled = {"visual_tokens.skip_img"}  # the release has none; unused with centred padding
    dropped = check_keys(checkpoint, map_key, expected, filled)
    if dropped:
        logger.info("%d known keys unused by the model, not converted: %s", len(dropped), ", ".join(dropped))
    if dry_run:
        return config
    write_folder(output, checkpoint, map_key, config, tokenizer, expected, filled, dtype, max_shard_bytes)
    logger.info("converted %s -> %s", source, output)
    return config


def write_folder(
    output, checkpoint, map_key, config, tokenizer, expected, filled, dtype, max_shard_bytes
) -> None:
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


VOCABULARY_KEYS = ("language_model.model.embed_tokens.weight", "language_model.lm_head.weight")


def reserve_image_token(config: SphinxXConfig, tokenizer) -> int:
    """Add `<image>` to the release's tokenizer (its vocabulary is full: id = vocab size) and to the
    config; returns how many rows the embedding and output matrices gain."""
    token_id = add_image_token(tokenizer)
    new_rows = max(0, token_id + 1 - config.text_config.vocab_size)
    config.text_config.vocab_size += new_rows
    config.image_token_id = token_id
    return new_rows


def with_new_vocabulary_rows(map_key: KeyMap, new_rows: int) -> KeyMap:
    """The key map, with `new_rows` rows appended to the token embedding and the output layer: the
    mean of the released rows (transformers' `mean_resizing`). The image token's input row is never
    read (visual embeddings replace it) and its output logit is suppressed at generation."""

    def mapped(name: str, tensor: torch.Tensor, read) -> Pairs | None:
        pairs = map_key(name, tensor, read)
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
