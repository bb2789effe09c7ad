"""`sphinx-x train --config FILE.yaml`: one-stage training, one process or under torchrun + FSDP2."""

from __future__ import annotations

import os


def add(commands) -> None:
    train = commands.add_parser(
        "train", help="one-stage training (one process, or under torchrun with FSDP2)"
    )
    train.add_argument("--config", required=True, help="YAML with model / data / optim / run sections")
    train.add_argument("--resume", action="store_true", help="continue from RUN/checkpoints/latest")
    train.add_argument(
        "--overwrite", action="store_true", help="start again in a run folder that holds a run"
    )
    train.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                       help="override a config value (YAML syntax), e.g. --set run.max_steps=10")  # fmt: skip
    train.set_defaults(run=run)


def run(args) -> int:
    from ..train.config import TrainConfig
    from ..train.trainer import Trainer

    config = TrainConfig.from_yaml(args.config, overrides=args.set)
    summary = Trainer(config, resume=args.resume, overwrite=args.overwrite).train()
    if int(os.environ.get("RANK", "0")) == 0:
        print(summary)
    return 0
