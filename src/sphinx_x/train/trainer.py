"""The one-stage trainer: the constructor is a flat list of `build_*` calls, `train` is the loop.

The same entry point runs on one CPU process and under `torchrun --nproc_per_node N [--nnodes M]`.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import random
import shutil
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import transformers
from tqdm import tqdm

from ..data.records import BadRecords, Source, read_mixture, read_records
from ..loading import load_model
from ..model.sphinx import IGNORE_INDEX
from .checkpoint import inject_fault, latest_checkpoint, load_checkpoint, save_checkpoint
from .config import DEFAULT_LR, MOE_LR, ModelConfig, TrainConfig
from .data import (
    RecordDataset,
    collate,
    epoch_records,
    global_batches,
    micro_batches,
    sequence_lengths,
    shard_of,
)
from .lora import apply_lora
from .optim import build_optimizer, build_scheduler
from .parallelize import apply_activation_checkpointing, apply_fsdp, device_for_rank, init_distributed
from .report import MetricsLog, plot_loss_curve
from .step import routes_tokens, train_step

logger = logging.getLogger(__name__)
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


@dataclass
class TrainSummary:
    steps: int
    final_loss: float
    bad_records: BadRecords
    model_dir: Path
    seconds: float
    already_finished: bool = False  # --resume found every step done

    def __str__(self) -> str:
        if self.already_finished:
            return (f"the run had already finished its {self.steps} steps (final loss {self.final_loss:.4f}); "
                    f"nothing to train; model: {self.model_dir}")  # fmt: skip
        return f"trained {self.steps} steps in {self.seconds:.0f} s, final loss {self.final_loss:.4f}; model: {self.model_dir}"


def build_model(config: TrainConfig):
    """Master weights in float32 on the CPU; the trainer moves them to its device."""
    return load_model(config.model, dtype=torch.float32, device="cpu")


def build_sources(config: TrainConfig) -> list[Source]:
    if config.data.mixture:
        return read_mixture(config.data.mixture)
    if not config.data.records:
        raise ValueError("data: give a mixture YAML or a list of record files")
    return [Source(path, config.data.image_root or ".") for path in config.data.records]


def build_plan(sources: list[Source], config: TrainConfig, bad: BadRecords, processor):
    """All records the run will see, and for every step the indices of its global batch."""
    loaded = [(source, read_records(source, bad)) for source in sources]
    epochs = max(1, math.ceil(config.run.epochs))  # a fractional last epoch is cut below
    # Sorting needs each sample's real length, visual tokens included (see `sequence_lengths`);
    # computed once per record, since epochs draw the same records again.
    everything = [record for _, source_records in loaded for record in source_records]
    length_of = (
        dict(zip(map(id, everything), sequence_lengths(everything, processor), strict=True))
        if config.data.by_type
        else {}
    )
    records, plan = [], []
    for epoch in range(epochs):
        chosen = epoch_records(loaded, epoch, config.run.seed)
        lengths = [length_of[id(record)] for record in chosen] if config.data.by_type else None
        batches = global_batches(
            chosen, config.optim.global_batch_size, config.run.seed, epoch, config.data.by_type, lengths
        )
        full = [
            batch for batch in batches if len(batch) == config.optim.global_batch_size
        ]  # drop_last, per type
        plan += [[len(records) + index for index in batch] for batch in full]
        records += chosen
    steps = round(len(plan) / epochs * config.run.epochs)
    plan = plan[: min(steps, config.run.max_steps or steps)]
    if not plan:
        raise ValueError(
            f"no full global batch of {config.optim.global_batch_size} samples: the data has {len(records)} "
            "records (per type, with batching by type); lower optim.global_batch_size"
        )
    return records, plan


class PlanSampler(torch.utils.data.Sampler):
    """Yields this process's micro-batches of every step from `start_step` on, in order."""

    def __init__(self, plan, start_step: int, rank: int, world_size: int, micro_batch_size: int):
        self.plan, self.start_step = plan, start_step
        self.rank, self.world_size, self.micro_batch_size = rank, world_size, micro_batch_size

    def __iter__(self):
        for batch in self.plan[self.start_step :]:
            yield from micro_batches(shard_of(batch, self.rank, self.world_size), self.micro_batch_size)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class Trainer:
    """`model` and `processor` may be given instead of `config.model` (built in memory); the run
    then saves that starting model, so that its `config.yaml` rebuilds the run."""

    def __init__(self, config: TrainConfig, model=None, processor=None, resume: bool = False,
                 overwrite: bool = False):  # fmt: skip
        self.config = config = copy.deepcopy(config)
        self.rank, self.world_size = init_distributed()
        self.check_batch_sizes()
        torch.manual_seed(config.run.seed)
        random.seed(config.run.seed)
        self.out = Path(config.run.out)
        self.check_run_folder(resume, overwrite)
        self.final_loss = float("nan")
        self.device = device_for_rank()
        if model is None:
            model, processor = build_model(config)
        else:
            self.save_initial_model(model, processor, resume)
        if config.lora.enabled:
            self.build_lora(model, processor, resume)
        self.model, self.processor = model.to(self.device), processor
        self.processor.max_length = config.data.max_length
        self.bad = BadRecords()
        self.records, self.plan = build_plan(build_sources(config), config, self.bad, self.processor)
        self.lr = config.optim.lr = config.optim.lr or (MOE_LR if routes_tokens(model) else DEFAULT_LR)
        self.aux_loss_weight = config.optim.aux_loss_weight = self.build_aux_loss_weight()
        self.placeholder = self.build_placeholder_batch()
        self.parallelize()
        self.optimizer = build_optimizer(self.model, self.lr, config.optim.betas, config.optim.weight_decay)
        self.scheduler = build_scheduler(self.optimizer, len(self.plan), config.optim.warmup_fraction)
        self.start_step = self.resume_if_asked(resume)
        self.loader = self.build_loader()
        self.log = MetricsLog(self.out, self.rank, config.run.tensorboard)
        transformers.utils.logging.disable_progress_bar()  # one bar per checkpoint write is noise

    RUN_OUTPUTS = ("metrics.jsonl", "checkpoints", "tensorboard", "model", "initial-model", "config.yaml",
                   "bad_records.txt", "loss_curve.png")  # fmt: skip

    def check_run_folder(self, resume: bool, overwrite: bool) -> None:
        """A folder that holds a run is resumed or overwritten on purpose, never appended to by accident."""
        existing = [name for name in self.RUN_OUTPUTS if (self.out / name).exists()]
        if not existing or resume:
            return
        if not overwrite:
            raise ValueError(
                f"{self.out} already holds a run ({', '.join(existing)}): pass --resume to continue it, "
                "--overwrite to start again there, or choose another run.out"
            )
        if self.rank == 0:
            for name in existing:
                target = self.out / name
                shutil.rmtree(target) if target.is_dir() else target.unlink()

    def check_batch_sizes(self) -> None:
        optim = self.config.optim
        if optim.global_batch_size % (self.world_size * optim.micro_batch_size):
            raise ValueError(
                f"optim.global_batch_size={optim.global_batch_size} must be a multiple of processes x "
                f"micro_batch_size = {self.world_size} x {optim.micro_batch_size}"
            )

    def build_aux_loss_weight(self) -> float:
        if self.config.optim.aux_loss_weight is not None:
            return self.config.optim.aux_loss_weight
        return getattr(self.model.config.text_config, "router_aux_loss_coef", 0.0) or 0.0

    def build_placeholder_batch(self) -> dict:
        """Stands in for a micro-batch whose every sample was bad: it keeps all processes in step
        (FSDP collectives) and contributes nothing (no supervised token)."""
        sample = self.processor.encode(
            [{"role": "user", "content": "."}, {"role": "assistant", "content": "."}]
        )
        sample.labels = [IGNORE_INDEX] * len(sample.labels)
        return self.processor.collate([sample])

    def build_lora(self, model, processor, resume: bool) -> None:
        """Adapters on a frozen base that every checkpoint names: the model folder the run starts
        from, saved first when it has none (a preset, public parts)."""
        if self.config.lora.base_quantize and self.world_size > 1:
            raise ValueError(
                "lora.base_quantize (QLoRA) runs on one device: quantized weights are not sharded by FSDP; "
                "use plain LoRA (no base_quantize) with several processes"
            )
        if not self.config.model.path:
            self.save_initial_model(model, processor, resume)
        apply_lora(model, self.config.lora, str(Path(self.config.model.path).resolve()))

    def parallelize(self) -> None:
        if self.config.run.activation_checkpointing:
            apply_activation_checkpointing(self.model)
        if self.world_size > 1:
            apply_fsdp(self.model, self.config.run.reshard_after_forward)
        self.model.train()

    def resume_if_asked(self, resume: bool) -> int:
        checkpoint = latest_checkpoint(self.out / "checkpoints") if resume else None
        if checkpoint is None:
            if resume:
                logger.warning(
                    "--resume: no checkpoint under %s, starting from step 0", self.out / "checkpoints"
                )
            return 0
        step, bad_records, planned = load_checkpoint(checkpoint, self.model, self.optimizer, self.scheduler)
        self.bad.merge(BadRecords(bad_records))
        logger.info("resumed from %s (step %d)", checkpoint, step)
        if planned not in (None, len(self.plan)):
            logger.warning(
                "--resume: the run was planned for %d steps and now has %d (max_steps or epochs changed): the "
                "warmup-cosine schedule continues from step %d as if planned for %d steps (lr now %.3g)",
                planned, len(self.plan), step, len(self.plan), self.scheduler.get_last_lr()[0],
            )  # fmt: skip
        return step

    def build_loader(self):
        sampler = PlanSampler(
            self.plan, self.start_step, self.rank, self.world_size, self.config.optim.micro_batch_size
        )
        return torch.utils.data.DataLoader(
            RecordDataset(self.records, self.processor), batch_sampler=sampler,
            collate_fn=partial(collate, processor=self.processor), num_workers=self.config.data.num_workers,
        )  # fmt: skip

    def save_initial_model(self, model, processor, resume: bool) -> None:
        """A model given in memory is saved as the run's starting point (once, by process 0), so
        that `config.yaml`, which then points at it, rebuilds the run."""
        folder = self.out / "initial-model"
        if self.rank == 0 and not (resume and folder.is_dir()):
            model.save_pretrained(folder)
            processor.save_pretrained(folder)
        self.config.model = ModelConfig(path=str(folder.resolve()))

    def train(self) -> TrainSummary:
        if self.start_step >= len(self.plan):
            return self.already_finished()
        self.out.mkdir(parents=True, exist_ok=True)
        if self.rank == 0:  # what this run actually runs: resolved values, absolute paths
            (self.out / "config.yaml").write_text(self.config.with_absolute_paths().to_yaml())
        accumulation = self.config.optim.global_batch_size // (
            self.world_size * self.config.optim.micro_batch_size
        )
        batches, started = iter(self.loader), time.perf_counter()
        # Only other ranks pass `disable`: an explicit value would override TQDM_DISABLE on rank 0.
        quiet = {"disable": True} if self.rank != 0 else {}
        progress = tqdm(range(self.start_step, len(self.plan)), initial=self.start_step, total=len(self.plan),
                        desc="train", **quiet)  # fmt: skip
        for step in progress:
            step_started = time.perf_counter()
            micro = [self.to_device(self.take(next(batches))) for _ in range(accumulation)]
            inject_fault("step", step + 1)
            lr = self.scheduler.get_last_lr()[0]  # the rate this step uses
            result = train_step(self.model, self.optimizer, self.scheduler, micro, self.config.optim.grad_clip,
                                DTYPES[self.config.run.dtype], self.aux_loss_weight, self.world_size)  # fmt: skip
            self.log_step(step + 1, result, lr, time.perf_counter() - step_started, progress)
            if (step + 1) % self.config.run.checkpoint_every == 0 or step + 1 == len(self.plan):
                self.gather_bad_records()  # collective: process 0 saves every process's skipped records
                save_checkpoint(self.out / "checkpoints", step + 1, self.model, self.optimizer, self.scheduler,
                                self.processor, self.rank, self.config.run.keep_checkpoints, self.bad.reasons)  # fmt: skip
        return self.finish(time.perf_counter() - started)

    def log_step(self, step: int, result, lr: float, seconds: float, progress) -> None:
        """A step not taken (every sample skipped) is logged as such: never a loss that was not computed."""
        if not result.taken:
            self.log.write(step, skipped="no supervised token: every sample of the global batch was skipped",
                           tokens=result.tokens)  # fmt: skip
            logger.warning("step %d not taken: every sample of its global batch was skipped", step)
            return
        self.final_loss = result.loss
        tokens_per_second = result.tokens / seconds
        self.log.write(step, loss=result.loss, aux_loss=result.aux_loss, lr=lr, grad_norm=result.grad_norm,
                       tokens=result.tokens, tokens_per_s=tokens_per_second)  # fmt: skip
        progress.set_postfix(loss=f"{result.loss:.4f}", lr=f"{lr:.2e}", tok_s=f"{tokens_per_second:.0f}")

    def already_finished(self) -> TrainSummary:
        """--resume on a run that has done every step: say so, with its last loss, and train nothing."""
        losses = read_losses(self.out)
        self.final_loss = losses[max(losses)] if losses else float("nan")
        self.log.close()
        return TrainSummary(
            len(self.plan), self.final_loss, self.bad, self.out / "model", 0.0, already_finished=True
        )

    def take(self, micro_batch) -> dict:
        self.bad.merge(micro_batch.bad)
        return micro_batch.inputs if micro_batch.inputs is not None else self.placeholder

    def to_device(self, batch: dict) -> dict:
        return {key: value.to(self.device) for key, value in batch.items()}

    def gather_bad_records(self) -> None:
        """Every process skipped records of its own share: process 0 reports them all."""
        import torch.distributed as dist

        if self.world_size > 1:
            everyone = [None] * self.world_size
            dist.all_gather_object(everyone, self.bad)
            self.bad = BadRecords()
            for other in everyone:
                self.bad.merge(other)

    def finish(self, seconds: float) -> TrainSummary:
        self.gather_bad_records()
        model_dir = self.out / "model"
        latest = latest_checkpoint(self.out / "checkpoints")
        if self.rank == 0:
            if latest is not None and latest.exists():
                shutil.rmtree(model_dir, ignore_errors=True)
                shutil.copytree(
                    latest, model_dir, ignore=lambda _d, names: [n for n in names if n == "trainer_state.pt"]
                )
            plot_loss_curve(self.log.path, self.out / "loss_curve.png")
            (self.out / "bad_records.txt").write_text(self.bad.report() + "\n")
            print(self.bad.report())
        self.log.close()
        return TrainSummary(len(self.plan), self.final_loss, self.bad, model_dir, seconds)


def read_losses(run_dir: str | Path) -> dict[int, float]:
    """Step -> loss from a run's metrics.jsonl (the last entry of a step wins, as after a resume);
    steps not taken have no loss."""
    losses = {}
    for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if "loss" in entry:
            losses[entry["step"]] = entry["loss"]
    return losses
