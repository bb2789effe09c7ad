"""`sphinx-x info [PRESET]`: the family as a table, or one preset's parts and visual tokens;
`--train`: training memory per process at some world sizes."""

from __future__ import annotations

import json

from .common import parse_size


def add(commands) -> None:
    info = commands.add_parser("info", help="the model family, or one preset's parameters and visual tokens")
    info.add_argument("preset", nargs="?", help="a preset name (default: every preset, as a table)")
    info.add_argument("--image", default="1024x1024", metavar="WxH", help="image size for the token count")
    info.add_argument("--no-skip", action="store_true", help="count without skip tokens")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.add_argument(
        "--train",
        action="store_true",
        help="training memory per process (FSDP2, AdamW, fp32 master weights; every preset if none)",
    )
    info.add_argument("--world-size", type=int, action="append", metavar="N",
                      help="processes for --train (repeatable; default 8, 32 and 64)")  # fmt: skip
    info.set_defaults(run=run)


def run(args) -> int:
    from ..info import family_table, format_info, preset_info

    if args.train:
        return training_memory(args)
    if args.preset is None:
        print(family_table(as_json=args.json))
        return 0
    width, height = parse_size(args.image)
    details = preset_info(args.preset, width, height, use_skip_token=not args.no_skip)
    print(json.dumps(details) if args.json else format_info(details))
    return 0


def training_memory(args) -> int:
    import dataclasses

    from ..presets import PRESETS, get_preset
    from ..train.memory import WORLD_SIZES, memory_table
    from ..train.memory import training_memory as estimate

    presets = [get_preset(args.preset).name] if args.preset else [n for n, p in PRESETS.items() if not p.toy]
    world_sizes = args.world_size or list(WORLD_SIZES)
    if any(size < 1 for size in world_sizes):
        raise ValueError(f"--world-size must be at least 1, got {world_sizes}")
    if args.json:
        rows = [dataclasses.asdict(estimate(p, n)) for p in presets for n in world_sizes]
        print(json.dumps(rows))
    else:
        print(memory_table(presets, world_sizes))
    return 0
