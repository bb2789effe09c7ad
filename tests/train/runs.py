"""Training runs through the command line, in a child process: one process or torchrun."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml


def run_cli(config: dict, folder: Path, *extra: str, fault: str | None = None, processes: int = 1):
    path = folder / f"config-{len(list(folder.glob('config-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(config))
    env = os.environ | ({"SPHINX_X_FAULT": fault} if fault else {})
    env.pop("SPHINX_X_FAULT", None) if fault is None else None
    launcher = (
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
        if processes > 1
        else [sys.executable]
    )
    command = [*launcher, "-m", "sphinx_x.cli", "train", "--config", str(path), *extra]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
