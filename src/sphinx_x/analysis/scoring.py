"""The scores of one model variant (one k, one set of kept experts), by the project's own metrics.

    a benchmark of `sphinx_x.eval.benchmarks`   through the evaluation runner (`run_benchmark`): its
                                                columns in the paper's tables (`eval.tables`), as printed there
    demo-heldout (the demo's DIR/heldout folder)  the demo's own held-out evaluation (VQA soft
                                                accuracy, REC Acc@0.5, OCR exact match, a score per
                                                task) and the mean loss on the reference answers

The answer loss moves with every change of the router even where a small model's accuracies
sit at zero, which is why the toy figures show it beside the accuracies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data.records import BadRecords
from .inputs import Sample, encoded_batches, ends_with_answer, read_domains

DEMO_HELDOUT = "demo-heldout"
DEMO_HEADLINE = ("vqa_accuracy", "rec_acc50", "ocr_exact_match", "task_mean", "answer_loss")
LOWER_IS_BETTER = ("answer_loss",)


@dataclass(frozen=True)
class Scorer:
    """How every variant of a sweep is scored: the same benchmark, data and decoding."""

    benchmark: str
    data: Path
    batch_size: int = 8
    limit: int | None = None
    temperature: float = 0.0
    top_p: float = 0.75
    seed: int = 0
    max_new_tokens: int = 48  # demo-heldout only (a benchmark has its own); the demo's setting

    def __post_init__(self):
        if self.benchmark != DEMO_HELDOUT:
            from ..eval.benchmarks import get_benchmark

            get_benchmark(self.benchmark)  # an unknown name fails here, before any model is run
        elif self.limit is not None:
            raise ValueError("--limit applies to the runner's benchmarks; demo-heldout is scored whole")

    def __call__(self, model, processor, out_dir: str | Path) -> dict[str, float]:
        """Headline scores of `model` as it is now; files of the run under `out_dir`."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        if self.benchmark == DEMO_HELDOUT:
            return self.demo_scores(model, processor, out_dir)
        return self.benchmark_scores(model, processor, out_dir)

    def benchmark_scores(self, model, processor, out_dir: Path) -> dict[str, float]:
        from ..eval.benchmarks import get_benchmark
        from ..eval.runner import run_benchmark

        benchmark = get_benchmark(self.benchmark)
        result = run_benchmark(
            model, processor, benchmark, self.data, out_dir, batch_size=self.batch_size, limit=self.limit,
            temperature=self.temperature, top_p=self.top_p, seed=self.seed,
        )  # fmt: skip
        return headline_scores(benchmark.name, result["scores"])

    def demo_scores(self, model, processor, out_dir: Path) -> dict[str, float]:
        from ..demo.evaluate import evaluate_heldout

        metrics, _ = evaluate_heldout(
            model, processor, Path(self.data), out_dir / "items", self.batch_size, self.max_new_tokens,
            temperature=self.temperature, top_p=self.top_p, seed=self.seed,
        )  # fmt: skip
        tasks = [value for key, value in metrics.items() if key.startswith("task/")]
        metrics["task_mean"] = sum(tasks) / len(tasks) if tasks else 0.0
        bad = BadRecords()
        samples = [s for domain in read_domains(self.data, bad).values() for s in domain]
        metrics["answer_loss"] = answer_loss(model, processor, samples, bad, self.batch_size)
        (out_dir / f"{DEMO_HELDOUT}.json").write_text(json.dumps(metrics, indent=1))
        return {key: metrics[key] for key in DEMO_HEADLINE}


COUNTS = ("items", "invalid", "unanswered")  # of a result's scores: bookkeeping, not a score


def headline_scores(benchmark: str, scores: dict) -> dict[str, float]:
    """The benchmark's columns in the paper's tables (MME: MME-P, MME-C), scaled as printed there;
    a benchmark the tables do not show: its top-level scores."""
    from ..eval.tables import PAPER_TABLES

    columns = {c.label: c for table in PAPER_TABLES for c in table.columns if c.benchmark == benchmark}
    if columns:
        return {label: float(scores.get(c.key, 0.0)) * c.scale for label, c in columns.items()}
    return {key: float(value) for key, value in scores.items()
            if isinstance(value, int | float) and not isinstance(value, bool) and key not in COUNTS}  # fmt: skip


@torch.no_grad()
def answer_loss(model, processor, samples: list[Sample], bad: BadRecords, batch_size: int = 8) -> float:
    """Mean cross-entropy per supervised token (the answers) over the samples that have answers."""
    total, tokens = 0.0, 0
    answered = [sample for sample in samples if ends_with_answer(sample)]
    for batch in encoded_batches(processor, answered, bad, batch_size):
        output = model(**{key: value.to(model.device) for key, value in batch.items()})
        total += output.loss.item() * output.supervised_tokens.item()
        tokens += output.supervised_tokens.item()
    if not tokens:
        raise ValueError("no sample with an answer to compute the answer loss on")
    return total / tokens
