"""Load a model, put an engine and the app around it, and serve it with uvicorn."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .limits import ServerLimits

logger = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def build_app(model_source, limits: ServerLimits, model_name: str | None = None, api_key: str | None = None,
              dtype=None, device=None):  # fmt: skip
    """The app for a model folder or preset, with its engine (started when the app starts)."""
    from ..inference.engine import Engine
    from ..loading import load_model
    from .app import create_app

    model, processor = load_model(model_source, dtype=dtype, device=device)
    engine = Engine(
        model, processor.tokenizer, limits.max_running, limits.max_queue, limits.max_prefill_tokens
    )
    return create_app(engine, processor, model_name or served_name(model_source), limits, api_key)


def served_name(model_source) -> str:
    """What clients put in `model`: the folder's name, or the preset's."""
    path = Path(os.fspath(model_source))
    return path.resolve().name if path.is_dir() else str(model_source)


def serve(model_source, limits: ServerLimits, host: str = "127.0.0.1", port: int = 8000, **options) -> None:
    import uvicorn

    if host not in LOOPBACK and not options.get("api_key"):
        logger.warning(
            "serving on %s without an API key: anyone who can reach this port can use the model", host
        )
    app = build_app(model_source, limits, **options)
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=5)
