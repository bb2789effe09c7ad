"""Data pipelines: OCR pages/s per core and converter records/s, each with its peak memory, against
a baseline in the same run.

  OCR        ours      `sphinx-x data ocr`: render, extract blocks/lines/spans, Unicode checks, span and
                       hyphen merging, page filters, four OCR records per page
             baseline  the least any PDF-to-OCR-data tool does: render the page and `get_text("words")`
  converter  ours      `sphinx-x data convert coco-detection`: ijson streaming, annotations grouped on disk
             baseline  `json.load` the whole file, group annotations in a dict, write the same records

Each run is its own child process (one core, so pages/s is per core) whose peak RSS is its own.

    python benchmarks/data_pipelines.py                         # synthetic PDFs + a synthetic COCO file
    python benchmarks/data_pipelines.py --pdf-dir /path/to/pdfs --annotations 400000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import resource
import tempfile
import time
from pathlib import Path

WORDS = (
    "model vision expert token image layout region text page table figure caption mixture skip grid".split()
)


def write_pdfs(folder: Path, documents: int, pages: int, seed: int = 0) -> None:
    """Text-dense A4 pages: paragraphs of varied size, as papers have."""
    import pymupdf

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(documents):
        document = pymupdf.open()
        for _ in range(pages):
            page = document.new_page(width=595, height=842)
            text = "\n\n".join(
                " ".join(rng.choice(WORDS) for _ in range(rng.randint(60, 120))) for _ in range(6)
            )
            page.insert_textbox(pymupdf.Rect(50, 50, 545, 792), text, fontsize=rng.choice([9, 10, 11]))
        document.save(folder / f"doc{number}.pdf")


def write_coco(path: Path, annotations: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    images = annotations // 8
    content = {
        "images": [{"id": i, "file_name": f"{i:012d}.jpg", "width": 640, "height": 480} for i in range(images)],
        "annotations": [
            {"id": k, "image_id": rng.randrange(images), "category_id": rng.randrange(80), "iscrowd": 0,
             "bbox": [rng.uniform(0, 500), rng.uniform(0, 400), rng.uniform(5, 140), rng.uniform(5, 80)]}
            for k in range(annotations)
        ],
        "categories": [{"id": c, "name": f"category {c}"} for c in range(80)],
    }  # fmt: skip
    path.write_text(json.dumps(content))


def ocr_ours(pdf_dir: Path, out: Path, dpi: int) -> int:
    from sphinx_x.data.papertext import OcrSettings, build_ocr_dataset

    summary = build_ocr_dataset(pdf_dir, out, OcrSettings(dpi=dpi))
    return summary.pages_kept + sum(summary.pages_dropped.values())


def ocr_baseline(pdf_dir: Path, out: Path, dpi: int) -> int:
    import pymupdf

    out.mkdir(parents=True, exist_ok=True)
    pages = 0
    with open(out / "words.jsonl", "w") as handle:
        for path in sorted(pdf_dir.rglob("*.pdf")):
            with pymupdf.open(path) as document:
                for number, page in enumerate(document):
                    page.get_pixmap(matrix=pymupdf.Matrix(dpi / 72, dpi / 72)).save(
                        out / f"{path.stem}-{number}.png"
                    )
                    handle.write(json.dumps([w[:5] for w in page.get_text("words")]) + "\n")
                    pages += 1
    return pages


def convert_ours(source: Path, out: Path) -> int:
    from sphinx_x.data.converters import convert

    return convert("coco-detection", [source], out / "ours.jsonl").records


def convert_baseline(source: Path, out: Path) -> int:
    """The obvious implementation: everything in memory."""
    from sphinx_x.data.converters.common import ConvertOptions, make_record
    from sphinx_x.data.converters.detection import grouped_boxes

    content = json.loads(source.read_text())
    names = {category["id"]: category for category in content["categories"]}
    by_image: dict = {}
    for annotation in content["annotations"]:
        by_image.setdefault(annotation["image_id"], []).append(annotation)
    options, written = ConvertOptions(), 0
    with open(out / "baseline.jsonl", "w") as handle:
        for image in content["images"]:
            groups = grouped_boxes(image, by_image.get(image["id"], []), names, options.padding)
            if groups:
                pairs = [
                    (f"Detect all {name} shown in the image.", str(boxes)) for name, boxes in groups.items()
                ]
                handle.write(
                    json.dumps(make_record(f"det-{image['id']}", pairs[:8], image["file_name"])) + "\n"
                )
                written += 1
    return written


def measure(task: str, source: str, out: str, dpi: int, queue) -> None:
    os.environ["TQDM_DISABLE"] = "1"
    # Every run imports the same modules before its clock starts, so times and peak RSS compare
    # the work alone (importing sphinx_x brings torch and transformers: the "import only" row).
    import sphinx_x.data.converters  # noqa: F401
    import sphinx_x.data.papertext  # noqa: F401

    if task == "import only":
        queue.put(
            {
                "task": task,
                "items": 0,
                "seconds": 1.0,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
        return
    functions = {
        "ocr ours": ocr_ours,
        "ocr baseline": ocr_baseline,
        "convert ours": convert_ours,
        "convert baseline": convert_baseline,
    }
    args = (Path(source), Path(out), dpi) if task.startswith("ocr") else (Path(source), Path(out))
    start = time.perf_counter()
    items = functions[task](*args)
    seconds = time.perf_counter() - start
    queue.put({"task": task, "items": items, "seconds": seconds,
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})  # fmt: skip


def run(task: str, source: Path, out: Path, dpi: int = 144) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    out.mkdir(parents=True, exist_ok=True)
    process = context.Process(target=measure, args=(task, str(source), str(out), dpi, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pdf-dir", type=Path, help="real PDFs (default: synthetic text-dense pages)")
    parser.add_argument("--documents", type=int, default=4)
    parser.add_argument("--pages", type=int, default=15, help="pages per synthetic document")
    parser.add_argument("--dpi", type=int, default=144)
    parser.add_argument(
        "--annotations", type=int, default=200_000, help="annotations in the synthetic COCO file"
    )
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, one process per run")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pdf_dir = args.pdf_dir or tmp / "pdfs"
        if not args.pdf_dir:
            write_pdfs(pdf_dir, args.documents, args.pages)
        coco = tmp / "instances.json"
        write_coco(coco, args.annotations)
        mb = coco.stat().st_size / 2**20
        results = {}
        for task in ("import only", "ocr baseline", "ocr ours", "convert baseline", "convert ours"):
            source = pdf_dir if task.startswith("ocr") else coco
            results[task] = run(task, source, tmp / task.replace(" ", "-"), args.dpi)
    print(
        f"# OCR: {results['ocr ours']['items']} pages at {args.dpi} dpi; converter: {args.annotations} COCO annotations ({mb:.0f} MB)"
    )
    print("# run               items/s   peak RSS")
    for task, r in results.items():
        unit = "pages" if task.startswith("ocr") else "records" if task.startswith("convert") else ""
        speed = f"{r['items'] / r['seconds']:8.1f}" if unit else "       -"
        print(f"  {task:<17} {speed} {unit:<7} {r['peak_rss_mb']:6.0f} MB")
    for kind in ("ocr", "convert"):
        ours, base = results[f"{kind} ours"], results[f"{kind} baseline"]
        speed = (ours["items"] / ours["seconds"]) / (base["items"] / base["seconds"])
        imported = results["import only"]["peak_rss_mb"]
        print(
            f"{kind}: ours / baseline = {speed:.2f}x items/s, {ours['peak_rss_mb'] / base['peak_rss_mb']:.2f}x peak memory "
            f"(above the import: ours {ours['peak_rss_mb'] - imported:.0f} MB, baseline {base['peak_rss_mb'] - imported:.0f} MB)"
        )


if __name__ == "__main__":
    main()
