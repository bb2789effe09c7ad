"""Tokenizers: the toy one we train here (Llama-style, SentencePiece-like) and segment encoding.

The toy tokenizer behaves like the family's SentencePiece tokenizers where it matters to us: a
"▁" word-boundary marker that it also puts in front of every encoded piece of text, BOS `<s>`,
EOS `</s>`, and a decoder that drops the leading space again. Unlike LLaMA's, it keeps numbers
whole and on their own: every box coordinate ("0.35") is one and the same token wherever it stands
in a box, its brackets, commas and spaces are tokens of their own, so the demo learns a coordinate
as one choice of 101 (with plain BPE merges, "[0.35," "0.35," and "0.35]" were three tokens, or
digits when the vocabulary had no room: measured in docs/demo.md).
"""

from __future__ import annotations

import string
from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from .conversation import RELEASE_SYSTEM

IMAGE_TOKEN = "<image>"  # one per visual token in the model's input; never generated
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", IMAGE_TOKEN]  # ids 0..4, as the toy presets expect

# Enough text that a freshly built toy model can tokenise chat, boxes and numbers sensibly.
TOY_CORPUS = [
    RELEASE_SYSTEM,
    "### Human: What is in the image?\n### Assistant: A red square and a blue circle.\n###",
    "Please provide the bounding box coordinate of the region this sentence describes: the red square.",
    "<p>red square</p> [0.12, 0.34, 0.56, 0.78]; [0.10, 0.20, 0.30, 0.40] [0.5, 0.5]",
    "Answer the question using a single word or phrase. Yes. No. One two three four five six.",
    "Detect all circles shown in the image. Classify the image. This is a triangle.",
    "Please detect all texts and provide their bounding box coordinate.",
    "0 1 2 3 4 5 6 7 8 9 0.00 0.25 0.50 0.75 1.00 red green blue yellow purple orange black white",
]


def train_toy_tokenizer(corpus: Iterable[str] = TOY_CORPUS, vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """A BPE tokenizer over every printable ASCII character plus merges learned from `corpus`."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False),
        # Words start at their "▁" (as SentencePiece's do); a space before a number stays behind,
        pre_tokenizers.Split(Regex(r"▁(?!\d)"), behavior="merged_with_next"),
        # and a number is a piece of its own: "▁[0.07,▁0.35]" -> "▁[" "0.07" ",▁" "0.35" "]".
        pre_tokenizers.Split(Regex(r"\d+(?:\.\d+)?"), behavior="isolated"),
    ])  # fmt: skip
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=list(string.printable) + ["▁"],
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(corpus), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        extra_special_tokens=[IMAGE_TOKEN],
    )  # fmt: skip


def add_image_token(tokenizer) -> int:
    """Make `<image>` a special token of `tokenizer` (released LLaMA tokenizers have none); its id."""
    if IMAGE_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    return image_token_id(tokenizer)


def image_token_id(tokenizer) -> int:
    """The id of `<image>`; a tokenizer without it was saved by an older sphinx-x or never prepared."""
    vocab = tokenizer.get_vocab()
    if IMAGE_TOKEN not in vocab:
        raise ValueError(
            f"the tokenizer has no {IMAGE_TOKEN} token; load the model with sphinx_x.load_model (which adds "
            "it to folders saved before sphinx-x 0.2) or run `sphinx-x convert upgrade DIR OUT`"
        )
    return vocab[IMAGE_TOKEN]


def prefixes_word_boundary(tokenizer) -> bool:
    """True when the tokenizer puts a word-boundary marker in front of every encoded text (SentencePiece)."""
    first = tokenizer.convert_ids_to_tokens(tokenizer.encode("a", add_special_tokens=False))[0]
    return first.startswith(("▁", "Ġ"))


def encode_segments(tokenizer, texts: list[str], boundary_prefix: bool) -> list[list[int]]:
    """Encode each segment on its own; segments after the first stand for text preceded by a space."""
    encoded = []
    for index, text in enumerate(texts):
        needs_space = index > 0 and not boundary_prefix
        # split_special_tokens: a "<image>" or "</s>" typed in a message is text, never a control token.
        ids = tokenizer.encode(" " + text if needs_space else text, add_special_tokens=False,
                               split_special_tokens=True)  # fmt: skip
        encoded.append(ids)
    return encoded
