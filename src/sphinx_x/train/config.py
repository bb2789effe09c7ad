"""Training configuration: nested dataclasses, read from YAML, checked on construction, saved
beside every run with the values it actually ran (the learning rate resolved, paths absolute).

Paths in a config file are relative to that file (as a mixture's are); `--set` values typed on the
command line are relative to the current directory. Every section checks its fields when built: an
error names `section.field`, the value and what was expected; a field that will be ignored is a
`ConfigWarning`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..loading import ModelSource
from ..typed_config import ConfigError, bounded, check_fields, non_negative, one_of, positive, warn_ignored

DEFAULT_LR, MOE_LR = 2e-5, 5e-6  # the recipe (architecture facts §9)
DTYPE_NAMES = ("bfloat16", "float16", "float32")


@dataclass
class ModelConfig(ModelSource):
    """Where the model comes from: see `sphinx_x.loading.ModelSource`."""

    def __post_init__(self):
        check_fields(self, "model")
        if self.path and any(self.parts):
            warn_ignored("model.llm / convnext / dinov2", "model.path is given")


@dataclass
class DataConfig:
    mixture: str | None = None  # YAML with `sources: [{path, image_root, weight, type}]`
    records: list[str] = field(default_factory=list)  # or plain record files (type "default")
    image_root: str | None = None  # for `records` (default: the current directory)
    max_length: int = field(default=4096, metadata=positive)  # longer samples are skipped and reported
    by_type: bool = True  # the release's batching: one type per global batch, sorted by length
    packing: bool = False  # several samples per row, attention within each sample (train/packing.py)
    pack_length: int | None = field(default=None, metadata=positive)  # tokens per packed row; None: one
    # row holding the whole micro-batch (attention runs sample by sample: train/segment_attention.py)
    num_workers: int = field(default=2, metadata=non_negative)

    def __post_init__(self):
        check_fields(self, "data")
        if self.mixture and self.records:
            warn_ignored("data.records", "data.mixture is given")
        if self.mixture and self.image_root is not None:
            warn_ignored("data.image_root", "data.mixture is given (its sources name their image roots)")
        if self.pack_length is not None and not self.packing:
            warn_ignored("data.pack_length", "data.packing is false")


@dataclass
class OptimConfig:
    lr: float | None = field(default=None, metadata=positive)  # None: 2e-5, or 5e-6 for a Mixtral LLM
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = field(default=0.0, metadata=non_negative)
    warmup_fraction: float = field(default=0.01, metadata=bounded(0, 1))
    grad_clip: float = field(default=8.0, metadata=positive)
    global_batch_size: int = field(default=256, metadata=positive)  # samples per step, all processes
    micro_batch_size: int = field(default=4, metadata=positive)  # samples per forward/backward, one process
    aux_loss_weight: float | None = field(default=None, metadata=non_negative)  # None: the LLM's coefficient

    def __post_init__(self):
        check_fields(self, "optim")
        if not all(0 <= beta < 1 for beta in self.betas):
            raise ConfigError(f"optim.betas: each must be in [0, 1), got {list(self.betas)}")


@dataclass
class RunConfig:
    out: str = "runs/sphinx-x"
    epochs: float = field(default=1.0, metadata=positive)
    max_steps: int | None = field(default=None, metadata=positive)  # stop earlier than the epochs say
    checkpoint_every: int = field(default=500, metadata=positive)
    keep_checkpoints: int = field(default=2, metadata=positive)
    # autocast; master weights float32. bfloat16 under FSDP2: parameters gathered and computed in bf16,
    # gradients reduced in fp32 (MixedPrecisionPolicy)
    dtype: str = field(default="bfloat16", metadata=one_of(*DTYPE_NAMES))
    activation_checkpointing: bool = False  # per decoder layer
    compile: bool = False  # torch.compile each decoder layer
    reshard_after_forward: bool = False  # False = ZeRO-2-like; True = full sharding (ZeRO-3)
    cpu_offload: bool = False  # FSDP2 keeps sharded parameters, gradients and optimizer state on the CPU
    seed: int = 0
    tensorboard: bool = True

    def __post_init__(self):
        check_fields(self, "run")


@dataclass
class LoraConfig:
    """LoRA / QLoRA fine-tuning (off while `rank` is unset): the model is frozen and each targeted
    projection of the LLM learns a low-rank update `B @ A * alpha / rank`; the projector and the
    start/end/skip embeddings stay fully trainable. Checkpoints hold only what trains
    (`sphinx_x.train.lora`)."""

    rank: int | None = field(default=None, metadata=positive)  # None: full fine-tuning; 8 to 64 is usual
    alpha: float | None = field(default=None, metadata=positive)  # update scale alpha / rank; None: 2 x rank
    # On the adapters' input, in training (peft's default 0; Mixtral's fused experts take none).
    dropout: float = field(default=0.0, metadata=bounded(0, 1))
    # Names of the LLM's projections; None: attention and MLP (q/k/v/o_proj, gate/up/down_proj, and
    # Mixtral's fused experts gate_up_proj / down_proj).
    targets: list[str] | None = None
    base_quantize: str | None = field(
        default=None, metadata=one_of("int8", "int4")
    )  # QLoRA: the frozen LLM in int8 / NF4

    def __post_init__(self):
        check_fields(self, "lora")
        if self.targets is not None and not self.targets:
            raise ConfigError(
                "lora.targets: give at least one projection name, or leave it unset for the default"
            )
        changed = [name for name, value in (("alpha", self.alpha), ("targets", self.targets),
                                             ("base_quantize", self.base_quantize)) if value is not None]  # fmt: skip
        if self.rank is None and changed:
            warn_ignored(f"lora.{' / '.join(changed)}", "lora.rank is not set (full fine-tuning)")

    @property
    def enabled(self) -> bool:
        return self.rank is not None

    @property
    def scale_alpha(self) -> float:
        return self.alpha if self.alpha is not None else 2.0 * self.rank


SECTIONS = {
    "model": ModelConfig,
    "data": DataConfig,
    "optim": OptimConfig,
    "run": RunConfig,
    "lora": LoraConfig,
}
PATH_FIELDS = {"model": ("path",), "data": ("mixture", "records", "image_root"), "run": ("out",)}
PATH_OR_MODEL_ID_FIELDS = ("llm", "convnext", "dinov2")  # a local path, else a Hugging Face model id


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] = ()) -> TrainConfig:
        """A config file, its relative paths resolved against its folder, then `--set` overrides."""
        path = Path(path)
        try:
            content = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML ({error})") from None
        if not isinstance(content, dict):
            raise ConfigError(
                f"{path}: expected sections {', '.join(SECTIONS)}; got {type(content).__name__}"
            )
        content = resolve_paths(content, path.parent, str(path))
        for assignment in overrides:
            apply_override(content, assignment)
        return cls.from_dict(content, where=str(path))

    @classmethod
    def from_dict(cls, content: dict, where: str = "config") -> TrainConfig:
        content = dict(content)
        sections = {}
        for name, section in SECTIONS.items():
            values = content.pop(name, None) or {}
            if not isinstance(values, dict):
                raise ConfigError(f"{where}: section '{name}' must be a mapping, got {values!r}")
            known = {f.name for f in dataclasses.fields(section)}
            unknown = set(values) - known
            if unknown:
                raise ConfigError(
                    f"{where}: unknown field(s) {sorted(unknown)} in '{name}'; known: {sorted(known)}"
                )
            sections[name] = section(**values)
        if content:
            raise ConfigError(f"{where}: unknown section(s) {sorted(content)}; known: {', '.join(SECTIONS)}")
        return cls(**sections)

    def with_absolute_paths(self) -> TrainConfig:
        """Relative paths (of a config built in code) resolved against the current directory."""
        return TrainConfig.from_dict(resolve_paths(dataclasses.asdict(self), Path.cwd(), "config"))

    def to_yaml(self) -> str:
        data = dataclasses.asdict(self)
        data["optim"]["betas"] = list(data["optim"]["betas"])
        return yaml.safe_dump(data, sort_keys=False)


def apply_override(content: dict, assignment: str) -> None:
    """`SECTION.FIELD=VALUE` (VALUE in YAML syntax) into `content`."""
    key, equals, value = assignment.partition("=")
    section, _, name = key.partition(".")
    if not equals or not section or not name:
        raise ConfigError(f"--set {assignment!r}: expected SECTION.FIELD=VALUE, e.g. run.max_steps=10")
    if section not in SECTIONS:
        raise ConfigError(f"--set {assignment!r}: unknown section {section!r}; known: {', '.join(SECTIONS)}")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as error:
        raise ConfigError(f"--set {assignment!r}: the value is not valid YAML ({error})") from None
    content.setdefault(section, {})[name] = parsed


def resolve_paths(content: dict, folder: Path, where: str) -> dict:
    """Relative path fields of a config file -> absolute, against the file's folder."""
    resolved = {}
    for name, values in content.items():
        if isinstance(values, dict) and name in PATH_FIELDS:
            values = dict(values)
            for key in PATH_FIELDS[name]:
                if isinstance(values.get(key), str):
                    values[key] = str((folder / Path(values[key]).expanduser()).resolve())
                elif isinstance(values.get(key), list):
                    values[key] = [str((folder / item).resolve()) if isinstance(item, str) else item
                                   for item in values[key]]  # fmt: skip
            if name == "model":
                for key in PATH_OR_MODEL_ID_FIELDS:
                    if isinstance(values.get(key), str) and (folder / values[key]).exists():
                        values[key] = str((folder / values[key]).resolve())
        resolved[name] = values
    return resolved
