"""Serving throughput: the engine's continuous batching against one-request-at-a-time generation and
against static batches padded to the longest, same model, same requests, same run.

  continuous   sphinx_x.inference.engine: requests join and leave the running batch between steps,
               every running request's KV entries packed in one cache (no padding)
  one-at-a-time  a server that answers its queue in order, one request per generate call
               (the pre-engine padded generate loop with a batch of 1: a stock KV cache, no mask)
  static       a server that takes every waiting request (up to --clients), pads them to the longest
               and decodes until the longest is done, then takes the next batch

`--clients` closed-loop clients send the requests (each sends its next request when its answer is
complete). Requests mix image aspect ratios (1:1 ... 3:1, both orientations, and text only) and
answer lengths (max_tokens drawn from --min-tokens..--max-tokens; greedy, stop only at EOS).
Each mode runs --repeats times, round-robin, and its median round is printed: requests/s, output tokens/s, time to first token (TTFT, arrival -> first token,
queueing included) and time per output token (TPOT) p50/p99, and the ratios to one-at-a-time.

    python benchmarks/serve_throughput.py                 # demo-sized toy model, random weights, CPU
    python benchmarks/serve_throughput.py --threads 1     # on a shared, loaded CPU
"""

from __future__ import annotations

import argparse
import os
import platform
import queue
import random
import threading
import time
from dataclasses import dataclass, field

import torch
from PIL import Image, ImageDraw

SHAPES = [(64, 64), (128, 64), (64, 128), (192, 64), (64, 192), None]
QUESTIONS = ["What is this?", "Describe the picture in detail, please.", "Where is the red circle?",
             "How many shapes are there, and what colours do they have?", "Read the text."]  # fmt: skip


@dataclass
class Request:
    index: int
    input_ids: list[int]
    image_inputs: dict | None
    max_tokens: int
    arrived: float = 0.0
    first_token: float = 0.0
    finished: float = 0.0
    tokens: list[int] = field(default_factory=list)


def build(args):
    from sphinx_x.demo.run import demo_model_config
    from sphinx_x.model.sphinx import SphinxXForConditionalGeneration
    from sphinx_x.processing.processor import SphinxXProcessor
    from sphinx_x.processing.tokenizer import train_toy_tokenizer

    torch.manual_seed(0)
    config = demo_model_config(vocab_size=1024)
    model = SphinxXForConditionalGeneration(config).eval()
    processor = SphinxXProcessor.for_model(train_toy_tokenizer(vocab_size=1024), config)
    return model, processor


