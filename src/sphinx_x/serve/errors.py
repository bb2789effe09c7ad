"""Errors in OpenAI's JSON shape, `{"error": {"message", "type", "param", "code"}}`, with the status
that tells a client what to do: fix the request (400, 413, 422), authenticate (401), pick another
model (404), come back later (429, 503), or give up waiting (504)."""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "invalid_request_error",
               413: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_error",
               500: "server_error", 503: "server_error", 504: "server_error"}  # fmt: skip


class APIError(Exception):
    """A request that cannot be served; `message` says what and where (a field, a message index)."""

    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param

    def body(self) -> dict:
        kind = ERROR_TYPES.get(self.status, "invalid_request_error")
        return {"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        headers = {"Retry-After": "1"} if self.status in (429, 503) else None
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def bad_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, code, param)


def too_large(message: str, param: str | None = None) -> APIError:
    return APIError(413, message, "too_large", param)


async def api_error_handler(_: Request, error: APIError) -> JSONResponse:
    return error.response()


async def validation_error_handler(_: Request, error: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 for a malformed body becomes OpenAI's 400, naming the first bad field."""
    first = error.errors()[0] if error.errors() else {"loc": (), "msg": "malformed request"}
    location = field_path(first.get("loc", ()))
    message = f"{location}: {first.get('msg')}" if location else str(first.get("msg"))
    return APIError(400, message, "invalid_request", location or None).response()


def field_path(location) -> str:
    """("body", "messages", 0, "content") -> "messages[0].content"."""
    path = ""
    for part in location:
        if part == "body":
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


async def unexpected_error_handler(_: Request, error: Exception) -> JSONResponse:
    return APIError(500, f"internal error: {type(error).__name__}", "internal_error").response()
