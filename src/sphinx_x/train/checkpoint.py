"""Sharded, atomic, resumable checkpoints with `torch.distributed.checkpoint` (DCP).

    RUN/checkpoints/step-000100/
        .metadata, __R_0.distcp    every process's own shards of the trainable parameters and of their
                                   optimizer state (DCP: no process ever holds the whole state)
        trainer_state.pt           small: step, planned steps, scheduler, RNG states, bad records
    RUN/checkpoints/latest         the name of the newest complete checkpoint

What is saved is a state dict of the *trainable* parameters (frozen ones, such as the vision
experts or a LoRA base model, are rebuilt from the run's starting model), their optimizer state and
a plain dict of trainer state. DCP reshards on load, so a run saved by 2 processes resumes on 1 and
the other way round. The consolidated model is written once, at the end (`train/export.py`).

A checkpoint is written into `step-N.partial/` by every process and renamed by process 0 once all
have finished; `latest` is replaced after that. A crash mid-write leaves the previous checkpoint as
`latest`. The run folder must be on a filesystem every process sees (one node, or a shared one).
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict, set_state_dict

FAULT_ENV = "SPHINX_X_FAULT"  # test hook: "checkpoint:N" or "step:N" kills the process with SIGKILL there
TRAINER_STATE = "trainer_state.pt"
SHARDED = StateDictOptions(full_state_dict=False)  # each process keeps its own shards (DTensors)


def inject_fault(point: str, step: int) -> None:
    if os.environ.get(FAULT_ENV) == f"{point}:{step}":
        os.kill(os.getpid(), signal.SIGKILL)


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def is_main_process() -> bool:
    return not is_distributed() or dist.get_rank() == 0


def trainable_state(model, optimizer) -> dict:
    """`{"model": trainable parameters, "optimizer": their state}`, sharded as the model is, keyed by
    parameter name (so any sharding or world size can load it)."""
    model_state, optimizer_state = get_state_dict(model, optimizer, options=SHARDED)
    trainable = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    return {"model": {k: v for k, v in model_state.items() if k in trainable}, "optimizer": optimizer_state}


def save_checkpoint(
    folder: Path, step: int, model, optimizer, trainer_state: dict, keep_last: int = 2
) -> Path:
    """Collective: every process writes its shards; `trainer_state` (plain values and tensors, the same
    on every process) is written by process 0. Returns the checkpoint's folder."""
    final, partial = folder / f"step-{step:06d}", folder / f"step-{step:06d}.partial"
    if is_main_process():
        shutil.rmtree(partial, ignore_errors=True)  # a crashed earlier attempt
        partial.mkdir(parents=True)
    barrier()
    dcp.save(trainable_state(model, optimizer), checkpoint_id=partial, no_dist=not is_distributed())
    if is_main_process():
        torch.save({"step": step, **trainer_state}, partial / TRAINER_STATE)
        inject_fault("checkpoint", step)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(partial, final)
        (folder / "latest.partial").write_text(final.name)
        os.replace(folder / "latest.partial", folder / "latest")
        for old in sorted(folder.glob("step-*"))[:-keep_last]:
            if old.name != final.name and not old.name.endswith(".partial"):
                shutil.rmtree(old, ignore_errors=True)
    barrier()
    return final


def latest_checkpoint(folder: Path) -> Path | None:
    pointer = folder / "latest"
    return folder / pointer.read_text().strip() if pointer.exists() else None


def load_checkpoint(path: Path, model, optimizer) -> dict:
    """Collective: restore the trainable parameters and optimizer state saved by `save_checkpoint`
    into `model` and `optimizer` (any world size); returns the trainer state, `step` included."""
    check_is_sharded_checkpoint(path)
    state = trainable_state(model, optimizer)
    dcp.load(state, checkpoint_id=path, no_dist=not is_distributed())
    set_state_dict(
        model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"],
        options=StateDictOptions(strict=False),  # frozen parameters are not in a checkpoint
    )  # fmt: skip
    return torch.load(path / TRAINER_STATE, map_location="cpu", weights_only=True)


def check_is_sharded_checkpoint(path: Path) -> None:
    if (path / ".metadata").is_file() and (path / TRAINER_STATE).is_file():
        return
    if (path / "config.json").is_file():
        raise ValueError(
            f"{path}: a checkpoint written before sharded checkpoints (a whole model folder), which this "
            "version cannot resume; its weights load as a model: start a new run from it with model.path"
        )
    raise ValueError(f"{path}: not a complete checkpoint (expected .metadata and {TRAINER_STATE})")
