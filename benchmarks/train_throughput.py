"""Training throughput: sphinx-x against a LLaVA-style baseline on the same mixed-aspect data, same run.

  ours      skip tokens for fully padded sub-images; batches of similar length (the release's
            sampler: sorted by length inside a type), so little padding
  baseline  every sub-image encoded (no skip token); random batches, each padded to its longest sample

Both train the same model on the same samples for the same number of steps. Each runs in its own
child process so that its peak memory (max RSS) is its own. Printed: samples/s, processed tokens/s
(padding included), padding share, peak memory, and the ratios.

    python benchmarks/train_throughput.py                      # toy demo model, 2x2 grid, CPU, ~2 min
    python benchmarks/train_throughput.py --samples 512 --view-size 48
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import random
import resource
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

ASPECTS = [(1, 1), (2, 1), (1, 2), (3, 1), (1, 3), (4, 1), (1, 4)]


def write_data(folder: Path, samples: int, seed: int) -> list[dict]:
    """Shapes on canvases of aspect 1:1 to 4:1 (both orientations) with answers of varied length."""
    rng = random.Random(seed)
    records = []
    for index in range(samples):
        wide, high = rng.choice(ASPECTS)
        size = (256, 256 * high // wide) if wide >= high else (256 * wide // high, 256)
        image = Image.new("RGB", size, (230, 230, 225))
        ImageDraw.Draw(image).ellipse((10, 10, min(size) - 10, min(size) - 10), fill=(200, 40, 40))
        image.save(folder / f"{index}.png")
        answer = " ".join(
            rng.choice(["a", "red", "circle", "on", "the", "left", "big"]) for _ in range(rng.randint(2, 40))
        )
        records.append({"image": str(folder / f"{index}.png"), "conversations": [
            {"from": "human", "value": "Describe the image."}, {"from": "gpt", "value": answer}]})  # fmt: skip
    return records


def run_mode(mode: str, records: list[dict], args, queue) -> None:
    from sphinx_x.data.records import Record
    from sphinx_x.demo.run import demo_model_config
    from sphinx_x.model.sphinx import SphinxXForConditionalGeneration
    from sphinx_x.processing.processor import SphinxXProcessor
    from sphinx_x.processing.tokenizer import train_toy_tokenizer
    from sphinx_x.train.data import global_batches, sequence_lengths
    from sphinx_x.train.optim import build_optimizer

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    config = demo_model_config(vocab_size=512, view_size=args.view_size)
    config.use_skip_token = mode == "ours"
    tokenizer = train_toy_tokenizer([t["value"] for r in records for t in r["conversations"]], vocab_size=512)
    model, processor = (
        SphinxXForConditionalGeneration(config).train(),
        SphinxXProcessor.for_model(tokenizer, config),
    )
    optimizer = build_optimizer(model, lr=1e-4)
    as_records = [
        Record(r["conversations"], Path(r["image"]), "vision", str(i)) for i, r in enumerate(records)
    ]
    lengths = sequence_lengths(as_records, processor) if mode == "ours" else None
    batches = global_batches(
        as_records, args.batch_size, seed=0, epoch=0, by_type=mode == "ours", lengths=lengths
    )
    samples = processed = real = 0
    started = None
    for step, batch in enumerate(batches):
        if step == args.warmup_steps:
            started, samples, processed, real = time.perf_counter(), 0, 0, 0
        inputs = processor.collate(
            [processor.encode(records[i]["conversations"], records[i]["image"]) for i in batch]
        )
        model(**inputs).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        samples += len(batch)
        processed += inputs["input_ids"].numel()
        real += int(inputs["attention_mask"].sum())
    seconds = time.perf_counter() - started
    queue.put({"mode": mode, "samples_per_s": samples / seconds, "tokens_per_s": processed / seconds,
               "padding_share": 1 - real / processed, "seconds": seconds, "samples": samples,
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=384)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--warmup-steps", type=int, default=2)
    parser.add_argument("--view-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as folder:
        records = write_data(Path(folder), args.samples, seed=0)
        results = {}
        for mode in ("baseline", "ours"):
            queue = context.Queue()
            child = context.Process(target=run_mode, args=(mode, records, args, queue))
            child.start()
            results[mode] = queue.get()
            child.join()
    print(f"# toy SPHINX-X (2x2 grid + global, views {args.view_size}), {args.samples} samples, batch {args.batch_size}, "
          f"torch {torch.__version__}, {args.threads} threads, {platform.machine()}")  # fmt: skip
    print("# mode      samples/s  tokens/s  padding  peak RSS")
    for mode, r in results.items():
        print(
            f"  {mode:<9} {r['samples_per_s']:9.1f} {r['tokens_per_s']:9.0f} {r['padding_share']:8.1%} {r['peak_rss_mb']:7.0f} MB"
        )
    ours, base = results["ours"], results["baseline"]
    print(f"# ours / baseline: {ours['samples_per_s'] / base['samples_per_s']:.2f}x samples/s, "
          f"{ours['peak_rss_mb'] / base['peak_rss_mb']:.2f}x peak memory")  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
