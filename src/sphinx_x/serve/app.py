"""The FastAPI app: routes, and what wraps them (API key, body limit, response counts).

POST /v1/chat/completions    chat, whole or streamed (completions.py)
GET  /v1/models              the one model this server serves
GET  /health                 200 while the engine runs (no API key needed)
GET  /metrics                Prometheus text
"""

from __future__ import annotations

from collections import Counter
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException

from ..inference.engine import Engine
from ..processing.processor import SphinxXProcessor
from .completions import Served, chat_completion
from .errors import APIError, api_error_handler, unexpected_error_handler, validation_error_handler
from .limits import ServerLimits
from .metrics import CountResponses, prometheus_text
from .middleware import LimitBody, RequireAPIKey
from .schema import ChatCompletionRequest


def create_app(
    engine: Engine,
    processor: SphinxXProcessor,
    model_name: str,
    limits: ServerLimits = ServerLimits(),
    api_key: str | None = None,
) -> FastAPI:
    """The app around a (not yet started) engine: it starts with the app and stops with it."""
    served = Served(engine, processor, model_name, limits)
    responses: Counter = Counter()

    @asynccontextmanager
    async def lifespan(_app):
        engine.start()
        yield
        engine.stop()

    app = FastAPI(title="sphinx-x", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    add_error_handlers(app)

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest, request: Request):
        return await chat_completion(body, request, served)

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [model_card(served)]}

    @app.get("/v1/models/{name}")
    async def model(name: str):
        if name != served.model_name:
            raise APIError(404, f"model {name!r} does not exist; this server serves {served.model_name!r}",
                           "model_not_found", "model")  # fmt: skip
        return model_card(served)

    @app.get("/health")
    async def health():
        running = engine.is_running
        return JSONResponse({"status": "ok" if running else "stopped"}, status_code=200 if running else 503)

    @app.get("/metrics")
    async def metrics():
        return PlainTextResponse(
            prometheus_text(engine.snapshot(), responses), media_type="text/plain; version=0.0.4"
        )

    # Outermost last: responses are counted, then the key is checked, then the body is limited.
    app.add_middleware(LimitBody, max_bytes=limits.max_body_bytes)
    app.add_middleware(RequireAPIKey, api_key=api_key)
    app.add_middleware(CountResponses, counts=responses)
    return app


def model_card(served: Served) -> dict:
    return {"id": served.model_name, "object": "model", "created": served.started, "owned_by": "sphinx-x",
            "max_model_len": served.engine.max_context}  # fmt: skip


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(APIError, api_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)


async def http_error_handler(_: Request, error: HTTPException) -> JSONResponse:
    """Starlette's own 404 / 405 in OpenAI's shape too."""
    return APIError(
        error.status_code, str(error.detail), "not_found" if error.status_code == 404 else None
    ).response()
