"""`SphinxXProcessor`: conversation + image -> the tensors the model takes.

Per sample: `[BOS] [image placeholder x n] segment ids ... [EOS when training]`, with labels recorded
while tokenising, segment by segment, so a supervised token is always part of an assistant answer.
`n` comes from `count_visual_tokens`, the function the model checks against.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch
from PIL import Image
from transformers import AutoTokenizer

from ..config import SphinxXConfig
from ..model.sphinx import IGNORE_INDEX
from ..model.token_layout import count_visual_tokens
from ..model.views import ImageTransform, ImageViews
from .conversation import ChatTemplate, Message, to_messages
from .images import DEFAULT_MAX_PIXELS, load_image
from .tokenizer import encode_segments, prefixes_word_boundary


class NothingToSuperviseError(ValueError):
    """A training sample without a single supervised token: it would train on nothing."""


class SampleTooLongError(ValueError):
    """A sample longer than the processor's `max_length`."""


@dataclass
class EncodedSample:
    input_ids: list[int]
    labels: list[int]
    views: ImageViews | None

    @property
    def num_supervised(self) -> int:
        return sum(label != IGNORE_INDEX for label in self.labels)


class SphinxXProcessor:
    def __init__(
        self,
        tokenizer,
        config: SphinxXConfig,
        template: ChatTemplate = ChatTemplate(),
        max_length: int | None = None,
        max_image_pixels: int = DEFAULT_MAX_PIXELS,
    ):
        if len(tokenizer) > config.text_config.vocab_size:
            raise ValueError(
                f"the tokenizer has {len(tokenizer)} tokens but the LLM's vocabulary holds "
                f"{config.text_config.vocab_size}"
            )
        self.tokenizer = tokenizer
        self.config = config
        self.transform = ImageTransform.from_config(config)
        self.template = template
        self.max_length = max_length
        self.max_image_pixels = max_image_pixels
        self.boundary_prefix = prefixes_word_boundary(tokenizer)
        # LLaMA's tokenizer has no pad token; padded positions are masked, so EOS serves.
        self.pad_token_id = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        )

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **kwargs) -> SphinxXProcessor:
        return cls(AutoTokenizer.from_pretrained(path), SphinxXConfig.from_pretrained(path), **kwargs)

    def save_pretrained(self, path: str | os.PathLike) -> None:
        self.tokenizer.save_pretrained(path)

    # -- one sample ---------------------------------------------------------------------------

    def visual_token_count(self, width: int, height: int) -> int:
        return count_visual_tokens(
            self.transform.geometry(width, height).skipped, self.config.tokens_per_view
        )

    def encode(
        self,
        conversation: Iterable[Mapping | Message],
        image: Image.Image | str | os.PathLike | None = None,
        add_generation_prompt: bool = False,
    ) -> EncodedSample:
        """Token ids, labels and views of one conversation (training when no generation prompt)."""
        views = self.transform(load_image(image, self.max_image_pixels)) if image is not None else None
        visual = count_visual_tokens(views.geometry.skipped, self.config.tokens_per_view) if views else 0
        input_ids = [self.tokenizer.bos_token_id] + [self.config.image_token_id] * visual
        labels = [IGNORE_INDEX] * len(input_ids)
        segments = self.template.segments(to_messages(conversation), add_generation_prompt)
        encoded = encode_segments(
            self.tokenizer, [segment.text for segment in segments], self.boundary_prefix
        )
        for segment, ids in zip(segments, encoded, strict=True):
            input_ids += ids
            labels += ids if segment.supervised else [IGNORE_INDEX] * len(ids)
        if not add_generation_prompt:
            input_ids.append(self.tokenizer.eos_token_id)
            labels.append(IGNORE_INDEX)
        sample = EncodedSample(input_ids, labels, views)
        self.check(sample, add_generation_prompt)
        return sample

    def check(self, sample: EncodedSample, add_generation_prompt: bool) -> None:
        if not add_generation_prompt and sample.num_supervised == 0:
            raise NothingToSuperviseError("the sample has no assistant answer to supervise")
        if self.max_length is not None and len(sample.input_ids) > self.max_length:
            raise SampleTooLongError(
                f"the sample has {len(sample.input_ids)} tokens, the limit is {self.max_length}"
            )

    # -- a batch ------------------------------------------------------------------------------

    def __call__(
        self,
        conversations: Sequence[Iterable[Mapping | Message]],
        images: Sequence[Image.Image | str | os.PathLike | None] | None = None,
        add_generation_prompt: bool = True,
        padding_side: str = "left",
    ) -> dict[str, torch.Tensor]:
        """Encode and collate a batch; defaults suit generation (prompt at the end, left padding)."""
        images = images if images is not None else [None] * len(conversations)
        if len(images) != len(conversations):
            raise ValueError(f"got {len(conversations)} conversations but {len(images)} images")
        samples = [
            self.encode(turns, image, add_generation_prompt)
            for turns, image in zip(conversations, images, strict=True)
        ]
        return self.collate(samples, padding_side)

    def collate(
        self, samples: Sequence[EncodedSample], padding_side: str = "right"
    ) -> dict[str, torch.Tensor]:
        """Pad to the longest sample; stack every encoded view of the batch, sample by sample."""
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
        longest = max(len(sample.input_ids) for sample in samples)
        batch = {
            "input_ids": pad([s.input_ids for s in samples], longest, self.pad_token_id, padding_side),
            "labels": pad([s.labels for s in samples], longest, IGNORE_INDEX, padding_side),
            "attention_mask": pad([[1] * len(s.input_ids) for s in samples], longest, 0, padding_side),
        }
        return batch | self.collate_views([sample.views for sample in samples])

    def collate_views(self, views: Sequence[ImageViews | None]) -> dict[str, torch.Tensor]:
        num_views = 1 + self.config.grid**2 if self.config.grid > 1 else 1
        present = [view for view in views if view is not None]
        batch = {
            "has_image": torch.tensor([view is not None for view in views]),
            "views_skipped": torch.tensor(
                [view.geometry.skipped if view is not None else (False,) * num_views for view in views]
            ),
        }
        if present:
            for expert in self.transform.view_sizes:
                batch[f"pixel_values_{expert}"] = torch.cat([view.pixels[expert] for view in present])
        return batch


def pad(rows: Sequence[list[int]], length: int, value: int, side: str) -> torch.Tensor:
    padded = [
        [value] * (length - len(row)) + row if side == "left" else row + [value] * (length - len(row))
        for row in rows
    ]
    return torch.tensor(padded, dtype=torch.long)
