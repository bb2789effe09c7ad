"""`sphinx-x demo`: a toy SPHINX-X trained on a synthetic corpus, evaluated and reported; and
`sphinx-x demo pretrain-experts`, which makes the toy vision experts the demo ships with."""

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
    size.add_argument(
        "--long",
        action="store_true",
        help="4 epochs of the one-stage training instead of 2.55 (about 11 minutes on 2 CPU cores)",
    )
    demo.add_argument("--from-scratch", action="store_true",
                      help="pre-train the toy experts first (as `demo pretrain-experts` made the shipped ones) instead of loading them")  # fmt: skip
    demo.add_argument("--moe", action="store_true",
                      help="a Mixtral LLM of the same width (4 experts, top-2): the model `sphinx-x moe` analyses")  # fmt: skip
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(run=run)
    actions = demo.add_subparsers(dest="action")
    pretrain = actions.add_parser(
        "pretrain-experts", help="pre-train the toy vision experts the demo ships with"
    )
    pretrain.add_argument(
        "--out", required=True, help="folder for toy-experts.safetensors and toy-experts.json"
    )
    pretrain.add_argument("--steps", type=int, help="optimizer steps (default: the shipped file's 10000)")
    pretrain.add_argument("--images", type=int, help="distinct synthetic images (default 8192)")
    pretrain.add_argument("--seed", type=int, help="default 2000")
    pretrain.add_argument("--device", default="cpu")
    pretrain.set_defaults(run=run_pretrain)


def run(args) -> int:
    from ..demo.run import SETTINGS, headline, run_demo

    settings = SETTINGS["quick" if args.quick else "long" if args.long else "full"]
    if args.moe:
        settings = dataclasses.replace(settings, moe=True)
    metrics = run_demo(args.out, seed=args.seed, settings=settings, from_scratch=args.from_scratch)
    print(json.dumps(headline(metrics)))
    print(f"report: {Path(args.out) / 'report.html'}; model: {Path(args.out) / 'model'}")
    return 0


def run_pretrain(args) -> int:
    import dataclasses

    from ..demo.run import demo_model_config
    from ..demo.shipped_experts import PretrainSettings, pretrain_and_save

    chosen = {
        name: getattr(args, name) for name in ("steps", "images", "seed") if getattr(args, name) is not None
    }
    settings = dataclasses.replace(PretrainSettings(), **chosen)
    manifest = pretrain_and_save(args.out, demo_model_config(vocab_size=1024), settings, args.device)
    print(json.dumps({"probes": manifest["probes"], "seconds": manifest["seconds"], "out": args.out}))
    return 0
