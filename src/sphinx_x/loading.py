"""The one way to build or load a SPHINX-X model, used by every command and by training.

    load_model("path/to/folder")            a saved sphinx-x folder (converted, assembled or trained)
    load_model("sphinx-x-toy")              a preset: toy presets build with the toy tokenizer
    load_model(ModelSource(llm=..., convnext=..., dinov2=...))   assembled from public weights

Returns `(model, processor)`, the model in eval mode on `device` in `dtype`. A folder keeps the
dtype it was saved in unless told otherwise; `dtype="fastest"` picks the fastest measured on the
device (`fastest_dtype`). `quantize="int8"|"int4"` quantizes the LLM's linear layers (and the vision
experts' with `quantize_vision=True`) after loading, on the CPU, before the move to `device`
(`sphinx_x.quantize`). A folder of LoRA adapters (`lora_config.json`) loads its base model and
merges the adapters into it. Folders saved before sphinx-x 0.2 (no `<image>` token) are upgraded in
memory, with a warning.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError

from .config import LEGACY_IMAGE_TOKEN_ID
from .model.sphinx import SphinxXForConditionalGeneration
from .presets import get_preset
from .processing.processor import SphinxXProcessor
from .processing.tokenizer import add_image_token, train_toy_tokenizer

logger = logging.getLogger(__name__)

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class ModelFolderError(ValueError):
    """A model folder that cannot be loaded; the message names the file and what was expected."""


@dataclass
class ModelSource:
    """Where a model comes from (the `model` section of a training config). One of: `path` (a
    sphinx-x folder), the three public parts `llm` + `convnext` + `dinov2` (a fresh projector, as the
    paper starts; `preset` supplies grid, padding and view sizes), or `preset` alone (fresh weights;
    toy presets only)."""

    preset: str = "sphinx-x-toy"
    path: str | None = None
    llm: str | None = None  # transformers causal LM folder or model id (InternLM2 folders too)
    convnext: str | None = None  # open_clip ConvNeXt checkpoint: file, folder or model id
    dinov2: str | None = None  # DINOv2 hub .pth, or transformers folder / model id

    @property
    def parts(self) -> tuple[str | None, str | None, str | None]:
        return self.llm, self.convnext, self.dinov2


def load_model(
    source: str | os.PathLike | ModelSource,
    dtype: torch.dtype | str | None = None,
    device: str | torch.device | None = None,
    quantize: str | None = None,
    quantize_vision: bool = False,
) -> tuple[SphinxXForConditionalGeneration, SphinxXProcessor]:
    """A model and its processor, ready for inference (see the module docstring)."""
    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    check_quantize(quantize, quantize_vision)
    if not isinstance(source, ModelSource):
        source = source_of(source)
    if source.path:
        model, processor = load_folder(Path(source.path), dtype)
    elif any(source.parts):
        model, processor = assemble_parts(source, dtype)
    else:
        model, processor = build_preset(source.preset, dtype)
    if quantize is not None:
        from .quantize import quantize_model

        quantize_model(model, quantize, vision=quantize_vision)
    return model.to(device).eval(), processor


def check_quantize(quantize: str | None, quantize_vision: bool) -> None:
    from .quantize import QUANTIZATIONS  # light: torchao and bitsandbytes load only when used

    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ValueError(f"--quantize {quantize!r}: expected one of {', '.join(QUANTIZATIONS)}")
    if quantize_vision and quantize is None:
        raise ValueError("--quantize-vision needs --quantize int8 or int4 (it says what to quantize them to)")


def source_of(name: str | os.PathLike) -> ModelSource:
    """A folder path or a preset name; anything else is an error that says what was expected."""
    path = Path(name)
    if path.is_dir():
        return ModelSource(path=str(path))
    try:
        get_preset(str(name))
    except ValueError as error:
        raise ModelFolderError(
            f"{name}: not a model folder (no such directory), nor a preset: {error}"
        ) from None
    return ModelSource(preset=str(name))


def resolve_device(device: str | torch.device | None) -> torch.device:
    """None: the GPU when there is one, else the CPU. Asking for a GPU torch cannot reach is an error."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else "a CUDA build, but no GPU is visible"
        raise ValueError(f"--device {device}: torch {torch.__version__} is {build}; use --device cpu")
    return device


def resolve_dtype(dtype: torch.dtype | str | None, device: torch.device | None = None) -> torch.dtype | None:
    """None or "auto": as saved (folders) / float32 (fresh presets); "fastest": `fastest_dtype(device)`."""
    if dtype is None or isinstance(dtype, torch.dtype) or dtype == "auto":
        return None if dtype == "auto" else dtype
    if dtype == "fastest":
        return fastest_dtype(device or torch.device("cpu"))
    if dtype not in DTYPES:
        raise ValueError(f"--dtype {dtype!r}: expected one of auto, {', '.join(DTYPES)}, fastest")
    return DTYPES[dtype]


