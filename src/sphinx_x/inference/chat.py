"""A multi-turn chat about one image (or none), keeping the conversation between turns."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from PIL import Image

from ..model.sphinx import SphinxXForConditionalGeneration
from ..presets import preset_config
from ..processing.conversation import Message
from ..processing.images import load_image
from ..processing.locations import parse_locations
from ..processing.processor import SphinxXProcessor
from ..processing.tokenizer import train_toy_tokenizer
from .draw import draw_locations
from .generate import DecodingSettings, OnText, generate


def load_model(source: str | os.PathLike, dtype: torch.dtype = torch.float32, device: str = "cpu"):
    """A saved model folder, or a toy preset name (freshly initialised, untrained)."""
    if Path(source).is_dir():
        model = SphinxXForConditionalGeneration.from_pretrained(source, dtype=dtype)
        processor = SphinxXProcessor.from_pretrained(source)
    elif str(source).startswith("sphinx-x-toy"):
        config = preset_config(str(source))
        model = SphinxXForConditionalGeneration(config).to(dtype)
        processor = SphinxXProcessor(train_toy_tokenizer(), config)
    else:
        raise ValueError(
            f"{source!r} is neither a model folder nor a toy preset; real-size presets have no weights "
            "here: convert or train a model and pass its folder"
        )
    return model.to(device).eval(), processor


class ChatSession:
    def __init__(self, model, processor: SphinxXProcessor, image=None, settings=DecodingSettings()):
        self.model = model
        self.processor = processor
        self.image: Image.Image | None = (
            load_image(image, processor.max_image_pixels) if image is not None else None
        )
        self.settings = settings
        self.history: list[Message] = []

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
        draw_locations(self.image, locations, self.processor.config.padding).save(path)
        return Path(path)
