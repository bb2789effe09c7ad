"""SPHINX-X in transformers' Auto classes, registered when those are imported, not before.

`import sphinx_x` must stay light (no torch, no transformers), yet a transformers user expects
`AutoConfig`, `AutoModelForImageTextToText`, `AutoProcessor` and `pipeline("image-text-to-text")` to
know our folders once sphinx-x is imported. So each registration waits for its Auto module: done at
once if that module is loaded already, else right after Python executes it (an import hook that
wraps only those three modules' loaders).

Registering must not import our model or processor there and then: the Auto module may be loading
in the middle of another transformers module, which our model imports in turn. The model and the
processor are registered as `LazyClass` stand-ins that import the real class on first use; only the
config class (which imports nothing but transformers' config base) is imported at registration;
when it is itself the module being imported, the registration waits for its last line.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable


class LazyClass:
    """Stands in for `module.name` in a registry: imports it when an attribute is first asked for."""

    def __init__(self, module: str, name: str):
        self._module, self._name = module, name

    def resolve(self) -> type:
        return getattr(importlib.import_module(self._module, __package__), self._name)

    def __getattr__(self, attribute: str):
        return getattr(self.resolve(), attribute)

    def __call__(self, *args, **kwargs):
        return self.resolve()(*args, **kwargs)


def register_config() -> None:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    from .config import SphinxXConfig

    CONFIG_MAPPING.register(SphinxXConfig.model_type, SphinxXConfig, exist_ok=True)


def register_model() -> None:
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING

    from .config import SphinxXConfig

    model = LazyClass(".model.sphinx", "SphinxXForConditionalGeneration")
    MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING.register(SphinxXConfig, model, exist_ok=True)


def register_processor() -> None:
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING

    from .config import SphinxXConfig

    PROCESSOR_MAPPING.register(
        SphinxXConfig, LazyClass(".processing.processor", "SphinxXProcessor"), exist_ok=True
    )


WAITING_FOR_CONFIG: list[Callable[[], None]] = []


def when_config_is_defined(register: Callable[[], None]) -> Callable[[], None]:
    """Run `register` now, or, while `sphinx_x.config` is half imported, once it is defined."""

    def run() -> None:
        config = sys.modules.get(f"{__package__}.config")
        if config is not None and not hasattr(config, "SphinxXConfig"):
            WAITING_FOR_CONFIG.append(register)
        else:
            register()

    return run


def config_defined() -> None:
    """Called by `sphinx_x.config` once `SphinxXConfig` exists."""
    while WAITING_FOR_CONFIG:
        WAITING_FOR_CONFIG.pop(0)()


REGISTRATIONS: dict[str, Callable[[], None]] = {
    "transformers.models.auto.configuration_auto": when_config_is_defined(register_config),
    "transformers.models.auto.modeling_auto": when_config_is_defined(register_model),
    "transformers.models.auto.processing_auto": when_config_is_defined(register_processor),
}


class RegisterAfterImport(importlib.abc.MetaPathFinder):
    """Finds the Auto modules as Python would, and runs our registration after each executes."""

    def __init__(self, pending: dict[str, Callable[[], None]]):
        self.pending = pending

    def find_spec(self, name, path=None, target=None):
        if name not in self.pending:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        register, execute = self.pending.pop(name), spec.loader.exec_module

        def exec_then_register(module):
            execute(module)
            register()

        spec.loader.exec_module = exec_then_register
        return spec


def install() -> None:
    """Register now where transformers is loaded already, else on import."""
    pending = {}
    for module, register in REGISTRATIONS.items():
        if module in sys.modules:
            register()
        else:
            pending[module] = register
    if pending:
        sys.meta_path.insert(0, RegisterAfterImport(pending))
