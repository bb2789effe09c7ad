"""The generation engine: continuous batching over one packed KV cache.

    handle = engine.submit(input_ids, image_inputs, DecodingSettings(...))   # token ids + visual inputs in
    for text in handle: ...                                                  # text as it becomes final
    handle.cancel()                                                          # frees its slot at the next step

Each step: drop cancelled requests -> admit waiting ones and prefill them (each image encoded now,
once; the prompts in passes of their own, short ones together, whose KV entries then join the
shared cache) -> one
forward pass over every running request's next token, packed in one row (`packed_cache.py`) ->
one token per request from its own sampler -> stream its text, retire the finished (their cache
entries go at once). Requests join and leave between steps; nothing is
padded to the longest. The engine runs on the caller's thread (`run_until_done`, as `generate()`
does) or on its own (`start`, as the server and the web demo do).
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache

from ..model.sphinx import SphinxXForConditionalGeneration, split_pixel_values
from .packed_cache import PackedCache
from .sampling import DecodingSettings, RequestSampler, sample_rows
from .scheduler import QueueFullError, Scheduler
from .text_stream import TextStream

logger = logging.getLogger(__name__)

__all__ = ["Engine", "RequestHandle", "Update", "QueueFullError", "ContextLengthError"]

IMAGE_KEYS = ("views_skipped", "has_image")  # besides every `pixel_values_*`
MASKED_ATTENTION = ("sdpa", "eager")  # implementations that take an explicit 4-D mask
TOKENS_PER_SECOND_WINDOW = 10.0  # seconds of history behind the tokens/s gauge
# New prompts share a prefill pass up to this many tokens. A pass over a few tokens costs about a
# full read of the weights; past some hundreds of tokens it is bound by compute, so larger packs
# gain nothing while their mask (tokens x tokens) keeps growing.
PREFILL_PACK_TOKENS = 1024


class ContextLengthError(ValueError):
    """Prompt (visual tokens included) + max new tokens exceed the model's context."""


@dataclass(frozen=True)
class Update:
    """What one step did for one request: newly final text; `finish_reason` on the last update
    (`stop`: EOS or a stop string, `length`: max new tokens, `cancelled`, `error`)."""

    text: str
    finish_reason: str | None = None


OnUpdate = Callable[[Update], None]


class RequestHandle:
    """A submitted request: its text so far, its outcome, and a way to cancel it.

    Iterate it for the text deltas (blocking), or pass `on_update` to `submit` to be called from
    the engine's thread instead (an asyncio server hands them to its loop).
    """

    def __init__(self, request_id: int, prompt_tokens: int, on_update: OnUpdate | None, wake: Callable):
        self.id = request_id
        self.prompt_tokens = prompt_tokens
        self.text = ""
        self.token_ids: list[int] = []
        self.finish_reason: str | None = None
        self.error: str | None = None
        self.submitted_at = time.perf_counter()
        self.first_token_at: float | None = None
        self.finished_at: float | None = None
        self._on_update = on_update
        self._updates: queue.SimpleQueue[Update] = queue.SimpleQueue()
        self._done = threading.Event()
        self._cancel = threading.Event()
        self._wake = wake

    @property
    def completion_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Stop generating; the request leaves the batch at the next step (no-op once finished)."""
        if not self.finished:
            self._cancel.set()
            self._wake()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the request finishes; False if `timeout` ran out first."""
        return self._done.wait(timeout)

    def __iter__(self) -> Iterator[str]:
        if self._on_update is not None:
            raise RuntimeError("this request reports through its on_update callback")
        while True:
            update = self._updates.get()
            if update.text:
                yield update.text
            if update.finish_reason is not None:
                return

    def deliver(self, update: Update) -> None:
        """Called by the engine: record the update, then tell the listener."""
        self.text += update.text
        if update.finish_reason is not None:
            self.finish_reason = update.finish_reason
            self.finished_at = time.perf_counter()
        try:
            if self._on_update is None:
                self._updates.put(update)
            else:
                self._on_update(update)
        finally:
            if update.finish_reason is not None:
                self._done.set()


@dataclass(eq=False)
class RunningRequest:
    """The engine's state of one request."""

    handle: RequestHandle
    input_ids: list[int]
    image_inputs: dict[str, torch.Tensor] | None
    settings: DecodingSettings
    stream: TextStream
    sampler: RequestSampler
    position: int = 0  # entries in the cache = RoPE position of the next token fed
    next_token: int | None = None  # sampled, to be fed at the next step

    @property
    def id(self) -> int:
        return self.handle.id

    @property
    def prompt_length(self) -> int:
        return len(self.input_ids)

    @property
    def cancelled(self) -> bool:
        return self.handle.cancel_requested


