"""`sphinx-x demo`: a toy SPHINX-X trained on a synthetic corpus, evaluated and reported."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path


def add(commands) -> None:
    demo = commands.add_parser(
        "demo", help="train a toy SPHINX-X on a synthetic corpus and report (CPU, minutes)"
    )
    demo.add_argument(
        "--out", default="demo-out", help="folder for the corpus, model, report.html, metrics.json"
    )
    size = demo.add_mutually_exclusive_group()
    size.add_argument(
        "--quick", action="store_true", help="a small run (under 2 minutes) that only shows the loss falling"
    )
    size.add_argument("--long", action="store_true",
                      help="20x the expert pre-training and 4 epochs: grounding and reading (about 5 min on a GPU, 30 on 2 CPU cores)")  # fmt: skip
    demo.add_argument("--moe", action="store_true",
                      help="a Mixtral LLM of the same width (4 experts, top-2): the model `sphinx-x moe` analyses")  # fmt: skip
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(run=run)


def run(args) -> int:
    from ..demo.run import SETTINGS, headline, run_demo

    settings = SETTINGS["quick" if args.quick else "long" if args.long else "full"]
    if args.moe:
        settings = dataclasses.replace(settings, moe=True)
    metrics = run_demo(args.out, seed=args.seed, settings=settings)
    print(json.dumps(headline(metrics)))
    print(f"report: {Path(args.out) / 'report.html'}; model: {Path(args.out) / 'model'}")
    return 0
