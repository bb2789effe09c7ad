"""Chat messages -> the engine's request: the template's turns, an optional system text, the image.

Reading the messages decides everything that needs no I/O (roles, order, how many images and
whether each URL may be fetched), so a request that would be refused is refused before any image
is downloaded, read or decoded.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..processing.conversation import Message
from .errors import APIError, bad_request
from .limits import ServerLimits
from .media import check_before_fetching
from .schema import ChatCompletionRequest, ChatMessage, ImagePart


@dataclass(frozen=True)
class ImageReference:
    url: str
    where: str  # e.g. "messages[1].content[0].image_url", for error messages


@dataclass(frozen=True)
class Conversation:
    turns: list[Message]
    system: str | None
    images: list[ImageReference]


def read_conversation(request: ChatCompletionRequest, limits: ServerLimits) -> Conversation:
    turns, system, images = [], [], []
    for index, message in enumerate(request.messages):
        text, found = message_text(message, index)
        images += found
        if message.role in ("system", "developer"):
            if turns:
                raise APIError(422, f"messages[{index}]: a system message must come before the conversation",
                               "unsupported_conversation", f"messages[{index}]")  # fmt: skip
            system.append(text)
        else:
            if found and message.role != "user":
                raise bad_request(
                    f"messages[{index}]: only user messages may hold images", f"messages[{index}]"
                )
            turns.append(Message(message.role, text))
    if len(images) > limits.max_images_per_request:
        raise bad_request(
            f"the request holds {len(images)} images; this server takes at most {limits.max_images_per_request} "
            "per request (the model sees one image per conversation)", images[-1].where,
        )  # fmt: skip
    for image in images:
        check_before_fetching(image.url, limits, image.where)
    return Conversation(turns, "\n".join(system) if system else None, images)


def message_text(message: ChatMessage, index: int) -> tuple[str, list[ImageReference]]:
    if message.content is None or isinstance(message.content, str):
        return message.content or "", []
    texts, images = [], []
    for position, part in enumerate(message.content):
        if isinstance(part, ImagePart):
            images.append(
                ImageReference(part.image_url.url, f"messages[{index}].content[{position}].image_url")
            )
        else:
            texts.append(part.text)
    return "\n".join(texts), images
