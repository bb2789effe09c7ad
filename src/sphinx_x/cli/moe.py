"""`sphinx-x moe`: routing analysis of a Mixtral-based model (the paper's Appendix A.1).

topk         scores with 1..E active experts per token (Figure 6)
usage        per layer and expert, the share of tokens routed there, by domain and token type (Figure 5)
prune        keep N experts per layer (random or busiest by usage): a smaller model folder, or scores
prune-sweep  scores against experts kept, random mean and spread, and usage-guided (Figure 7)
"""

from __future__ import annotations

import json
import sys

from .common import add_model_options, load_model_from

SCORED = "the runner's benchmark names, or demo-heldout (the demo's DIR/heldout folder)"


def add(commands) -> None:
    moe = commands.add_parser(
        "moe", help="MoE routing analysis: active experts, expert usage, expert pruning"
    )
    actions = moe.add_subparsers(dest="action", required=True)

    topk = actions.add_parser(
        "topk", help="score the model with k = 1..E active experts per token (Figure 6)"
    )
    add_model_options(topk)
    add_scoring_options(topk, "moe-topk")
    topk.add_argument("--k", help="active experts to try: 1,2,4,8 or 1..8 (default: 1 to E)")
    topk.set_defaults(run=run_topk)

    usage = actions.add_parser(
        "usage", help="share of tokens per layer and expert, by domain and token type (Figure 5)"
    )
    add_model_options(usage)
    usage.add_argument(
        "--data", help="records (JSONL), a mixture YAML or its folder, or with --benchmark its files"
    )
    usage.add_argument("--domain", action="append", default=[], metavar="NAME=PATH",
                       help="one more domain, read like --data (repeatable)")  # fmt: skip
    usage.add_argument(
        "--benchmark", help="read --data / --domain paths with this benchmark's reader (prompts)"
    )
    usage.add_argument(
        "--group-by", help="with --benchmark: one domain per value of this item field (MME: subtask)"
    )
    usage.add_argument(
        "--only", help="keep these domains, comma-separated (the paper: artwork,celebrity,OCR)"
    )
    usage.add_argument("--image-root", help="images of a records file (default: its folder)")
    usage.add_argument("--limit", type=int, help="at most N inputs per domain")
    usage.add_argument("--batch-size", type=int, default=8)
    add_measure_option(usage, "the share the figures show: of top-k choices, or of router probability (mass)")
    usage.add_argument("--out", default="moe-usage", help="folder for usage.json and the figures")
    usage.set_defaults(run=run_usage)

    prune = actions.add_parser(
        "prune", help="keep N experts per layer: a smaller model folder and / or its scores"
    )
    add_model_options(prune)
    prune.add_argument("--keep", type=int, required=True, help="experts kept per layer")
    add_strategy_options(prune)
    prune.add_argument("--strategy", choices=["random", "usage"], default="random")
    prune.add_argument("--runs", type=int, default=1, help="random choices, seeds SEED, SEED+1, ...")
    prune.add_argument("--out", help="write the pruned model here (OUT/run-R with several runs)")
    prune.add_argument("--benchmark", help=f"score the pruned model in memory: {SCORED}")
    prune.add_argument("--data", help="the benchmark's files")
    prune.add_argument("--eval-out", default="moe-prune-eval", help="folder for the scoring runs' files")
    add_decoding_options(prune)
    prune.set_defaults(run=run_prune)

    sweep = actions.add_parser(
        "prune-sweep", help="scores against experts kept, random and usage-guided (Figure 7)"
    )
    add_model_options(sweep)
    add_scoring_options(sweep, "moe-prune-sweep")
    sweep.add_argument("--keep", help="experts kept to try: 1..8 or 1,2,4 (default: 1 to E)")
    sweep.add_argument("--runs", type=int, default=3, help="random choices per N (the paper: 3)")
    add_strategy_options(sweep)
    sweep.set_defaults(run=run_prune_sweep)


def add_scoring_options(parser, out: str) -> None:
    parser.add_argument("--benchmark", required=True, help=SCORED)
    parser.add_argument("--data", required=True, help="the benchmark's folder or main file")
    parser.add_argument("--out", default=out, help="folder for the table, JSON, figure and each run's files")
    add_decoding_options(parser)


def add_decoding_options(parser) -> None:
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--limit", type=int, help="only the first N items of a benchmark")
    parser.add_argument("--temperature", type=float, default=0.0,
                        help="0 = greedy (default: variants then differ by their routing only)")  # fmt: skip
    parser.add_argument("--top-p", type=float, default=0.75)
    parser.add_argument("--max-new-tokens", type=int, default=48,
                        help="answer length for demo-heldout (a benchmark has its own)")  # fmt: skip
    parser.add_argument(
        "--seed", type=int, default=0, help="sampling seed, and the first random pruning seed"
    )


