"""What each precision costs in quality, against float32 in the same run.

Two models, every precision loaded through `sphinx_x.load_model` (the path chat, eval and serve take):

    demo      the demo's trained toy model (`sphinx-x demo --out DIR`; DIR/model, DIR/heldout):
              logits on the held-out conversations (teacher-forced, answer included), and the
              held-out metrics of the demo (VQA accuracy, REC Acc@0.5, OCR exact match, mean task
              score) from greedy answers
    release   a converted tiny release fixture (the SPHINX-Tiny layout at test size, random weights,
              `tests/convert/release_reference.py`, converted with `convert_accessory`): logits on
              2:1 pictures with questions; its answers are noise, so only their agreement counts

Per precision: the logits' relative error ||x - x_fp32|| / ||x_fp32||, the largest absolute
difference, the share of positions whose top token is float32's, and the share of greedy answers
identical to float32's.

    PYTHONPATH=src:. python benchmarks/precision_quality.py --demo demo-out
    PYTHONPATH=src:. python benchmarks/precision_quality.py --demo demo-out --skip-release --precisions float32 int8
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch

# name -> load_model options; quantized precisions compute in float32 (the CPU's fastest here)
PRECISIONS = {
    "float32": {"dtype": "float32"},
    "bfloat16": {"dtype": "bfloat16"},
    "float16": {"dtype": "float16"},
    "int8": {"dtype": "float32", "quantize": "int8"},
    "int8+vision": {"dtype": "float32", "quantize": "int8", "quantize_vision": True},
    "int4": {"dtype": "float32", "quantize": "int4"},
    "int4+vision": {"dtype": "float32", "quantize": "int4", "quantize_vision": True},
}
METRICS = ("vqa_accuracy", "rec_acc50", "ocr_exact_match", "task_mean")


def load(folder: Path, precision: str):
    from sphinx_x.loading import load_model

    return load_model(folder, device="cpu", **PRECISIONS[precision])


def teacher_forced_logits(
    model, processor, conversations, images, batch_size: int = 16
) -> list[torch.Tensor]:
    """One `[T, V]` float32 tensor per conversation (padding dropped)."""
    out = []
    with torch.no_grad():
        for start in range(0, len(conversations), batch_size):
            inputs = processor(
                conversations[start : start + batch_size],
                images[start : start + batch_size],
                add_generation_prompt=False,
            )
            logits = model(**inputs).logits.float()
            for row, mask in zip(logits, inputs["attention_mask"].bool(), strict=True):
                out.append(row[mask])
    return out


def logit_agreement(ours: list[torch.Tensor], reference: list[torch.Tensor]) -> dict[str, float]:
    ours, reference = torch.cat(ours), torch.cat(reference)
    return {
        "relative_error": ((ours - reference).norm() / reference.norm()).item(),
        "max_abs_diff": (ours - reference).abs().max().item(),
        "top1_agreement": (ours.argmax(-1) == reference.argmax(-1)).float().mean().item(),
    }


def greedy_answers(
    model, processor, questions, images, max_new_tokens: int, batch_size: int = 16
) -> list[str]:
    from sphinx_x.inference.generate import DecodingSettings, generate

    answers = []
    for start in range(0, len(questions), batch_size):
        inputs = processor(questions[start : start + batch_size], images[start : start + batch_size])
        answers += generate(
            model, processor.tokenizer, inputs, DecodingSettings(max_new_tokens, temperature=0)
        )
    return answers


# -- the demo's model --------------------------------------------------------------------------


def demo_rows(demo: Path, precisions: list[str]) -> list[dict]:
    from sphinx_x.demo.evaluate import evaluate_heldout, read_heldout
    from sphinx_x.inference.generate import DecodingSettings
    from sphinx_x.processing.images import load_image

    heldout = demo / "heldout"
    records = read_heldout(heldout)
    images = [load_image(heldout / "images" / r["image"]) if r.get("image") else None for r in records]
    conversations = [r["conversations"][:2] for r in records]
    rows, reference, reference_answers = [], None, None
    for precision in precisions:
        started = time.perf_counter()
        model, processor = load(demo / "model", precision)
        logits = teacher_forced_logits(model, processor, conversations, images)
        metrics, examples = evaluate_heldout(model, processor, heldout, DecodingSettings(48, temperature=0))
        answers = [example["prediction"] for example in examples]
        if reference is None:
            reference, reference_answers = logits, answers
        tasks = [value for key, value in metrics.items() if key.startswith("task/")]
        rows.append({"precision": precision, **logit_agreement(logits, reference),
                     "answers_equal": sum(a == b for a, b in zip(answers, reference_answers, strict=True)) / len(answers),
                     **{key: metrics[key] for key in METRICS[:3]}, "task_mean": sum(tasks) / len(tasks),
                     "seconds": time.perf_counter() - started})  # fmt: skip
        print_row("demo", rows[-1], rows[0], flush=True)
    return rows


# -- a converted tiny release ------------------------------------------------------------------


def converted_release(root: Path) -> Path:
    from sphinx_x.convert.accessory import convert_accessory
    from tests.convert.release_reference import VIEWS, release_state, train_sentencepiece, write_release

    source = write_release(root / "SPHINX-Tiny-fixture", release_state(400), train_sentencepiece(root))
    convert_accessory(source, root / "converted", view_sizes=VIEWS)
    return root / "converted"


def release_prompts(count: int = 24):
    from tests.convert.test_accessory import picture

    questions = ["What is in the picture?", "Where is the red box?", "What colour is the circle?",
                 "Describe the image in detail."]  # fmt: skip
    conversations, images = [], []
    for index in range(count):
        question = questions[index % len(questions)]
        answer = "A red box on the left and a blue circle at the top right."
        conversations.append(
            [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        )
        images.append(picture(64 + 8 * (index % 4), 32 + 4 * (index % 4)))  # 2:1
    return conversations, images


def release_rows(precisions: list[str]) -> list[dict]:
    with tempfile.TemporaryDirectory() as scratch:
        folder = converted_release(Path(scratch))
        conversations, images = release_prompts()
        questions = [conversation[:1] for conversation in conversations]
        rows, reference, reference_answers = [], None, None
        for precision in precisions:
            started = time.perf_counter()
            model, processor = load(folder, precision)
            logits = teacher_forced_logits(model, processor, conversations, images)
            answers = greedy_answers(model, processor, questions, images, 8)
            if reference is None:
                reference, reference_answers = logits, answers
            equal = sum(a == b for a, b in zip(answers, reference_answers, strict=True)) / len(answers)
            rows.append({"precision": precision, **logit_agreement(logits, reference), "answers_equal": equal,
                         "seconds": time.perf_counter() - started})  # fmt: skip
            print_row("release", rows[-1], rows[0], flush=True)
    return rows


# -- output --------------------------------------------------------------------------------------


def print_row(model: str, row: dict, reference: dict, flush: bool = False) -> None:
    parts = [f"{model:8s} {row['precision']:12s}", f"rel.err {row['relative_error']:.4f}",
             f"max|d| {row['max_abs_diff']:.3f}", f"top1 {row['top1_agreement']:.3f}",
             f"answers= {row['answers_equal']:.2f}"]  # fmt: skip
    for key in METRICS:
        if key in row:
            ratio = row[key] / reference[key] if reference[key] else float("nan")
            parts.append(f"{key} {row[key]:.3f} ({ratio:.2f}x)")
    print("  ".join(parts), flush=flush)


def table(title: str, rows: list[dict]) -> str:
    metrics = [key for key in METRICS if key in rows[0]]
    header = ["precision", "logits rel. error", "max abs diff", "top-1 = fp32", "answers = fp32", *metrics]
    lines = [f"{title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        values = [row["precision"], f"{row['relative_error']:.4f}", f"{row['max_abs_diff']:.3f}",
                  f"{row['top1_agreement']:.3f}", f"{row['answers_equal']:.2f}",
                  *(f"{row[key]:.3f}" for key in metrics)]  # fmt: skip
        lines.append("| " + " | ".join(values) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--demo", type=Path, help="a `sphinx-x demo --out` folder (model/, heldout/)")
    parser.add_argument("--skip-release", action="store_true", help="only the demo's model")
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=list(PRECISIONS))
    args = parser.parse_args()
    precisions = ["float32", *(p for p in args.precisions if p != "float32")]  # the reference comes first
    torch.manual_seed(0)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {time.strftime('%Y-%m-%d')}")  # fmt: skip
    tables = []
    if args.demo:
        tables.append(table(f"demo model ({args.demo})", demo_rows(args.demo, precisions)))
    if not args.skip_release:
        tables.append(table("converted tiny release fixture", release_rows(precisions)))
    print("\n\n".join(tables))


if __name__ == "__main__":
    main()
