"""`sphinx-x demo`: the main job on an embedded default, no downloads, no GPU.

As the paper trains, in miniature: the toy vision experts arrive pre-trained (shipped with the
package, made by `sphinx-x demo pretrain-experts`; `--from-scratch` makes them again first) and are
frozen; a fresh projector and a fresh toy LLM are trained in one stage, with the real trainer, on
a synthetic multi-domain corpus; held-out samples are scored with the real metrics through the
evaluation runner. It writes

    DIR/report.html    loss curve, held-out images with answers and predicted boxes, metrics table
    DIR/metrics.json   vqa_accuracy, rec_acc50, ocr_exact_match, wall_seconds, and one key per task
    DIR/model          the trained model (`sphinx-x chat --model DIR/model`)
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import ConvNextConfig, Dinov2Config, LlamaConfig, MixtralConfig

from ..config import SphinxXConfig
from ..model.sphinx import SphinxXForConditionalGeneration
from ..presets import TOY_IMAGE_TOKEN_ID, two_experts
from ..processing.processor import SphinxXProcessor
from ..processing.tokenizer import train_toy_tokenizer
from ..train.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from ..train.feature_cache import cache_expert_features, uncache_expert_features
from ..train.parallelize import device_for_rank
from ..train.trainer import Trainer
from .corpus import OCR_TASKS, SHAPE_TASKS, corpus_texts, write_corpus
from .evaluate import evaluate_heldout
from .report import write_report
from .shipped_experts import PretrainSettings, load_shipped, pretrain_and_save

# Training images per task, in units of `train_per_task`: more for the tasks the demo's bars
# measure, fewer (but every domain present) for the image tasks without a bar; the rest 0.5.
EMPHASIS = {"rec": 3.0, "count": 1.0, "yesno": 1.5, "colour": 1.0, "ocr_read": 2.0, "ocr_region": 1.0,
            "classify": 0.25, "detect": 0.25, "caption": 0.25, "som": 0.25, "ocr_spot": 0.25}  # fmt: skip


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
    pretraining: PretrainSettings = PretrainSettings()  # of the experts, with --from-scratch only
    packing: bool = True  # several samples per row (no attention across them): less padding, same losses
    moe: bool = False  # a Mixtral LLM (4 experts, top-2) of the same width, for `sphinx-x moe`
    tasks: tuple[str, ...] = field(default=(*SHAPE_TASKS, *OCR_TASKS, "language"))


# The default's budget goes to the one-stage training (the experts arrive pre-trained): see
# docs/demo.md for what each setting measured.
FULL = DemoSettings(train_per_task=500, eval_per_task=100, epochs=2.55, turns=4)
QUICK = DemoSettings(train_per_task=30, eval_per_task=4, epochs=5, turns=3,
                     pretraining=PretrainSettings(steps=60, images=256))  # fmt: skip
LONG = dataclasses.replace(FULL, epochs=4)
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


def run_demo(
    out: str | Path, settings: DemoSettings = FULL, seed: int = 0, from_scratch: bool = False
) -> dict:
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
    experts = pretrained_experts(model, config, out, settings, from_scratch)
    trainer = Trainer(train_config(out, mixture, settings, seed), model, processor, overwrite=True)
    cache_expert_features(trainer.model)  # frozen: every epoch sees the same features again
    summary = trainer.train()
    uncache_expert_features(trainer.model)
    shutil.rmtree(out / "model", ignore_errors=True)
    shutil.copytree(summary.model_dir, out / "model")
    shutil.rmtree(out / "eval", ignore_errors=True)  # a new model: no predictions to continue from
    metrics, examples = evaluate_heldout(trainer.model.eval(), processor, heldout.parent, out / "eval")
    metrics["wall_seconds"] = time.perf_counter() - started
    metrics["train_steps"] = summary.steps
    metrics["final_loss"] = summary.final_loss
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    write_report(out, metrics, examples, out / "train" / "loss_curve.png", experts)
    return metrics


def pretrained_experts(model, config, out: Path, settings: DemoSettings, from_scratch: bool) -> dict:
    """The shipped toy experts loaded into `model`, or made again (`--from-scratch`) into OUT/experts;
    returns their manifest (command, settings, probe accuracies)."""
    folder = None
    if from_scratch:
        folder = out / "experts"
        pretrain_and_save(folder, config, settings.pretraining, device_for_rank())
    return load_shipped(model.vision_experts, config, folder)


HEADLINE = ("vqa_accuracy", "rec_acc50", "ocr_exact_match", "wall_seconds")


def headline(metrics: dict) -> dict:
    """The numbers the command prints: the bars' metrics and the wall time."""
    return {key: round(metrics[key], 3) for key in HEADLINE if key in metrics}


def train_config(out: Path, mixture: Path, settings: DemoSettings, seed: int) -> TrainConfig:
    return TrainConfig(
        model=ModelConfig(),  # replaced by the model the demo builds (the trainer saves it as initial-model)
        # Mixed-type batches: the release's one-type-per-batch sampler suits batches of 256, not of 16.
        data=DataConfig(mixture=str(mixture), num_workers=1, max_length=512, by_type=False, packing=settings.packing),
        optim=OptimConfig(lr=settings.lr, global_batch_size=settings.global_batch_size,
                          micro_batch_size=settings.micro_batch_size, warmup_fraction=0.03, grad_clip=1.0),
        run=RunConfig(out=str(out / "train"), epochs=settings.epochs, checkpoint_every=10**9, dtype="float32", seed=seed),
    )  # fmt: skip
