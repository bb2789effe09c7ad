"""LoRA and QLoRA through peft, applied from outside to a finished model (the model files know nothing of it).

    apply_lora(model, settings, base)   freeze the model; QLoRA: quantize the LLM's linear layers
                                        (`sphinx_x.quantize`); add adapters to the LLM's targeted
                                        projections; the projector and start/end/skip stay trainable
    lora_state(model)                   the trainable parameters only, gathered (what an adapter folder holds)
    RUN/model/ (an adapter folder)      lora_config.json     the settings and the base model's folder
      `export_adapters`                 lora_weights.safetensors   adapters + projector + start/end/skip
                                        the processor (tokenizer, processor_config.json)
    load_adapter_folder(folder)         the base, its adapters merged in: what `load_model` returns
    merge_lora(model)                   each adapter added into its base weight; plain layers again

Checkpoints (`RUN/checkpoints/step-N`, `train/checkpoint.py`) hold the trainable parameters and
their optimizer state only, sharded, for LoRA as for full training: for a LoRA run that is the
adapters and the trainable non-LoRA parameters; the frozen base is rebuilt from the folder the run
starts from. The adapter folder is written once, at the end.

Adapters are merged into the full-precision base weights, also after QLoRA: the merged model is a
plain sphinx-x model, to be quantized again at load time if wanted (`--quantize`).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from torch import nn

from ..optional_imports import require, torchao_only_if_imported_for_peft

ADAPTER_CONFIG = "lora_config.json"
ADAPTER_WEIGHTS = "lora_weights.safetensors"
ATTENTION_AND_MLP = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
    "gate_up_proj",
)
LORA_ATTRIBUTE = "sphinx_x_lora"  # the adapter folder's config, set on a model by `apply_lora`


def apply_lora(model, settings, base: str) -> None:
    """`settings`: a `train.config.LoraConfig`; `base`: the folder of the frozen model, recorded in
    every adapter folder."""
    require("peft", "lora")
    from peft import LoraConfig, inject_adapter_in_model

    model.requires_grad_(False)
    if settings.base_quantize:
        from ..quantize import quantize_model

        quantize_model(model, settings.base_quantize)
    modules, parameters = lora_targets(model.language_model, settings.targets)
    if parameters and settings.dropout:
        raise ValueError(
            f"lora.dropout={settings.dropout}: adapters on fused expert parameters ({parameters[0]}, ...) take no "
            "dropout (peft cannot apply it there); set lora.dropout: 0, or leave the experts out of lora.targets"
        )
    config = LoraConfig(r=settings.rank, lora_alpha=settings.scale_alpha, lora_dropout=settings.dropout,
                        target_modules=modules, target_parameters=parameters or None, bias="none")  # fmt: skip
    with warnings.catch_warnings(), torchao_only_if_imported_for_peft():
        # peft warns that adapters on torchao weights cannot merge into them: we never do (adapters
        # merge into the full-precision base, `load_adapter_folder`).
        warnings.filterwarnings("ignore", "TorchaoLoraLinear was instantiated", UserWarning)
        inject_adapter_in_model(config, model.language_model)
    model.projector.requires_grad_(True)
    model.visual_tokens.requires_grad_(True)
    setattr(model, LORA_ATTRIBUTE, {"base_model": str(base), "rank": settings.rank, "alpha": settings.scale_alpha,
                                    "dropout": settings.dropout, "targets": settings.targets,
                                    "base_quantize": settings.base_quantize})  # fmt: skip


def lora_targets(llm, names: list[str] | None) -> tuple[list[str], list[str]]:
    """Full names of the LLM's linear layers and fused 3-D expert parameters that `names` designate:
    a linear layer whose own name is one of them (`q_proj`), an unfused expert's layer
    (`experts.gate_up_proj.3`), a 3-D parameter so named (Mixtral's fused `experts.gate_up_proj`).
    `names=None`: the attention and MLP projections, whatever the architecture calls them."""
    wanted = set(names or ATTENTION_AND_MLP)
    modules, parameters, found = [], [], set()
    for name, module in llm.named_modules():
        parts = name.split(".")
        own = parts[-2] if parts[-1].isdigit() and len(parts) > 1 else parts[-1]
        if isinstance(module, nn.Linear) and own in wanted and name != "lm_head":
            modules.append(name)
            found.add(own)
        for parameter_name, parameter in module.named_parameters(recurse=False):
            if parameter.dim() == 3 and parameter_name in wanted:
                parameters.append(f"{name}.{parameter_name}")
                found.add(parameter_name)
    missing = sorted(set(names or ()) - found)
    if missing or not (modules or parameters):
        known = sorted({n.split(".")[-1] for n, m in llm.named_modules() if isinstance(m, nn.Linear)})
        raise ValueError(
            f"lora.targets: {', '.join(missing) or 'nothing'} names no projection of the LLM; its linear layers are "
            f"called {', '.join(known)}"
        )
    return modules, parameters


def is_lora(model) -> bool:
    return hasattr(model, LORA_ATTRIBUTE)


def lora_state(model) -> dict[str, torch.Tensor]:
    """The trainable parameters, whole, on the CPU. Collective under FSDP (every process calls it):
    a sharded parameter is gathered (`full_tensor`) in the same order on every process."""
    state = {}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            whole = parameter.full_tensor() if hasattr(parameter, "full_tensor") else parameter
            state[name] = whole.detach().to("cpu", copy=True).contiguous()
    return state


def export_adapters(model, processor, folder: Path) -> Path:
    """Collective (every process gathers, process 0 writes): the adapter folder of `model`, written
    into `FOLDER.partial` and renamed when complete, like `train.export.export_model`."""
    import os
    import shutil

    from safetensors.torch import save_file

    from .checkpoint import barrier, is_main_process

    state = lora_state(model)
    if is_main_process():
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        save_file(state, partial / ADAPTER_WEIGHTS)
        (partial / ADAPTER_CONFIG).write_text(json.dumps(getattr(model, LORA_ATTRIBUTE), indent=2) + "\n")
        processor.save_pretrained(partial)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(partial, folder)
    barrier()
    return folder


def read_adapter_weights(folder: Path, model) -> dict[str, torch.Tensor]:
    """The saved trainable parameters, checked against `model`'s: the same names, nothing missing."""
    from safetensors.torch import load_file

    saved = load_file(folder / ADAPTER_WEIGHTS)
    expected = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    if set(saved) != expected:
        missing, unknown = sorted(expected - set(saved)), sorted(set(saved) - expected)
        raise ValueError(
            f"{folder / ADAPTER_WEIGHTS}: does not fit the model its lora_config.json describes "
            f"(missing: {missing[:3] or 'none'}, unknown: {unknown[:3] or 'none'})"
        )
    return saved


def read_adapter_config(folder: Path) -> dict:
    try:
        config = json.loads((folder / ADAPTER_CONFIG).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{folder / ADAPTER_CONFIG}: not a readable adapter config ({error})") from None
    base = Path(config.get("base_model", ""))
    if not (base / "config.json").is_file():
        raise ValueError(
            f"{folder / ADAPTER_CONFIG}: its base_model {str(base)!r} is not a model folder; the adapters "
            "need the model they were trained on (edit base_model to where it is now)"
        )
    return config


def settings_of(config: dict):
    from .config import LoraConfig

    return LoraConfig(rank=config["rank"], alpha=config["alpha"], dropout=config["dropout"],
                      targets=config["targets"], base_quantize=config["base_quantize"])  # fmt: skip


def load_adapter_folder(folder: Path, dtype: torch.dtype | None = None):
    """`(model, processor)`: the base model named by `folder`'s lora_config.json with the adapters
    merged in, in `dtype` (None: the base's saved dtype), on the CPU."""
    from ..loading import load_model
    from ..processing.processor import SphinxXProcessor

    config = read_adapter_config(folder)
    model, _ = load_model(config["base_model"], dtype=dtype, device="cpu")
    settings = settings_of(config)
    settings.base_quantize = None  # merged into the full-precision weights (see the module docstring)
    apply_lora(model, settings, config["base_model"])
    model.load_state_dict(read_adapter_weights(folder, model), strict=False)
    merge_lora(model)
    return model, SphinxXProcessor.from_pretrained(folder)


def adapter_folder_of(path: str | Path) -> Path:
    """An adapter folder itself, or a LoRA run's (its `model/`)."""
    path = Path(path)
    for candidate in (path, path / "model"):
        if (candidate / ADAPTER_CONFIG).is_file():
            return candidate
    raise ValueError(
        f"{path}: no {ADAPTER_CONFIG} there or in {path / 'model'}: not a LoRA run nor its adapter folder "
        "(a run stopped early: `sphinx-x train --resume` on its finished schedule writes RUN/model)"
    )


def merge_lora(model) -> int:
    """Add every adapter into the weight it adapts and put the plain layer back; how many were.
    The model is then a plain sphinx-x model again (no `lora_config.json` when saved)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    outermost = [(name, module) for name, module in model.named_modules() if isinstance(module, BaseTunerLayer)
                 and not isinstance(model.get_submodule(name.rpartition(".")[0]), BaseTunerLayer)]  # fmt: skip
    for name, layer in outermost:
        parent, _, child = name.rpartition(".")
        while isinstance(
            layer, BaseTunerLayer
        ):  # a fused experts module with two adapted parameters nests two
            layer.merge()
            layer = layer.base_layer
        setattr(model.get_submodule(parent), child, layer)
    if hasattr(model, LORA_ATTRIBUTE):
        delattr(model, LORA_ATTRIBUTE)
    return len(outermost)
