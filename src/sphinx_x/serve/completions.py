"""`POST /v1/chat/completions`: check, prepare, submit to the engine, answer (whole or streamed).

    check      supported fields, the model name, roles, image count, URLs     (no I/O yet)
    prepare    fetch + decode the image (header size first), encode the prompt, the token budget
    submit     to the engine; its updates come back to this event loop through a queue
    answer     one chat.completion, or chat.completion.chunk events then `data: [DONE]`

A client that disconnects, or a request that runs past the timeout, is cancelled in the engine:
its slot is free at the next step.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from fastapi import Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from ..inference.engine import ContextLengthError, Engine, QueueFullError, RequestHandle, Update
from ..inference.sampling import DecodingSettings
from ..processing.conversation import STOP_STRING, ConversationError
from ..processing.processor import SampleTooLongError, SphinxXProcessor
from .errors import APIError, bad_request
from .grounding import grounding
from .limits import ServerLimits
from .media import decode_image, image_bytes
from .prompt import Conversation, read_conversation
from .schema import ChatCompletionRequest

DISCONNECT_POLL_SECONDS = 0.5


@dataclass
class Served:
    """What the routes share: the engine, the processor, the name clients use, the limits."""

    engine: Engine
    processor: SphinxXProcessor
    model_name: str
    limits: ServerLimits
    started: int = field(default_factory=lambda: int(time.time()))


@dataclass
class Prepared:
    input_ids: list[int]
    image_inputs: dict | None
    image_size: tuple[int, int] | None
    visual_tokens: int


async def chat_completion(body: ChatCompletionRequest, request: Request, served: Served):
    body.check_supported()
    if body.model != served.model_name:
        raise APIError(404, f"model {body.model!r} does not exist; this server serves {served.model_name!r}",
                       "model_not_found", "model")  # fmt: skip
    conversation = read_conversation(body, served.limits)
    prepared = await prepare(conversation, served)
    settings = decoding_settings(body, prepared, served)
    completion = Completion(served, body, prepared, settings)
    if body.stream:
        # The background task runs even when a disconnect cancels the stream before it began.
        return StreamingResponse(completion.events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"},
                                 background=BackgroundTask(completion.handle.cancel))  # fmt: skip
    return JSONResponse(await completion.whole(request))


async def prepare(conversation: Conversation, served: Served) -> Prepared:
    image = None
    for reference in conversation.images:  # at most max_images_per_request, checked already
        data = await image_bytes(reference.url, served.limits, reference.where)
        image = await run_in_threadpool(decode_image, data, served.limits, reference.where)
    try:
        sample = await run_in_threadpool(
            served.processor.encode, conversation.turns, image, True, conversation.system
        )
    except ConversationError as error:
        raise APIError(422, f"the conversation does not fit the model's template: {error}",
                       "unsupported_conversation", "messages") from None  # fmt: skip
    except SampleTooLongError as error:
        raise bad_request(str(error), "messages", "context_length_exceeded") from None
    image_inputs = served.processor.collate_views([sample.views]) if sample.views is not None else None
    return Prepared(sample.input_ids, image_inputs, image.size if image else None, sample.num_visual)


def decoding_settings(body: ChatCompletionRequest, prepared: Prepared, served: Served) -> DecodingSettings:
    max_tokens = token_budget(
        body.requested_max_tokens, len(prepared.input_ids), prepared.visual_tokens, served.limits,
        served.engine.max_context,
    )  # fmt: skip
    defaults = DecodingSettings()
    return DecodingSettings(
        max_new_tokens=max_tokens,
        temperature=defaults.temperature if body.temperature is None else body.temperature,
        top_p=defaults.top_p if body.top_p is None else body.top_p,
        stop_strings=(STOP_STRING, *body.stop_strings),
        seed=body.seed,
    )


def token_budget(requested: int | None, prompt: int, visual: int, limits: ServerLimits, context: int) -> int:
    """The tokens a request may generate: what it asked for (at most the server's limit), or when it
    asked nothing, the limit or what is left of the context, whichever is less. A 400 when the
    prompt and the answer do not fit the context (the web demo shows the same message)."""
    limit = limits.max_tokens
    if requested is not None and requested > limit:
        raise bad_request(f"max_tokens={requested} is over this server's limit of {limit}", "max_tokens")
    max_tokens = requested if requested is not None else min(limit, context - prompt)
    if max_tokens < 1 or prompt + max_tokens > context:
        raise bad_request(
            f"this model's context is {context} tokens; the prompt has {prompt} ({visual} of "
            f"them visual) and max_tokens is {max_tokens}: {prompt + max_tokens} in all",
            "messages", "context_length_exceeded",
        )  # fmt: skip
    return max_tokens


class Completion:
    """One request in the engine, answered as a whole or as a stream."""

    def __init__(self, served: Served, body: ChatCompletionRequest, prepared: Prepared, settings):
        self.served, self.body, self.prepared = served, body, prepared
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.loop = asyncio.get_running_loop()
        self.updates: asyncio.Queue[Update] = asyncio.Queue()
        self.deadline = self.loop.time() + served.limits.request_timeout
        self.handle = self.submit(settings)

    def submit(self, settings: DecodingSettings) -> RequestHandle:
        def on_update(update: Update) -> None:  # on the engine's thread
            self.loop.call_soon_threadsafe(self.updates.put_nowait, update)

        try:
            return self.served.engine.submit(
                self.prepared.input_ids, self.prepared.image_inputs, settings, on_update
            )
        except QueueFullError as error:
            raise APIError(429, f"the server is {error}", "queue_full") from None
        except ContextLengthError as error:
            raise bad_request(str(error), "messages", "context_length_exceeded") from None

    async def next_update(self, request: Request | None) -> Update:
        """The engine's next update; cancels on timeout, and on disconnect when `request` is given."""
        while True:
            remaining = self.deadline - self.loop.time()
            if remaining <= 0:
                self.handle.cancel()
                raise APIError(504, f"the request took longer than {self.served.limits.request_timeout:g} s",
                               "timeout")  # fmt: skip
            try:
                return await asyncio.wait_for(self.updates.get(), min(remaining, DISCONNECT_POLL_SECONDS))
            except TimeoutError:
                if request is not None and await request.is_disconnected():
                    self.handle.cancel()
                    raise APIError(499, "the client disconnected", "client_disconnected") from None

    def check_outcome(self, update: Update) -> None:
        if update.finish_reason == "error":
            raise APIError(500, f"generation failed: {self.handle.error}", "generation_failed")
        if update.finish_reason == "cancelled":
            raise APIError(503, "the server is shutting down; retry", "shutting_down")

    # -- the whole answer ---------------------------------------------------------------------

    async def whole(self, request: Request) -> dict:
        try:
            while (update := await self.next_update(request)).finish_reason is None:
                pass
        finally:
            self.handle.cancel()  # no-op once finished
        self.check_outcome(update)
        message = {"role": "assistant", "content": self.handle.text} | self.grounding()
        return self.envelope("chat.completion") | {
            "choices": [
                {"index": 0, "message": message, "finish_reason": update.finish_reason, "logprobs": None}
            ],
            "usage": self.usage(),
        }

    # -- the stream -----------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[str]:
        """Server-sent events; a disconnect cancels this generator, and so the request."""
        try:
            yield self.chunk({"role": "assistant", "content": ""})
            while True:
                update = await self.next_update(None)
                if update.text:
                    yield self.chunk({"content": update.text})
                if update.finish_reason is not None:
                    break
            self.check_outcome(update)
            yield self.chunk(self.grounding(), update.finish_reason)
            if self.body.stream_options and self.body.stream_options.include_usage:
                yield sse(self.envelope("chat.completion.chunk") | {"choices": [], "usage": self.usage()})
        except APIError as error:  # the status line is sent already: the error travels as an event
            yield sse(error.body())
        finally:
            self.handle.cancel()
        yield "data: [DONE]\n\n"

    def chunk(self, delta: dict, finish_reason: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        return sse(self.envelope("chat.completion.chunk") | {"choices": [choice]})

    # -- pieces -----------------------------------------------------------------------------------

    def envelope(self, kind: str) -> dict:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.served.model_name}

    def usage(self) -> dict:
        prompt, completion = self.handle.prompt_tokens, self.handle.completion_tokens
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                "prompt_tokens_details": {"image_tokens": self.prepared.visual_tokens}}  # fmt: skip

    def grounding(self) -> dict:
        """The answer's boxes and points in the image's pixels (only when there is an image)."""
        if self.prepared.image_size is None:
            return {}
        width, height = self.prepared.image_size
        return {"grounding": grounding(self.handle.text, width, height, self.served.processor.padding)}


def sse(payload: dict) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"
