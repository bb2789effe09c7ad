"""Export a sphinx-x model: its LLM as a stock transformers causal LM, or the whole folder again
in the current format (folders saved by older sphinx-x versions are upgraded on the way).

Engines that serve stock LLMs (text only) load the exported LLM with `AutoModelForCausalLM`: a plain
`LlamaForCausalLM` / `MixtralForCausalLM` folder with the model's tokenizer.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..loading import load_model


def export_llm(model_dir: str | Path, output: str | Path, dtype: torch.dtype | None = None) -> Path:
    model, processor = load_model(model_dir, dtype=dtype, device="cpu")
    model.language_model.save_pretrained(output)
    processor.tokenizer.save_pretrained(output)
    return Path(output)


def upgrade_folder(source: str | Path, output: str | Path) -> Path:
    model, processor = load_model(source, device="cpu")
    model.save_pretrained(output)
    processor.save_pretrained(output)
    return Path(output)
