"""Training configuration: nested dataclasses, read from YAML, saved beside every run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml


@dataclass
class ModelConfig:
    """Where the model comes from. One of: `path` (a sphinx-x folder to fine-tune), the three public
    parts `llm` + `convnext` + `dinov2` (a fresh projector, as the paper starts), or `preset` alone
    (fresh weights; toy presets only, they come with the toy tokenizer)."""

    preset: str = "sphinx-x-toy"
    path: str | None = None
    llm: str | None = None  # transformers causal LM folder or model id (InternLM2 folders too)
    convnext: str | None = None  # open_clip ConvNeXt checkpoint: file, folder or model id
    dinov2: str | None = None  # DINOv2 hub .pth, or transformers folder / model id


@dataclass
class DataConfig:
    mixture: str | None = None  # YAML with `sources: [{path, image_root, weight, type}]`
    records: list[str] = field(default_factory=list)  # or plain record files (type "default")
    image_root: str = "."  # for `records`
    max_length: int = 4096  # longer samples are skipped and reported
    by_type: bool = True  # the release's batching: one type per global batch, sorted by length
    num_workers: int = 2


@dataclass
class OptimConfig:
    lr: float | None = None  # None: 2e-5, or 5e-6 for a Mixtral LLM (the recipe)
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.0
    warmup_fraction: float = 0.01
    grad_clip: float = 8.0
    global_batch_size: int = 256  # samples per optimiser step, all processes together
    micro_batch_size: int = 4  # samples per forward/backward on one process
    aux_loss_weight: float | None = None  # None: the LLM config's router_aux_loss_coef (Mixtral), else 0


@dataclass
class RunConfig:
    out: str = "runs/sphinx-x"
    epochs: float = 1.0
    max_steps: int | None = None  # stop earlier than the epochs say
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    dtype: str = "bfloat16"  # autocast compute dtype; master weights stay float32
    activation_checkpointing: bool = False
    reshard_after_forward: bool = False  # False = ZeRO-2-like; True = full sharding (ZeRO-3)
    seed: int = 0
    tensorboard: bool = True


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        content = yaml.safe_load(Path(path).read_text()) or {}
        return cls.from_dict(content, where=str(path))

    @classmethod
    def from_dict(cls, content: dict, where: str = "config") -> TrainConfig:
        sections = {}
        for section in dataclasses.fields(cls):
            values = content.pop(section.name, {}) or {}
            known = {f.name for f in dataclasses.fields(section.default_factory())}
            unknown = set(values) - known
            if unknown:
                raise ValueError(
                    f"{where}: unknown field(s) {sorted(unknown)} in '{section.name}'; known: {sorted(known)}"
                )
            sections[section.name] = type(section.default_factory())(**values)
        if content:
            raise ValueError(f"{where}: unknown section(s) {sorted(content)}; known: model, data, optim, run")
        config = cls(**sections)
        config.optim.betas = tuple(config.optim.betas)
        return config

    def to_yaml(self) -> str:
        data = dataclasses.asdict(self)
        data["optim"]["betas"] = list(data["optim"]["betas"])
        return yaml.safe_dump(data, sort_keys=False)
