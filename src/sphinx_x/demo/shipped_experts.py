"""The toy vision experts shipped with sphinx-x, standing in for the public CLIP-ConvNeXt and DINOv2
weights the paper starts from.

They are pre-trained once, by `sphinx-x demo pretrain-experts` (the dense objective of
`pretrain_experts.py` on synthetic images that are never the demo's training or held-out images),
and saved as `assets/toy-experts.safetensors` with `assets/toy-experts.json` beside it: the command,
its settings, the machine and the probe accuracies reached. The default demo loads them and freezes
them, as SPHINX-X freezes its experts; `sphinx-x demo --from-scratch` makes them again first.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..model.vision_experts import MixtureOfVisualExperts
from .pretrain_experts import pretrain_experts, probe_accuracy

WEIGHTS, MANIFEST = "toy-experts.safetensors", "toy-experts.json"


@dataclass(frozen=True)
class PretrainSettings:
    """The pre-training that made the shipped file (`sphinx-x demo pretrain-experts` defaults)."""

    steps: int = 10_000
    images: int = 8192  # distinct synthetic pictures and OCR pages
    batch: int = 32
    lr: float = 2e-3
    seed: int = 2000
    threads: int = 1  # CPU threads: with the same count, the same machine gives the same bits (one also
    # keeps a shared machine from slowing it down: spinning OpenMP threads of several jobs fight)


def shipped_folder() -> Path:
    return Path(str(resources.files("sphinx_x") / "assets"))


def expert_configs(config) -> dict:
    """What the weights fit: the experts of the list (kind, config, view size) and the grid."""
    return {"experts": [expert.to_dict() for expert in config.visual_experts], "grid": config.grid}


def pretrain_and_save(
    out: str | Path, config, settings: PretrainSettings = PretrainSettings(), device="cpu"
) -> dict:
    """Pre-train fresh toy experts of `config` (a demo model config) and save them in `out`; returns
    the manifest written beside them."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    if torch.device(device).type == "cpu":
        torch.set_num_threads(settings.threads)  # the shipped file's thread count: the same float sums
    try:
        torch.manual_seed(settings.seed)
        experts = MixtureOfVisualExperts(config.visual_experts)
        started = time.perf_counter()
        losses, heads = pretrain_experts(experts, config, settings.images, settings.steps, settings.batch,
                                         settings.seed, settings.lr, device)  # fmt: skip
        seconds = time.perf_counter() - started
    finally:
        torch.set_num_threads(threads)  # what runs next (the demo's one-stage training) has every core again
    probes = probe_accuracy(experts, heads, config)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in experts.state_dict().items()}
    save_file(state, out / WEIGHTS)
    manifest = {
        "command": f"sphinx-x demo pretrain-experts --out {out} --steps {settings.steps} --images {settings.images} "
        f"--seed {settings.seed}",
        "settings": dataclasses.asdict(settings),
        "data": "synthetic shape pictures and PyMuPDF-typeset OCR pages (demo/pretrain_experts.py), "
        f"{settings.images} of them, seeded; never the demo's training or held-out images",
        "objective": "per feature cell: colour, shape or text and which word under the cell centre (from exact "
        "masks), that object's box, the cell's position (demo/pretrain_experts.py dense_loss)",
        "probes": {name: round(value, 4) for name, value in probes.items()},
        "probe_images": 200,
        "final_loss": round(sum(losses[-50:]) / len(losses[-50:]), 4),
        "seconds": round(seconds, 1),
        "machine": {
            "device": str(device),
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },  # fmt: skip
        "experts": expert_configs(config),
        "sha256": hashlib.sha256((out / WEIGHTS).read_bytes()).hexdigest(),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def load_shipped(experts: MixtureOfVisualExperts, config, folder: str | Path | None = None) -> dict:
    """Load the shipped (or `folder`'s) toy experts into `experts`, frozen; returns their manifest."""
    folder = Path(folder) if folder is not None else shipped_folder()
    if not (folder / WEIGHTS).is_file():
        raise FileNotFoundError(f"{folder / WEIGHTS}: no pre-trained toy experts; make them with "
                                f"`sphinx-x demo pretrain-experts --out {folder}` or run `sphinx-x demo --from-scratch`")  # fmt: skip
    manifest = json.loads((folder / MANIFEST).read_text())
    if manifest["experts"] != json.loads(json.dumps(expert_configs(config))):
        raise ValueError(f"{folder / WEIGHTS}: made for other expert configs than the demo's; make them again "
                         "with `sphinx-x demo pretrain-experts`")  # fmt: skip
    experts.load_state_dict(load_file(folder / WEIGHTS))
    experts.requires_grad_(False)
    return manifest
