"""Peak memory of `sphinx-x convert accessory` on a scaled-down SPHINX-MoE (8 tensor-parallel shards).

Writes a `mixtral_sparse_ens5` release folder in the release's layout (bfloat16, sparse experts
split 8 ways, tiny vision experts), converts it in a child process that samples its own
/proc/self/status every 5 ms, and prints the checkpoint size, the largest tensor the conversion
builds, and the child's peak resident memory: anonymous (what the conversion allocates) and file
backed (pages of the memory-mapped shards, which the kernel can drop).

    PYTHONPATH=src:. python benchmarks/convert_memory.py                  # 8 layers, width 1024: 1.3 GB
    PYTHONPATH=src:. python benchmarks/convert_memory.py --layers 2 --dim 256   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

from tests.convert.four_expert_reference import clip_state, qformer_state
from tests.convert.release_reference import (
    Random,
    convnext_state,
    dinov2_state,
    projector_state,
    train_sentencepiece,
)  # fmt: skip


def llm_shard(args, rank: int, rand: Random) -> dict[str, torch.Tensor]:
    """Shard `rank` of a Mixtral in the release's sparse layout (Megatron split, experts by hidden rows)."""
    mp, dim, experts, ffn = args.shards, args.dim, args.experts, args.expert_ffn
    head_dim = dim // args.heads
    kv = args.kv_heads * head_dim
    state = {
        "llma.tok_embeddings.weight": rand(args.vocab, dim // mp),
        "llma.output.weight": rand(args.vocab // mp, dim),
    }
    state |= {
        "llma.norm.weight": rand(dim),
        "llma.start_img": rand(1, 1, dim),
        "llma.end_img": rand(1, 1, dim),
    }
    for layer in range(args.layers):
        p = f"llma.layers.{layer}."
        state |= {p + "attention.wq.weight": rand(dim // mp, dim), p + "attention.wk.weight": rand(kv // mp, dim),
                  p + "attention.wv.weight": rand(kv // mp, dim), p + "attention.wo.weight": rand(dim, dim // mp),
                  p + "attention_norm.weight": rand(dim), p + "ffn_norm.weight": rand(dim),
                  p + "feed_forward.gate.weight": rand(experts, dim)}  # fmt: skip
        for name in ("w1", "w2", "w3"):
            state[p + f"feed_forward.{name}"] = rand(experts * ffn // mp, dim)
    return state


def write_release(args, folder: Path) -> int:
    """The release folder; returns the bytes of its shards."""
    folder.mkdir(parents=True)
    rand = Random(0)
    vision = qformer_state(rand) | clip_state(rand) | convnext_state(rand) | dinov2_state(rand, 3, 6)
    vision |= projector_state(rand, "visual_proj", 128 + 32 + 128, args.dim)
    vision |= projector_state(rand, "qformer_proj", 128, args.dim)
    total = 0
    for rank in range(args.shards):
        shard = {name: t.to(torch.bfloat16) for name, t in (vision | llm_shard(args, rank, rand)).items()}
        torch.save({"model": shard}, folder / f"consolidated.{rank:02d}-of-{args.shards:02d}.model.pth")
        total += sum(t.numel() * t.element_size() for t in shard.values() if not t.dtype == torch.bool)
        del shard
    config = {"dim": args.dim, "n_layers": args.layers, "n_heads": args.heads, "n_kv_heads": args.kv_heads,
              "hidden_dim": args.expert_ffn, "moe": {"num_experts": args.experts, "num_experts_per_tok": 2},
              "rope_theta": 1e6, "vocab_size": -1, "max_seq_len": 4096}  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "meta.json").write_text(json.dumps({"llama_type": "mixtral_sparse_ens5"}))
    (folder / "tokenizer.model").write_bytes(train_sentencepiece(folder.parent).read_bytes())
    return total


def status_kb(fields: tuple[str, ...]) -> dict[str, int]:
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in fields:
            values[key] = int(rest.split()[0])
    return values


def child(source: str, output: str, max_shard_mb: int) -> None:
    """Convert with a thread sampling the process's memory; print the peaks as JSON."""
    from sphinx_x.convert.accessory import convert_accessory

    fields = ("VmRSS", "RssAnon", "RssFile", "VmHWM")
    baseline = status_kb(fields)
    peaks, done = dict.fromkeys(fields, 0), threading.Event()

    def sample():
        while not done.is_set():
            for key, value in status_kb(fields).items():
                peaks[key] = max(peaks[key], value)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    convert_accessory(source, output, max_shard_bytes=max_shard_mb * 1024**2)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    peaks["VmHWM"] = status_kb(("VmHWM",))["VmHWM"]
    print(json.dumps({"baseline_kb": baseline, "peak_kb": peaks, "seconds": seconds}))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--kv-heads", type=int, default=8)
    parser.add_argument("--experts", type=int, default=8)
    parser.add_argument("--expert-ffn", type=int, default=3584)  # 14336 / 4, as dim is 4096 / 4
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--max-shard-mb", type=int, default=512, help="output safetensors file size")
    parser.add_argument("--child", nargs=2, metavar=("SOURCE", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child, args.max_shard_mb)
    with tempfile.TemporaryDirectory() as work:
        source, output = Path(work) / "release" / "SPHINX-MoE-1k", Path(work) / "converted"
        checkpoint_bytes = write_release(args, source)
        run = subprocess.run(
            [sys.executable, __file__, "--child", str(source), str(output), "--max-shard-mb", str(args.max_shard_mb)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        result = json.loads(run.stdout.strip().splitlines()[-1])
        output_bytes = sum(path.stat().st_size for path in output.glob("*.safetensors"))
    gate_up = args.experts * 2 * args.expert_ffn * args.dim * 2  # bf16 bytes of one layer's gate_up_proj
    mb = lambda kb: kb / 1024  # noqa: E731
    base, peak = result["baseline_kb"], result["peak_kb"]
    print(f"# {platform.node()}, torch {torch.__version__}; {args.shards} shards, {args.layers} layers, width {args.dim}, "
          f"{args.experts} experts x {args.expert_ffn}")  # fmt: skip
    print(f"checkpoint {checkpoint_bytes / 1e6:.0f} MB (bf16), converted {output_bytes / 1e6:.0f} MB, "
          f"largest tensor built (gate_up_proj) {gate_up / 1e6:.0f} MB, output shards {args.max_shard_mb} MiB")  # fmt: skip
    print(f"baseline RSS {mb(base['VmRSS']):.0f} MB (anonymous {mb(base['RssAnon']):.0f})")
    print(f"peak anonymous {mb(peak['RssAnon']):.0f} MB (+{mb(peak['RssAnon'] - base['RssAnon']):.0f} over baseline), "
          f"peak file-backed {mb(peak['RssFile']):.0f} MB, VmHWM {mb(peak['VmHWM']):.0f} MB, {result['seconds']:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