def add_strategy_options(parser) -> None:
    parser.add_argument("--usage", help="usage.json of `sphinx-x moe usage`: keep the busiest experts")
    add_measure_option(parser)


def add_measure_option(
    parser, help: str = "busiest = most top-k choices, or most router probability (mass)"
) -> None:
    parser.add_argument("--measure", choices=["choices", "mass"], default="choices", help=help)


def scorer_from(args):
    from pathlib import Path

    from ..analysis.scoring import Scorer

    return Scorer(args.benchmark, Path(args.data), args.batch_size, args.limit, args.temperature, args.top_p,
                  args.seed, args.max_new_tokens)  # fmt: skip


def run_topk(args) -> int:
    from ..analysis.routers import num_experts
    from ..analysis.sweeps import parse_counts, topk_sweep

    scorer = scorer_from(args)
    model, processor = load_model_from(args)
    total = num_experts(model)
    ks = parse_counts(args.k or f"1..{total}", "--k", total)
    result = topk_sweep(model, processor, scorer, ks, args.out)
    print(json.dumps({point["k"]: point["scores"] for point in result["points"]}))
    print(f"table: {args.out}/topk.md; figure: {args.out}/topk.png")
    return 0


def run_usage(args) -> int:
    from ..analysis.inputs import gather_domains
    from ..analysis.run import run_usage
    from ..data.records import BadRecords
    from ..eval.benchmarks import get_benchmark

    benchmark = get_benchmark(args.benchmark) if args.benchmark else None
    bad = BadRecords()
    domains = gather_domains(
        args.data, list(map(named_path, args.domain)), bad, args.only.split(",") if args.only else None,
        benchmark=benchmark, image_root=args.image_root, group_by=args.group_by, limit=args.limit,
    )  # fmt: skip
    model, processor = load_model_from(args)
    usages = run_usage(model, processor, domains, args.out, bad, args.batch_size, args.measure, args.model)
    if bad.total:
        print(bad.report(10), file=sys.stderr)
    print(json.dumps({name: {"tokens": usage.to_dict()["all"]["tokens"],
                             "entropy": [round(v, 3) for v in usage.entropy("all", args.measure).tolist()]}
                      for name, usage in usages.items()}))  # fmt: skip
    print(
        f"usage: {args.out}/usage.json; figures: {args.out}/usage-heatmaps.png, {args.out}/usage-balance.png"
    )
    return 0


def named_path(text: str) -> tuple[str, str]:
    name, separator, path = text.partition("=")
    if not separator or not name or not path:
        raise ValueError(f"--domain {text!r}: expected NAME=PATH")
    return name, path


def run_prune(args) -> int:
    from ..analysis.run import run_prune, usage_of_file

    if args.out is None and args.benchmark is None:
        raise ValueError("give --out (write the pruned model) and / or --benchmark with --data (score it)")
    if (args.benchmark is None) != (args.data is None):
        raise ValueError("--benchmark and --data go together")
    scorer = scorer_from(args) if args.benchmark else None
    usage = usage_of_file(args.usage) if args.usage else None
    records = run_prune(lambda: load_model_from(args), args.keep, args.strategy, args.runs, args.seed, usage,
                        args.measure, args.out, scorer, args.eval_out, source_folder=args.model)  # fmt: skip
    for record in records:
        shown = {key: record[key] for key in ("keep", "strategy", "seed", "kept", "parameter_bytes_before",
                                              "parameter_bytes_after", "folder", "folder_bytes_before",
                                              "folder_bytes_after", "scores") if record.get(key) is not None}  # fmt: skip
        print(json.dumps(shown))
    return 0


def run_prune_sweep(args) -> int:
    from ..analysis.routers import num_experts
    from ..analysis.run import usage_of_file
    from ..analysis.sweeps import parse_counts, prune_sweep

    scorer = scorer_from(args)
    usage = usage_of_file(args.usage) if args.usage else None
    model, processor = load_model_from(args)
    total = num_experts(model)
    keeps = parse_counts(args.keep or f"1..{total}", "--keep", total)
    result = prune_sweep(model, processor, scorer, keeps, args.out, args.runs, args.seed, usage, args.measure)
    print(json.dumps(result["random"]))
    print(f"table: {args.out}/prune-sweep.md; figure: {args.out}/prune-sweep.png")
    return 0
