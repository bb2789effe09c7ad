"""`sphinx-x data`: convert datasets, OCR from PDFs, Set-of-Mark, mix, validate."""

from __future__ import annotations

import os
from pathlib import Path

from .common import add_listing_parser


def add(commands) -> None:
    data = commands.add_parser(
        "data", help="training data: convert datasets, OCR from PDFs, Set-of-Mark, mix, validate"
    )
    actions = data.add_subparsers(dest="action", required=True)
    add_convert(actions)
    add_ocr(actions)
    add_som(actions)
    add_mix(actions)
    add_validate(actions)


def add_convert(actions) -> None:
    from ..data.converter_kinds import FAMILIES

    convert = add_listing_parser(
        actions, "convert", "a dataset's published annotation files -> training records (JSONL)",
        "kinds", FAMILIES,
    )  # fmt: skip
    convert.add_argument(
        "kind", choices=sorted(FAMILIES), metavar="KIND", help="the dataset format (listed above)"
    )
    convert.add_argument("sources", nargs="+", type=Path, help="the dataset's annotation files or folders")
    convert.add_argument("--out", type=Path, required=True, help="output JSONL")
    convert.add_argument(
        "--image-root", type=Path, help="the dataset's images (for formats without image sizes)"
    )
    convert.add_argument(
        "--image-out", type=Path, help="where rendered images go (tables); default OUT's folder/images"
    )
    convert.add_argument(
        "--padding", choices=("corner", "center"), default="corner", help="square the boxes are normalised to"
    )
    convert.add_argument(
        "--split", help="split to keep, for files holding several (RefCOCO, ScienceQA, OCR-VQA)"
    )
    convert.add_argument("--max-turns", type=int, default=8, help="questions per record")
    convert.add_argument("--seed", type=int, default=0, help="seed of the prompt phrasings")
    convert.set_defaults(run=run_convert)


def run_convert(args) -> int:
    from ..data.converters import ConvertOptions, convert

    options = ConvertOptions(
        padding=args.padding, seed=args.seed, image_root=args.image_root,
        image_out=args.image_out or args.out.parent / "images", split=args.split, max_turns=args.max_turns,
    )  # fmt: skip
    print(convert(args.kind, args.sources, args.out, options))
    return 0


def add_ocr(actions) -> None:
    ocr = actions.add_parser(
        "ocr", help="PaperText: render PDF pages and write OCR records (reading, spotting, regions, layout)"
    )
    ocr.add_argument("pdf_dir", type=Path, help="folder searched recursively for .pdf files")
    ocr.add_argument(
        "--out", type=Path, required=True, help="output folder: images/, ocr.jsonl, summary.json"
    )
    ocr.add_argument("--dpi", type=int, default=144, help="rendering resolution")
    ocr.add_argument("--tasks", default="read,spot,region,layout", help="comma-separated OCR tasks to write")
    ocr.add_argument("--min-chars", type=int, default=20, help="pages with fewer characters are dropped")
    ocr.add_argument(
        "--min-text-pixels", type=float, default=8.0, help="pages whose median text is smaller are dropped"
    )
    ocr.add_argument("--seed", type=int, default=0, help="seed of the prompt phrasings")
    ocr.set_defaults(run=run_ocr)


def run_ocr(args) -> int:
    from ..data.papertext import OcrSettings, build_ocr_dataset, parse_tasks

    settings = OcrSettings(dpi=args.dpi, min_chars=args.min_chars, min_text_pixels=args.min_text_pixels,
                           tasks=parse_tasks(args.tasks), seed=args.seed)  # fmt: skip
    print(build_ocr_dataset(args.pdf_dir, args.out, settings).table())
    return 0


def add_som(actions) -> None:
    from ..data.prompts import SOM_DOMAINS

    som = actions.add_parser(
        "som", help="Set-of-Mark: draw marks, caption them, write conversations over the raw images"
    )
    som.add_argument("sources", nargs="+", type=Path, help="converted records or mark lists (JSONL / JSON)")
    som.add_argument(
        "--image-root", type=Path, required=True, help="folder the records' image paths are relative to"
    )
    som.add_argument("--out", type=Path, required=True, help="output folder: marked/, som.jsonl")
    som.add_argument(
        "--coco", action="store_true", help="sources are COCO-format instance files: polygon marks"
    )
    som.add_argument(
        "--domain", choices=sorted(SOM_DOMAINS), default="natural", help="selects the captioner's instruction"
    )
    som.add_argument(
        "--padding", choices=("corner", "center"), default="corner", help="square the coordinates refer to"
    )
    som.add_argument("--max-marks", type=int, default=10, help="marks per image")
    som.add_argument("--seed", type=int, default=0, help="seed of the prompt phrasings")
    som.add_argument(
        "--captioner-url",
        help="OpenAI-compatible endpoint, e.g. https://api.openai.com/v1 (default: offline template)",
    )
    som.add_argument("--captioner-model", default="gpt-4o", help="model name sent to the endpoint")
    som.add_argument(
        "--captioner-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key"
    )
    som.set_defaults(run=run_som)


def run_som(args) -> int:
    from ..data.set_of_mark import OpenAICaptioner, TemplateCaptioner, build_som_dataset

    captioner = TemplateCaptioner()
    if args.captioner_url:
        captioner = OpenAICaptioner(
            args.captioner_url, args.captioner_model, os.environ.get(args.captioner_key_env)
        )
    summary = build_som_dataset(args.sources, args.image_root, args.out, args.domain, captioner, args.padding,
                                args.max_marks, args.seed, coco=args.coco)  # fmt: skip
    print(summary)
    return 0


def add_mix(actions) -> None:
    mix = actions.add_parser(
        "mix", help="one seeded, shuffled mixture of many sources, with a statistics table"
    )
    mix.add_argument(
        "config", type=Path, help="mixture YAML: sources [{path, image_root, weight, type, name}], seed"
    )
    mix.add_argument(
        "--out", type=Path, required=True, help="output folder: mixture.jsonl, mixture.yaml, stats.*"
    )
    mix.add_argument("--seed", type=int, help="overrides the config's seed (default 0)")
    mix.add_argument(
        "--tokenizer", help="count tokens with this tokenizer (folder or model id); default: words"
    )
    mix.set_defaults(run=run_mix)


def run_mix(args) -> int:
    from ..data.mix import mix, stats_table, token_counter

    count_tokens = token_counter(args.tokenizer) if args.tokenizer else None
    rows, bad = mix(args.config, args.out, args.seed, count_tokens)
    print(stats_table(rows, "tokens" if args.tokenizer else "words"))
    print(bad.report(examples=20))
    return 0


def add_validate(actions) -> None:
    validate = actions.add_parser("validate", help="report every bad record by file, line and field")
    validate.add_argument("files", nargs="+", help="record files (JSON list, JSONL or parquet)")
    validate.add_argument(
        "--image-root", help="folder image paths are relative to (default: each file's folder)"
    )
    validate.add_argument(
        "--no-decode", action="store_true", help="check that images exist, without decoding them"
    )
    validate.add_argument("--max-report", type=int, default=200, help="print at most this many problems")
    validate.set_defaults(run=run_validate)


def run_validate(args) -> int:
    from ..data.validate import validate

    report = validate(args.files, args.image_root, decode_images=not args.no_decode)
    for problem in report.problems[: args.max_report]:
        print(problem)
    if len(report.problems) > args.max_report:
        print(f"... and {len(report.problems) - args.max_report} more problems")
    print(report.summary())
    return 1 if report.problems else 0
