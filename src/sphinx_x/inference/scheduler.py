"""Who runs next: a bounded waiting queue, the running set, and admission between steps.

First come, first served. Between two decoding steps the engine drops cancelled requests and
admits waiting ones while a running slot is free and the step's prefill budget lasts (a long
prompt does not stall everyone's next token for long; a prompt longer than the budget still runs,
alone in its step). Thread-safe: clients add and cancel from their threads, the engine steps.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Protocol


class QueueFullError(RuntimeError):
    """The waiting queue is at its limit: the server answers 429 and the client retries later."""


class Schedulable(Protocol):
    prompt_length: int

    @property
    def cancelled(self) -> bool: ...


class Scheduler:
    def __init__(self, max_running: int, max_waiting: int, max_prefill_tokens: int | None = None):
        if max_running < 1 or max_waiting < 0:
            raise ValueError(
                f"max_running must be >= 1 and max_waiting >= 0, got {max_running}, {max_waiting}"
            )
        self.max_running = max_running
        self.max_waiting = max_waiting
        self.max_prefill_tokens = max_prefill_tokens
        self.waiting: deque[Schedulable] = deque()
        self.running: list[Schedulable] = []
        self.lock = threading.Lock()

    def add(self, item: Schedulable) -> None:
        with self.lock:
            free_slots = self.max_running - len(self.running)
            if len(self.waiting) >= free_slots + self.max_waiting:
                raise QueueFullError(
                    f"busy: {len(self.waiting)} requests wait for {self.max_running} running slots "
                    f"(queue limit {self.max_waiting}); retry later"
                )
            self.waiting.append(item)

    def take_cancelled(self) -> list[Schedulable]:
        """Remove and return every cancelled request, waiting or running."""
        with self.lock:
            cancelled = [item for item in [*self.waiting, *self.running] if item.cancelled]
            self.waiting = deque(item for item in self.waiting if not item.cancelled)
            self.running = [item for item in self.running if not item.cancelled]
        return cancelled

    def admit(self) -> list[Schedulable]:
        """Move waiting requests into the running set, within the slot and prefill limits."""
        admitted, budget = [], self.max_prefill_tokens
        with self.lock:
            while self.waiting and len(self.running) + len(admitted) < self.max_running:
                length = self.waiting[0].prompt_length
                if admitted and budget is not None and length > budget:
                    break
                admitted.append(self.waiting.popleft())
                budget = None if budget is None else budget - length
            self.running += admitted
        return admitted

    def finish(self, item: Schedulable) -> None:
        with self.lock:
            if item in self.running:
                self.running.remove(item)

    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    def take_all(self) -> list[Schedulable]:
        """Empty the scheduler (the engine is stopping)."""
        with self.lock:
            items = [*self.running, *self.waiting]
            self.waiting.clear()
            self.running.clear()
        return items
