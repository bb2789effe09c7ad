"""`sphinx-x web`: a browser demo (Gradio) to chat about an image, on the in-process engine."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys

from .common import add_limit_options, add_model_options, limits_from, load_options

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add(commands) -> None:
    web = commands.add_parser("web", help="a web page to chat about an image, boxes drawn (Gradio)")
    add_model_options(web)
    web.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)")
    web.add_argument("--port", type=int, default=7860)
    web.add_argument("--served-model-name", help="the name the page shows (default: the folder's)")
    add_limit_options(web, "limits (as for `sphinx-x serve`)")
    web.set_defaults(run=run)


def run(args) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from the page's server
    if importlib.util.find_spec("gradio") is None:
        raise ValueError("the web demo needs Gradio: pip install 'sphinx-x[web]'")
    from ..presets import PRESETS
    from ..web.app import launch
    from ..web.chat import build_chat

    if args.model in PRESETS:
        print(
            f"note: {args.model} is freshly initialised and untrained; its answers are noise", file=sys.stderr
        )
    if args.host not in LOOPBACK:
        logging.getLogger(__name__).warning("the page is open to anyone who can reach %s", args.host)
    limits = limits_from(args)
    chat = build_chat(args.model, limits, args.served_model_name, **load_options(args))
    launch(chat, args.host, args.port)
    return 0