@dataclass
class EngineStats:
    """Counters since start, and the tokens generated over the last few seconds."""

    finished: Counter = field(default_factory=Counter)  # finish reason -> requests
    prompt_tokens: int = 0
    generated_tokens: int = 0
    steps: int = 0
    recent: deque = field(default_factory=deque)  # (time, tokens generated in that step)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record_step(self, prompt_tokens: int, generated: int) -> None:
        now = time.perf_counter()
        with self.lock:
            self.steps += 1
            self.prompt_tokens += prompt_tokens
            self.generated_tokens += generated
            self.recent.append((now, generated))
            while self.recent and self.recent[0][0] < now - TOKENS_PER_SECOND_WINDOW:
                self.recent.popleft()

    def tokens_per_second(self) -> float:
        now = time.perf_counter()
        with self.lock:
            return (
                sum(n for t, n in self.recent if t >= now - TOKENS_PER_SECOND_WINDOW)
                / TOKENS_PER_SECOND_WINDOW
            )


class Engine:
    """Continuous batching for one model (see the module docstring).

    max_running: requests decoding together (the batch); max_waiting: requests queued beyond the
    free slots before `submit` raises `QueueFullError`; max_prefill_tokens: prompt tokens admitted
    per step (None: no limit), which bounds how long a burst of new prompts delays everyone's next token.
    """

    def __init__(
        self,
        model: SphinxXForConditionalGeneration,
        tokenizer,
        max_running: int = 16,
        max_waiting: int = 64,
        max_prefill_tokens: int | None = 2048,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.llm = model.language_model
        # SDPA takes the packed cache's boolean mask; eager attention adds it to its scores.
        additive = self.llm.dtype if check_masked_attention(self.llm.config) == "eager" else None
        self.max_context = model.config.text_config.max_position_embeddings
        self.image_token = model.config.image_token_id
        self.scheduler = Scheduler(max_running, max_waiting, max_prefill_tokens)
        self.cache = PackedCache(model.device, additive, getattr(self.llm.config, "sliding_window", None))
        self.stats = EngineStats()
        self._ids = itertools.count()
        self._work = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False

    # -- the client side ------------------------------------------------------------------------

    def submit(
        self,
        input_ids: Sequence[int],
        image_inputs: Mapping[str, torch.Tensor] | None = None,
        settings: DecodingSettings = DecodingSettings(),
        on_update: OnUpdate | None = None,
    ) -> RequestHandle:
        """Queue one request. `image_inputs`: the processor's visual inputs of this one sample
        (`pixel_values_*`, `views_skipped`, `has_image`), None for text only.

        Raises `ContextLengthError` when it cannot fit, `QueueFullError` when the queue is full.
        """
        input_ids = list(input_ids)
        self.check_fits(input_ids, settings.max_new_tokens)
        handle = RequestHandle(next(self._ids), len(input_ids), on_update, self.wake)
        request = RunningRequest(
            handle, input_ids, visual_inputs(image_inputs), settings,
            TextStream(self.tokenizer, settings.stop_strings), RequestSampler(settings, self.model.device),
        )  # fmt: skip
        self.scheduler.add(request)
        self.wake()
        return handle

    def check_fits(self, input_ids: list[int], max_new_tokens: int) -> None:
        if not input_ids:
            raise ValueError("the prompt is empty")
        total = len(input_ids) + max_new_tokens
        if total > self.max_context:
            visual = input_ids.count(self.image_token)
            raise ContextLengthError(
                f"this model's context is {self.max_context} tokens; the prompt has {len(input_ids)} "
                f"({visual} of them visual) and max_tokens is {max_new_tokens}: {total} in all"
            )

    def snapshot(self) -> dict:
        """Gauges and counters for a metrics endpoint."""
        return {
            "waiting": len(self.scheduler.waiting),
            "running": len(self.scheduler.running),
            "cached_tokens": len(self.cache),
            "max_running": self.scheduler.max_running,
            "prompt_tokens": self.stats.prompt_tokens,
            "generated_tokens": self.stats.generated_tokens,
            "steps": self.stats.steps,
            "finished": dict(self.stats.finished),
            "tokens_per_second": self.stats.tokens_per_second(),
        }

    # -- running it -----------------------------------------------------------------------------

    def run_until_done(self) -> None:
        """Step on this thread until every submitted request has finished."""
        if self._thread is not None:
            raise RuntimeError("the engine runs on its own thread; wait on the handles instead")
        while self.scheduler.has_work():
            self.step()

    def start(self) -> Engine:
        """Step on a background thread whenever there is work, until `stop`."""
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run_forever, name="sphinx-x-engine", daemon=True)
            self._thread.start()
        return self

    @property
    def is_running(self) -> bool:
        """Whether the background thread is stepping (or waiting for work)."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the background thread; requests still queued or running end as cancelled."""
        self._stopping = True
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        for request in self.scheduler.take_all():
            self.finish(request, "cancelled")
        self.cache.reset()

    def wake(self) -> None:
        with self._work:
            self._work.notify_all()

    def _run_forever(self) -> None:
        while True:
            with self._work:
                while not self._stopping and not self.scheduler.has_work():
                    self._work.wait(timeout=1.0)
            if self._stopping:
                return
            self.step()

    # -- one step -------------------------------------------------------------------------------

    @torch.no_grad()
    def step(self) -> None:
        """Admit and prefill, one decoding pass over every running request, sample, stream, retire."""
        retired = [self.finish(request, "cancelled") for request in self.scheduler.take_cancelled()]
        decoding = [request for request in self.scheduler.running if request.next_token is not None]
        prefills = self.prefill_inputs(self.scheduler.admit())
        stepping = [*decoding, *(request for request, _ in prefills)]
        try:
            if stepping:
                logits = torch.stack(
                    [*self.decode(decoding), *self.prefill(prefills)]
                )  # [N, V], `stepping` order
                self.stats.record_step(sum(embeds.shape[1] for _, embeds in prefills), len(stepping))
                retired += self.advance(stepping, logits)
        except Exception as error:  # a bad step fails its requests, never the engine
            logger.exception("a decoding step failed; its requests end with an error")
            unfinished = [request for request in stepping if not request.handle.finished]
            retired += [
                self.finish(request, "error", f"generation failed: {error}") for request in unfinished
            ]
            self.cache.reset()
        self.cache.drop([request.id for request in retired])

    def prefill_inputs(self, admitted: list[RunningRequest]) -> list[tuple[RunningRequest, torch.Tensor]]:
        """Each admitted request with its prompt's input embeddings (those that cannot be embedded end)."""
        prefills = []
        for request in admitted:
            embeds = self.embed_prompt(request)
            if embeds is not None:
                prefills.append((request, embeds))
        return prefills

    def embed_prompt(self, request: RunningRequest) -> torch.Tensor | None:
        """`[1, P, D]` input embeddings of a new prompt, its image encoded now; None if it fails."""
        device = self.model.device
        ids = torch.tensor([request.input_ids], device=device)
        images = {key: value.to(device) for key, value in (request.image_inputs or {}).items()}
        pixel_values, _ = split_pixel_values(images)  # every visual expert's views, by its name
        try:
            return self.model.embed_inputs(
                ids, pixel_values, images.get("views_skipped"), images.get("has_image")
            )
        except Exception as error:  # e.g. image tokens that do not match the image: this request only
            logger.warning("request %d cannot be prefilled: %s", request.id, error)
            self.finish(request, "error", str(error))  # nothing of it is cached yet
            return None

    def decode(self, decoding: list[RunningRequest]) -> torch.Tensor | list:
        """One packed pass: every decoding request's next token in one row, each query seeing only
        its own request's cache entries. `[N, V]` next-token logits, one row per request."""
        if not decoding:
            return []
        device = self.model.device
        tokens = torch.tensor([[request.next_token for request in decoding]], device=device)
        owner = torch.tensor([request.id for request in decoding], device=device)
        position = torch.tensor([request.position for request in decoding], device=device)
        output = self.llm(
            inputs_embeds=self.model.get_input_embeddings()(tokens),
            attention_mask=self.cache.attention_mask(owner, position),
            position_ids=position[None],
            cache=self.cache.kv,
            use_cache=True,
        )
        self.cache.commit(owner, position)
        return output.logits[0]

    def prefill(self, prefills: list[tuple[RunningRequest, torch.Tensor]]) -> list[torch.Tensor]:
        """The new prompts' passes, short ones packed together (`PREFILL_PACK_TOKENS`); their entries
        then join the packed cache. Each prompt's next-token logits `[V]`, in `prefills` order."""
        rows = []
        for pack in prefill_packs(prefills, PREFILL_PACK_TOKENS):
            rows += self.prefill_pack([request for request, _ in pack], [embeds for _, embeds in pack])
        return rows

    def prefill_pack(self, requests: list[RunningRequest], embeds: list[torch.Tensor]) -> list[torch.Tensor]:
        """Prompts `[1, P_i, D]` in one pass over the cat of them: causal within each prompt and
        nothing across (one prompt alone: plain causal attention, no mask), not P x every cached entry."""
        device = embeds[0].device
        lengths = torch.tensor([prompt.shape[1] for prompt in embeds], device=device)
        owner = torch.repeat_interleave(
            torch.tensor([request.id for request in requests], device=device), lengths
        )
        position = torch.cat([torch.arange(int(length), device=device) for length in lengths])
        own = DynamicCache()
        output = self.llm(
            inputs_embeds=torch.cat(embeds, dim=1),
            attention_mask=self.cache.prompt_mask(owner, position) if len(requests) > 1 else None,
            position_ids=position[None],
            cache=own,
            use_cache=True,
            logits_to_keep=lengths.cumsum(0) - 1,  # each prompt's last token
        )
        self.cache.append(own, owner, position)
        return list(output.logits[0])

    def advance(self, requests: list[RunningRequest], logits: torch.Tensor) -> list[RunningRequest]:
        """Give each request its next token; returns the requests that finished."""
        tokens = sample_rows(logits, [request.sampler for request in requests], [self.image_token])
        finished = []
        for request, token in zip(requests, tokens, strict=True):
            request.position += 1 if request.next_token is not None else request.prompt_length
            record_token(request.handle, token)
            text = request.stream.push(token)
            if request.stream.finished:
                finished.append(self.finish(request, "stop", text=text))
            elif request.handle.completion_tokens >= request.settings.max_new_tokens:
                finished.append(self.finish(request, "length", text=text))
            else:
                request.next_token = token
                self.notify(request, Update(text) if text else None)
        return finished

    def finish(
        self, request: RunningRequest, reason: str, error: str | None = None, text: str = ""
    ) -> RunningRequest:
        """Take the request out of the batch and send its last update (its cache entries are
        dropped by the caller, all at once)."""
        self.scheduler.finish(request)
        request.handle.error = error
        self.stats.finished[reason] += 1
        self.notify(request, Update(text + request.stream.flush(), reason))
        return request

    def notify(self, request: RunningRequest, update: Update | None) -> None:
        """Deliver an update; a listener that fails gets its request cancelled, nothing more."""
        if update is None:
            return
        try:
            request.handle.deliver(update)
        except Exception:
            logger.exception("the listener of request %d failed; cancelling it", request.id)
            request.handle.cancel()


