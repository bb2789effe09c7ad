"""The benchmarks sphinx-x evaluates: reader, metric, decoding length, and where they go in the tables."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from . import readers
from .readers import EvalItem


@dataclass(frozen=True)
class Benchmark:
    name: str
    read: Callable[[Path], Iterator[EvalItem]]
    metric: str
    split: str
    max_new_tokens: int
    prompt: str  # how the question is turned into the prompt, for the result file
    table: str  # which of the paper's tables it belongs to
    headline: tuple[tuple[str, str, float], ...]  # (column, score key, scale) shown in the table


SHORT = "{question}" + readers.SHORT_ANSWER
CHOICE = "{hint}\\n{question}\\n{A. option ...}" + readers.OPTION_LETTER

BENCHMARKS = {
    b.name: b
    for b in [
        Benchmark("vqav2", readers.read_vqav2, "vqa", "val", 10, SHORT, "vqa", (("VQAv2", "accuracy", 100),)),
        Benchmark("okvqa", readers.read_vqav2, "vqa", "val", 10, SHORT, "vqa", (("OKVQA", "accuracy", 100),)),
        Benchmark("gqa", readers.read_gqa, "exact", "testdev-balanced", 10, SHORT, "vqa", (("GQA", "accuracy", 100),)),
        Benchmark("textvqa", readers.read_textvqa, "textvqa", "val", 10, SHORT, "vqa", (("TextVQA", "accuracy", 100),)),
        Benchmark("docvqa", readers.read_docvqa, "anls", "val", 32, SHORT, "document", (("DocVQA", "anls", 100),)),
        Benchmark("infovqa", readers.read_docvqa, "anls", "val", 32, SHORT, "document", (("InfoVQA", "anls", 100),)),
        Benchmark("chartqa", readers.read_chartqa, "relaxed", "test", 32, SHORT, "document",
                  (("ChartQA", "relaxed_accuracy", 100),)),
        Benchmark("pope", readers.read_pope, "pope", "test", 10, SHORT, "general", (("POPE", "f1", 100),)),
        Benchmark("mme", readers.read_mme, "mme", "test", 10, "{question}", "general",
                  (("MME-P", "perception", 1), ("MME-C", "cognition", 1))),
        Benchmark("mmbench", readers.read_mmbench, "mmbench", "dev", 10, CHOICE, "general", (("MMB", "accuracy", 100),)),
        Benchmark("ccbench", readers.read_mmbench, "mmbench", "dev", 10, CHOICE, "general", (("CCBench", "accuracy", 100),)),
        Benchmark("scienceqa", readers.read_scienceqa, "scienceqa", "test-IMG", 10, "Context: " + CHOICE, "vqa",
                  (("SQA-IMG", "accuracy", 100),)),
        Benchmark("mmmu", readers.read_mmmu, "mmmu", "validation", 32, CHOICE + " | open: " + SHORT, "general",
                  (("MMMU", "accuracy", 100),)),
        Benchmark("refcoco-val", partial(readers.read_refcoco, split="val"), "rec", "val", 30, readers.REC_PROMPT,
                  "grounding", (("RefCOCO val", "acc50", 100),)),
        Benchmark("refcoco-testA", partial(readers.read_refcoco, split="testA"), "rec", "testA", 30, readers.REC_PROMPT,
                  "grounding", (("RefCOCO testA", "acc50", 100),)),
        Benchmark("refcoco-testB", partial(readers.read_refcoco, split="testB"), "rec", "testB", 30, readers.REC_PROMPT,
                  "grounding", (("RefCOCO testB", "acc50", 100),)),
        Benchmark("video", readers.read_video_qa, "mmbench", "test", 10, CHOICE + " (middle of 8 frames)", "video",
                  (("Video QA", "accuracy", 100),)),
    ]
}  # fmt: skip

TABLES = {
    "general": "MLLM benchmarks (paper Table 2)",
    "vqa": "Visual question answering (paper Table 3)",
    "document": "Documents and charts (paper Table 4)",
    "grounding": "Referring expression comprehension (paper Table 5)",
    "video": "Video analysis (paper Table 6)",
}


def get_benchmark(name: str) -> Benchmark:
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]
