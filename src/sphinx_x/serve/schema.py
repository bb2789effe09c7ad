"""The chat-completions request as OpenAI defines it, validated by pydantic.

Unknown fields are ignored (clients send `user`, `metadata`, ...); fields that would change the
answer in a way this server cannot honour (`n` > 1, tools, logprobs, penalties, JSON mode) are
refused with a message naming them, rather than silently ignored.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from .errors import bad_request


class ImageURL(BaseModel):
    url: str
    detail: str | None = None


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ImagePart(BaseModel):
    type: Literal["image_url"]
    image_url: ImageURL


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class ChatMessage(BaseModel):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = None
    name: str | None = None


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=-(2**63), lt=2**63)
    n: int | None = Field(1, ge=1)
    logprobs: bool | None = None
    top_logprobs: int | None = None
    tools: list | None = None
    tool_choice: str | dict | None = None
    response_format: dict | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict | None = None

    def check_supported(self) -> None:
        """Refuse, by name, what would change the answer and is not implemented."""
        if (self.n or 1) > 1:
            raise bad_request(f"n={self.n}: this server returns one choice per request; send n requests", "n")
        if self.logprobs or self.top_logprobs:
            raise bad_request("logprobs are not supported", "logprobs")
        if self.tools or self.tool_choice not in (None, "none"):
            raise bad_request("tools (function calling) are not supported", "tools")
        if self.response_format and self.response_format.get("type", "text") != "text":
            raise bad_request("response_format: only {'type': 'text'} is supported", "response_format")
        for name in ("presence_penalty", "frequency_penalty"):
            if getattr(self, name):
                raise bad_request(f"{name} is not supported (send 0 or leave it out)", name)
        if self.logit_bias:
            raise bad_request("logit_bias is not supported", "logit_bias")
        if self.max_tokens is not None and self.max_completion_tokens is not None:
            if self.max_tokens != self.max_completion_tokens:
                raise bad_request("max_tokens and max_completion_tokens disagree; send one", "max_tokens")

    @property
    def requested_max_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    @property
    def stop_strings(self) -> tuple[str, ...]:
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if len(stops) > 4:
            raise bad_request(f"stop: at most 4 sequences, got {len(stops)}", "stop")
        return tuple(stop for stop in stops if stop)
