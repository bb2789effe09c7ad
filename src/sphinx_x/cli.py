"""`sphinx-x` command line: parses arguments and calls the library. No logic lives here."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

DEFAULT_TOY = "sphinx-x-toy"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"sphinx-x {args.command}: error: {error}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sphinx-x", description="SPHINX-X multimodal LLMs")
    commands = parser.add_subparsers(dest="command", required=True)
    add_info(commands)
    add_chat(commands)
    add_convert(commands)
    add_eval(commands)
    add_train(commands)
    add_demo(commands)
    add_data(commands)
    return parser


def add_info(commands) -> None:
    info = commands.add_parser(
        "info", help="parameters and visual tokens of a preset (built on the meta device)"
    )
    info.add_argument("preset")
    info.add_argument("--image", default="1024x1024", metavar="WxH", help="image size for the token count")
    info.add_argument("--no-skip", action="store_true", help="count without skip tokens")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(run=run_info)


def run_info(args) -> int:
    from .info import format_info, preset_info

    width, height = parse_size(args.image)
    info = preset_info(args.preset, width, height, use_skip_token=not args.no_skip)
    print(json.dumps(info) if args.json else format_info(info))
    return 0


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--image must look like 1000x500, got {text!r}") from None
    if width <= 0 or height <= 0:
        raise ValueError(f"--image sides must be positive, got {text!r}")
    return width, height


def add_chat(commands) -> None:
    chat = commands.add_parser("chat", help="ask a model about an image (one question, or --interactive)")
    chat.add_argument("question", nargs="?", help="the question; omit with --interactive")
    chat.add_argument(
        "--model", default=DEFAULT_TOY, help=f"model folder or toy preset (default: untrained {DEFAULT_TOY})"
    )
    chat.add_argument("--image", help="image file to talk about")
    chat.add_argument("--interactive", action="store_true", help="multi-turn chat on stdin (/reset, /quit)")
    chat.add_argument("--temperature", type=float, default=0.1, help="0 = greedy")
    chat.add_argument("--top-p", type=float, default=0.75)
    chat.add_argument("--max-new-tokens", type=int, default=512)
    chat.add_argument("--seed", type=int, default=None)
    chat.add_argument(
        "--boxes-out", default="sphinx-x-answer.png", help="where to draw boxes/points of an answer"
    )
    chat.add_argument("--device", default="cpu")
    chat.set_defaults(run=run_chat)


def run_chat(args) -> int:
    from .inference.chat import ChatSession, load_model
    from .inference.generate import DecodingSettings

    if not args.question and not args.interactive:
        raise ValueError("give a question, or --interactive")
    if args.model.startswith("sphinx-x-toy"):
        print(
            f"note: {args.model} is freshly initialised and untrained; its answers are noise", file=sys.stderr
        )
    model, processor = load_model(args.model, device=args.device)
    settings = DecodingSettings(args.max_new_tokens, args.temperature, args.top_p, seed=args.seed)
    session = ChatSession(model, processor, args.image, settings)
    questions = [args.question] if args.question else []
    for question in questions or read_questions(session):
        answer_one(session, question, args.boxes_out)
    return 0


def read_questions(session):
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            return
        if line in ("/quit", "/exit"):
            return
        if line == "/reset":
            session.history = []
            continue
        if line:
            yield line


def answer_one(session, question: str, boxes_out: str) -> None:
    answer = session.ask(question, on_text=lambda _, text: print(text, end="", flush=True))
    print()
    drawn = session.draw_answer(answer, boxes_out)
    if drawn is not None:
        print(f"[boxes and points drawn on the image: {drawn}]")


DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}


def add_convert(commands) -> None:
    convert = commands.add_parser(
        "convert", help="released checkpoints and public weights <-> sphinx-x folders"
    )
    kinds = convert.add_subparsers(dest="kind", required=True)

    accessory = kinds.add_parser(
        "accessory", help="a released SPHINX folder (LLaMA2-Accessory format) -> sphinx-x"
    )
    accessory.add_argument(
        "source", help="folder with consolidated.XX-of-YY.model.pth, config.json, meta.json, tokenizer.model"
    )
    accessory.add_argument("output")
    accessory.add_argument(
        "--dtype", choices=DTYPES, help="cast floating weights (default: keep the release's)"
    )
    accessory.add_argument(
        "--max-shard-gb", type=float, default=2.0, help="size of each output safetensors file"
    )
    accessory.add_argument(
        "--convnext-view-size", type=int, help="override the release's 512 (scaled-down checkpoints)"
    )
    accessory.add_argument(
        "--dinov2-view-size", type=int, help="override the release's 224 (scaled-down checkpoints)"
    )
    accessory.set_defaults(run=run_convert_accessory)

    export = kinds.add_parser(
        "export-llm", help="the LLM part alone, as a stock transformers causal LM folder"
    )
    export.add_argument("model")
    export.add_argument("output")
    export.add_argument("--dtype", choices=DTYPES)
    export.set_defaults(run=run_export_llm)

    assemble = kinds.add_parser(
        "assemble", help="a new SPHINX-X from public LLM, ConvNeXt and DINOv2 weights"
    )
    assemble.add_argument("output")
    assemble.add_argument("--preset", default="sphinx-x-tiny", help="supplies grid, padding and view sizes")
    assemble.add_argument(
        "--llm", required=True, help="transformers causal LM (folder or model id); InternLM2 too"
    )
    assemble.add_argument(
        "--convnext", required=True, help="open_clip ConvNeXt checkpoint (file, folder or model id)"
    )
    assemble.add_argument(
        "--dinov2", required=True, help="DINOv2: hub .pth file, or transformers folder / model id"
    )
    assemble.add_argument("--dtype", choices=DTYPES, default="float32")
    assemble.set_defaults(run=run_assemble)


def torch_dtype(name: str | None):
    import torch

    return getattr(torch, name) if name else None


def run_convert_accessory(args) -> int:
    from .convert.accessory import convert_accessory

    convert_accessory(
        args.source, args.output, dtype=torch_dtype(args.dtype), convnext_view_size=args.convnext_view_size,
        dinov2_view_size=args.dinov2_view_size, max_shard_bytes=int(args.max_shard_gb * 1024**3),
    )  # fmt: skip
    print(f'wrote {args.output}; chat with: sphinx-x chat --model {args.output} --image IMAGE "QUESTION"')
    return 0


def run_export_llm(args) -> int:
    from .convert.export import export_llm

    print(f"wrote {export_llm(args.model, args.output, torch_dtype(args.dtype))}")
    return 0


def run_assemble(args) -> int:
    from .convert.pretrained import assemble, load_dinov2, load_llm, load_open_clip_convnext
    from .presets import preset_config
    from .processing.processor import SphinxXProcessor

    llm, tokenizer = load_llm(args.llm, torch_dtype(args.dtype))
    model = assemble(
        preset_config(args.preset), llm, load_open_clip_convnext(args.convnext), load_dinov2(args.dinov2)
    )
    model.to(torch_dtype(args.dtype)).save_pretrained(args.output)
    SphinxXProcessor(tokenizer, model.config).save_pretrained(args.output)
    print(f"wrote {args.output} (projector and start/end/skip tokens freshly initialised)")
    return 0


def add_eval(commands) -> None:
    evaluate = commands.add_parser("eval", help="benchmarks with the community's exact metrics")
    actions = evaluate.add_subparsers(dest="action", required=True)
    from .eval.score import METRICS

    score = add_listing_parser(
        actions, "score", "score a JSONL file of predictions with one metric",
        "metrics and the fields each record needs", {name: ", ".join(m.fields) for name, m in METRICS.items()},
    )  # fmt: skip
    score.add_argument(
        "metric", choices=list(METRICS), metavar="METRIC", help="one of the metrics listed above"
    )
    score.add_argument("file")
    score.add_argument("--per-item", help="write every record with its score here (JSONL)")
    score.set_defaults(run=run_eval_score)

    run = actions.add_parser("run", help="one benchmark from its published files on a local path")
    run.add_argument("--model", required=True, help="model folder (or toy preset)")
    run.add_argument("--benchmark", required=True)
    run.add_argument("--data", required=True, help="the benchmark's folder or main file")
    add_run_options(run)
    run.set_defaults(run=run_eval_run)

    suite = actions.add_parser("suite", help="every benchmark whose folder exists under --data-root")
    suite.add_argument("--model", required=True)
    suite.add_argument(
        "--data-root", required=True, help="folders named vqav2, textvqa, docvqa, pope, mme, ..."
    )
    add_run_options(suite)
    suite.set_defaults(run=run_eval_suite)

    export = actions.add_parser("export", help="a result file in a submission or lmms-eval format")
    export.add_argument("result", help="NAME.json written by eval run")
    export.add_argument("--format", required=True, choices=["vqav2", "docvqa", "lmms-eval"])
    export.add_argument("--out", required=True)
    export.set_defaults(run=run_eval_export)


def add_listing_parser(actions, name: str, help: str, heading: str, rows: dict[str, str]):
    """A subcommand whose description lists a registry (metrics, converter kinds), one row each."""
    width = max(map(len, rows)) + 2
    listing = "\n".join(f"  {key:{width}s}{value}" for key, value in rows.items())
    return actions.add_parser(
        name,
        help=help,
        description=f"{heading}:\n{listing}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_run_options(parser) -> None:
    parser.add_argument("--out", default="eval-results", help="folder for predictions and result files")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--limit", type=int, help="only the first N items (a quick look)")
    parser.add_argument(
        "--temperature", type=float, default=0.1, help="the release's evaluation setting; 0 = greedy"
    )
    parser.add_argument("--top-p", type=float, default=0.75)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")


def run_options(args) -> dict:
    return {"batch_size": args.batch_size, "limit": args.limit, "temperature": args.temperature,
            "top_p": args.top_p, "seed": args.seed, "model_path": args.model}  # fmt: skip


def run_eval_run(args) -> int:
    from .eval.benchmarks import get_benchmark
    from .eval.runner import run_benchmark
    from .inference.chat import load_model

    benchmark = get_benchmark(args.benchmark)
    model, processor = load_model(args.model, device=args.device)
    result = run_benchmark(model, processor, benchmark, args.data, args.out, **run_options(args))
    print(
        json.dumps(
            {
                "benchmark": benchmark.name,
                "scores": result["scores"],
                "result": f"{args.out}/{benchmark.name}.json",
            }
        )
    )
    return 0


def run_eval_suite(args) -> int:
    from .eval.suite import run_suite, suite_table
    from .inference.chat import load_model

    model, processor = load_model(args.model, device=args.device)
    table = suite_table(run_suite(model, processor, args.data_root, args.out, **run_options(args)))
    (Path(args.out) / "suite.md").write_text(table)
    print(table)
    return 0


def run_eval_export(args) -> int:
    from .eval.adapters import ADAPTERS

    result = json.loads(Path(args.result).read_text())
    Path(args.out).write_text(json.dumps(ADAPTERS[args.format](result)))
    print(f"wrote {args.out}")
    return 0


def run_eval_score(args) -> int:
    from .eval.score import read_jsonl, score_records

    report = score_records(args.metric, read_jsonl(args.file))
    for problem in report.invalid:
        print(f"invalid record: {problem}", file=sys.stderr)
    if args.per_item:
        with open(args.per_item, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(item) + "\n" for item in report.items)
    print(json.dumps(report.aggregate))
    return 1 if report.invalid else 0


def add_train(commands) -> None:
    train = commands.add_parser(
        "train", help="one-stage training (one process, or under torchrun with FSDP2)"
    )
    train.add_argument("--config", required=True, help="YAML with model / data / optim / run sections")
    train.add_argument("--resume", action="store_true", help="continue from RUN/checkpoints/latest")
    train.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                       help="override a config value (YAML syntax), e.g. --set run.max_steps=10")  # fmt: skip
    train.set_defaults(run=run_train)


def run_train(args) -> int:
    import yaml

    from .train.config import TrainConfig
    from .train.trainer import Trainer

    content = yaml.safe_load(Path(args.config).read_text()) or {}
    for assignment in args.set:
        key, _, value = assignment.partition("=")
        section, _, name = key.partition(".")
        if not name:
            raise ValueError(f"--set {assignment!r}: expected SECTION.FIELD=VALUE")
        content.setdefault(section, {})[name] = yaml.safe_load(value)
    config = TrainConfig.from_dict(content, where=args.config)
    summary = Trainer(config, resume=args.resume).train()
    if int(os.environ.get("RANK", "0")) == 0:
        print(
            f"trained {summary.steps} steps in {summary.seconds:.0f} s, final loss {summary.final_loss:.4f}; model: {summary.model_dir}"
        )
    return 0


def add_demo(commands) -> None:
    demo = commands.add_parser(
        "demo", help="train a toy SPHINX-X on a synthetic corpus and report (CPU, minutes)"
    )
    demo.add_argument(
        "--out", default="demo-out", help="folder for the corpus, model, report.html, metrics.json"
    )
    size = demo.add_mutually_exclusive_group()
    size.add_argument(
        "--quick", action="store_true", help="a small run (under 2 minutes) that only shows the loss falling"
    )
    size.add_argument(
        "--long",
        action="store_true",
        help="20x the expert pre-training and 4 epochs: grounding and reading (about 5 min on a GPU, 30 on 2 CPU cores)",
    )
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(run=run_demo)


def run_demo(args) -> int:
    from .demo.run import SETTINGS
    from .demo.run import run_demo as demo

    settings = SETTINGS["quick" if args.quick else "long" if args.long else "full"]
    metrics = demo(args.out, seed=args.seed, settings=settings)
    headline = {
        k: round(v, 3)
        for k, v in metrics.items()
        if k in ("vqa_accuracy", "rec_acc50", "ocr_exact_match", "wall_seconds")
    }
    print(json.dumps(headline))
    print(f"report: {Path(args.out) / 'report.html'}; model: {Path(args.out) / 'model'}")
    return 0


def add_data(commands) -> None:
    data = commands.add_parser(
        "data", help="training data: convert datasets, OCR from PDFs, Set-of-Mark, mix, validate"
    )
    actions = data.add_subparsers(dest="action", required=True)
    add_data_convert(actions)
    add_data_ocr(actions)
    add_data_som(actions)
    add_data_mix(actions)
    validate = actions.add_parser("validate", help="report every bad record by file, line and field")
    validate.add_argument("files", nargs="+", help="record files (JSON list or JSONL)")
    validate.add_argument(
        "--image-root", help="folder image paths are relative to (default: each file's folder)"
    )
    validate.add_argument(
        "--no-decode", action="store_true", help="check that images exist, without decoding them"
    )
    validate.add_argument("--max-report", type=int, default=200, help="print at most this many problems")
    validate.set_defaults(run=run_data_validate)


def add_data_convert(actions) -> None:
    from .data.converters import CONVERTERS

    convert = add_listing_parser(
        actions, "convert", "a dataset's published annotation files -> training records (JSONL)",
        "kinds", {kind: family for kind, (_, family) in CONVERTERS.items()},
    )  # fmt: skip
    convert.add_argument(
        "kind", choices=sorted(CONVERTERS), metavar="KIND", help="the dataset format (listed above)"
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
    convert.set_defaults(run=run_data_convert)


def run_data_convert(args) -> int:
    from .data.converters import ConverterInputError, ConvertOptions, convert

    options = ConvertOptions(
        padding=args.padding, seed=args.seed, image_root=args.image_root,
        image_out=args.image_out or args.out.parent / "images", split=args.split, max_turns=args.max_turns,
    )  # fmt: skip
    try:
        summary = convert(args.kind, args.sources, args.out, options)
    except ConverterInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(summary)
    return 0


def add_data_ocr(actions) -> None:
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
    ocr.set_defaults(run=run_data_ocr)


def run_data_ocr(args) -> int:
    from .data.papertext import TASKS, OcrSettings, build_ocr_dataset

    tasks = tuple(task.strip() for task in args.tasks.split(",") if task.strip())
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown or not tasks:
        print(
            f"error: --tasks: unknown {', '.join(unknown) or '(none given)'}; expected some of {', '.join(TASKS)}",
            file=sys.stderr,
        )
        return 2
    settings = OcrSettings(
        dpi=args.dpi,
        min_chars=args.min_chars,
        min_text_pixels=args.min_text_pixels,
        tasks=tasks,
        seed=args.seed,
    )
    try:
        summary = build_ocr_dataset(args.pdf_dir, args.out, settings)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(summary.table())
    return 0


def add_data_som(actions) -> None:
    from .data.set_of_mark import DOMAINS

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
        "--domain", choices=sorted(DOMAINS), default="natural", help="selects the captioner's instruction"
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
    som.set_defaults(run=run_data_som)


def run_data_som(args) -> int:
    from .data.set_of_mark import OpenAICaptioner, TemplateCaptioner, build_som_dataset

    captioner = TemplateCaptioner()
    if args.captioner_url:
        captioner = OpenAICaptioner(
            args.captioner_url, args.captioner_model, os.environ.get(args.captioner_key_env)
        )
    summary = build_som_dataset(
        args.sources,
        args.image_root,
        args.out,
        args.domain,
        captioner,
        args.padding,
        args.max_marks,
        args.seed,
        coco=args.coco,
    )
    print(summary)
    return 0


def add_data_mix(actions) -> None:
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
    mix.set_defaults(run=run_data_mix)


def run_data_mix(args) -> int:
    from .data.mix import mix, stats_table

    count_tokens = None
    if args.tokenizer:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
        count_tokens = lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    try:
        rows, bad = mix(args.config, args.out, args.seed, count_tokens)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(stats_table(rows, "tokens" if args.tokenizer else "words"))
    print(bad.report(examples=20))
    return 0


def run_data_validate(args) -> int:
    from .data.validate import validate

    report = validate(args.files, args.image_root, decode_images=not args.no_decode)
    for problem in report.problems[: args.max_report]:
        print(problem)
    if len(report.problems) > args.max_report:
        print(f"... and {len(report.problems) - args.max_report} more problems")
    print(report.summary())
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
