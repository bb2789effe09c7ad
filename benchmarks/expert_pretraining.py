"""How much pre-training do the demo's toy vision experts need before they read and place boxes?

The demo pre-trains its toy ConvNeXt and DINOv2 on synthetic images before freezing them (standing
in for CLIP's and DINOv2's pre-training). This benchmark runs that pre-training for several step
counts and measures the frozen features with the pre-training's linear probes on 200 fresh images:
on the cells that hold an object, the share whose colour, shape kind and word the probe names, and
whose object box it places with IoU >= 0.5. The baseline is the first step count (the demo's
default, 500 steps); the ratios are probe accuracies against it.

    python benchmarks/expert_pretraining.py [--steps 500 3000 10000] [--images 768 4096 8192]
                                            [--batch 32] [--device cuda]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from sphinx_x.demo.pretrain_experts import pretrain_experts, probe_accuracy
from sphinx_x.demo.run import demo_model_config
from sphinx_x.model.sphinx import SphinxXForConditionalGeneration


def measure(steps: int, images: int, batch: int, device: str) -> dict[str, float]:
    torch.manual_seed(0)
    config = demo_model_config(vocab_size=1024)
    experts = SphinxXForConditionalGeneration(config).vision_experts
    started = time.perf_counter()
    _, heads = pretrain_experts(experts, config, images, steps, batch=batch, seed=2000, device=device)
    seconds = time.perf_counter() - started
    return {**probe_accuracy(experts, heads, config), "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, nargs="+", default=[500, 3000, 10000])
    parser.add_argument("--images", type=int, nargs="+", default=[768, 4096, 8192], help="one per --steps")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    if len(args.images) != len(args.steps):
        parser.error(f"--images needs one value per --steps ({len(args.steps)}), got {len(args.images)}")
    print(
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, device {args.device}"
    )
    print(
        f"{'steps':>6} {'images':>6} {'seconds':>8} {'colour':>7} {'kind':>6} {'word':>6} {'box':>6}  ratios to the first row"
    )
    baseline = None
    for steps, images in zip(args.steps, args.images, strict=True):
        result = measure(steps, images, args.batch, args.device)
        baseline = baseline or result
        ratios = "  ".join(
            f"{name} {result[name] / max(baseline[name], 1e-9):.2f}x" for name in ("kind", "word", "box")
        )
        print(
            f"{steps:>6} {images:>6} {result['seconds']:>8.1f} {result['colour']:>7.3f} {result['kind']:>6.3f}"
            f" {result['word']:>6.3f} {result['box']:>6.3f}  {ratios}",
            flush=True,
        )


if __name__ == "__main__":
    main()
