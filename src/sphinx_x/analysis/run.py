"""What `sphinx-x moe usage` and `sphinx-x moe prune` do, from a loaded model to their files (the
two sweeps are in sweeps.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from ..data.records import BadRecords
from .inputs import Sample
from .plots import balance_figure, usage_heatmaps
from .pruning import (
    busiest_experts,
    check_kept,
    folder_bytes,
    parameter_bytes,
    prune_experts,
    random_experts,
    save_pruned,
)
from .routers import num_experts, routers
from .scoring import Scorer
from .usage import ALL_DOMAINS, RoutingUsage, read_usage, record_usage, total_usage, write_usage


def run_usage(
    model,
    processor,
    domains: dict[str, list[Sample]],
    out: str | Path,
    bad: BadRecords,
    batch_size: int = 8,
    measure: str = "choices",
    model_path: str | None = None,
) -> dict[str, RoutingUsage]:
    """Usage per domain (and over all domains, when there are several): OUT/usage.json,
    OUT/usage-heatmaps.png, OUT/usage-balance.png."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    usages = {
        name: record_usage(model, processor, samples, bad, batch_size) for name, samples in domains.items()
    }
    empty = [name for name, usage in usages.items() if usage.tokens.sum() == 0]
    if empty:
        raise ValueError(f"no readable input in domain(s) {', '.join(empty)}: {bad.report(5)}")
    if len(usages) > 1:
        usages[ALL_DOMAINS] = total_usage(usages)
    write_usage(usages, out / "usage.json", model_path)
    usage_heatmaps(usages, out / "usage-heatmaps.png", measure)
    balance_figure(usages, out / "usage-balance.png", measure)
    return usages


def usage_of_file(path: str | Path) -> RoutingUsage:
    """The all-domains usage of a file written by `run_usage`."""
    usages = read_usage(path)
    return usages.get(ALL_DOMAINS) or total_usage(usages)


def choose_experts(model, keep: int, strategy: str, seed: int, usage: RoutingUsage | None, measure: str):
    layers, total = len(routers(model)), num_experts(model)
    if not 1 <= keep <= total:
        raise ValueError(f"--keep {keep}: expected 1 to {total} (the model has {total} experts per layer)")
    if strategy == "random":
        return random_experts(layers, total, keep, seed)
    if usage is None:
        raise ValueError("--strategy usage needs --usage USAGE.json (written by `sphinx-x moe usage`)")
    if (usage.num_layers, usage.num_experts) != (layers, total):
        raise ValueError(
            f"the usage file counts {usage.num_layers} layers x {usage.num_experts} experts, "
            f"the model has {layers} x {total}"
        )
    return busiest_experts(usage, keep, measure)


def run_prune(
    load: Callable[[], tuple],
    keep: int,
    strategy: str = "random",
    runs: int = 1,
    seed: int = 0,
    usage: RoutingUsage | None = None,
    measure: str = "choices",
    out: str | Path | None = None,
    scorer: Scorer | None = None,
    eval_out: str | Path = "moe-prune-eval",
    source_folder: str | Path | None = None,
) -> list[dict]:
    """Prune a freshly loaded model (`load()`) per run (seeds seed, seed + 1, ...); write it to OUT
    (OUT/run-R with several runs) and / or score it in memory (files under EVAL_OUT/run-R). One
    record per run: how the experts were chosen, which were kept, the memory, the scores."""
    if runs < 1:
        raise ValueError(f"--runs {runs}: expected at least 1")
    if strategy == "usage" and runs != 1:
        raise ValueError("--strategy usage always keeps the same experts: --runs applies to random")
    records = []
    for run in range(runs):
        model, processor = load()
        kept = choose_experts(model, keep, strategy, seed + run, usage, measure)
        record = {"strategy": strategy, "seed": seed + run if strategy == "random" else None,
                  "measure": measure if strategy == "usage" else None, "experts_before": num_experts(model),
                  "keep": check_kept(model, kept), "kept": kept, "parameter_bytes_before": parameter_bytes(model)}  # fmt: skip
        prune_experts(model, kept)
        record["parameter_bytes_after"] = parameter_bytes(model)
        if scorer is not None:
            record["scores"] = scorer(model, processor, Path(eval_out) / f"run-{run}")
        if out is not None:
            folder = Path(out) / f"run-{run}" if runs > 1 else Path(out)
            save_pruned(model, processor, folder)
            record |= {"folder": str(folder), "folder_bytes_after": folder_bytes(folder)}
            if source_folder is not None and Path(source_folder).is_dir():
                record["folder_bytes_before"] = folder_bytes(source_folder)
            (folder / "pruning.json").write_text(json.dumps(record, indent=1))
        records.append(record)
    return records
