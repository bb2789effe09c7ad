"""The web demo's conversations on the shared engine, without any Gradio: what a page's turn does.

    chat = WebChat(engine, processor, "model", limits)
    conversation = chat.open_image("upload.png")          # checked and decoded as the server does
    for answer_so_far in chat.ask(conversation, "Where is the dog?", Sampling()):
        ...                                               # the answer grows; the engine batches users
    chat.grounding(conversation, answer), chat.draw(conversation, answer)

Each browser session holds its own `Conversation` (the image, its visual-token count, the turns);
the engine and the processor are shared. Every mistake a user can make (an unreadable or oversized
image, an empty question, a conversation the context cannot hold, a busy server) is a `WebError`
whose message the page shows; the checks are the server's own (`sphinx_x.serve`).
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from ..inference.draw import draw_locations
from ..inference.engine import ContextLengthError, Engine, QueueFullError, Update
from ..inference.sampling import DecodingSettings
from ..processing.conversation import STOP_STRING, ConversationError, Message
from ..processing.locations import parse_locations
from ..processing.processor import SampleTooLongError, SphinxXProcessor
from ..serve.completions import token_budget
from ..serve.errors import APIError
from ..serve.grounding import grounding
from ..serve.limits import ServerLimits
from ..serve.media import decode_image, read_local


class WebError(ValueError):
    """A mistake the page reports to its user (no traceback)."""


@dataclass(frozen=True)
class Sampling:
    """The page's sampling controls; defaults are the release's demo settings."""

    temperature: float = 0.1
    top_p: float = 0.75
    max_tokens: int = 512
    seed: int | None = None


@dataclass
class Conversation:
    """One browser session's chat: its image (upright RGB, or None) and the turns so far."""

    image: Image.Image | None = None
    visual_tokens: int = 0
    turns: list[Message] = field(default_factory=list)

    @property
    def image_size(self) -> tuple[int, int] | None:
        return self.image.size if self.image is not None else None

    def new_chat(self) -> Conversation:
        """The same image, no turns."""
        return Conversation(self.image, self.visual_tokens)


@dataclass
class WebChat:
    engine: Engine
    processor: SphinxXProcessor
    model_name: str
    limits: ServerLimits = field(default_factory=ServerLimits)

    @property
    def context(self) -> int:
        return self.engine.max_context

    # -- the image --------------------------------------------------------------------------------

    def open_image(self, path: str | Path) -> Conversation:
        """A new conversation about the uploaded file: bytes and pixels checked before decoding."""
        where = "the image"
        try:
            data = read_local(Path(path), self.limits, where)
            image = decode_image(data, self.limits, where)
        except APIError as error:
            raise WebError(error.message) from None
        width, height = image.size
        return Conversation(image, self.processor.visual_token_count(width, height))

    # -- a turn -----------------------------------------------------------------------------------

    def prepare(self, conversation: Conversation, question: str, sampling: Sampling):
        """The engine's request for the next turn, or a `WebError` saying why it cannot be asked."""
        question = question.strip()
        if not question:
            raise WebError("Type a question first (or click one of the example prompts).")
        turns = [*conversation.turns, Message("user", question)]
        try:
            sample = self.processor.encode(turns, conversation.image, add_generation_prompt=True)
            max_tokens = token_budget(
                int(sampling.max_tokens), len(sample.input_ids), sample.num_visual, self.limits, self.context
            )
            settings = DecodingSettings(
                max_tokens, float(sampling.temperature), float(sampling.top_p), (STOP_STRING,), sampling.seed
            )
        except APIError as error:  # the server's own checks of the token budget
            too_long = error.code == "context_length_exceeded"
            raise WebError(too_long_advice(error.message) if too_long else error.message) from None
        except SampleTooLongError as error:
            raise WebError(too_long_advice(str(error))) from None
        except (ConversationError, ValueError) as error:
            raise WebError(str(error)) from None
        images = self.processor.collate_views([sample.views]) if sample.views is not None else None
        return turns, sample.input_ids, images, settings

    def ask(self, conversation: Conversation, question: str, sampling: Sampling) -> Iterator[str]:
        """The answer so far, after each update of the engine; at the end the turn joins
        `conversation` (an empty answer does not: the template cannot hold an empty turn).

        Closing the iterator early (the page went away, or pressed stop) cancels the request."""
        turns, input_ids, images, settings = self.prepare(conversation, question, sampling)
        updates: queue.SimpleQueue[Update] = queue.SimpleQueue()
        try:
            handle = self.engine.submit(input_ids, images, settings, on_update=updates.put)
        except QueueFullError as error:
            raise WebError(f"The server is busy ({error}); try again in a moment.") from None
        except ContextLengthError as error:
            raise WebError(too_long_advice(str(error))) from None
        deadline = time.monotonic() + self.limits.request_timeout
        answer = ""
        try:
            while True:
                try:
                    update = updates.get(timeout=max(deadline - time.monotonic(), 0.001))
                except queue.Empty:
                    raise WebError(
                        f"The answer took longer than {self.limits.request_timeout:g} s and was stopped."
                    ) from None
                answer += update.text
                if update.finish_reason is not None:
                    break
                if update.text:
                    yield answer
        finally:
            handle.cancel()  # a no-op once finished
        if update.finish_reason == "error":
            raise WebError(f"Generation failed: {handle.error}")
        if update.finish_reason == "cancelled":
            raise WebError("The server is shutting down; the answer was cancelled.")
        if answer.strip():
            conversation.turns = [*turns, Message("assistant", answer)]
        yield answer

    # -- the answer's locations -----------------------------------------------------------------

    def grounding(self, conversation: Conversation, answer: str) -> list[dict]:
        """Boxes and points in the image's pixels, as the server returns them."""
        if conversation.image is None:
            return []
        width, height = conversation.image.size
        return grounding(answer, width, height, self.processor.padding)

    def draw(self, conversation: Conversation, answer: str) -> Image.Image | None:
        """The image with the answer's boxes and points drawn and labelled; None when it has none."""
        locations = parse_locations(answer)
        if conversation.image is None or not locations:
            return None
        return draw_locations(conversation.image, locations, self.processor.padding)


def too_long_advice(message: str) -> str:
    return f"The conversation is too long for the model: {message}. Start a new chat or lower max tokens."


def build_chat(
    model_source, limits: ServerLimits = ServerLimits(), model_name: str | None = None, **load_options
) -> WebChat:
    """A model folder or preset, loaded (`load_options`: `sphinx_x.load_model`'s dtype, device,
    quantize, ...), with its (not yet started) engine."""
    from ..loading import load_model
    from ..serve.server import served_name

    model, processor = load_model(model_source, **load_options)
    engine = Engine(
        model, processor.tokenizer, limits.max_running, limits.max_queue, limits.max_prefill_tokens
    )
    return WebChat(engine, processor, model_name or served_name(model_source), limits)
