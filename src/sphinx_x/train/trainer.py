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
    MicroBatch,
    RecordDataset,
    collate,
    epoch_records,
    global_batches,
    micro_batches,
    sequence_lengths,
    shard_of,
)
from .export import export_model
from .lora import apply_lora, export_adapters, is_lora
from .optim import build_optimizer, build_scheduler
from .parallelize import (
    apply_activation_checkpointing,
    apply_compile,
    apply_fsdp,
    device_for_rank,
    init_distributed,
)
from .report import MetricsLog, plot_loss_curve
from .segment_attention import use_segment_attention
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
        self.rank, self.world_size = init_distributed(always=config.run.cpu_offload)
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
        self.model, self.processor = self.place(model), processor
        self.processor.max_length = config.data.max_length
        self.bad = BadRecords()
        self.records, self.plan = build_plan(build_sources(config), config, self.bad, self.processor)
        self.lr = config.optim.lr = config.optim.lr or (MOE_LR if routes_tokens(model) else DEFAULT_LR)
        self.aux_loss_weight = config.optim.aux_loss_weight = self.build_aux_loss_weight()
        self.placeholder = self.build_placeholder_batch()
        self.llm_attention = self.build_packed_attention()  # the LLM's own, restored after training
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

    def place(self, model):
        """On this process's device; with CPU offload only the frozen experts move (FSDP2 brings each
        layer's parameters over when it runs)."""
        if not self.config.run.cpu_offload:
            return model.to(self.device)
        model.vision_experts.to(self.device)
        return model

    def uses_fsdp(self) -> bool:
        return self.world_size > 1 or self.config.run.cpu_offload

    def build_packed_attention(self) -> str | None:
        """Packed rows get attention sample by sample (`train/segment_attention.py`) for the run;
        returns the LLM's own implementation, put back when training ends."""
        if not self.config.data.packing:
            return None
        previous = use_segment_attention(self.model.language_model)
        if previous == "eager":
            logger.warning(
                "data.packing with eager attention computes every packed row's whole attention; use sdpa"
            )
        return previous

    def restore_attention(self) -> None:
        """After training: the model answers through the serving engine's masks, as loaded."""
        if self.llm_attention is not None:
            self.model.language_model.set_attn_implementation(self.llm_attention)

    def parallelize(self) -> None:
        """In torchtitan's order: activation checkpointing, compile, FSDP2 (see `train/parallelize.py`)."""
        run = self.config.run
        if run.activation_checkpointing:
            apply_activation_checkpointing(self.model)
        if run.compile:
            apply_compile(self.model)
        if self.uses_fsdp():
            param_dtype = torch.bfloat16 if run.dtype == "bfloat16" else None
            apply_fsdp(self.model, param_dtype, run.reshard_after_forward, run.cpu_offload)
        self.model.train()

    def trainer_state(self) -> dict:
        """What a checkpoint holds besides the model and optimizer shards (the data position is the step)."""
        return {"planned_steps": len(self.plan), "scheduler": self.scheduler.state_dict(),
                "rng": {"torch": torch.get_rng_state(), "python": random.getstate()},
                "bad_records": dict(self.bad.reasons)}  # fmt: skip

    def resume_if_asked(self, resume: bool) -> int:
        checkpoint = latest_checkpoint(self.out / "checkpoints") if resume else None
        if checkpoint is None:
            if resume:
                logger.warning(
                    "--resume: no checkpoint under %s, starting from step 0", self.out / "checkpoints"
                )
            return 0
        state = load_checkpoint(checkpoint, self.model, self.optimizer)
        self.scheduler.load_state_dict(state["scheduler"])
        self.scheduler.planned_steps = len(self.plan)  # the plan of this run, not the saved one's
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(state["rng"]["python"])
        self.bad.merge(BadRecords(state["bad_records"]))
        step, planned = state["step"], state["planned_steps"]
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
        data = self.config.data
        return torch.utils.data.DataLoader(
            RecordDataset(self.records, self.processor), batch_sampler=sampler,
            collate_fn=partial(collate, processor=self.processor, packing=data.packing,
                               pack_length=data.pack_length),
            num_workers=data.num_workers,
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
            micro = [self.take(next(batches)) for _ in range(accumulation)]
            inputs, tokens = [self.to_device(m.inputs) for m in micro], sum(m.tokens for m in micro)
            inject_fault("step", step + 1)
            lr = self.scheduler.get_last_lr()[0]  # the rate this step uses
            result = train_step(self.model, self.optimizer, self.scheduler, inputs, self.config.optim.grad_clip,
                                DTYPES[self.config.run.dtype], self.aux_loss_weight, self.world_size, tokens)  # fmt: skip
            self.log_step(step + 1, result, lr, time.perf_counter() - step_started, progress)
            if (step + 1) % self.config.run.checkpoint_every == 0 or step + 1 == len(self.plan):
                self.gather_bad_records()  # collective: process 0 saves every process's skipped records
                save_checkpoint(self.out / "checkpoints", step + 1, self.model, self.optimizer,
                                self.trainer_state(), self.config.run.keep_checkpoints)  # fmt: skip
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
        """--resume on a run that has done every step: say so, with its last loss, and train nothing
        (but export the model if the run was stopped before it had)."""
        losses = read_losses(self.out)
        self.final_loss = losses[max(losses)] if losses else float("nan")
        if not (self.out / "model").is_dir():
            self.export()  # the last checkpoint, resumed
        self.restore_attention()
        self.log.close()
        return TrainSummary(
            len(self.plan), self.final_loss, self.bad, self.out / "model", 0.0, already_finished=True
        )

    def export(self) -> Path:
        """Collective: RUN/model, a full model folder, or for a LoRA run an adapter folder."""
        write = export_adapters if is_lora(self.model) else export_model
        return write(self.model, self.processor, self.out / "model")

    def take(self, micro_batch: MicroBatch) -> MicroBatch:
        """The micro-batch, or the placeholder (no token counted) if every sample of it was bad."""
        self.bad.merge(micro_batch.bad)
        return micro_batch if micro_batch.inputs is not None else MicroBatch(self.placeholder, BadRecords())

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
        model_dir = self.export()  # collective
        self.restore_attention()
        if self.rank == 0:
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
