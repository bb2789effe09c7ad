"""Load the public weights SPHINX-X starts from, and assemble a model from them (fresh projector).

Each loader takes a local folder / file or a Hugging Face model id:
  * CLIP-ConvNeXt-XXL from an open_clip checkpoint (image trunk only, `visual.trunk.*`);
  * DINOv2 in torch-hub format (`dinov2_vitg14_pretrain.pth`) or transformers format;
  * TinyLlama / LLaMA2 / Mixtral in transformers format;
  * InternLM2 (remote-code layout), its packed `wqkv` unpacked into a stock `LlamaForCausalLM`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    ConvNextModel,
    Dinov2Model,
    LlamaConfig,
    LlamaForCausalLM,
    LlamaTokenizer,
    PreTrainedModel,
)  # fmt: skip

from ..config import SphinxXConfig
from ..model.projector import Projector
from ..model.sphinx import SphinxXForConditionalGeneration
from ..model.token_layout import VisualTokenEmbeddings
from ..model.vision_experts import MixtureOfVisualExperts
from ..presets import preset_config
from ..processing.processor import SphinxXProcessor
from .key_maps import (
    convnext_timm_config,
    convnext_timm_to_hf,
    dinov2_hub_config,
    dinov2_hub_to_hf,
    internlm2_to_llama,
)

OPEN_CLIP_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
OPEN_CLIP_TRUNK = "visual.trunk."


class WeightsNotFoundError(FileNotFoundError):
    """No weights where the loader looked; the message lists the places."""


# -- files ------------------------------------------------------------------------------------


def resolve_file(source: str | Path, candidates: tuple[str, ...]) -> Path:
    """`source` itself if a file, else the first candidate inside a folder, else from the Hub."""
    path = Path(source)
    if path.is_file():
        return path
    if path.is_dir():
        for name in candidates:
            if (path / name).is_file():
                return path / name
        raise WeightsNotFoundError(f"{path}: none of {', '.join(candidates)}")
    from huggingface_hub import hf_hub_download  # only for model ids

    errors = []
    for name in candidates:
        try:
            return Path(hf_hub_download(str(source), name))
        except Exception as error:  # the hub raises many kinds (offline, missing file, gated repo)
            errors.append(f"{name}: {error.__class__.__name__}")
    raise WeightsNotFoundError(
        f"{source}: not a local file or folder, and the Hub gave none of: {'; '.join(errors)}"
    )


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        return load_file(path)
    state = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    return state.get("state_dict", state.get("model", state)) if isinstance(state, dict) else state


def convert_all(state: dict[str, torch.Tensor], mapping, what: str, path: Path) -> dict[str, torch.Tensor]:
    converted, unknown = {}, []
    for name, tensor in state.items():
        pairs = mapping(name, tensor)
        if pairs is None:
            unknown.append(name)
        converted.update(pairs or [])
    if unknown:
        raise ValueError(f"{path}: {len(unknown)} keys are not {what} weights: {', '.join(unknown[:10])}")
    return converted


def load_strict(model: torch.nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"{path}: missing {result.missing_keys[:10]}, unexpected {result.unexpected_keys[:10]}"
        )


# -- the three parts --------------------------------------------------------------------------


def load_open_clip_convnext(source: str | Path) -> ConvNextModel:
    """The image trunk of an open_clip ConvNeXt checkpoint, as a transformers `ConvNextModel`."""
    path = resolve_file(source, OPEN_CLIP_FILES)
    state = read_state_dict(path)
    trunk = {name[len(OPEN_CLIP_TRUNK) :]: t for name, t in state.items() if name.startswith(OPEN_CLIP_TRUNK)}
    if not trunk:
        raise ValueError(f"{path}: no '{OPEN_CLIP_TRUNK}*' keys; is this an open_clip ConvNeXt checkpoint?")
    trunk = {name: t for name, t in trunk.items() if not name.startswith("head.fc")}  # classifier, unused
    model = ConvNextModel(convnext_timm_config({name: t.shape for name, t in trunk.items()}))
    load_strict(model, convert_all(trunk, convnext_timm_to_hf, "timm ConvNeXt", path), path)
    return model


def load_dinov2(source: str | Path) -> Dinov2Model:
    """DINOv2 from a torch-hub `.pth` file or a transformers folder / model id."""
    path = Path(source)
    if path.is_file():
        state = read_state_dict(path)
        model = Dinov2Model(dinov2_hub_config({name: t.shape for name, t in state.items()}))
        load_strict(model, convert_all(state, dinov2_hub_to_hf, "DINOv2 hub", path), path)
        return model
    return Dinov2Model.from_pretrained(source)


def load_llm(source: str | Path, dtype: torch.dtype = torch.float32) -> tuple[PreTrainedModel, object]:
    """A causal LM and its tokenizer; InternLM2 folders are unpacked into Llama layout."""
    config_path = Path(source) / "config.json"
    if config_path.is_file() and json.loads(config_path.read_text()).get("model_type") == "internlm2":
        return load_internlm2(source, dtype)
    return AutoModelForCausalLM.from_pretrained(source, dtype=dtype), AutoTokenizer.from_pretrained(source)


def load_internlm2(folder: str | Path, dtype: torch.dtype = torch.float32) -> tuple[LlamaForCausalLM, object]:
    folder = Path(folder)
    args = json.loads((folder / "config.json").read_text())
    config = internlm2_llama_config(args)
    state = {}
    for path in sorted(folder.glob("*.safetensors")) or sorted(folder.glob("pytorch_model*.bin")):
        state |= read_state_dict(path)
    if not state:
        raise WeightsNotFoundError(f"{folder}: no *.safetensors or pytorch_model*.bin files")
    converted = convert_all(
        state, lambda n, t: internlm2_to_llama(n, t, config.num_attention_heads, config.num_key_value_heads),
        "InternLM2", folder,
    )  # fmt: skip
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    model.load_state_dict(converted, strict=True, assign=True)
    model.model.rotary_emb = type(model.model.rotary_emb)(config)  # recompute the non-persistent inv_freq
    tokenizer = LlamaTokenizer.from_pretrained(folder, vocab_file=str(folder / "tokenizer.model"))
    return model.to(dtype).eval(), tokenizer


def internlm2_llama_config(args: dict) -> LlamaConfig:
    rope = {"rope_type": "default", "rope_theta": float(args.get("rope_theta", 1e6))}
    scaling = args.get("rope_scaling") or {}
    if scaling.get("type") == "dynamic":
        rope |= {"rope_type": "dynamic", "factor": float(scaling["factor"])}
    return LlamaConfig(
        hidden_size=args["hidden_size"],
        num_hidden_layers=args["num_hidden_layers"],
        num_attention_heads=args["num_attention_heads"],
        num_key_value_heads=args.get("num_key_value_heads", args["num_attention_heads"]),
        intermediate_size=args["intermediate_size"],
        vocab_size=args["vocab_size"],
        rms_norm_eps=args.get("rms_norm_eps", 1e-5),
        max_position_embeddings=args.get("max_position_embeddings", 32768),
        rope_parameters=rope,
        bos_token_id=args.get("bos_token_id", 1),
        eos_token_id=args.get("eos_token_id", 2),
        pad_token_id=args.get("pad_token_id"),
        tie_word_embeddings=args.get("tie_word_embeddings", False),
    )


# -- assembling -------------------------------------------------------------------------------


def assemble(
    base: SphinxXConfig, llm: PreTrainedModel, tokenizer, convnext: ConvNextModel, dinov2: Dinov2Model
) -> tuple[SphinxXForConditionalGeneration, SphinxXProcessor]:
    """A SPHINX-X from pretrained parts with a freshly initialised projector and start/end/skip
    tokens, and the LLM's tokenizer with an `<image>` token (a new embedding row if its vocabulary
    is full). `base` supplies the SPHINX-X fields (grid, padding, view sizes); the parts supply
    their configs."""
    from ..loading import give_image_token

    parts = {"convnext": convnext, "dinov2": dinov2}
    experts = [dataclasses.replace(base.expert(name), config=part.config) for name, part in parts.items()]
    config = SphinxXConfig(
        **{field: getattr(base, field) for field in ("padding", "use_skip_token", "grid", "initializer_range")},
        text_config=llm.config, visual_experts=experts,
    )  # fmt: skip
    with torch.device("meta"):
        model = SphinxXForConditionalGeneration(config)
    model.language_model = llm
    model.vision_experts = MixtureOfVisualExperts(config.visual_experts, parts)
    hidden = config.text_config.hidden_size
    model.projector = Projector(config.visual_feature_size, hidden, config.projector_layernorm_eps)
    model.visual_tokens = VisualTokenEmbeddings(hidden)
    for module in (*model.projector.modules(), model.visual_tokens):
        model._init_weights(module)
    give_image_token(model, tokenizer)
    return model, SphinxXProcessor.for_model(tokenizer, model.config)


def assemble_from_public_weights(
    preset: str, llm: str | Path, convnext: str | Path, dinov2: str | Path, dtype: torch.dtype = torch.float32
) -> tuple[SphinxXForConditionalGeneration, SphinxXProcessor]:
    """The paper's starting point, in one call: public LLM, ConvNeXt and DINOv2 weights and a fresh
    projector (`preset` supplies grid, padding and view sizes)."""
    language_model, tokenizer = load_llm(llm, dtype)
    model, processor = assemble(
        preset_config(preset),
        language_model,
        tokenizer,
        load_open_clip_convnext(convnext),
        load_dinov2(dinov2),
    )
    return model.to(dtype), processor
