"""A multi-turn chat about one image (or none), keeping the conversation between turns."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from ..processing.conversation import Message
from ..processing.images import load_image
from ..processing.locations import parse_locations
from ..processing.processor import SphinxXProcessor
from .draw import draw_locations
from .generate import DecodingSettings, OnText, generate


class ChatSession:
    def __init__(self, model, processor: SphinxXProcessor, image=None, settings=DecodingSettings()):
        self.model = model
        self.processor = processor
        self.image: Image.Image | None = (
            load_image(image, processor.max_image_pixels) if image is not None else None
        )
        self.settings = settings
        self.history: list[Message] = []

    def reset(self) -> None:
        """Forget the conversation (the image stays)."""
        self.history = []

    def ask(self, question: str, on_text: OnText | None = None) -> str:
        turns = [*self.history, Message("user", question)]
        batch = self.processor([turns], [self.image])
        answer = generate(self.model, self.processor.tokenizer, batch, self.settings, on_text)[0]
        if answer.strip():  # an empty answer cannot be a turn of the template; the question is dropped too
            self.history = [*turns, Message("assistant", answer)]
        return answer

    def draw_answer(self, answer: str, path: str | os.PathLike) -> Path | None:
        """Save the image with the answer's boxes and points drawn; None when it has none."""
        locations = parse_locations(answer)
        if self.image is None or not locations:
            return None
        draw_locations(self.image, locations, self.processor.padding).save(path)
        return Path(path)
