"""`sphinx-x` command line: one module per command, parsing only; the work is the library's.

Nothing here imports torch or transformers at start-up: each command imports what it needs when it
runs, so `sphinx-x --help` and the commands that need no model start at once. Errors of a known kind
end in one line naming the file or option and what was expected (exit 2); `--debug` (or
SPHINX_X_DEBUG=1) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from . import chat, convert, data, demo, evaluate, info, moe, serve, train, web

COMMANDS = (info, chat, convert, evaluate, train, demo, data, serve, web, moe)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sphinx-x", description="SPHINX-X multimodal LLMs")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get("SPHINX_X_DEBUG", "") not in ("", "0")
    warnings.showwarning = show_warning
    try:
        return args.run(args)
    except Exception as error:
        if debug or not is_known(error):
            raise
        print(f"sphinx-x {args.command}: error: {error}", file=sys.stderr)
        return 2


def is_known(error: BaseException) -> bool:
    """Errors that describe bad input (a file, an option, a record), not a bug in sphinx-x."""
    return isinstance(error, ValueError | OSError)


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=file or sys.stderr)
