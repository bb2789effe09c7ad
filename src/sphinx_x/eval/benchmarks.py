"""The benchmarks sphinx-x evaluates: reader, metric, split, decoding length and prompt.

Where each one's numbers go in the paper's tables is `tables.py`; where its files come from and its
protocol in full is docs/benchmarks.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from . import readers, readers_choice, readers_open, video
from .readers import EvalItem


@dataclass(frozen=True)
class Benchmark:
    name: str
    read: Callable[[Path], Iterator[EvalItem]]
    metric: str
    split: str
    max_new_tokens: int
    prompt: str  # how the question is turned into the prompt, for the result file
    folder: str = ""  # the data folder `eval suite` looks for besides one named after the benchmark


SHORT = "{question}" + readers.SHORT_ANSWER
CHOICE = "{hint}\\n{question}\\n{A. option ...}" + readers.OPTION_LETTER
LETTERED = "{question}\\n{A. option ...}" + readers.OPTION_LETTER
LONG = 1024  # free-form answers a judge reads (LLaVA's model_vqa default)


def refcoco_family(name: str, splits: tuple[str, ...], refs: str) -> list[Benchmark]:
    return [
        Benchmark(f"{name}-{split}", partial(readers.read_refcoco, split=split, refs=refs), "rec", split, 30,
                  readers.REC_PROMPT, folder=name)
        for split in splits
    ]  # fmt: skip


BENCHMARKS = {
    b.name: b
    for b in [
        # Table 2: MLLM benchmarks
        Benchmark("pope", readers.read_pope, "pope", "test", 10, SHORT),
        Benchmark("toy-tasks", readers.read_toy_tasks, "toy-tasks", "held-out", 48, "{question}"),
        Benchmark("mme", readers.read_mme, "mme", "test", 10, "{question}"),
        Benchmark("mmbench", readers.read_mmbench, "mmbench", "dev", 10, CHOICE),
        Benchmark("seed", readers_choice.read_seed, "seed", "image (dimensions 1-9)", 10, LETTERED),
        Benchmark("llava-bench", readers_open.read_llava_bench, "llava-bench", "in-the-wild", LONG, "{question}"),
        Benchmark("mmvet", readers_open.read_mmvet, "mmvet", "test", LONG, "{question}"),
        Benchmark("ccbench", readers.read_mmbench, "mmbench", "dev", 10, CHOICE),
        Benchmark("mathvista", readers_open.read_mathvista, "mathvista", "testmini", 512, "{query} (hint + question + choices)"),
        Benchmark("qbench", readers_choice.read_qbench, "qbench", "dev (A1)", 10, LETTERED),
        # Table 3: VQA
        Benchmark("vqav2", readers.read_vqav2, "vqa", "val", 10, SHORT),
        Benchmark("okvqa", readers.read_vqav2, "vqa", "val", 10, SHORT),
        Benchmark("vizwiz", readers_open.read_vizwiz, "vqa", "val", 10, "{question}" + readers_open.VIZWIZ_SUFFIX),
        Benchmark("gqa", readers.read_gqa, "exact", "testdev-balanced", 10, SHORT),
        Benchmark("scienceqa", readers.read_scienceqa, "scienceqa", "test-IMG", 10, "Context: " + CHOICE),
        Benchmark("iconqa", readers_choice.read_iconqa, "choice", "test (choose_txt)", 10, LETTERED),
        # Table 4: other MLLM benchmarks
        Benchmark("mmvp", readers_choice.read_mmvp, "mmvp", "test", 64, "{Question} {Options}"),
        Benchmark("hallusionbench", readers_open.read_hallusion, "hallusion", "test", 64, "{question}"),
        Benchmark("mmmu", readers.read_mmmu, "mmmu", "validation", 32, CHOICE + " | open: " + SHORT),
        Benchmark("cmmmu", readers_choice.read_cmmmu, "cmmmu", "val", 64, "CMMMU's instruction per type + 问题/选项/正确答案"),
        Benchmark("screenspot", readers_open.read_screenspot, "screenspot", "test", 30, readers_open.SCREENSPOT_PROMPT),
        # Table 5: text-oriented VQA
        Benchmark("textvqa", readers.read_textvqa, "textvqa", "val", 10, SHORT),
        Benchmark("ocrvqa", readers_open.read_ocrvqa, "ocrvqa", "test", 32, SHORT),
        Benchmark("docvqa", readers.read_docvqa, "anls", "val", 32, SHORT),
        Benchmark("chartqa", readers.read_chartqa, "relaxed", "test", 32, SHORT),
        Benchmark("ai2d", readers_choice.read_ai2d, "choice", "test", 10, LETTERED),
        Benchmark("infovqa", readers.read_docvqa, "anls", "val", 32, SHORT),
        # Table 6: referring expression comprehension
        *refcoco_family("refcoco", ("val", "testA", "testB"), "refs(unc).p"),
        *refcoco_family("refcoco+", ("val", "testA", "testB"), "refs(unc).p"),
        *refcoco_family("refcocog", ("val", "test"), "refs(umd).p"),
        # Tables 7 and 8: video, one middle frame per clip
        Benchmark("videobench", video.read_videobench, "videobench", "test", 32, LETTERED + " (middle frame)"),
        Benchmark("mvbench", video.read_mvbench, "mvbench", "test", 16,
                  "MVBench system + Question/Options (A)..(F) + 'Only give the best option.' (middle frame)"),
        # not in the paper's tables: any clip QA as frame folders
        Benchmark("video", readers.read_video_qa, "choice", "test", 10, CHOICE + " (middle of 8 frames)"),
    ]
}  # fmt: skip


def get_benchmark(name: str) -> Benchmark:
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]
