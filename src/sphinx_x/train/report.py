"""Training logs: metrics as JSONL and TensorBoard events, and the loss curve as a PNG."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

logger = logging.getLogger(__name__)


class MetricsLog:
    """Process 0 appends one JSON object per step to RUN/metrics.jsonl (a resumed run continues it)
    and mirrors the scalars to TensorBoard event files under RUN/tensorboard."""

    def __init__(self, out: Path, rank: int, tensorboard: bool):
        self.path = out / "metrics.jsonl"
        self.enabled = rank == 0
        self.writer = None
        if not self.enabled:
            return
        out.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a", encoding="utf-8")
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(out / "tensorboard"))
            except ImportError:
                logger.warning("tensorboard is not installed: metrics go to %s only", self.path)

    def write(self, step: int, **scalars: float) -> None:
        if not self.enabled:
            return
        self.handle.write(json.dumps({"step": step, **scalars, "time": time.time()}) + "\n")
        self.handle.flush()
        if self.writer is not None:
            for name, value in scalars.items():
                if isinstance(value, int | float):  # notes (a step not taken) go to the JSONL only
                    self.writer.add_scalar(f"train/{name}", value, step)

    def close(self) -> None:
        if self.enabled:
            self.handle.close()
            if self.writer is not None:
                self.writer.close()


def plot_loss_curve(metrics_path: Path, output: Path) -> Path | None:
    if not metrics_path.exists():
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = {}
    for line in metrics_path.read_text().splitlines():
        entry = json.loads(line)
        if "loss" in entry:  # a step not taken has none
            entries[entry["step"]] = entry["loss"]
    steps = sorted(entries)
    figure, axis = plt.subplots(figsize=(6, 3.5), dpi=120)
    axis.plot(steps, [entries[s] for s in steps], color="#4363d8", linewidth=1.5)
    axis.set_xlabel("step")
    axis.set_ylabel("loss (per supervised token)")
    axis.set_title("training loss")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(output)
    plt.close(figure)
    return output