def make_requests(processor, count: int, args) -> list[tuple[list[int], dict | None, int]]:
    rng = random.Random(args.seed)
    requests = []
    for _ in range(count):
        shape = rng.choice(SHAPES)
        image = None
        if shape is not None:
            image = Image.new("RGB", shape, (230, 230, 220))
            ImageDraw.Draw(image).ellipse((4, 4, shape[0] // 2, shape[1] // 2), fill=(200, 40, 40))
        sample = processor.encode([{"role": "user", "content": rng.choice(QUESTIONS)}], image, True)
        views = processor.collate_views([sample.views]) if sample.views is not None else None
        requests.append((sample.input_ids, views, rng.randint(args.min_tokens, args.max_tokens)))
    return requests


# -- the three servers ---------------------------------------------------------------------------


def serve_continuous(model, processor, inbox: queue.Queue, args) -> None:
    from sphinx_x.inference.engine import Engine
    from sphinx_x.inference.sampling import DecodingSettings

    engine = Engine(model, processor.tokenizer, max_running=args.clients, max_waiting=args.requests).start()
    try:
        while (request := inbox.get()) is not None:
            settings = DecodingSettings(request.max_tokens, temperature=0, stop_strings=())
            request.handle = engine.submit(request.input_ids, request.image_inputs, settings,
                                           on_update=finisher(request))  # fmt: skip
    finally:
        engine.stop()


def finisher(request: Request):
    def on_update(update) -> None:
        if update.finish_reason is not None:
            handle = request.handle
            request.first_token, request.tokens = handle.first_token_at, list(handle.token_ids)
            request.finished = time.perf_counter()
            request.done.set()

    return on_update


def serve_in_batches(model, processor, inbox: queue.Queue, args, batch_size: int) -> None:
    """Take what is waiting (up to `batch_size`), decode it padded to the longest, answer, repeat."""
    while True:
        batch = [inbox.get()]
        while len(batch) < batch_size and not inbox.empty():
            batch.append(inbox.get())
        live = [request for request in batch if request is not None]
        if live:
            padded_generate(model, processor, live)
            for request in live:
                request.done.set()
        if len(live) < len(batch):
            return


@torch.no_grad()
def padded_generate(model, processor, requests: list[Request]) -> None:
    """Greedy, left-padded, one stock KV cache for the batch: the loop `generate()` was before the
    engine. Every sample is fed until the longest is done."""
    from sphinx_x.processing.processor import EncodedSample, pad

    samples = [EncodedSample(r.input_ids, [0] * len(r.input_ids), None) for r in requests]
    longest = max(len(sample.input_ids) for sample in samples)
    input_ids = pad([s.input_ids for s in samples], longest, processor.pad_token_id, "left")
    mask = pad([[1] * len(s.input_ids) for s in samples], longest, 0, "left")
    images = merge_images([r.image_inputs for r in requests], processor)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    output = model(input_ids, mask, position_ids=positions, use_cache=True, logits_to_keep=1, **images)
    eos, never = processor.tokenizer.eos_token_id, model.config.image_token_id
    active = [True] * len(requests)
    for _ in range(max(r.max_tokens for r in requests)):
        logits = output.logits[:, -1].float()
        logits[:, never] = float("-inf")
        tokens = logits.argmax(-1)
        now = time.perf_counter()
        for index, request in enumerate(requests):
            if active[index]:
                request.first_token = request.first_token or now
                request.tokens.append(int(tokens[index]))
                if int(tokens[index]) == eos or len(request.tokens) >= request.max_tokens:
                    active[index], request.finished = False, now
        if not any(active):
            return
        mask = torch.cat([mask, mask.new_ones(len(requests), 1)], dim=1)
        positions = positions[:, -1:] + 1
        output = model(tokens[:, None], mask, position_ids=positions, cache=output.cache, use_cache=True)


def merge_images(per_request: list[dict | None], processor) -> dict:
    present = [inputs for inputs in per_request if inputs is not None]
    num_views = 1 + processor.grid**2
    batch = {
        "has_image": torch.tensor([inputs is not None for inputs in per_request]),
        "views_skipped": torch.cat([inputs["views_skipped"] if inputs is not None
                                    else torch.zeros(1, num_views, dtype=torch.bool) for inputs in per_request]),
    }  # fmt: skip
    for key in present[0] if present else {}:
        if key.startswith("pixel_values_"):
            batch[key] = torch.cat([inputs[key] for inputs in present])
    return batch


# -- clients and measurement ---------------------------------------------------------------------


def run_mode(mode: str, model, processor, prepared, args) -> list[Request]:
    inbox: queue.Queue = queue.Queue()
    servers = {
        "continuous": lambda: serve_continuous(model, processor, inbox, args),
        "one-at-a-time": lambda: serve_in_batches(model, processor, inbox, args, batch_size=1),
        "static": lambda: serve_in_batches(model, processor, inbox, args, batch_size=args.clients),
    }
    server = threading.Thread(target=servers[mode], daemon=True)
    server.start()
    requests = [Request(index, *item) for index, item in enumerate(prepared)]
    todo = iter(requests)
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                request = next(todo, None)
            if request is None:
                return
            request.done = threading.Event()
            request.arrived = time.perf_counter()
            inbox.put(request)
            request.done.wait()

    clients = [threading.Thread(target=client) for _ in range(args.clients)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    inbox.put(None)
    server.join()
    return requests


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summarise(requests: list[Request], wall: float) -> dict:
    ttft = [r.first_token - r.arrived for r in requests]
    tpot = [(r.finished - r.first_token) / (len(r.tokens) - 1) for r in requests if len(r.tokens) > 1]
    tokens = sum(len(r.tokens) for r in requests)
    return {"wall": wall, "requests_per_s": len(requests) / wall, "tokens_per_s": tokens / wall,
            "ttft_p50": percentile(ttft, 0.5), "ttft_p99": percentile(ttft, 0.99),
            "tpot_p50": percentile(tpot, 0.5), "tpot_p99": percentile(tpot, 0.99), "tokens": tokens}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--min-tokens", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--modes", default="continuous,one-at-a-time,static")
    parser.add_argument(
        "--repeats", type=int, default=3, help="rounds over the modes; the median round is kept"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, processor = build(args)
    prepared = make_requests(processor, args.requests, args)
    run_mode("continuous", model, processor, prepared[: args.clients], args)  # warm-up
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads "
          f"{torch.get_num_threads()}, load average {os.getloadavg()[0]:.2f} at start")  # fmt: skip
    print(
        f"{args.requests} requests, {args.clients} concurrent clients, max_tokens {args.min_tokens}-{args.max_tokens}"
    )
    runs, answers = {mode: [] for mode in args.modes.split(",")}, {}
    for _ in range(args.repeats):  # round-robin, so a burst of load on a shared machine hits every mode
        for mode in runs:
            started = time.perf_counter()
            requests = run_mode(mode, model, processor, prepared, args)
            runs[mode].append(summarise(requests, time.perf_counter() - started))
            answers[mode] = [r.tokens for r in requests]
    results = {mode: sorted(rows, key=lambda row: row["wall"])[len(rows) // 2] for mode, rows in runs.items()}
    for mode, rows in runs.items():
        walls = ", ".join(f"{row['wall']:.1f}" for row in rows)
        print(f"{mode}: wall per round {walls} s")
    print_table(results, answers)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


def print_table(results: dict, answers: dict) -> None:
    print(f"{'mode':14s} {'wall s':>7s} {'req/s':>7s} {'tok/s':>7s} {'TTFT p50':>9s} {'TTFT p99':>9s} "
          f"{'TPOT p50':>9s} {'TPOT p99':>9s}")  # fmt: skip
    for mode, row in results.items():
        print(f"{mode:14s} {row['wall']:7.1f} {row['requests_per_s']:7.2f} {row['tokens_per_s']:7.0f} "
              f"{row['ttft_p50']:8.2f}s {row['ttft_p99']:8.2f}s {1000 * row['tpot_p50']:7.1f}ms "
              f"{1000 * row['tpot_p99']:7.1f}ms")  # fmt: skip
    base = results.get("one-at-a-time")
    if base and "continuous" in results:
        for mode in [mode for mode in results if mode != "one-at-a-time"]:
            ratio = results[mode]["requests_per_s"] / base["requests_per_s"]
            print(f"{mode} / one-at-a-time: {ratio:.2f}x requests/s, "
                  f"{results[mode]['tokens_per_s'] / base['tokens_per_s']:.2f}x tokens/s")  # fmt: skip
    reference = answers.get("one-at-a-time")
    for mode, tokens in answers.items():
        if reference is not None and mode != "one-at-a-time":
            same = sum(a == b for a, b in zip(tokens, reference, strict=True))
            print(f"{mode}: {same}/{len(reference)} answers token-identical to one-at-a-time")


if __name__ == "__main__":
    main()
