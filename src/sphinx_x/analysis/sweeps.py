"""The two sweeps: scores against active experts (Figure 6) and against experts kept (Figure 7).

Each variant is scored by one `Scorer` on the one loaded model (k is set on the routers, pruning
is a router mask: nothing is copied or reloaded), its run files under OUT/<variant>/, and the
sweep writes OUT/<name>.json (every point), OUT/<name>.md (the table) and OUT/<name>.png.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from .active_experts import experts_per_token
from .plots import prune_figure, topk_figure
from .pruning import busiest_experts, masked_experts, random_experts
from .routers import active_experts, num_experts, routers
from .scoring import Scorer
from .usage import RoutingUsage


def parse_counts(text: str, option: str, maximum: int) -> list[int]:
    """ "1,2,4,8", "1..8" or a mix ("1,2,4..8"), each in 1..maximum; an error names the option."""
    values: list[int] = []
    try:
        for part in text.split(","):
            low, _, high = part.partition("..")
            values += list(range(int(low), int(high) + 1)) if high else [int(low)]
    except ValueError:
        raise ValueError(f"{option} {text!r}: expected numbers like 1,2,4,8 or a range like 1..8") from None
    outside = [value for value in values if not 1 <= value <= maximum]
    if outside or not values:
        raise ValueError(
            f"{option} {text!r}: each value must be 1 to {maximum} (the model's experts per layer)"
        )
    return sorted(set(values))


def scored(scorer: Scorer, model, processor, out_dir: Path) -> tuple[dict[str, float], float]:
    started = time.perf_counter()
    scores = scorer(model, processor, out_dir)
    return scores, time.perf_counter() - started


# -- active experts (A.1.1) -------------------------------------------------------------------


def topk_sweep(model, processor, scorer: Scorer, ks: list[int], out: str | Path) -> dict:
    """Score the model with each k of `ks` active experts per token."""
    out = Path(out)
    points = []
    for k in ks:
        with experts_per_token(model, k):
            scores, seconds = scored(scorer, model, processor, out / f"k{k}")
        points.append({"k": k, "scores": scores, "seconds": round(seconds, 2)})
    result = {"analysis": "active experts per token", "benchmark": scorer.benchmark, "data": str(scorer.data),
              "experts": num_experts(model), "trained_k": active_experts(model), "points": points}  # fmt: skip
    write_sweep(out, "topk", result, topk_table(result))
    topk_figure(result, out / "topk.png")
    return result


def topk_table(result: dict) -> str:
    keys = list(result["points"][0]["scores"])
    lines = [f"# {result['benchmark']}: active experts per token (trained with k={result['trained_k']})", "",
             "| k | " + " | ".join(keys) + " | seconds |", "|---" * (len(keys) + 2) + "|"]  # fmt: skip
    for point in result["points"]:
        cells = [f"{point['scores'][key]:.4g}" for key in keys]
        lines.append(f"| {point['k']} | " + " | ".join(cells) + f" | {point['seconds']:.1f} |")
    return "\n".join(lines) + "\n"


# -- pruning (A.1.3) ----------------------------------------------------------------------------


def prune_sweep(
    model,
    processor,
    scorer: Scorer,
    keeps: list[int],
    out: str | Path,
    runs: int = 3,
    seed: int = 0,
    usage: RoutingUsage | None = None,
    measure: str = "choices",
) -> dict:
    """For each N of `keeps`: `runs` random choices of N experts per layer (seeds seed, seed + 1, ...;
    one run when N = E, nothing to choose), and with `usage` the N busiest experts of each layer."""
    if runs < 1:
        raise ValueError(f"--runs {runs}: expected at least 1 random choice per number of experts kept")
    out = Path(out)
    layers, total = len(routers(model)), num_experts(model)
    points = []
    for keep in keeps:
        for run in range(runs if keep < total else 1):
            kept = random_experts(layers, total, keep, seed + run)
            points.append(pruned_point(scorer, model, processor, kept, out / f"keep{keep}-random{run}",
                                       {"keep": keep, "strategy": "random", "run": run, "seed": seed + run}))  # fmt: skip
        if usage is not None:
            kept = busiest_experts(usage, keep, measure)
            points.append(pruned_point(scorer, model, processor, kept, out / f"keep{keep}-usage",
                                       {"keep": keep, "strategy": "usage", "measure": measure}))  # fmt: skip
    result = {"analysis": "experts kept per layer", "benchmark": scorer.benchmark, "data": str(scorer.data),
              "experts": total, "top_k": active_experts(model), "runs": runs, "points": points,
              "random": spread_by_keep(points)}  # fmt: skip
    write_sweep(out, "prune-sweep", result, prune_table(result))
    prune_figure(result, out / "prune-sweep.png")
    return result


def pruned_point(scorer, model, processor, kept, out_dir: Path, about: dict) -> dict:
    with masked_experts(model, kept):
        scores, seconds = scored(scorer, model, processor, out_dir)
    return about | {"kept": kept, "scores": scores, "seconds": round(seconds, 2)}


def spread_by_keep(points: list[dict]) -> dict[str, dict[str, dict[str, float]]]:
    """Per N kept and score: mean, std, min and max over the random runs."""
    spread: dict[str, dict[str, dict[str, float]]] = {}
    for keep in sorted({p["keep"] for p in points if p["strategy"] == "random"}):
        runs = [p["scores"] for p in points if p["strategy"] == "random" and p["keep"] == keep]
        spread[str(keep)] = {
            key: {
                "mean": statistics.fmean(values),
                "std": statistics.pstdev(values),
                "min": min(values),
                "max": max(values),
            }
            for key in runs[0]
            for values in [[scores[key] for scores in runs]]
        }
    return spread


def prune_table(result: dict) -> str:
    keys = list(result["points"][0]["scores"])
    lines = [f"# {result['benchmark']}: experts kept per layer (of {result['experts']}; random: mean ± std "
             f"[min, max] over {result['runs']} runs)", "",
             "| kept | " + " | ".join(f"{key} random | {key} usage" for key in keys) + " |",
             "|---" * (2 * len(keys) + 1) + "|"]  # fmt: skip
    for keep, spread in result["random"].items():
        usage = next(
            (p["scores"] for p in result["points"] if p["strategy"] == "usage" and str(p["keep"]) == keep),
            None,
        )
        cells = []
        for key in keys:
            s = spread[key]
            cells.append(f"{s['mean']:.4g} ± {s['std']:.2g} [{s['min']:.4g}, {s['max']:.4g}]")
            cells.append(f"{usage[key]:.4g}" if usage else "")
        lines.append(f"| {keep} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_sweep(out: Path, name: str, result: dict, table: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=1))
    (out / f"{name}.md").write_text(table)
