"""`sphinx-x demo`: the main job on an embedded default, no downloads, no GPU.

Generates the synthetic corpus, trains a toy SPHINX-X on it in one stage with the real trainer,
evaluates on held-out samples with the real metrics, and writes

    DIR/report.html    loss curve, held-out images with answers and predicted boxes, metrics table
    DIR/metrics.json   vqa_accuracy, rec_acc50, ocr_exact_match, wall_seconds, and one key per task
    DIR/model          the trained model (`sphinx-x chat --model DIR/model`)
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import ConvNextConfig, Dinov2Config, LlamaConfig, MixtralConfig

from ..config import SphinxXConfig
from ..inference.generate import DecodingSettings
from ..model.sphinx import SphinxXForConditionalGeneration
from ..presets import TOY_IMAGE_TOKEN_ID, two_experts
from ..processing.processor import SphinxXProcessor
from ..processing.tokenizer import train_toy_tokenizer
from ..train.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from ..train.parallelize import device_for_rank
from ..train.trainer import Trainer
from .corpus import OCR_TASKS, SHAPE_TASKS, corpus_texts, write_corpus
from .evaluate import evaluate_heldout
from .pretrain_experts import pretrain_experts
from .report import write_report

# More training images for the tasks the demo's bars measure; every domain is present.
EMPHASIS = {"rec": 2.0, "count": 1.0, "yesno": 1.5, "colour": 1.0, "ocr_read": 2.0, "ocr_region": 1.0}


@dataclass(frozen=True)
class DemoSettings:
    train_per_task: int
    eval_per_task: int
    epochs: float
    global_batch_size: int = 16
    micro_batch_size: int = 16
    lr: float = 2e-3
    view_size: int = 32
    turns: int = 4  # questions per training image (held-out samples ask one)
    pretrain_steps: int = 500  # toy expert pre-training before freezing (0: frozen at random init)
    pretrain_images: int = 768
    moe: bool = False  # a Mixtral LLM (4 experts, top-2) of the same width, for `sphinx-x moe`
    tasks: tuple[str, ...] = field(default=(*SHAPE_TASKS, *OCR_TASKS, "language"))


# Measured on the 2-core reference machine: 261-412 s; 1.8 epochs gained nothing measurable
# and pushed a fresh clone's `make demo` past 10 minutes (see the README).
FULL = DemoSettings(train_per_task=500, eval_per_task=30, epochs=1.5, turns=4)
QUICK = DemoSettings(
    train_per_task=30, eval_per_task=4, epochs=5, turns=3, pretrain_steps=60, pretrain_images=256
)
# What grounding and reading need (measured, see the README): 20x the expert pre-training, after
# which the experts read words (probe 0.45) and place boxes, and 4 epochs. REC 0.58-0.67 and OCR
# 0.70-0.84 held-out; 319 s on an H100 shared by four runs, 29 min on the 2-core reference CPU.
LONG = DemoSettings(
    train_per_task=500, eval_per_task=30, epochs=4, pretrain_steps=10_000, pretrain_images=8192
)
SETTINGS = {"quick": QUICK, "full": FULL, "long": LONG}


def demo_model_config(vocab_size: int, view_size: int = 32, moe: bool = False) -> SphinxXConfig:
    """A toy SPHINX-X: the release's structure (two experts, 2x2 grid + global, skip tokens) at CPU size;
    `moe`: the LLM is a Mixtral of the same width and depth (4 experts, top-2)."""
    return SphinxXConfig(
        text_config=demo_mixtral(vocab_size) if moe else LlamaConfig(**demo_llm_dims(vocab_size)),
        visual_experts=two_experts(
            ConvNextConfig(hidden_sizes=[32, 64], depths=[1, 1], num_stages=2, layer_norm_eps=1e-5, image_size=view_size),
            Dinov2Config(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, use_swiglu_ffn=True, patch_size=8,
                         image_size=view_size),
            convnext_view=view_size, dinov2_view=view_size,
        ),
        grid=2, padding="corner", use_skip_token=True,
        image_token_id=TOY_IMAGE_TOKEN_ID,
    )  # fmt: skip


def demo_llm_dims(vocab_size: int) -> dict:
    return dict(
        hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, intermediate_size=384,
        vocab_size=vocab_size, max_position_embeddings=1024, bos_token_id=1, eos_token_id=2, pad_token_id=3,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
    )  # fmt: skip


def demo_mixtral(vocab_size: int) -> MixtralConfig:
    """Each expert is the dense demo's FFN (as Mixtral's experts are Mistral's); the release's
    load-balancing weight 0.01 keeps all four experts in use."""
    return MixtralConfig(
        **demo_llm_dims(vocab_size), num_local_experts=4, num_experts_per_tok=2, router_aux_loss_coef=0.01
    )


def run_demo(out: str | Path, settings: DemoSettings = FULL, seed: int = 0) -> dict:
    """One demo run; the named settings are in `SETTINGS`."""
    out = Path(out)
    started = time.perf_counter()
    torch.manual_seed(seed)
    counts = {task: round(settings.train_per_task * EMPHASIS.get(task, 0.5)) for task in settings.tasks}
    mixture = write_corpus(out / "corpus", counts, seed, settings.turns)
    heldout = write_corpus(
        out / "heldout", dict.fromkeys(settings.tasks, settings.eval_per_task), seed=seed + 1000
    )
    tokenizer = train_toy_tokenizer(corpus_texts(out / "corpus"), vocab_size=1024)
    config = demo_model_config(vocab_size=1024, view_size=settings.view_size, moe=settings.moe)
    model, processor = SphinxXForConditionalGeneration(config), SphinxXProcessor.for_model(tokenizer, config)
    if settings.pretrain_steps:
        pretrain_experts(
            model.vision_experts,
            config,
            settings.pretrain_images,
            settings.pretrain_steps,
            seed=seed + 2000,
            device=device_for_rank(),
        )
    trainer = Trainer(train_config(out, mixture, settings, seed), model, processor, overwrite=True)
    summary = trainer.train()
    shutil.rmtree(out / "model", ignore_errors=True)
    shutil.copytree(summary.model_dir, out / "model")
    model = trainer.model.eval()
    metrics, examples = evaluate_heldout(
        model, processor, heldout.parent, DecodingSettings(48, temperature=0)
    )
    metrics["wall_seconds"] = time.perf_counter() - started
    metrics["train_steps"] = summary.steps
    metrics["final_loss"] = summary.final_loss
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    write_report(out, metrics, examples, out / "train" / "loss_curve.png")
    return metrics


HEADLINE = ("vqa_accuracy", "rec_acc50", "ocr_exact_match", "wall_seconds")


def headline(metrics: dict) -> dict:
    """The numbers the command prints: the bars' metrics and the wall time."""
    return {key: round(metrics[key], 3) for key in HEADLINE if key in metrics}


def train_config(out: Path, mixture: Path, settings: DemoSettings, seed: int) -> TrainConfig:
    return TrainConfig(
        model=ModelConfig(),  # replaced by the model the demo builds (the trainer saves it as initial-model)
        # Mixed-type batches: the release's one-type-per-batch sampler suits batches of 256, not of 16.
        data=DataConfig(mixture=str(mixture), num_workers=1, max_length=512, by_type=False),
        optim=OptimConfig(lr=settings.lr, global_batch_size=settings.global_batch_size,
                          micro_batch_size=settings.micro_batch_size, warmup_fraction=0.03, grad_clip=1.0),
        run=RunConfig(out=str(out / "train"), epochs=settings.epochs, checkpoint_every=10**9, dtype="float32", seed=seed),
    )  # fmt: skip
