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
    """Accept `Message`s, `{"role", "content"}` (chat API) or `{"from", "value"}` (LLaVA records).

    The `<image>` placeholder of LLaVA-style data is dropped: the image block always sits after BOS.
    """
    messages = []
    for index, turn in enumerate(turns):
        if isinstance(turn, Message):
            messages.append(turn)
            continue
        speaker = turn.get("role", turn.get("from"))
        text = turn.get("content", turn.get("value"))
        if speaker not in ROLE_ALIASES or not isinstance(text, str):
            raise ConversationError(
                f"turn {index}: expected a role ('user'/'assistant' or 'human'/'gpt') and a text, got {dict(turn)!r}"
            )
        messages.append(Message(ROLE_ALIASES[speaker], strip_image_placeholder(text)))
    return messages


def strip_image_placeholder(text: str) -> str:
    return text.replace("<image>\n", "").replace("\n<image>", "").replace("<image>", "").strip()
