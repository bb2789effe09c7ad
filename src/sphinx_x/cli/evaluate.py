"""`sphinx-x eval`: score predictions, run a benchmark or the suite, export results."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .common import add_listing_parser, add_model_options, load_model_from


def add(commands) -> None:
    from ..eval.score import METRICS

    evaluate = commands.add_parser("eval", help="benchmarks with the community's exact metrics")
    actions = evaluate.add_subparsers(dest="action", required=True)

    score = add_listing_parser(
        actions, "score", "score a JSONL file of predictions with one metric",
        "metrics and the fields each record needs", {name: ", ".join(m.fields) for name, m in METRICS.items()},
    )  # fmt: skip
    score.add_argument(
        "metric", choices=list(METRICS), metavar="METRIC", help="one of the metrics listed above"
    )
    score.add_argument("file")
    score.add_argument("--per-item", help="write every record with its score here (JSONL)")
    add_judge_options(score)
    score.set_defaults(run=run_score)

    run = actions.add_parser("run", help="one benchmark from its published files on a local path")
    add_model_options(run)
    run.add_argument("--benchmark", required=True)
    run.add_argument("--data", required=True, help="the benchmark's folder or main file")
    add_run_options(run)
    add_judge_options(run)
    run.set_defaults(run=run_benchmark)

    suite = actions.add_parser("suite", help="every benchmark whose folder exists under --data-root")
    add_model_options(suite)
    suite.add_argument(
        "--data-root", required=True, help="folders named vqav2, textvqa, docvqa, pope, mme, ..."
    )
    add_run_options(suite)
    add_judge_options(suite)
    suite.set_defaults(run=run_suite)

    export = actions.add_parser("export", help="a result file in a submission or lmms-eval format")
    export.add_argument("result", help="NAME.json written by eval run")
    export.add_argument("--format", required=True, choices=["vqav2", "docvqa", "lmms-eval"])
    export.add_argument("--out", required=True)
    export.set_defaults(run=run_export)


def add_run_options(parser) -> None:
    parser.add_argument("--out", default="eval-results", help="folder for predictions and result files")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--limit", type=int, help="only the first N items (a quick look)")
    parser.add_argument(
        "--temperature", type=float, default=0.1, help="the release's evaluation setting; 0 = greedy"
    )
    parser.add_argument("--top-p", type=float, default=0.75)
    parser.add_argument("--seed", type=int, default=0)


def add_judge_options(parser) -> None:
    judge = parser.add_argument_group("judge", "an OpenAI-compatible chat endpoint that scores MM-Vet, LLaVA-Bench, "
                                      "MathVista's extraction, ... (without one, those are skipped)")  # fmt: skip
    judge.add_argument("--judge-url", help="e.g. https://api.openai.com/v1, or a local server")
    judge.add_argument(
        "--judge-model", help="the model name sent to the endpoint (required with --judge-url)"
    )
    judge.add_argument(
        "--judge-key-env", default="OPENAI_API_KEY", help="environment variable holding the key"
    )
    judge.add_argument("--judge-cache", help="judge answers cache (default: OUT/judge-cache.jsonl)")


def judge_from(args, out_dir):
    if not args.judge_url:
        return None
    if not args.judge_model:
        raise ValueError("--judge-model is required with --judge-url")
    from ..eval.judging import make_judge

    return make_judge(args.judge_url, args.judge_model, args.judge_key_env, out_dir, args.judge_cache)


def run_options(args) -> dict:
    return {"batch_size": args.batch_size, "limit": args.limit, "temperature": args.temperature,
            "top_p": args.top_p, "seed": args.seed, "model_path": args.model}  # fmt: skip


def run_benchmark(args) -> int:
    from ..eval.benchmarks import get_benchmark
    from ..eval.runner import run_benchmark

    benchmark = get_benchmark(args.benchmark)
    judge = judge_from(args, args.out)
    model, processor = load_model_from(args)
    result = run_benchmark(model, processor, benchmark, args.data, args.out, **run_options(args))
    if judge is not None:
        from ..eval.judging import judge_result, uses_judge

        if uses_judge(benchmark):
            result = judge_result(result, judge, args.out)
    print(json.dumps({"benchmark": benchmark.name, "scores": result["scores"],
                      "result": f"{args.out}/{benchmark.name}.json"}))  # fmt: skip
    return 0


def run_suite(args) -> int:
    from ..eval.suite import run_suite, write_suite_table

    model, processor = load_model_from(args)
    print(
        write_suite_table(
            run_suite(model, processor, args.data_root, args.out, **run_options(args)), args.out
        )
    )
    return 0


def run_export(args) -> int:
    from ..eval.adapters import export_result

    print(f"wrote {export_result(args.result, args.format, args.out)}")
    return 0


def run_score(args) -> int:
    from ..eval.score import read_jsonl, score_records

    report = score_records(args.metric, read_jsonl(args.file), judge=judge_from(args, Path(args.file).parent))
    if report.judge is not None:
        print(f"judge: {json.dumps(report.judge)}", file=sys.stderr)
    for problem in report.invalid:
        print(f"invalid record: {problem}", file=sys.stderr)
    if args.per_item:
        with open(args.per_item, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(item) + "\n" for item in report.items)
    print(json.dumps(report.aggregate))
    return 1 if report.invalid else 0
