"""`sphinx-x convert`: released checkpoints and public weights <-> sphinx-x folders."""

from __future__ import annotations

DTYPES = ("float32", "bfloat16", "float16")


def add(commands) -> None:
    convert = commands.add_parser(
        "convert", help="released checkpoints and public weights <-> sphinx-x folders"
    )
    kinds = convert.add_subparsers(dest="kind", required=True)

    accessory = kinds.add_parser(
        "accessory", help="a released SPHINX folder (LLaMA2-Accessory format) -> sphinx-x"
    )
    accessory.add_argument(
        "source", help="folder with consolidated.XX-of-YY.model.pth, config.json, meta.json, tokenizer.model"
    )
    accessory.add_argument("output")
    accessory.add_argument(
        "--dtype", choices=DTYPES, help="cast floating weights (default: keep the release's)"
    )
    accessory.add_argument(
        "--max-shard-gb", type=float, default=2.0, help="size of each output safetensors file"
    )
    accessory.add_argument(
        "--view-size", action="append", default=[], metavar="EXPERT=SIZE",
        help="override an expert's view size, e.g. convnext=32 (scaled-down checkpoints; repeatable)",
    )  # fmt: skip
    accessory.add_argument("--convnext-view-size", type=int, help="same as --view-size convnext=SIZE")
    accessory.add_argument("--dinov2-view-size", type=int, help="same as --view-size dinov2=SIZE")
    accessory.add_argument(
        "--clip-activation", choices=("gelu", "quick_gelu"), default="gelu",
        help="CLIP ViT's activation: gelu reproduces the release; quick_gelu is what OpenAI trained with",
    )  # fmt: skip
    accessory.add_argument(
        "--dry-run", action="store_true", help="check every key and shape against the model, write nothing"
    )
    accessory.set_defaults(run=run_accessory)

    export = kinds.add_parser(
        "export-llm", help="the LLM part alone, as a stock transformers causal LM folder"
    )
    export.add_argument("model")
    export.add_argument("output")
    export.add_argument("--dtype", choices=DTYPES)
    export.set_defaults(run=run_export_llm)

    assemble = kinds.add_parser(
        "assemble", help="a new SPHINX-X from public LLM, ConvNeXt and DINOv2 weights"
    )
    assemble.add_argument("output")
    assemble.add_argument("--preset", default="sphinx-x-tiny", help="supplies grid, padding and view sizes")
    assemble.add_argument(
        "--llm", required=True, help="transformers causal LM (folder or model id); InternLM2 too"
    )
    assemble.add_argument(
        "--convnext", required=True, help="open_clip ConvNeXt checkpoint (file, folder or model id)"
    )
    assemble.add_argument(
        "--dinov2", required=True, help="DINOv2: hub .pth file, or transformers folder / model id"
    )
    assemble.add_argument("--dtype", choices=DTYPES, default="float32")
    assemble.set_defaults(run=run_assemble)

    upgrade = kinds.add_parser("upgrade", help="a folder saved by an older sphinx-x -> the current format")
    upgrade.add_argument("source")
    upgrade.add_argument("output")
    upgrade.set_defaults(run=run_upgrade)


def torch_dtype(name: str | None):
    import torch

    return getattr(torch, name) if name else None


def run_accessory(args) -> int:
    from ..convert.accessory import convert_accessory

    config = convert_accessory(
        args.source, args.output, dtype=torch_dtype(args.dtype), view_sizes=view_size_overrides(args),
        clip_activation=args.clip_activation, max_shard_bytes=int(args.max_shard_gb * 1024**3),
        dry_run=args.dry_run,
    )  # fmt: skip
    experts = ", ".join(f"{name} {size}" for name, size in config.view_sizes.items())
    if args.dry_run:
        print(
            f"{args.source}: every key maps ({config.text_config.model_type}; experts {experts}); nothing written"
        )
        return 0
    print(f'wrote {args.output}; chat with: sphinx-x chat --model {args.output} --image IMAGE "QUESTION"')
    return 0


def view_size_overrides(args) -> dict[str, int]:
    """`--view-size NAME=SIZE` (and the two shorthands) as {name: size}."""
    sizes = {}
    for item in args.view_size:
        name, _, size = item.partition("=")
        if not name or not size.isdigit():
            raise ValueError(f"--view-size {item!r}: expected EXPERT=SIZE, e.g. convnext=512")
        sizes[name] = int(size)
    shorthands = {"convnext": args.convnext_view_size, "dinov2": args.dinov2_view_size}
    return sizes | {name: size for name, size in shorthands.items() if size}


def run_export_llm(args) -> int:
    from ..convert.export import export_llm

    print(f"wrote {export_llm(args.model, args.output, torch_dtype(args.dtype))}")
    return 0


def run_assemble(args) -> int:
    from ..convert.pretrained import assemble_from_public_weights

    model, processor = assemble_from_public_weights(args.preset, args.llm, args.convnext, args.dinov2,
                                                    dtype=torch_dtype(args.dtype))  # fmt: skip
    model.save_pretrained(args.output)
    processor.save_pretrained(args.output)
    print(f"wrote {args.output} (projector and start/end/skip tokens freshly initialised)")
    return 0


def run_upgrade(args) -> int:
    from ..convert.export import upgrade_folder

    print(f"wrote {upgrade_folder(args.source, args.output)}")
    return 0
