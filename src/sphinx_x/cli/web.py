"""`sphinx-x web`: a browser demo (Gradio) to chat about an image, on the in-process engine."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys

from .common import add_model_options, load_options

MiB = 1024 * 1024
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add(commands) -> None:
    web = commands.add_parser("web", help="a web page to chat about an image, boxes drawn (Gradio)")
    add_model_options(web)
    web.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)")
    web.add_argument("--port", type=int, default=7860)
    web.add_argument("--served-model-name", help="the name the page shows (default: the folder's)")
    limits = web.add_argument_group("limits (as for `sphinx-x serve`)")
    limits.add_argument("--max-running", type=int, default=16, help="answers generated together")
    limits.add_argument("--max-queue", type=int, default=64, help="questions waiting beyond that")
    limits.add_argument("--max-tokens", type=int, default=1024, help="the most tokens an answer may have")
    limits.add_argument("--max-image-mb", type=float, default=8, help="one image's encoded size")
    limits.add_argument(
        "--max-image-pixels", type=int, default=4096 * 4096, help="width x height, from the header"
    )
    limits.add_argument("--request-timeout", type=float, default=300, help="seconds for one answer")
    web.set_defaults(run=run)


def run(args) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from the page's server
    if importlib.util.find_spec("gradio") is None:
        raise ValueError("the web demo needs Gradio: pip install 'sphinx-x[web]'")
    from ..presets import PRESETS
    from ..serve.limits import ServerLimits
    from ..web.app import launch
    from ..web.chat import build_chat

    if args.model in PRESETS:
        print(
            f"note: {args.model} is freshly initialised and untrained; its answers are noise", file=sys.stderr
        )
    if args.host not in LOOPBACK:
        logging.getLogger(__name__).warning("the page is open to anyone who can reach %s", args.host)
    limits = ServerLimits(
        max_image_bytes=int(args.max_image_mb * MiB), max_image_pixels=args.max_image_pixels,
        max_tokens=args.max_tokens, max_running=args.max_running, max_queue=args.max_queue,
        request_timeout=args.request_timeout,
    )  # fmt: skip
    chat = build_chat(args.model, limits, args.served_model_name, **load_options(args))
    launch(chat, args.host, args.port)
    return 0