def prefill_packs(prefills: list, limit: int) -> list[list]:
    """Consecutive `(request, embeds)` pairs grouped while their tokens stay within `limit` (a longer
    prompt goes alone)."""
    packs, tokens = [], limit
    for prefill in prefills:
        length = prefill[1].shape[1]
        if tokens + length > limit:
            packs.append([])
            tokens = 0
        packs[-1].append(prefill)
        tokens += length
    return packs


def record_token(handle: RequestHandle, token: int) -> None:
    handle.token_ids.append(token)
    if handle.first_token_at is None:
        handle.first_token_at = time.perf_counter()


def visual_inputs(image_inputs: Mapping[str, torch.Tensor] | None) -> dict[str, torch.Tensor] | None:
    """The visual part of a one-sample batch (its text keys dropped); None for text only."""
    if image_inputs is None:
        return None
    visual = {k: v for k, v in image_inputs.items() if k.startswith("pixel_values_") or k in IMAGE_KEYS}
    if "has_image" in visual and not bool(visual["has_image"].any()):
        return None
    return visual or None


def check_masked_attention(llm_config) -> str:
    """The LLM's attention implementation, if it takes the packed step's explicit 4-D mask."""
    implementation = getattr(llm_config, "_attn_implementation", None) or "sdpa"
    if implementation not in MASKED_ATTENTION:
        raise ValueError(
            f"the engine packs requests with an explicit attention mask, which {implementation!r} attention "
            f"does not take; load the model with attn_implementation in {MASKED_ATTENTION}"
        )
    return implementation
