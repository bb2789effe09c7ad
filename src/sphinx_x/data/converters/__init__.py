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

from ..converter_kinds import FAMILIES
from ..records import BadRecords
from . import captions, detection, documents, grounding, gui, language, scene_text, vqa
from .common import ConverterInputError, ConvertOptions, Result

Converter = Callable[[list[Path], ConvertOptions], Iterator[Result]]

# Kind -> converter; several datasets share a published format (their families: converter_kinds).
FUNCTIONS: dict[str, Converter] = {
    "sharegpt": language.sharegpt,
    "ultrachat": language.ultrachat,
    "openorca": language.openorca,
    "flan": language.flan,
    "metamathqa": language.metamathqa,
    "mathinstruct": language.mathinstruct,
    "wizardcoder": language.wizardcoder,
    "coco-detection": detection.coco_detection,
    "openimages": detection.openimages,
    "coco-keypoints": detection.coco_keypoints,
    "unipose": detection.unipose,
    "imagenet": grounding.imagenet,
    "refcoco": grounding.refcoco,
    "visual-genome": grounding.visual_genome,
    "flickr30k": grounding.flickr30k,
    "vqav2": vqa.vqav2,
    "gqa": vqa.gqa,
    "textvqa": vqa.textvqa,
    "vizwiz": vqa.vizwiz,
    "docvqa": vqa.docvqa,
    "infographicsvqa": vqa.infographicsvqa,
    "chartqa": vqa.chartqa,
    "ocrvqa": vqa.ocrvqa,
    "ai2d": vqa.ai2d,
    "scienceqa": vqa.scienceqa,
    "clevr": vqa.clevr,
    "dvqa": vqa.dvqa,
    "visual-genome-qa": vqa.visual_genome_qa,
    "geometry3k": vqa.geometry3k,
    "due": documents.due,
    "visualmrc": documents.visualmrc,
    "tabfact": documents.tabfact,
    "wtq": documents.wtq,
    "coco-captions": captions.coco_captions,
    "laion-gpt4v": captions.laion_gpt4v,
    "llava": captions.llava,
    "coco-layout": detection.coco_layout,
    "m6doc": detection.coco_layout,
    "docbank": documents.docbank,
    "icdar2013": scene_text.icdar2013,
    "icdar2015": scene_text.icdar2015,
    "ctw1500": scene_text.ctw1500,
    "totaltext": scene_text.totaltext,
    "seeclick": gui.seeclick,
}
CONVERTERS: dict[str, tuple[Converter, str]] = {
    kind: (FUNCTIONS[kind], family) for kind, family in FAMILIES.items()
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
