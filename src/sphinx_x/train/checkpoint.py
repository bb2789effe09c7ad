"""Atomic, resumable checkpoints.

    RUN/checkpoints/step-000100/   a loadable sphinx-x folder (config, safetensors, tokenizer)
                                   + trainer_state.pt (optimizer, scheduler, step, RNG states)
    RUN/checkpoints/latest         the name of the newest complete checkpoint

A LoRA run's checkpoint holds only what trains (adapters, projector, start/end/skip) in an adapter
folder that names its base model (`train/lora.py`); `saved_model_state` chooses, `write_model` and
`read_model_state` write and read either kind.

A checkpoint is written into `step-N.partial/` and renamed when complete; `latest` is replaced
after that. A crash mid-write leaves the previous checkpoint as `latest`.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)  # fmt: skip

from .lora import is_lora, lora_state, read_adapter_weights, save_adapter_folder

FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)
FAULT_ENV = "SPHINX_X_FAULT"  # test hook: "checkpoint:N" or "step:N" kills the process with SIGKILL there


def inject_fault(point: str, step: int) -> None:
    if os.environ.get(FAULT_ENV) == f"{point}:{step}":
        os.kill(os.getpid(), signal.SIGKILL)


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def save_checkpoint(
    folder: Path,
    step: int,
    model,
    optimizer,
    scheduler,
    processor,
    rank: int,
    keep_last: int = 2,
    bad_records: dict | None = None,
) -> Path:
    """Collective: every process calls it; process 0 writes. `bad_records` ("file:line" -> why) are
    kept so that a resumed run still reports the records skipped before the checkpoint."""
    model_state = saved_model_state(model)
    optimizer_state = get_optimizer_state_dict(model, optimizer, options=FULL)
    final = folder / f"step-{step:06d}"
    if rank == 0:
        partial = folder / f"step-{step:06d}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        write_model(partial, model, model_state, processor)
        inject_fault("checkpoint", step)
        trainer_state = {
            "step": step,
            "planned_steps": getattr(scheduler, "planned_steps", None),
            "optimizer": optimizer_state,
            "scheduler": scheduler.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "python": random.getstate()},
            "bad_records": dict(bad_records or {}),
        }
        torch.save(trainer_state, partial / "trainer_state.pt")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(partial, final)
        (folder / "latest.partial").write_text(final.name)
        os.replace(folder / "latest.partial", folder / "latest")
        for old in sorted(folder.glob("step-*"))[:-keep_last]:
            if old.name != final.name and not old.name.endswith(".partial"):
                shutil.rmtree(old, ignore_errors=True)
    barrier()
    return final


def saved_model_state(model) -> dict:
    """Collective. What a checkpoint keeps of the model: everything, or for a LoRA run its trainable
    parameters only (the frozen base is the run's starting model, named in the checkpoint)."""
    return lora_state(model) if is_lora(model) else get_model_state_dict(model, options=FULL)


def write_model(folder: Path, model, state: dict, processor) -> None:
    if is_lora(model):
        save_adapter_folder(folder, model, state, processor)
    else:
        model.save_pretrained(folder, state_dict=state)
        processor.save_pretrained(folder)


def read_model_state(folder: Path, model) -> dict:
    if is_lora(model):
        return read_adapter_weights(folder, model)
    # Through from_pretrained: transformers saves some modules (DINOv2) under legacy names and maps them back on load.
    return type(model).from_pretrained(folder, dtype=torch.float32).state_dict()


def latest_checkpoint(folder: Path) -> Path | None:
    pointer = folder / "latest"
    return folder / pointer.read_text().strip() if pointer.exists() else None


def load_checkpoint(path: Path, model, optimizer, scheduler) -> tuple[int, dict, int | None]:
    """Restore everything saved by `save_checkpoint`; returns the step to continue from, the bad
    records met so far and the number of steps the run was planned for (None if not recorded)."""
    set_model_state_dict(
        model,
        read_model_state(path, model),
        options=StateDictOptions(full_state_dict=True, strict=not is_lora(model)),
    )
    trainer_state = torch.load(path / "trainer_state.pt", map_location="cpu", weights_only=False)
    set_optimizer_state_dict(
        model, optimizer, trainer_state["optimizer"], options=StateDictOptions(full_state_dict=True)
    )
    scheduler.load_state_dict(trainer_state["scheduler"])
    torch.set_rng_state(trainer_state["rng"]["torch"])
    random.setstate(trainer_state["rng"]["python"])
    return trainer_state["step"], trainer_state.get("bad_records", {}), trainer_state.get("planned_steps")
