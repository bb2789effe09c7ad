"""torchao and bitsandbytes load only when a model is quantized (`sphinx_x.quantize`), never before.

transformers imports torchao whenever it is installed, at its first model import: its torchao
quantizer module (for torchao-quantized Hub checkpoints, which sphinx-x does not load) imports it at
its top if `is_torchao_available()`. That costs every command the import and prints three lines
(CUDA-only kernels a CPU build cannot load; torch 2.13 deprecating how torchao registers an enum).
So while that one module executes, `is_torchao_available` answers True only if torchao is imported
already; transformers' own answer is back for every other caller as soon as it has run. peft's LoRA
dispatcher likewise imports torchao to ask whether a layer holds torchao weights, which none does
unless torchao is imported already: `apply_lora` asks it under `torchao_only_if_imported_for_peft`.
(bitsandbytes prints nothing; peft imports it at its own import, so a LoRA run loads it.)

When sphinx-x does quantize, torchao's lines say nothing a user can act on: a logging filter drops them.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import sys
from contextlib import contextmanager

TORCHAO_QUANTIZER = "transformers.quantizers.quantizer_torchao"
NOISE = ("Failed to load /", "is an Enum subclass and is now natively supported")


class DropTorchaoNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not any(text in str(record.msg) for text in NOISE)


def torchao_if_imported(original):
    def is_torchao_available(*args, **kwargs) -> bool:
        return "torchao" in sys.modules and original(*args, **kwargs)

    return is_torchao_available


class TorchaoOnlyIfImported(importlib.abc.MetaPathFinder):
    """Finds transformers' torchao quantizer as Python would and executes it with the check above."""

    def find_spec(self, name, path=None, target=None):
        if name != TORCHAO_QUANTIZER:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        execute = spec.loader.exec_module

        def execute_with_the_check(module):
            utils = sys.modules["transformers.utils"]  # imported with the module's parent package
            original = utils.is_torchao_available
            utils.is_torchao_available = torchao_if_imported(original)
            try:
                execute(module)
            finally:
                utils.is_torchao_available = original

        spec.loader.exec_module = execute_with_the_check
        return spec


@contextmanager
def torchao_only_if_imported_for_peft():
    from peft.tuners.lora import torchao as peft_torchao

    original = peft_torchao.is_torchao_available
    peft_torchao.is_torchao_available = torchao_if_imported(original)
    try:
        yield
    finally:
        peft_torchao.is_torchao_available = original


def install() -> None:
    for name in ("torchao", "torch.utils._pytree"):
        logging.getLogger(name).addFilter(DropTorchaoNoise())
    if TORCHAO_QUANTIZER not in sys.modules:
        sys.meta_path.insert(0, TorchaoOnlyIfImported())


def require(module: str, extra: str):
    """`module` imported, or an error that says which sphinx-x extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            f"{module} is not installed: pip install 'sphinx-x[{extra}]' ({error})"
        ) from error
