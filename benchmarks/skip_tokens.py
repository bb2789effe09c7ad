"""Skip tokens vs. encoding every sub-image: visual tokens and vision-encoder wall time, same run.

For images of aspect ratio 1:1 to 4:1 in both orientations, builds the views with and without skip
tokens (corner padding), runs the frozen Mixture of Visual experts over the encoded views, and
prints the token and time ratios. Encoder weights are random: the cost does not depend on them.

    python benchmarks/skip_tokens.py                    # real sizes (ConvNeXt-XXL + DINOv2-g), grid 2
    python benchmarks/skip_tokens.py --preset sphinx-x-plus-2k
    python benchmarks/skip_tokens.py --preset sphinx-x-toy --repeats 5   # seconds, for a smoke run
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from PIL import Image

from sphinx_x.model.token_layout import count_visual_tokens
from sphinx_x.model.views import ImageTransform
from sphinx_x.model.vision_experts import MixtureOfVisualExperts
from sphinx_x.presets import preset_config

RATIOS = [(1, 1), (2, 1), (1, 2), (3, 1), (1, 3), (4, 1), (1, 4)]


def measure(experts, transform, image, tokens_per_view, repeats):
    views = transform(image)
    pixels = views.pixels
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        experts(pixels)
        best = min(best, time.perf_counter() - start)
    return (
        count_visual_tokens(views.geometry.skipped, tokens_per_view),
        views.geometry.num_encoded_views,
        best,
    )


def run(preset: str, repeats: int, long_side: int) -> list[dict]:
    config = preset_config(preset)
    torch.manual_seed(0)
    experts = MixtureOfVisualExperts(config.visual_experts)
    with_skip = ImageTransform(config.grid, config.view_sizes, "corner", use_skip_token=True)
    without_skip = ImageTransform(config.grid, config.view_sizes, "corner", use_skip_token=False)
    rows = []
    for wide, high in RATIOS:
        size = (
            (long_side, long_side * high // wide) if wide >= high else (long_side * wide // high, long_side)
        )
        image = Image.new("RGB", size, (128, 64, 32))
        tokens_skip, views_skip, seconds_skip = measure(
            experts, with_skip, image, config.tokens_per_view, repeats
        )
        tokens_all, views_all, seconds_all = measure(
            experts, without_skip, image, config.tokens_per_view, repeats
        )
        rows.append(
            {
                "ratio": f"{wide}:{high}", "size": f"{size[0]}x{size[1]}",
                "views": [views_skip, views_all], "tokens": [tokens_skip, tokens_all],
                "seconds": [seconds_skip, seconds_all],
                "token_ratio": tokens_skip / tokens_all, "time_ratio": seconds_skip / seconds_all,
            }
        )  # fmt: skip
        print_row(rows[-1])
    return rows


def print_row(row: dict) -> None:
    print(
        f"{row['ratio']:>5} {row['size']:>10}  views {row['views'][0]}/{row['views'][1]}  "
        f"tokens {row['tokens'][0]:>5}/{row['tokens'][1]:<5} = {row['token_ratio']:.2f}  "
        f"encoder {row['seconds'][0]:7.3f}s/{row['seconds'][1]:7.3f}s = {row['time_ratio']:.2f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="sphinx-x-tiny")
    parser.add_argument("--repeats", type=int, default=1, help="best of N timings per image")
    parser.add_argument("--long-side", type=int, default=1000)
    parser.add_argument("--out", type=Path, help="write the rows as JSON here")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    print(
        f"# {args.preset}, torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}"
    )
    print("# ratio   size   views skip/all  tokens skip/all = ratio  encoder time skip/all = ratio")
    rows = run(args.preset, args.repeats, args.long_side)
    tokens = sum(r["tokens"][0] for r in rows) / sum(r["tokens"][1] for r in rows)
    seconds = sum(r["seconds"][0] for r in rows) / sum(r["seconds"][1] for r in rows)
    print(f"# all ratios: tokens {tokens:.2f}x, encoder time {seconds:.2f}x of encoding every sub-image")
    if args.out:
        args.out.write_text(json.dumps({"preset": args.preset, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
