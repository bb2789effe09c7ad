"""The base LLM: any transformers causal LM, built from its config (a new base LLM is a config value)."""

from __future__ import annotations

from transformers import AutoModelForCausalLM, PreTrainedConfig, PreTrainedModel

SUPPORTED_LLM_TYPES = ("llama", "mixtral")


def build_llm(text_config: PreTrainedConfig) -> PreTrainedModel:
    """A freshly initialised causal LM of `text_config`'s architecture."""
    if text_config.model_type not in SUPPORTED_LLM_TYPES:
        raise ValueError(
            f"text_config.model_type={text_config.model_type!r} is not a supported base LLM; "
            f"supported: {', '.join(SUPPORTED_LLM_TYPES)} (InternLM2 loads in Llama layout)"
        )
    return AutoModelForCausalLM.from_config(text_config)
