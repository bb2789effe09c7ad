"""A model that answers what a test tells it to: end-to-end tests can then check exact scores and
texts, not only that something ran."""

from __future__ import annotations

from collections import deque

import torch

from sphinx_x.processing.conversation import STOP_STRING


class ScriptedAnswers:
    """While active, greedy generation with `model` answers `answers` in order, one per sample as
    prefills see them (a batch of 3 takes the next 3): the LM head's logits are replaced so that the
    answer's tokens, then the stop string, are the only choice. Use as a context manager."""

    def __init__(self, model, tokenizer, answers: list[str]):
        self.model, self.tokenizer = model, tokenizer
        self.pending = deque(answers)
        self.rows: list[list[int]] = []
        self.step = 0

    def tokens(self, answer: str) -> list[int]:
        ids = self.tokenizer.encode(answer + STOP_STRING, add_special_tokens=False)
        return ids + [self.tokenizer.eos_token_id]

    def start_if_prefill(self, _module, _args, kwargs) -> None:
        embeds = kwargs["inputs_embeds"]
        if embeds.shape[1] > 1:  # a prompt: the next answers begin
            self.rows = [self.tokens(self.pending.popleft()) for _ in range(embeds.shape[0])]
            self.step = 0

    def force(self, _module, _inputs, logits: torch.Tensor) -> torch.Tensor:
        forced = torch.full_like(logits, -1e4)
        for row, tokens in enumerate(self.rows):
            forced[row, -1, tokens[min(self.step, len(tokens) - 1)]] = 1e4
        self.step += 1
        return forced

    def __enter__(self) -> ScriptedAnswers:
        llm = self.model.language_model
        self.handles = [
            llm.register_forward_pre_hook(self.start_if_prefill, with_kwargs=True),
            llm.lm_head.register_forward_hook(self.force),
        ]
        return self

    def __exit__(self, *_) -> None:
        for handle in self.handles:
            handle.remove()
