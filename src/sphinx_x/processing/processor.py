"""`SphinxXProcessor`: conversation + image -> the tensors the model takes.

Per sample: `[BOS] [<image> x n] segment ids ... [EOS when training]`, with labels recorded while
tokenising, segment by segment, so a supervised token is always part of an assistant answer.
`n` comes from `count_visual_tokens`, the function the model checks against; `<image>` is a real
special token of the tokenizer, so prompts are plain token lists that decode.

It is a transformers `ProcessorMixin`: `save_pretrained` writes `processor_config.json` (the view
settings, template, length and image-size limits) beside the tokenizer, and
`AutoProcessor.from_pretrained(DIR)` returns it once sphinx-x is imported.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch
from PIL import Image
from transformers import BatchFeature, ProcessorMixin

from ..model.sphinx import IGNORE_INDEX
from ..model.token_layout import count_visual_tokens
from ..model.views import ImageTransform, ImageViews
from .conversation import STOP_STRING, ChatTemplate, Message, split_conversation
from .images import DEFAULT_MAX_PIXELS, load_image
from .tokenizer import IMAGE_TOKEN, encode_segments, image_token_id, prefixes_word_boundary


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

    @property
    def num_visual(self) -> int:
        """Visual tokens of the sample (0 for text only)."""
        return self.input_ids.count(self.image_token) if self.views is not None else 0

    image_token: int = -1


class SphinxXProcessor(ProcessorMixin):
    """Tokenizer + the image transform of a SPHINX-X model (see the module docstring).

    The view settings (`grid`, `view_sizes`, `padding`, `use_skip_token`, `tokens_per_view`) mirror
    the model config; build a processor for a model with `SphinxXProcessor.for_model`.
    """

    def __init__(
        self,
        tokenizer,
        grid: int = 2,
        view_sizes: dict[str, int] | None = None,
        padding: str = "corner",
        use_skip_token: bool = True,
        tokens_per_view: int = 257,
        conversation_template: dict | None = None,
        max_length: int | None = None,
        max_image_pixels: int = DEFAULT_MAX_PIXELS,
        chat_template: str | None = None,
    ):
        super().__init__(tokenizer, chat_template=chat_template)
        self.grid = grid
        self.view_sizes = dict(view_sizes or {"convnext": 512, "dinov2": 224})
        self.padding = padding
        self.use_skip_token = use_skip_token
        self.tokens_per_view = tokens_per_view
        self.conversation_template = dict(conversation_template or dataclasses.asdict(ChatTemplate()))
        self.max_length = max_length
        self.max_image_pixels = max_image_pixels
        self.template = ChatTemplate(**self.conversation_template)
        self.transform = ImageTransform(grid, self.view_sizes, padding, use_skip_token)
        self.image_token = image_token_id(tokenizer)
        self.boundary_prefix = prefixes_word_boundary(tokenizer)
        # LLaMA's tokenizer has no pad token; padded positions are masked, so EOS serves.
        self.pad_token_id = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        )

    @classmethod
    def for_model(cls, tokenizer, config, **options) -> SphinxXProcessor:
        """The processor of a model of `config` (a `SphinxXConfig`); `options` as in `__init__`."""
        if len(tokenizer) > config.text_config.vocab_size:
            raise ValueError(
                f"the tokenizer has {len(tokenizer)} tokens but the LLM's vocabulary holds "
                f"{config.text_config.vocab_size}"
            )
        processor = cls(
            tokenizer, grid=config.grid, view_sizes=config.view_sizes, padding=config.padding,
            use_skip_token=config.use_skip_token, tokens_per_view=config.tokens_per_view, **options,
        )  # fmt: skip
        processor.check_matches(config)
        return processor

    def check_matches(self, config) -> None:
        """The processor must write what the model reads: same image token, same views."""
        expected = {"grid": config.grid, "view_sizes": config.view_sizes, "padding": config.padding,
                    "use_skip_token": config.use_skip_token, "tokens_per_view": config.tokens_per_view,
                    "image_token": config.image_token_id}  # fmt: skip
        different = [f"{name}: processor {getattr(self, name)!r}, model {value!r}"
                     for name, value in expected.items() if getattr(self, name) != value]  # fmt: skip
        if different:
            raise ValueError("the processor does not match the model: " + "; ".join(different))

    @property
    def model_input_names(self) -> list[str]:
        pixels = [f"pixel_values_{expert}" for expert in self.view_sizes]
        return ["input_ids", "attention_mask", *pixels, "views_skipped", "has_image"]

    # -- one sample ---------------------------------------------------------------------------

    def visual_token_count(self, width: int, height: int) -> int:
        return count_visual_tokens(self.transform.geometry(width, height).skipped, self.tokens_per_view)

    def encode(
        self,
        conversation: Iterable[Mapping | Message],
        image: Image.Image | str | os.PathLike | bytes | None = None,
        add_generation_prompt: bool = False,
        system: str | None = None,
    ) -> EncodedSample:
        """Token ids, labels and views of one conversation (training when no generation prompt).

        The image may also come inside the messages, as a chat-template content part. `system`
        replaces the template's system text (the released models were trained with the default).
        """
        messages, image = split_conversation(conversation, image)
        views = self.transform(load_image(image, self.max_image_pixels)) if image is not None else None
        visual = count_visual_tokens(views.geometry.skipped, self.tokens_per_view) if views else 0
        input_ids = [self.tokenizer.bos_token_id] + [self.image_token] * visual
        labels = [IGNORE_INDEX] * len(input_ids)
        template = self.template if system is None else dataclasses.replace(self.template, system=system)
        segments = template.segments(messages, add_generation_prompt)
        encoded = encode_segments(
            self.tokenizer, [segment.text for segment in segments], self.boundary_prefix
        )
        for segment, ids in zip(segments, encoded, strict=True):
            input_ids += ids
            labels += ids if segment.supervised else [IGNORE_INDEX] * len(ids)
        if not add_generation_prompt:
            input_ids.append(self.tokenizer.eos_token_id)
            labels.append(IGNORE_INDEX)
        sample = EncodedSample(input_ids, labels, views, image_token=self.image_token)
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
        conversations: Sequence[Iterable[Mapping | Message]] | None = None,
        images: Sequence | Image.Image | str | os.PathLike | None = None,
        add_generation_prompt: bool = True,
        padding_side: str = "left",
        text: str | Sequence[str] | None = None,
        return_tensors: str | None = "pt",
        **unused,
    ) -> BatchFeature:
        """Encode and collate a batch; defaults suit generation (prompt at the end, left padding).

        `conversations` are lists of turns (`{"role", "content"}`, LLaVA `{"from", "value"}` or
        chat-template content parts); `text` (a question, or one per sample) is the transformers way
        of asking single questions. `images`: one per conversation (None for text only).
        """
        conversations = self.as_conversations(conversations, text)
        images = self.as_image_list(images, len(conversations))
        samples = [
            self.encode(turns, image, add_generation_prompt)
            for turns, image in zip(conversations, images, strict=True)
        ]
        batch = self.collate(samples, padding_side)
        if add_generation_prompt:
            batch.pop("labels")  # a prompt has nothing to supervise
        return BatchFeature(batch)

    @staticmethod
    def as_conversations(conversations, text) -> list:
        if (conversations is None) == (text is None):
            raise ValueError("give either conversations or text (a question, or a list of them)")
        if text is not None:
            questions = [text] if isinstance(text, str) else list(text)
            return [[{"role": "user", "content": question}] for question in questions]
        if conversations and isinstance(conversations[0], Mapping | Message):
            return [conversations]  # a single conversation
        return list(conversations)

    @staticmethod
    def as_image_list(images, count: int) -> list:
        if images is None:
            return [None] * count
        if isinstance(images, Image.Image | str | os.PathLike | bytes):
            images = [images]
        images = list(images)
        if len(images) != count:
            raise ValueError(f"got {count} conversations but {len(images)} images")
        return images

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
        num_views = 1 + self.grid**2 if self.grid > 1 else 1
        present = [view for view in views if view is not None]
        batch = {
            "has_image": torch.tensor([view is not None for view in views]),
            "views_skipped": torch.tensor(
                [view.geometry.skipped if view is not None else (False,) * num_views for view in views]
            ),
        }
        if present:
            for expert in self.view_sizes:
                batch[f"pixel_values_{expert}"] = torch.cat([view.pixels[expert] for view in present])
        return batch

    # -- transformers' chat interface -------------------------------------------------------

    def apply_chat_template(
        self,
        conversation,
        chat_template=None,
        tokenize: bool = False,
        add_generation_prompt: bool = True,
        return_dict: bool = False,
        continue_final_message: bool = False,
        **unused,
    ):
        """transformers' chat API over the release's template (`chat_template` is not used: the
        template is `conversation_template`). One conversation or a list; images as content parts."""
        if continue_final_message:
            raise ValueError("SPHINX-X's template cannot continue an assistant message; end with a user turn")
        batched = bool(conversation) and not isinstance(conversation[0], Mapping | Message)
        conversations = list(conversation) if batched else [conversation]
        if not tokenize:
            rendered = [self.render(turns, add_generation_prompt) for turns in conversations]
            return rendered if batched else rendered[0]
        batch = self(conversations, add_generation_prompt=add_generation_prompt)
        return batch if return_dict else batch["input_ids"]

    def render(self, conversation, add_generation_prompt: bool = True) -> str:
        """The prompt as text: BOS, one `<image>` per visual token's block (shown once), the template."""
        messages, image = split_conversation(conversation, None)
        text = self.template.render(messages, add_generation_prompt)
        return (IMAGE_TOKEN if image is not None else "") + text

    def decode_answer(self, token_ids, skip_special_tokens: bool = True) -> str:
        """Generated ids -> the answer, cut at the template's stop string (`\\n###`)."""
        text = self.tokenizer.decode(token_ids, skip_special_tokens=skip_special_tokens)
        return text.split(STOP_STRING)[0].strip()

    def post_process_image_text_to_text(self, generated_outputs, skip_special_tokens=True, **kwargs):
        """What `pipeline("image-text-to-text")` decodes (prompt and answer: it removes the prompt
        itself): the text without the stop string that ended generation."""
        texts = self.tokenizer.batch_decode(generated_outputs, skip_special_tokens=skip_special_tokens)
        return [text.removesuffix(STOP_STRING) for text in texts]


def pad(rows: Sequence[list[int]], length: int, value: int, side: str) -> torch.Tensor:
    padded = [
        [value] * (length - len(row)) + row if side == "left" else row + [value] * (length - len(row))
        for row in rows
    ]
    return torch.tensor(padded, dtype=torch.long)
