"""`sphinx-x data convert KIND SOURCE... --out FILE`: a dataset's own published files -> records.

Each converter reads one published format and yields `(where, record)` results, or `(where, error)`
for a bad entry, which the driver counts and reports instead of stopping. Records go to a JSONL
file written as they come (memory stays flat) and renamed into place at the end.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..records import BadRecords
from . import captions, detection, documents, grounding, gui, language, scene_text, vqa
from .common import ConverterInputError, ConvertOptions, Result

Converter = Callable[[list[Path], ConvertOptions], Iterator[Result]]

# Kind -> (converter, Table 1 family). Several datasets share a published format.
CONVERTERS: dict[str, tuple[Converter, str]] = {
    "sharegpt": (language.sharegpt, "language: dialog (ShareGPT, Flan-mini)"),
    "ultrachat": (language.ultrachat, "language: dialog"),
    "openorca": (language.openorca, "language: dialog"),
    "flan": (language.flan, "language: dialog"),
    "metamathqa": (language.metamathqa, "language: math"),
    "mathinstruct": (language.mathinstruct, "language: math"),
    "wizardcoder": (language.wizardcoder, "language: code"),
    "coco-detection": (detection.coco_detection, "vision: detection (COCO, LVIS, Objects365, V3Det)"),
    "openimages": (detection.openimages, "vision: detection"),
    "coco-keypoints": (detection.coco_keypoints, "vision: human pose"),
    "unipose": (detection.unipose, "vision: human pose (UniPose's UniKPT)"),
    "imagenet": (grounding.imagenet, "vision: classification"),
    "refcoco": (grounding.refcoco, "vision: grounding (RefCOCO, RefCOCO+, RefCOCOg)"),
    "visual-genome": (grounding.visual_genome, "vision: grounding"),
    "flickr30k": (grounding.flickr30k, "vision: grounding (Flickr30k Entities)"),
    "vqav2": (vqa.vqav2, "vision-language: VQA (VQAv2, OK-VQA)"),
    "gqa": (vqa.gqa, "vision-language: VQA"),
    "textvqa": (vqa.textvqa, "vision-language: VQA"),
    "vizwiz": (vqa.vizwiz, "vision-language: VQA"),
    "docvqa": (vqa.docvqa, "vision-language: VQA"),
    "infographicsvqa": (vqa.infographicsvqa, "vision-language: VQA"),
    "chartqa": (vqa.chartqa, "vision-language: VQA"),
    "ocrvqa": (vqa.ocrvqa, "vision-language: VQA"),
    "ai2d": (vqa.ai2d, "vision-language: VQA"),
    "scienceqa": (vqa.scienceqa, "vision-language: VQA"),
    "clevr": (vqa.clevr, "vision-language: VQA"),
    "dvqa": (vqa.dvqa, "vision-language: VQA"),
    "visual-genome-qa": (vqa.visual_genome_qa, "vision-language: VQA (Visual Genome)"),
    "geometry3k": (vqa.geometry3k, "vision-language: VQA (geometry)"),
    "due": (documents.due, "vision-language: VQA (DeepForm, Kleister Charity)"),
    "visualmrc": (documents.visualmrc, "vision-language: VQA"),
    "tabfact": (documents.tabfact, "vision-language: VQA (tables)"),
    "wtq": (documents.wtq, "vision-language: VQA (tables)"),
    "coco-captions": (captions.coco_captions, "vision-language: caption"),
    "laion-gpt4v": (captions.laion_gpt4v, "vision-language: caption"),
    "llava": (
        captions.llava,
        "vision-language: visual instruction (LLaVA, ShareGPT4V, LVIS-Instruct4V, LLaVAR)",
    ),
    "coco-layout": (detection.coco_layout, "OCR: text layout (PubLayNet, DocLayNet)"),
    "m6doc": (detection.coco_layout, "OCR: text layout (M6Doc, COCO format)"),
    "docbank": (documents.docbank, "OCR: text layout & spotting"),
    "icdar2013": (scene_text.icdar2013, "OCR: text spotting; Set-of-Mark OCR domain"),
    "icdar2015": (scene_text.icdar2015, "OCR: text spotting; Set-of-Mark OCR domain"),
    "ctw1500": (scene_text.ctw1500, "OCR: text spotting; Set-of-Mark OCR domain"),
    "totaltext": (scene_text.totaltext, "OCR: text spotting; Set-of-Mark OCR domain"),
    "seeclick": (gui.seeclick, "Set-of-Mark: website / mobile / desktop (SeeClick)"),
}


@dataclass
class ConvertSummary:
    records: int
    bad: BadRecords
    out: Path

    def __str__(self) -> str:
        return f"{self.out}: {self.records} records written; {self.bad.report(examples=20)}"


def convert(
    kind: str, sources: list[Path], out: Path, options: ConvertOptions | None = None
) -> ConvertSummary:
    if kind not in CONVERTERS:
        raise ConverterInputError(f"unknown kind {kind!r}: expected one of {', '.join(sorted(CONVERTERS))}")
    options = options or ConvertOptions()
    missing = [str(source) for source in sources if not source.exists()]
    if missing:
        raise ConverterInputError(f"no such file or folder: {', '.join(missing)}")
    converter, _ = CONVERTERS[kind]
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    written = 0
    try:
        with open(partial, "w", encoding="utf-8") as handle:
            for where, result in tqdm(
                converter(sources, options), desc=f"converting {kind}", unit=" entries"
            ):
                if isinstance(result, Exception):
                    options.bad.add(where, str(result))
                    continue
                handle.write(json.dumps(result, ensure_ascii=False) + "\n")
                written += 1
        check_something_converted(kind, sources, written, options.bad)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, out)
    return ConvertSummary(written, options.bad, out)


def check_something_converted(kind: str, sources: list[Path], written: int, bad: BadRecords) -> None:
    """Non-empty input that gives no record is the wrong kind (or wrong files), never a success."""
    sizes = sum(
        path.stat().st_size
        for source in sources
        for path in ([source] if source.is_file() else source.rglob("*"))
        if path.is_file()
    )
    if written or not sizes:
        return
    found = (
        f"{bad.total} entries, all bad:\n{bad.report(examples=5)}" if bad.total else "no entry of that format"
    )
    raise ConverterInputError(
        f"{kind}: nothing converted from {', '.join(map(str, sources))} ({found}); is {kind!r} the format of "
        "these files? `sphinx-x data convert --help` lists the kinds"
    )
