"""Peak memory per process while checkpointing: sharded (DCP, the trainer's `save_checkpoint`)
against gathering the full model and optimizer state onto process 0 (the trainer before), and the
final streamed export (`export_model`), same model, same processes, same run.

Each of N CPU processes (gloo, FSDP2 over the decoder layers) holds 1/N of the trainable parameters and
of their AdamW state after one step. For each method it resets its peak RSS (`/proc/self/clear_refs`),
saves, and reports how far its RSS rose above what it held before: the memory that saving needs on top of
training. glibc is told to return large blocks to the system at once (`MALLOC_MMAP_THRESHOLD_`), so a peak
freed by one method is not counted against the next.

    python benchmarks/checkpoint_memory.py                  # 2 processes, a 169 M-parameter LLM (675 MB fp32)
    python benchmarks/checkpoint_memory.py --hidden 256 --layers 4 --vocab 8000 --json out.json   # the test's size
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MIB = 1024**2


def rss_bytes() -> int:
    return int(read_status("VmRSS")) * 1024


def read_status(field: str) -> str:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return line.split()[1]
    raise KeyError(field)


def extra_peak(action) -> tuple[int, float]:
    """(bytes the RSS peaked above its level before `action`, seconds)."""
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
    before, started = rss_bytes(), time.perf_counter()
    action()
    return int(read_status("VmHWM")) * 1024 - before, time.perf_counter() - started


def build(args):
    import torch
    from transformers import LlamaConfig

    from sphinx_x.config import SphinxXConfig
    from sphinx_x.model.sphinx import SphinxXForConditionalGeneration
    from sphinx_x.presets import TOY_IMAGE_TOKEN_ID, toy_convnext, toy_dinov2
    from sphinx_x.processing.processor import SphinxXProcessor
    from sphinx_x.processing.tokenizer import train_toy_tokenizer

    text = LlamaConfig(hidden_size=args.hidden, num_hidden_layers=args.layers, num_attention_heads=args.hidden // 64,
                       intermediate_size=args.hidden * 11 // 4, vocab_size=args.vocab, bos_token_id=1, eos_token_id=2,
                       pad_token_id=3)  # fmt: skip
    config = SphinxXConfig(text_config=text, convnext_config=toy_convnext(), dinov2_config=toy_dinov2(), grid=2,
                           convnext_view_size=32, dinov2_view_size=32, image_token_id=TOY_IMAGE_TOKEN_ID)  # fmt: skip
    torch.manual_seed(0)
    model = SphinxXForConditionalGeneration(config)
    model.vision_experts.requires_grad_(False)
    return model, SphinxXProcessor.for_model(train_toy_tokenizer(), config)


def gather_full_state(model, optimizer, path: Path, rank: int) -> None:
    """The trainer before: full state dicts gathered onto process 0's CPU, then written there."""
    import torch
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_optimizer_state_dict,
    )

    full = StateDictOptions(full_state_dict=True, cpu_offload=True)
    state = {"model": get_model_state_dict(model, options=full),
             "optimizer": get_optimizer_state_dict(model, optimizer, options=full)}  # fmt: skip
    if rank == 0:
        torch.save(state, path)


def state_bytes(model, optimizer) -> tuple[int, int]:
    """(this process's shards, the whole state) of the trainable parameters and their optimizer state."""
    from torch.distributed.tensor import DTensor

    def sizes(tensor):
        local = tensor.to_local() if isinstance(tensor, DTensor) else tensor
        return local.numel() * local.element_size(), tensor.numel() * tensor.element_size()

    tensors = [p for p in model.parameters() if p.requires_grad]
    tensors += [value for state in optimizer.state.values() for value in state.values() if value.dim() > 0]
    pairs = [sizes(tensor) for tensor in tensors]
    return sum(local for local, _ in pairs), sum(whole for _, whole in pairs)


def worker(args) -> None:
    import torch
    import torch.distributed as dist

    from sphinx_x.train.checkpoint import save_checkpoint
    from sphinx_x.train.export import export_model
    from sphinx_x.train.optim import build_optimizer
    from sphinx_x.train.parallelize import apply_fsdp, init_distributed

    rank, world_size = init_distributed()
    model, processor = build(args)
    apply_fsdp(model)
    optimizer = build_optimizer(model, lr=1e-4)
    ids = torch.randint(5, 500, (2, 32))
    model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids).loss.backward()
    optimizer.step()
    folder = Path(args.folder)
    save = lambda step: save_checkpoint(folder / "checkpoints", step, model, optimizer, {"note": "benchmark"})  # noqa: E731
    save(1)  # once unmeasured: DCP's lazy imports and first-call caches are not the method's memory
    methods = {
        "sharded": lambda: save(2),
        "gathered": lambda: gather_full_state(model, optimizer, folder / "full.pt", rank),
        "export": lambda: export_model(
            model, processor, folder / "model", max_shard_bytes=args.shard_mb * MIB
        ),
    }
    result = {"rank": rank, "world_size": world_size}
    for name, action in methods.items():
        dist.barrier()
        result[name], result[f"{name}_s"] = extra_peak(action)
    result["shard_bytes"], result["full_bytes"] = state_bytes(model, optimizer)
    result["largest_parameter_bytes"] = max(v.numel() * v.element_size() for v in model.state_dict().values())
    (folder / f"rank-{rank}.json").write_text(json.dumps(result))
    dist.destroy_process_group()


def measure(args) -> list[dict]:
    with tempfile.TemporaryDirectory() as folder:
        env = os.environ | {"MALLOC_MMAP_THRESHOLD_": str(1 * MIB), "OMP_NUM_THREADS": "1"}
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.processes}",
                   __file__, "--worker", "--folder", folder, "--hidden", str(args.hidden), "--layers", str(args.layers),
                   "--vocab", str(args.vocab), "--shard-mb", str(args.shard_mb)]  # fmt: skip
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=args.timeout)
        if done.returncode != 0:
            raise SystemExit(f"the worker processes failed:\n{done.stderr[-4000:]}")
        return [json.loads((Path(folder) / f"rank-{r}.json").read_text()) for r in range(args.processes)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--shard-mb", type=int, default=64, help="safetensors shard size of the export")
    parser.add_argument("--timeout", type=int, default=1200)
    parser.add_argument("--json", type=Path, help="write the per-process results here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    results = measure(args)
    first = results[0]
    print(f"# {args.processes} gloo processes, LLM hidden {args.hidden} x {args.layers} layers, vocab {args.vocab}: "
          f"trainable state {first['full_bytes'] / MIB:.0f} MiB (fp32 parameters + AdamW), "
          f"{first['shard_bytes'] / MIB:.0f} MiB per process; {platform.machine()}")  # fmt: skip
    print(
        "# process  sharded (DCP)      export (stream)    gathered onto process 0   (peak RSS above the level before)"
    )
    for r in results:
        print(f"  {r['rank']:<7}  {r['sharded'] / MIB:7.0f} MiB {r['sharded_s']:5.1f} s"
              f"  {r['export'] / MIB:7.0f} MiB {r['export_s']:5.1f} s  {r['gathered'] / MIB:7.0f} MiB {r['gathered_s']:5.1f} s")  # fmt: skip
    print(f"# process 0: sharded / gathered = {first['sharded'] / max(first['gathered'], 1):.3f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