def fastest_dtype(device: torch.device) -> torch.dtype:
    """The dtype SPHINX-X runs fastest in on `device`, as benchmarks/quantization.py measures it:
    bfloat16 on GPUs that have it (float16 on older ones) and on CPUs with native bfloat16 (AVX512-BF16
    or AMX); float32 on other CPUs, where eager bfloat16 is emulated: on the AVX2-only reference
    machine it encoded images 7.5x and prefilled 5x slower than float32, though it decoded 1.8x
    faster (half the bytes to read), benchmarks/README.md."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu":
        return torch.bfloat16 if cpu_has_native_bfloat16() else torch.float32
    return torch.float32


def cpu_has_native_bfloat16() -> bool:
    """AVX512-BF16 or AMX tiles: torch's own probes, else the kernel's CPU flags."""
    probes = [
        getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    ]
    if all(probe is not None for probe in probes):
        return any(probe() for probe in probes)
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


# -- the three sources ----------------------------------------------------------------------


def build_preset(name: str, dtype: torch.dtype | None = None):
    preset = get_preset(name)
    if not preset.toy:
        raise ValueError(
            f"{name} is a real-size preset and has no weights here: convert a released checkpoint "
            "(`sphinx-x convert accessory`) or assemble one from public weights (`sphinx-x convert assemble`), "
            "then pass its folder"
        )
    config = preset.build()
    model = SphinxXForConditionalGeneration(config).to(dtype or torch.float32)
    return model, SphinxXProcessor.for_model(train_toy_tokenizer(), config)


def assemble_parts(source: ModelSource, dtype: torch.dtype | None = None):
    from .convert.pretrained import assemble_from_public_weights

    if not all(source.parts):
        raise ValueError("model: give all three of llm, convnext and dinov2 (or a path, or a toy preset)")
    return assemble_from_public_weights(source.preset, *source.parts, dtype=dtype or torch.float32)


def load_folder(folder: Path, dtype: torch.dtype | None = None):
    from .train.lora import ADAPTER_CONFIG, load_adapter_folder

    if (folder / ADAPTER_CONFIG).is_file():
        return load_adapter_folder(folder, dtype)
    if not (folder / "config.json").is_file():
        raise ModelFolderError(f"{folder}: no config.json: not a sphinx-x model folder")
    try:
        model = SphinxXForConditionalGeneration.from_pretrained(folder, dtype=dtype or "auto")
    except (OSError, RuntimeError, SafetensorError) as error:  # how damaged weights files are reported
        raise ModelFolderError(
            f"{folder}: the weights cannot be read ({weights_files(folder)}): {error}"
        ) from None
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise ModelFolderError(
            f"{folder}: no tokenizer ({' or '.join(TOKENIZER_FILES)}); copy the model's tokenizer there"
        )
    if (folder / "processor_config.json").is_file():
        try:
            processor = SphinxXProcessor.from_pretrained(folder)
        except (OSError, ValueError, TypeError) as error:
            raise ModelFolderError(
                f"{folder}: processor_config.json or the tokenizer cannot be read: {error}"
            ) from None
    else:
        processor = legacy_processor(folder, model)
    processor.check_matches(model.config)
    return model, processor


def weights_files(folder: Path) -> str:
    return ", ".join(sorted(path.name for path in folder.glob("*.safetensors"))) or "no *.safetensors file"


def legacy_processor(folder: Path, model: SphinxXForConditionalGeneration) -> SphinxXProcessor:
    """Folders from before sphinx-x 0.2: a bare tokenizer and a negative image placeholder id."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError) as error:
        raise ModelFolderError(
            f"{folder}: no readable tokenizer (tokenizer.json / tokenizer.model): {error}"
        ) from None
    if model.config.image_token_id in (None, LEGACY_IMAGE_TOKEN_ID):
        give_image_token(model, tokenizer)
        warnings.warn(
            f"{folder} was saved before sphinx-x 0.2: its tokenizer got an <image> token in memory; "
            f"save it again (`sphinx-x convert upgrade {folder} NEW_FOLDER`) to keep the upgrade",
            stacklevel=3,
        )
    return SphinxXProcessor.for_model(tokenizer, model.config)


def give_image_token(model: SphinxXForConditionalGeneration, tokenizer) -> int:
    """Add `<image>` to the tokenizer, and a row for it to the LLM's embeddings if the vocabulary
    is full (the mean of the others, as transformers' `mean_resizing` does). Its id."""
    token_id = add_image_token(tokenizer)
    if token_id >= model.config.text_config.vocab_size:
        model.language_model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
        model.config.text_config.vocab_size = len(tokenizer)
    model.config.image_token_id = token_id
    model.generation_config.suppress_tokens = [token_id]
    return token_id
