"""Training throughput: packed + skip-token training against today's length-sorted padded batches and
a LLaVA-style baseline, on the same mixed-aspect data, same run.

  llava    every sub-image encoded (no skip token); random batches, each padded to its longest sample
  sorted   skip tokens for fully padded sub-images; batches sorted by length (the release's sampler,
           visual tokens counted), padded to the longest: little padding
  packed   skip tokens; the same random batches as `llava`, packed as the trainer packs them
           (`train/packing.py`: one row per batch, or rows of `--pack-length` tokens) with attention
           computed sample by sample (`train/segment_attention.py`): no padding

All three train the same model on the same samples for the same number of steps with the trainer's
own step (`train_step`: forward, masked loss, backward, clip, AdamW), each in its own child process so
that its peak memory (max RSS) is its own. Encoding (image loading, views) runs inside the timed loop,
as in a trainer without data-loader workers. Printed: samples/s, tokens/s (the samples' tokens; and
the tokens processed, padding included), padding share, peak memory, and the ratios.

    python benchmarks/train_throughput.py                            # toy demo model, 2x2 grid, CPU
    python benchmarks/train_throughput.py --answers long-tailed      # answer lengths of a real SFT mixture
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import random
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

ASPECTS = [(1, 1), (2, 1), (1, 2), (3, 1), (1, 3), (4, 1), (1, 4)]
WORDS = ["a", "red", "circle", "on", "the", "left", "big"]
# Word counts of answers. uniform: what this benchmark always used. long-tailed: shaped like an
# instruction-tuning mixture: short VQA answers, descriptions, a few long documents or conversations.
ANSWER_WORDS = {
    "uniform": lambda rng: rng.randint(2, 40),
    "long-tailed": lambda rng: rng.choice(
        [rng.randint(1, 3)] * 5 + [rng.randint(10, 40)] * 4 + [rng.randint(80, 200)]
    ),
}
MODES = ("llava", "sorted", "packed")


def write_data(folder: Path, samples: int, seed: int, answers: str) -> list[dict]:
    """Shapes on canvases of aspect 1:1 to 4:1 (both orientations) with answers of varied length."""
    rng = random.Random(seed)
    records = []
    for index in range(samples):
        wide, high = rng.choice(ASPECTS)
        size = (256, 256 * high // wide) if wide >= high else (256 * wide // high, 256)
        image = Image.new("RGB", size, (230, 230, 225))
        ImageDraw.Draw(image).ellipse((10, 10, min(size) - 10, min(size) - 10), fill=(200, 40, 40))
        image.save(folder / f"{index}.png")
        answer = " ".join(rng.choice(WORDS) for _ in range(ANSWER_WORDS[answers](rng)))
        records.append({"image": str(folder / f"{index}.png"), "conversations": [
            {"from": "human", "value": "Describe the image."}, {"from": "gpt", "value": answer}]})  # fmt: skip
    return records


def step_batches(mode: str, records: list[dict], processor, batch_size: int) -> list[list[int]]:
    from sphinx_x.data.records import Record
    from sphinx_x.train.data import global_batches, sequence_lengths

    as_records = [
        Record(r["conversations"], Path(r["image"]), "vision", str(i)) for i, r in enumerate(records)
    ]
    if mode == "sorted":
        lengths = sequence_lengths(as_records, processor)
        return global_batches(as_records, batch_size, seed=0, epoch=0, by_type=True, lengths=lengths)
    return global_batches(as_records, batch_size, seed=0, epoch=0, by_type=False)  # random batches


def run_mode(mode: str, records: list[dict], args, queue) -> None:
    from sphinx_x.demo.run import demo_model_config
    from sphinx_x.model.sphinx import SphinxXForConditionalGeneration
    from sphinx_x.processing.conversation import ChatTemplate
    from sphinx_x.processing.processor import SphinxXProcessor
    from sphinx_x.processing.tokenizer import train_toy_tokenizer
    from sphinx_x.train.optim import build_optimizer, build_scheduler
    from sphinx_x.train.packing import collate_packed
    from sphinx_x.train.segment_attention import use_segment_attention
    from sphinx_x.train.step import train_step

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    config = demo_model_config(vocab_size=512, view_size=args.view_size)
    config.use_skip_token = mode != "llava"
    # The template's system prompt is in the tokenizer's corpus, as English is in a real tokenizer's:
    # otherwise it takes 140 tokens (letter by letter) instead of about 25, and dwarfs everything else.
    corpus = [t["value"] for r in records for t in r["conversations"]] + [ChatTemplate().system]
    tokenizer = train_toy_tokenizer(corpus, vocab_size=512)
    model = SphinxXForConditionalGeneration(config).train()
    if mode == "packed":
        use_segment_attention(model.language_model)
    processor = SphinxXProcessor.for_model(tokenizer, config)
    optimizer = build_optimizer(model, lr=1e-4)
    batches = step_batches(mode, records, processor, args.batch_size)
    scheduler = build_scheduler(optimizer, len(batches))
    counts = dict.fromkeys(("samples", "tokens", "processed"), 0)
    started = None
    for step, batch in enumerate(batches):
        if step == args.warmup_steps:
            started, counts = time.perf_counter(), dict.fromkeys(counts, 0)
        samples = [processor.encode(records[i]["conversations"], records[i]["image"]) for i in batch]
        inputs = (
            collate_packed(samples, processor, args.pack_length)
            if mode == "packed"
            else processor.collate(samples, padding_side="right")
        )
        tokens = sum(len(sample.input_ids) for sample in samples)
        train_step(model, optimizer, scheduler, [inputs], 8.0, torch.float32, 0.0, 1, tokens)
        counts["samples"] += len(batch)
        counts["tokens"] += tokens
        counts["processed"] += inputs["input_ids"].numel()
    seconds = time.perf_counter() - started
    queue.put({"mode": mode, "samples_per_s": counts["samples"] / seconds, "tokens_per_s": counts["tokens"] / seconds,
               "processed_per_s": counts["processed"] / seconds, "padding_share": 1 - counts["tokens"] / counts["processed"],
               "seconds": seconds, "samples": counts["samples"], "tokens_per_sample": counts["tokens"] / counts["samples"],
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})  # fmt: skip


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "uptime: not available"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=384)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--warmup-steps", type=int, default=2)
    parser.add_argument("--view-size", type=int, default=32)
    parser.add_argument(
        "--pack-length",
        type=int,
        help="tokens per packed row (default: one row per batch, as the trainer)",
    )
    parser.add_argument("--answers", choices=sorted(ANSWER_WORDS), default="uniform")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs per mode, interleaved; the fastest is shown"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    print(f"# before: {uptime()}")
    with tempfile.TemporaryDirectory() as folder:
        records = write_data(Path(folder), args.samples, seed=0, answers=args.answers)
        runs = {mode: [] for mode in MODES}
        for _ in range(args.repeats):  # interleaved: a burst of load elsewhere hits every mode alike
            for mode in MODES:
                queue = context.Queue()
                child = context.Process(target=run_mode, args=(mode, records, args, queue))
                child.start()
                runs[mode].append(queue.get())
                child.join()
    results = {mode: max(found, key=lambda r: r["samples_per_s"]) for mode, found in runs.items()}
    print(f"# after:  {uptime()}")
    print(f"# toy SPHINX-X (2x2 grid + global, views {args.view_size}), {args.samples} samples ({args.answers} answers), "
          f"batch {args.batch_size}, packed rows of {args.pack_length or 'the whole batch'}, torch {torch.__version__}, "
          f"{args.threads} threads, {platform.machine()}, best of {args.repeats}")  # fmt: skip
    print("# mode     samples/s  tokens/s  processed/s  tokens/sample  padding  peak RSS")
    for mode, r in results.items():
        print(f"  {mode:<8} {r['samples_per_s']:9.1f} {r['tokens_per_s']:9.0f} {r['processed_per_s']:12.0f} "
              f"{r['tokens_per_sample']:14.1f} {r['padding_share']:8.1%} {r['peak_rss_mb']:7.0f} MB")  # fmt: skip
    base = results["llava"]
    for mode in ("sorted", "packed"):
        r = results[mode]
        print(f"# {mode} / llava: {r['samples_per_s'] / base['samples_per_s']:.2f}x samples/s, "
              f"{r['peak_rss_mb'] / base['peak_rss_mb']:.2f}x peak memory")  # fmt: skip
    packed, ordered = results["packed"], results["sorted"]
    print(f"# packed / sorted: {packed['samples_per_s'] / ordered['samples_per_s']:.2f}x samples/s, "
          f"{packed['peak_rss_mb'] / ordered['peak_rss_mb']:.2f}x peak memory")  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps({"args": vars(args) | {"out": str(args.out)}, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
