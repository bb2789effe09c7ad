"""The answer of one request, decoded as its tokens arrive, cut at the first stop string.

Streaming releases only text that can no longer change: a tail that could still become a stop
string (`\\n#` of `\\n###`) or an unfinished UTF-8 character is held back until the next token decides.
"""

from __future__ import annotations


class TextStream:
    """The answer of one sample, decoded as tokens arrive; `text` never contains a stop string."""

    def __init__(self, tokenizer, stop_strings: tuple[str, ...]):
        self.tokenizer = tokenizer
        self.stop_strings = stop_strings
        self.token_ids: list[int] = []
        self.text = ""
        self.emitted = 0
        self.finished = False

    def push(self, token_id: int) -> str:
        """Add a token; return the text that became final."""
        if token_id == self.tokenizer.eos_token_id:
            self.finished = True
            return self.flush()
        self.token_ids.append(token_id)
        self.text = self.tokenizer.decode(self.token_ids, skip_special_tokens=True)
        for stop in self.stop_strings:
            if stop in self.text:
                self.text = self.text[: self.text.index(stop)]
                self.finished = True
        return self.flush() if self.finished else self.release(self.safe_length())

    def safe_length(self) -> int:
        """Length of the text that no stop string or unfinished UTF-8 character can still change."""
        hold = 0
        for stop in self.stop_strings:
            for size in range(1, len(stop)):
                if self.text.endswith(stop[:size]):
                    hold = max(hold, size)
        if self.text.endswith("\ufffd"):
            hold = max(hold, 1)
        return len(self.text) - hold

    def release(self, upto: int) -> str:
        delta = self.text[self.emitted : upto] if upto > self.emitted else ""
        self.emitted = max(self.emitted, upto)
        return delta

    def flush(self) -> str:
        return self.release(len(self.text))
