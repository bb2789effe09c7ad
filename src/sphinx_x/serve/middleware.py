"""What every request passes before a route sees it: the API key, then the body-size limit.

Both are plain ASGI wrappers (no buffering of responses, so streaming and disconnects pass
through untouched). The body is read up to the limit and handed on; a larger one is refused with
413 before any of it is parsed.
"""

from __future__ import annotations

import hmac

from .errors import APIError, too_large

PROTECTED = ("/v1/", "/metrics")  # /health stays open for load balancers


class RequireAPIKey:
    def __init__(self, app, api_key: str | None):
        self.app = app
        self.api_key = api_key.encode() if api_key else None

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.api_key and scope["path"].startswith(PROTECTED):
            if not self.authorized(dict(scope["headers"]).get(b"authorization", b"")):
                error = APIError(
                    401, "missing or wrong API key: send 'Authorization: Bearer KEY'", "invalid_api_key"
                )
                return await error.response()(scope, receive, send)
        await self.app(scope, receive, send)

    def authorized(self, header: bytes) -> bool:
        scheme, _, token = header.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.api_key)


class LimitBody:
    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await self.refuse(scope, receive, send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                return await self.refuse(scope, receive, send)
        await self.app(scope, replay(b"".join(chunks), receive), send)

    async def refuse(self, scope, receive, send):
        error = too_large(f"the request body is over this server's limit of {self.max_bytes} bytes")
        await error.response()(scope, receive, send)


def replay(body: bytes, receive):
    """A `receive` that gives the body once, then the client's later messages (its disconnect)."""
    sent = False

    async def replayed():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
