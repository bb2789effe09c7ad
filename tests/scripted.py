"""A model that answers what a test tells it to: end-to-end tests can then check exact scores and
texts, not only that something ran."""

from __future__ import annotations

from collections import deque

from sphinx_x.inference import engine
from sphinx_x.processing.conversation import STOP_STRING


class ScriptedAnswers:
    """While active, generation with `model` (all of it runs through the engine) answers `answers`
    in order, one per request as the engine admits them (a batch of 3 takes the next 3): the
    engine's choice of next token is replaced, for this model's steps only, by the answer's tokens,
    then the stop string and EOS. Use as a context manager."""

    def __init__(self, model, tokenizer, answers: list[str]):
        self.model, self.tokenizer = model, tokenizer
        self.pending = deque(answers)
        self.scripts: dict[object, list[int]] = {}  # a request's sampler -> its tokens still to come
        self.stepping = False

    def tokens(self, answer: str) -> list[int]:
        ids = self.tokenizer.encode(answer + STOP_STRING, add_special_tokens=False)
        return ids + [self.tokenizer.eos_token_id]

    def mark_step(self, *_) -> None:  # this model runs the step whose tokens are chosen next
        self.stepping = True

    def choose(self, logits, samplers, never) -> list[int]:
        if not self.stepping:  # another model's engine
            return self.fallback(logits, samplers, never)
        self.stepping = False
        chosen = []
        for sampler in samplers:
            if sampler not in self.scripts:  # a new request: the next answer begins
                self.scripts[sampler] = self.tokens(self.pending.popleft())
            script = self.scripts[sampler]
            chosen.append(script.pop(0) if len(script) > 1 else script[0])
        return chosen

    def __enter__(self) -> ScriptedAnswers:
        self.fallback, engine.sample_rows = engine.sample_rows, self.choose
        self.hook = self.model.language_model.register_forward_pre_hook(self.mark_step)
        return self

    def __exit__(self, *_) -> None:
        self.hook.remove()
        if engine.sample_rows == self.choose:
            engine.sample_rows = self.fallback
