"""`sphinx-x info [PRESET]`: the family as a table, or one preset's parts and visual tokens."""

from __future__ import annotations

import json

from .common import parse_size


def add(commands) -> None:
    info = commands.add_parser("info", help="the model family, or one preset's parameters and visual tokens")
    info.add_argument("preset", nargs="?", help="a preset name (default: every preset, as a table)")
    info.add_argument("--image", default="1024x1024", metavar="WxH", help="image size for the token count")
    info.add_argument("--no-skip", action="store_true", help="count without skip tokens")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(run=run)


def run(args) -> int:
    from ..info import family_table, format_info, preset_info

    if args.preset is None:
        print(family_table(as_json=args.json))
        return 0
    width, height = parse_size(args.image)
    details = preset_info(args.preset, width, height, use_skip_token=not args.no_skip)
    print(json.dumps(details) if args.json else format_info(details))
    return 0
