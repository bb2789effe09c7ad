"""Export the LLM part of a sphinx-x model as a stock transformers causal LM folder.

Engines that serve stock LLMs (text only) can then load it with `AutoModelForCausalLM`; the saved
folder is a plain `LlamaForCausalLM` / `MixtralForCausalLM` with the model's tokenizer.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..model.sphinx import SphinxXForConditionalGeneration
from ..processing.processor import SphinxXProcessor


def export_llm(model_dir: str | Path, output: str | Path, dtype: torch.dtype | None = None) -> Path:
    model = SphinxXForConditionalGeneration.from_pretrained(model_dir, dtype=dtype or "auto")
    llm = model.language_model
    llm.save_pretrained(output)
    SphinxXProcessor.from_pretrained(model_dir).tokenizer.save_pretrained(output)
    return Path(output)
