"""Options and helpers several commands share."""

from __future__ import annotations

import argparse

DTYPE_CHOICES = ("auto", "float32", "bfloat16", "float16", "fastest")
QUANTIZE_CHOICES = ("int8", "int4")  # sphinx_x.quantize.QUANTIZATIONS (not imported: start-up stays light)


def add_model_options(parser, default_model: str | None = None) -> None:
    """--model, --dtype, --device, --quantize, --quantize-vision: what `sphinx_x.loading.load_model` takes."""
    if default_model is None:
        parser.add_argument("--model", required=True, help="model folder, or a toy preset name")
    else:
        parser.add_argument("--model", default=default_model,
                            help=f"model folder, or a toy preset name (default: untrained {default_model})")  # fmt: skip
    parser.add_argument("--dtype", default="auto", choices=DTYPE_CHOICES,
                        help="weights and compute dtype (auto: as the folder was saved, float32 for presets; "
                        "fastest: the fastest measured on the device, bfloat16 on GPUs, float32 on CPUs without native bfloat16)")  # fmt: skip
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: the GPU if there is one)")
    parser.add_argument("--quantize", choices=QUANTIZE_CHOICES,
                        help="weight-only quantization of the LLM's linear layers: int8 (torchao) or int4 (bitsandbytes NF4); "
                        "re-done from the full weights at every load")  # fmt: skip
    parser.add_argument("--quantize-vision", action="store_true",
                        help="quantize the vision experts' linear layers too (with --quantize)")  # fmt: skip


def load_options(args) -> dict:
    """The keyword arguments of `sphinx_x.loading.load_model` that `add_model_options` parsed."""
    return {"dtype": args.dtype, "device": args.device, "quantize": args.quantize,
            "quantize_vision": args.quantize_vision}  # fmt: skip


def load_model_from(args):
    from ..loading import load_model

    return load_model(args.model, **load_options(args))


def add_listing_parser(actions, name: str, help: str, heading: str, rows: dict[str, str]):
    """A subcommand whose description lists a registry (metrics, converter kinds), one row each."""
    width = max(map(len, rows)) + 2
    listing = "\n".join(f"  {key:{width}s}{value}" for key, value in rows.items())
    return actions.add_parser(
        name,
        help=help,
        description=f"{heading}:\n{listing}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--image must look like 1000x500, got {text!r}") from None
    if width <= 0 or height <= 0:
        raise ValueError(f"--image sides must be positive, got {text!r}")
    return width, height
