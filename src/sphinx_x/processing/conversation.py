"""The release's conversation template, as data, rendered into supervised / unsupervised segments.

Rendered text (what the released models saw):

    {system}\\n\\n### Human: {q1}\\n### Assistant: {a1}\\n### Human: {q2}\\n### Assistant:

We cut it into segments at the spaces before "Human" and before each answer, so that an answer's
segment is exactly `{answer}\\n###` (the supervised span) and the text is the segments joined by one
space. SentencePiece tokenizers (all the family's LLMs) re-create that space as the "▁" they put in
front of a segment, so encoding segment by segment gives the same ids as encoding the whole text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

RELEASE_SYSTEM = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)
SEPARATOR = "###"
STOP_STRING = "\n" + SEPARATOR

# LLaVA-style records say "human"/"gpt"; chat APIs say "user"/"assistant".
ROLE_ALIASES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}


class ConversationError(ValueError):
    """A conversation that cannot be rendered; the message says which turn and why."""


@dataclass(frozen=True)
class Message:
    role: str  # "user" or "assistant"
    text: str


@dataclass(frozen=True)
class Segment:
    text: str
    supervised: bool


@dataclass(frozen=True)
class ChatTemplate:
    system: str = RELEASE_SYSTEM
    user_name: str = "Human"
    assistant_name: str = "Assistant"

    def segments(self, messages: list[Message], add_generation_prompt: bool) -> list[Segment]:
        """Cut the conversation into prompt and answer segments (see the module docstring)."""
        check_alternation(messages, add_generation_prompt)
        segments: list[Segment] = []
        prompt = f"{self.system}\n\n{SEPARATOR}"
        for message in messages:
            if message.role == "user":
                prompt += f" {self.user_name}: {message.text}\n{SEPARATOR} {self.assistant_name}:"
            else:
                segments.append(Segment(prompt.lstrip(" "), supervised=False))
                segments.append(Segment(f"{message.text}\n{SEPARATOR}", supervised=True))
                prompt = ""
        if prompt:
            segments.append(Segment(prompt.lstrip(" "), supervised=False))
        return segments

    def render(self, messages: list[Message], add_generation_prompt: bool = False) -> str:
        return " ".join(segment.text for segment in self.segments(messages, add_generation_prompt))


def check_alternation(messages: list[Message], add_generation_prompt: bool) -> None:
    if not messages:
        raise ConversationError("the conversation has no turns")
    for index, message in enumerate(messages):
        expected = "user" if index % 2 == 0 else "assistant"
        if message.role != expected:
            raise ConversationError(
                f"turn {index} is from {message.role!r}, expected {expected!r} (turns must alternate)"
            )
        if not message.text.strip():
            raise ConversationError(f"turn {index} ({message.role}) is empty")
    if add_generation_prompt and messages[-1].role != "user":
        raise ConversationError("a generation prompt must end with a user turn")


def to_messages(turns: Iterable[Mapping | Message]) -> list[Message]:
    """Accept `Message`s, `{"role", "content"}` (chat API), `{"from", "value"}` (LLaVA records), and
    chat-template content parts (`"content": [{"type": "image"}, {"type": "text", "text": ...}]`).

    The `<image>` placeholder of LLaVA-style data and image parts are dropped: the image block
    always sits after BOS (`split_conversation` returns the image itself).
    """
    return split_conversation(turns, None)[0]


def split_conversation(turns: Iterable[Mapping | Message], image=None) -> tuple[list[Message], object]:
    """(messages, image): the image given, or the one a content part carries (`image`, `url`,
    `path` or `image_url` key). A conversation holds at most one image: the model takes one."""
    messages, found = [], []
    for index, turn in enumerate(turns):
        if isinstance(turn, Message):
            messages.append(turn)
            continue
        if not isinstance(turn, Mapping):
            raise ConversationError(
                f"turn {index}: expected a mapping with a role and a content, got {turn!r}"
            )
        speaker = turn.get("role", turn.get("from"))
        content = turn.get("content", turn.get("value"))
        if isinstance(content, list):
            content = content_text(content, index, found)
        if speaker not in ROLE_ALIASES or not isinstance(content, str):
            raise ConversationError(
                f"turn {index}: expected a role ('user'/'assistant' or 'human'/'gpt') and a text, got {dict(turn)!r}"
            )
        messages.append(Message(ROLE_ALIASES[speaker], strip_image_placeholder(content)))
    if found and image is not None:
        raise ConversationError("the image is given twice: as an argument and inside the messages")
    if len(found) > 1:
        raise ConversationError(f"the conversation holds {len(found)} images; SPHINX-X takes one")
    return messages, found[0] if found else image


def content_text(parts: list, turn: int, images: list) -> str:
    """The text of a chat-template content list; image parts go to `images`."""
    texts = []
    for position, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind in ("image", "image_url"):
            images.append(image_of(part, turn, position))
        else:
            raise ConversationError(
                f"turn {turn}, content[{position}]: expected a text or image part, got {part!r}"
            )
    return "\n".join(texts)


def image_of(part: Mapping, turn: int, position: int):
    for key in ("image", "url", "path", "image_url"):
        value = part.get(key)
        if isinstance(value, Mapping):  # OpenAI style: {"image_url": {"url": ...}}
            value = value.get("url")
        if value is not None:
            return value
    raise ConversationError(f"turn {turn}, content[{position}]: an image part needs an image, url or path")


def strip_image_placeholder(text: str) -> str:
    return text.replace("<image>\n", "").replace("\n<image>", "").replace("<image>", "").strip()
