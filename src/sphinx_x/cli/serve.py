"""`sphinx-x serve`: an OpenAI-compatible chat-completions server for a model folder."""

from __future__ import annotations

import os
import sys

from .common import MiB, add_limit_options, add_model_options, limits_from, load_options

API_KEY_VARIABLE = "SPHINX_X_API_KEY"


def add(commands) -> None:
    serve = commands.add_parser("serve", help="an OpenAI-compatible API server (POST /v1/chat/completions)")
    add_model_options(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--api-key", default=os.environ.get(API_KEY_VARIABLE),
                       help=f"require 'Authorization: Bearer KEY' (default: ${API_KEY_VARIABLE}, else none)")  # fmt: skip
    serve.add_argument("--served-model-name", help="the name clients send as `model` (default: the folder's)")
    limits = add_limit_options(serve, "limits (defaults are safe for a public port)")
    limits.add_argument(
        "--max-prefill-tokens", type=int, default=2048, help="prompt tokens admitted per step"
    )
    limits.add_argument("--max-body-mb", type=float, default=12, help="request body size")
    limits.add_argument("--max-images", type=int, default=1, help="images per request")
    media = serve.add_argument_group("images from URLs and files (both off by default)")
    media.add_argument("--allow-remote-host", action="append", default=[], metavar="HOST",
                       help="fetch http(s) images from this exact host (repeat for more)")  # fmt: skip
    media.add_argument("--remote-timeout", type=float, default=10, help="seconds for one download")
    media.add_argument("--allowed-media-dir", help="serve file:// image URLs from under this folder")
    serve.set_defaults(run=run)


def run(args) -> int:
    from ..presets import PRESETS
    from ..serve.server import serve

    if args.model in PRESETS:
        print(
            f"note: {args.model} is freshly initialised and untrained; its answers are noise", file=sys.stderr
        )

    limits = limits_from(
        args, max_prefill_tokens=args.max_prefill_tokens, max_body_bytes=int(args.max_body_mb * MiB),
        max_images_per_request=args.max_images, allowed_remote_hosts=tuple(args.allow_remote_host),
        remote_timeout=args.remote_timeout, allowed_media_dir=args.allowed_media_dir,
    )  # fmt: skip
    serve(args.model, limits, args.host, args.port, model_name=args.served_model_name, api_key=args.api_key,
          **load_options(args))  # fmt: skip
    return 0
