"""Precisions and quantization: weight memory, image encoding, prefill and decode speed, same run.

For each precision (float32, bfloat16, int8 weight-only, int4 NF4, ...) of a preset at its real size
(random weights: speed and memory do not depend on them), in its own process (one model in memory
at a time; peak RSS is that process's):

    weights      bytes as stored (`sphinx_x.quantize.weight_bytes`), LLM and vision experts apart
    image        encoding one 2:1 image (1024x512: global + 2 sub-images, 2 skip tokens): experts +
                 projector + token layout (`model.embed_inputs`)
    prefill      the LLM over that prompt (779 visual tokens + the question), from its embeddings:
                 ours (`model.language_model`, as `model.forward` calls it) against transformers'
                 own `generate(inputs_embeds=..., max_new_tokens=1)` on the same LLM
    decode       new tokens per second at batch 1 and 8 on a short text prompt, after the first token
                 (prefill excluded): ours (the engine `sphinx_x.generate` runs, KV cache) against
                 transformers' `generate` on the same LLM, both greedy, EOS ignored

Ratios are printed against float32 (same process kind, same run) and ours against transformers'.

    python benchmarks/quantization.py                             # sphinx-x-tiny, the default precisions
    python benchmarks/quantization.py --precisions float32 int8   # some of them
    python benchmarks/quantization.py --preset sphinx-x-toy       # seconds: a smoke run
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

# name -> (dtype, quantize, quantize_vision); "fastest" computes in `fastest_dtype(device)`
PRECISIONS = {
    "float32": ("float32", None, False),
    "bfloat16": ("bfloat16", None, False),
    "float16": ("float16", None, False),
    "int8": ("fastest", "int8", False),
    "int8+vision": ("fastest", "int8", True),
    "int4": ("fastest", "int4", False),
    "int4+vision": ("fastest", "int4", True),
}
DEFAULT_PRECISIONS = {
    "cpu": ["float32", "bfloat16", "int8", "int8+vision", "int4"],
    "cuda": ["float32", "bfloat16", "float16", "int8", "int4", "int4+vision"],
}
QUESTION = "Describe the picture in detail, and name every object you can see in it."
DECODE_PROMPT = "A chat between a curious human and an assistant. Tell me a long story about a red square."


@dataclass
class Settings:
    preset: str
    device: str
    decode_tokens: int  # timed new tokens after the first
    batch_sizes: tuple[int, ...] = (1, 8)


def build(preset: str, precision: str, device: str):
    """The preset with random weights in `precision`, built without a float32 copy when none is needed."""
    from sphinx_x.loading import resolve_dtype
    from sphinx_x.model.sphinx import SphinxXForConditionalGeneration
    from sphinx_x.presets import TOY_IMAGE_TOKEN_ID, preset_config
    from sphinx_x.processing.processor import SphinxXProcessor
    from sphinx_x.processing.tokenizer import train_toy_tokenizer
    from sphinx_x.quantize import quantize_model

    dtype_name, quantize, vision = PRECISIONS[precision]
    dtype = resolve_dtype(dtype_name, torch.device(device))
    config = preset_config(preset)
    config.image_token_id = TOY_IMAGE_TOKEN_ID  # the toy tokenizer's <image>: real prompts, random weights
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # parameters are created in `dtype` directly
    try:
        model = SphinxXForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(previous)
    started = time.perf_counter()
    if quantize:
        quantize_model(model, quantize, vision=vision)
    quantize_seconds = time.perf_counter() - started
    processor = SphinxXProcessor.for_model(train_toy_tokenizer(), config)
    return model.to(device).eval(), processor, dtype, quantize_seconds


class NeverStops:
    """The tokenizer for `sphinx_x.generate` with EOS ignored: every sample makes every token."""

    eos_token_id = -1

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def decode(self, ids, **options):
        return self.tokenizer.decode(ids, **options)


def timed(function) -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    function()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - started


def measure_image_and_prefill(model, processor) -> dict:
    from sphinx_x.model.sphinx import split_pixel_values

    image = Image.new("RGB", (1024, 512), (200, 120, 40))
    batch = processor([[{"role": "user", "content": QUESTION}]], [image]).to(model.device)
    pixel_values, _ = split_pixel_values(dict(batch))
    holder = {}
    image_s = timed(lambda: holder.update(embeds=model.embed_inputs(
        batch["input_ids"], pixel_values, batch["views_skipped"], batch["has_image"])))  # fmt: skip
    embeds, mask = holder["embeds"], batch["attention_mask"]
    positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
    llm = model.language_model
    ours = timed(lambda: llm(inputs_embeds=embeds, attention_mask=mask, position_ids=positions, use_cache=True,
                             logits_to_keep=1))  # fmt: skip
    theirs = timed(lambda: llm.generate(inputs_embeds=embeds, attention_mask=mask, max_new_tokens=1,
                                        do_sample=False, pad_token_id=0))  # fmt: skip
    return {
        "prompt_tokens": int(mask.shape[1]),
        "views_encoded": int((~batch["views_skipped"]).sum()),
        "image_s": image_s,
        "prefill_s": ours,
        "prefill_hf_s": theirs,
    }


def measure_decode(model, processor, batch_size: int, new_tokens: int) -> dict:
    """Decode tokens/s after the first token, prefill excluded on both sides: ours steps the engine
    (`sphinx_x.generate`'s loop) by hand, transformers' `generate` is timed by a streamer that sees
    every token as it is made."""
    batch = processor([[{"role": "user", "content": DECODE_PROMPT}]] * batch_size).to(model.device)
    ours_decode(model, processor, batch, 1)  # warm-up: first-call allocations
    return {f"decode_b{batch_size}_tok_s": ours_decode(model, processor, batch, new_tokens),
            f"decode_b{batch_size}_hf_tok_s": hf_decode(model, batch, new_tokens)}  # fmt: skip


def ours_decode(model, processor, batch, new_tokens: int) -> float:
    from sphinx_x.inference.engine import Engine
    from sphinx_x.inference.generate import DecodingSettings, unbatch

    samples = unbatch(batch)
    engine = Engine(model, NeverStops(processor.tokenizer), len(samples), 0, max_prefill_tokens=None)
    settings = DecodingSettings(1 + new_tokens, temperature=0, stop_strings=())
    for input_ids, image_inputs in samples:
        engine.submit(input_ids, image_inputs, settings)
    engine.step()  # admission and prefill: every request's first token
    started = time.perf_counter()
    while engine.scheduler.has_work():
        engine.step()
    return len(samples) * new_tokens / (time.perf_counter() - started)


class TokenClock:
    """A transformers streamer that notes when each step's tokens come out."""

    def __init__(self):
        self.times = []

    def put(self, value):
        self.times.append(time.perf_counter())

    def end(self):
        pass


def hf_decode(model, batch, new_tokens: int) -> float:
    clock = TokenClock()
    model.language_model.generate(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], max_new_tokens=1 + new_tokens,
        min_new_tokens=1 + new_tokens, do_sample=False, pad_token_id=0, streamer=clock)  # fmt: skip
    steps = clock.times[-new_tokens - 1 :]  # the first token's put, then one per decoding step
    return batch["input_ids"].shape[0] * new_tokens / (steps[-1] - steps[0])


