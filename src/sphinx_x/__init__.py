"""sphinx-x: the SPHINX-X family of multimodal LLMs.

    import sphinx_x
    model, processor = sphinx_x.load_model("path/to/model")      # or a toy preset: "sphinx-x-toy"
    session = sphinx_x.ChatSession(model, processor, image="dog.jpg")
    print(session.ask("Where is the dog?"))

Importing the package is light: torch and transformers load with the first name that needs them.
"""

from __future__ import annotations

import importlib

from . import auto_classes

__version__ = "0.2.0"

# name -> the module that defines it, imported on first use (as litgpt's package does)
EXPORTS = {
    "load_model": "loading",
    "ModelSource": "loading",
    "SphinxXProcessor": "processing.processor",
    "SphinxXConfig": "config",
    "SphinxXForConditionalGeneration": "model.sphinx",
    "generate": "inference.generate",
    "DecodingSettings": "inference.sampling",
    "Engine": "inference.engine",
    "ChatSession": "inference.chat",
    "PRESETS": "presets",
    "preset_config": "presets",
}
__all__ = [*EXPORTS, "__version__"]

auto_classes.install()


def __getattr__(name: str):
    if name not in EXPORTS:
        raise AttributeError(f"module 'sphinx_x' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
