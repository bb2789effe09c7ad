"""The SPHINX-X network: views -> vision experts -> projector -> token layout -> LLM."""

from .sphinx import SphinxXForConditionalGeneration, SphinxXOutput
from .token_layout import count_visual_tokens
from .views import ImageTransform, view_geometry

__all__ = [
    "ImageTransform",
    "SphinxXForConditionalGeneration",
    "SphinxXOutput",
    "count_visual_tokens",
    "view_geometry",
]