def measure_one(precision: str, settings: Settings) -> dict:
    from sphinx_x.quantize import weight_bytes

    torch.set_grad_enabled(False)
    built = time.perf_counter()
    model, processor, dtype, quantize_s = build(settings.preset, precision, settings.device)
    row = {"precision": precision, "compute_dtype": str(dtype).removeprefix("torch."),
           "build_s": time.perf_counter() - built, "quantize_s": quantize_s}  # fmt: skip
    row |= {f"weights_{part}_bytes": value for part, value in weight_bytes(model).items()}
    row |= measure_image_and_prefill(model, processor)
    for batch_size in settings.batch_sizes:
        row |= measure_decode(model, processor, batch_size, settings.decode_tokens)
    row["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return row


def run_in_own_process(precision: str, settings: Settings) -> dict:
    command = [sys.executable, __file__, "--one", precision, "--preset", settings.preset,
               "--device", settings.device, "--decode-tokens", str(settings.decode_tokens)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        return {"precision": precision, "error": result.stderr.strip().splitlines()[-1:]}
    return json.loads(result.stdout.strip().splitlines()[-1])


GIB = 1024**3


def ratios(row: dict, base: dict) -> dict:
    """Against float32 (`base`): memory fraction, speed-ups; ours against transformers'."""
    out = {"weights_x": row["weights_total_bytes"] / base["weights_total_bytes"],
           "image_speedup": base["image_s"] / row["image_s"], "prefill_speedup": base["prefill_s"] / row["prefill_s"],
           "prefill_ours_vs_hf": row["prefill_hf_s"] / row["prefill_s"]}  # fmt: skip
    for key in [k for k in row if k.startswith("decode_b") and not k.endswith("_hf_tok_s")]:
        batch = key.split("_")[1]
        out[f"{batch}_speedup"] = row[key] / base[key]
        out[f"{batch}_ours_vs_hf"] = row[key] / row[key.replace("_tok_s", "_hf_tok_s")]
    return out


def print_table(rows: list[dict]) -> None:
    base = next((row for row in rows if row.get("precision") == "float32" and "error" not in row), None)
    print("| precision | weights GiB (LLM / vision) | x float32 | image s | prefill s (ours / HF) | "
          "decode tok/s b1 (ours / HF) | decode tok/s b8 (ours / HF) | peak RSS GiB |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        if "error" in row:
            print(f"| {row['precision']} | failed: {row['error']} |")
            continue
        r = ratios(row, base) if base else {}

        def speed(key: str, r=r) -> str:
            return f" ({r[key]:.2f}x)" if key in r else ""

        print(f"| {row['precision']} ({row['compute_dtype']}) | {row['weights_total_bytes'] / GIB:.2f} "
              f"({row['weights_llm_bytes'] / GIB:.2f} / {row['weights_vision_bytes'] / GIB:.2f}) | "
              f"{r.get('weights_x', 1):.2f} | {row['image_s']:.1f}{speed('image_speedup')} | "
              f"{row['prefill_s']:.1f} / {row['prefill_hf_s']:.1f}{speed('prefill_speedup')} | "
              f"{row['decode_b1_tok_s']:.2f} / {row['decode_b1_hf_tok_s']:.2f}{speed('b1_speedup')} | "
              f"{row['decode_b8_tok_s']:.2f} / {row['decode_b8_hf_tok_s']:.2f}{speed('b8_speedup')} | "
              f"{row['peak_rss_bytes'] / GIB:.1f} |")  # fmt: skip
    print("(speed-ups in brackets are against float32; ours / HF near 1 means our loop adds nothing)")
    for row in rows:
        if "error" not in row and base:
            r = ratios(row, base)
            print(f"# {row['precision']}: ours vs HF generate: prefill {r['prefill_ours_vs_hf']:.2f}x, decode b1 "
                  f"{r['b1_ours_vs_hf']:.2f}x, b8 {r['b8_ours_vs_hf']:.2f}x; quantized in {row['quantize_s']:.1f} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="sphinx-x-tiny")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precisions", nargs="+", choices=list(PRECISIONS), help="default: by device")
    parser.add_argument("--decode-tokens", type=int, default=8, help="timed new tokens after the first")
    parser.add_argument("--out", type=Path, help="write the rows as JSON here")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one precision, print JSON
    args = parser.parse_args()
    settings = Settings(args.preset, args.device, args.decode_tokens)
    if args.one:
        print(json.dumps(measure_one(args.one, settings)))
        return
    device_name = (
        torch.cuda.get_device_name()
        if args.device.startswith("cuda")
        else platform.processor() or platform.machine()
    )
    print(f"# {args.preset} on {args.device} ({device_name}), torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"cpu capability {torch.backends.cpu.get_cpu_capability()}, {time.strftime('%Y-%m-%d')}")  # fmt: skip
    rows = []
    for precision in args.precisions or DEFAULT_PRECISIONS[torch.device(args.device).type]:
        rows.append(run_in_own_process(precision, settings))
        print(json.dumps(rows[-1]), flush=True)
        if args.out:
            args.out.write_text(
                json.dumps({"preset": args.preset, "device": args.device, "rows": rows}, indent=2)
            )
    print_table(rows)


if __name__ == "__main__":
    main()
