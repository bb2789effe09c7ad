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


MiB = 1024 * 1024


def add_limit_options(parser, heading: str):
    """The limits `sphinx-x serve` and `sphinx-x web` share (what `limits_from` reads); returns the
    group, for a command's own limits."""
    limits = parser.add_argument_group(heading)
    limits.add_argument("--max-running", type=int, default=16, help="requests answered together")
    limits.add_argument(
        "--max-queue", type=int, default=64, help="requests waiting beyond that; more are refused"
    )
    limits.add_argument("--max-tokens", type=int, default=1024, help="the most tokens an answer may have")
    limits.add_argument("--max-image-mb", type=float, default=8, help="one image's encoded size")
    limits.add_argument(
        "--max-image-pixels", type=int, default=4096 * 4096, help="width x height, from the header"
    )
    limits.add_argument(
        "--request-timeout", type=float, default=300, help="seconds for one request, queueing included"
    )
    return limits


def limits_from(args, **more):
    """`ServerLimits` from the options `add_limit_options` parsed, and a command's own (`more`)."""
    from ..serve.limits import ServerLimits

    return ServerLimits(
        max_running=args.max_running, max_queue=args.max_queue, max_tokens=args.max_tokens,
        max_image_bytes=int(args.max_image_mb * MiB), max_image_pixels=args.max_image_pixels,
        request_timeout=args.request_timeout, **more,
    )  # fmt: skip


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
