"""sphinx-x: the SPHINX-X family of multimodal LLMs."""

from transformers import AutoConfig, AutoModelForImageTextToText

from .config import SphinxXConfig
from .model import SphinxXForConditionalGeneration
from .presets import PRESETS, preset_config

# Registering makes `AutoConfig` / `AutoModelForImageTextToText.from_pretrained` accept our folders.
AutoConfig.register(SphinxXConfig.model_type, SphinxXConfig, exist_ok=True)
AutoModelForImageTextToText.register(SphinxXConfig, SphinxXForConditionalGeneration, exist_ok=True)

__all__ = ["PRESETS", "SphinxXConfig", "SphinxXForConditionalGeneration", "preset_config"]
__version__ = "0.1.0"
