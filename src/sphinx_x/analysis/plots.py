"""The figures of the three analyses (matplotlib, Agg: no display needed).

usage_heatmaps   Figure 5: one layer x expert heatmap per domain (rows) and token type (columns)
balance_figure   per-layer entropy and imbalance of the usage: "flatter at both ends" as a number
topk_figure      Figure 6: each score against the number of active experts
prune_figure     Figure 7: each score against the experts kept, random mean and spread, and the
                 usage-guided choice on the same axes
"""

from __future__ import annotations

from pathlib import Path

from .scoring import LOWER_IS_BETTER
from .usage import ALL_DOMAINS, ALL_TYPES, RoutingUsage


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(figure, path: str | Path) -> Path:
    figure.savefig(path)
    pyplot().close(figure)
    return Path(path)


def usage_heatmaps(usages: dict[str, RoutingUsage], path: str | Path, measure: str = "choices") -> Path:
    """Rows: domains (and their sum, when there are several); columns: visual, text, all tokens.
    One colour scale for every panel: white is the balanced share 1/E, red above, blue below."""
    plt = pyplot()
    from matplotlib.colors import TwoSlopeNorm

    rows = list(usages.items())
    experts, layers = rows[0][1].num_experts, rows[0][1].num_layers
    shares = {(domain, token_type): usage.share(token_type, measure).numpy()
              for domain, usage in rows for token_type in ALL_TYPES}  # fmt: skip
    balanced = 1 / experts
    largest = max([balanced * 2] + [float(v) for share in shares.values() for _, v in _cells(share)])
    norm = TwoSlopeNorm(vcenter=balanced, vmin=0.0, vmax=largest)
    figure, axes = plt.subplots(
        len(rows), len(ALL_TYPES), figsize=(2.0 + panel_side(experts) * len(ALL_TYPES), 1.0 + (panel_side(layers) + 0.5) * len(rows)),
        dpi=110, squeeze=False, layout="constrained",
    )  # fmt: skip
    for row, (domain, _) in enumerate(rows):
        for column, token_type in enumerate(ALL_TYPES):
            share, axis = shares[domain, token_type], axes[row][column]
            image = axis.imshow(share, cmap="RdBu_r", norm=norm, aspect="auto")
            if experts * layers <= 64:
                for (layer, expert), value in _cells(share):
                    axis.text(expert, layer, f"{value:.2f}", ha="center", va="center", fontsize=6)
            if not any(True for _ in _cells(share)):
                axis.text(
                    (experts - 1) / 2, (layers - 1) / 2, f"no {token_type} tokens", ha="center", fontsize=7
                )
            axis.set_title(f"{domain} / {token_type}", fontsize=8)
            axis.set_xticks(range(experts))
            axis.set_yticks(range(layers))
            axis.tick_params(labelsize=6)
            if row == len(rows) - 1:
                axis.set_xlabel("expert", fontsize=7)
            if column == 0:
                axis.set_ylabel("layer", fontsize=7)
    label = "share of top-k choices" if measure == "choices" else "share of router probability"
    figure.colorbar(image, ax=axes, shrink=0.6, label=f"{label} (balanced = {balanced:.3g})")
    figure.suptitle("expert usage per layer (Figure 5)", fontsize=9)
    return save(figure, path)


def panel_side(cells: int) -> float:
    """Inches for `cells` rows or columns of a heatmap: readable for 4, not a poster for 32 layers."""
    return min(0.4 * max(cells, 4), 3.5)


def _cells(share):
    for layer, row in enumerate(share):
        for expert, value in enumerate(row):
            if value == value:  # not NaN: a token type the domain never had is left blank
                yield (layer, expert), value


def balance_figure(usages: dict[str, RoutingUsage], path: str | Path, measure: str = "choices") -> Path:
    """Per layer: entropy (1 = every expert equally used) and imbalance (1 = balanced), one line per
    token type over all domains and thin lines per domain; and specialisation, the distance between
    the visual and text tokens' usage and between each domain's and all domains' usage."""
    plt = pyplot()
    total = usages.get(ALL_DOMAINS) or next(iter(usages.values()))
    domains = {name: usage for name, usage in usages.items() if name != ALL_DOMAINS and len(usages) > 1}
    colour = {
        name: plt.get_cmap("tab10")(3 + index % 7) for index, name in enumerate(domains)
    }  # one per domain
    figure, axes = plt.subplots(1, 3, figsize=(14, 3.4), dpi=110, layout="constrained")
    layers = range(total.num_layers)
    for axis, name in zip(axes, ("entropy", "imbalance"), strict=False):
        for token_type, style in zip(ALL_TYPES, ("-o", "-s", "-^"), strict=True):
            axis.plot(
                layers, getattr(total, name)(token_type, measure).numpy(), style, label=f"{token_type} tokens"
            )
        for domain, usage in domains.items():
            values = getattr(usage, name)("all", measure).numpy()
            axis.plot(
                layers, values, color=colour[domain], alpha=0.5, linewidth=0.8, label=f"{domain} (all tokens)"
            )
    axes[2].plot(
        layers, total.modality_gap(measure).numpy(), "-o", color="black", label="visual vs text tokens"
    )
    for domain, usage in domains.items():
        values = usage.distance(total, "all", measure).numpy()
        axes[2].plot(
            layers, values, color=colour[domain], alpha=0.6, linewidth=0.8, label=f"{domain} vs all domains"
        )
    most = total.num_experts / total.top_k if measure == "choices" else total.num_experts
    axes[0].set_ylabel("usage entropy / log E (1 = uniform)", fontsize=8)
    axes[1].set_ylabel(f"largest share x E (1 = balanced, {most:g} = most)", fontsize=8)
    axes[1].axhline(1.0, color="grey", linewidth=0.8, linestyle=":")
    axes[2].set_ylabel("total variation distance (0 = same usage)", fontsize=8)
    axes[2].set_ylim(bottom=0)
    axes[2].legend(fontsize=6)
    for axis in axes:
        axis.set_xlabel("layer")
        axis.set_xticks(list(layers))
        axis.grid(alpha=0.3)
    figure.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize=7)
    scope = ALL_DOMAINS if ALL_DOMAINS in usages else "all inputs"
    figure.suptitle(f"routing balance and specialisation per layer ({scope}; {measure})", fontsize=9)
    return save(figure, path)


def score_axes(keys: list[str]):
    """One panel per score, three to a row (unused panels hidden)."""
    plt = pyplot()
    columns = min(3, len(keys))
    rows = -(-len(keys) // columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(3.4 * columns + 1.6, 2.8 * rows), dpi=110, squeeze=False, layout="constrained"
    )
    axes = list(axes.flat)
    for axis in axes[len(keys) :]:
        axis.set_visible(False)
    for axis, key in zip(axes, keys, strict=False):
        axis.set_title(f"{key} ({'lower' if key in LOWER_IS_BETTER else 'higher'} is better)", fontsize=8)
        axis.grid(alpha=0.3)
        axis.tick_params(labelsize=7)
    return figure, axes[: len(keys)]


def topk_figure(result: dict, path: str | Path) -> Path:
    keys = list(result["points"][0]["scores"])
    figure, axes = score_axes(keys)
    ks = [point["k"] for point in result["points"]]
    for axis, key in zip(axes, keys, strict=True):
        axis.plot(ks, [point["scores"][key] for point in result["points"]], "-o", color="#4363d8")
        axis.axvline(result["trained_k"], color="grey", linestyle=":", linewidth=1)
        axis.set_xticks(ks)
        axis.set_xlabel("active experts per token (dotted: as trained)", fontsize=7)
    figure.suptitle(f"{result['benchmark']}: active experts (Figure 6)", fontsize=9)
    return save(figure, path)


def prune_figure(result: dict, path: str | Path) -> Path:
    keys = list(result["points"][0]["scores"])
    figure, axes = score_axes(keys)
    spread = {int(keep): value for keep, value in result["random"].items()}
    keeps = sorted(spread)
    for axis, key in zip(axes, keys, strict=True):
        runs = [(p["keep"], p["scores"][key]) for p in result["points"] if p["strategy"] == "random"]
        axis.scatter(*zip(*runs, strict=True), s=10, color="#4363d8", alpha=0.45, label="random, each run")
        means = [spread[k][key]["mean"] for k in keeps]
        low = [spread[k][key]["mean"] - spread[k][key]["min"] for k in keeps]
        high = [spread[k][key]["max"] - spread[k][key]["mean"] for k in keeps]
        axis.errorbar(keeps, means, yerr=[low, high], fmt="-o", color="#4363d8", capsize=3,
                      label="random, mean (bars: min to max)")  # fmt: skip
        guided = sorted((p["keep"], p["scores"][key]) for p in result["points"] if p["strategy"] == "usage")
        if guided:
            axis.plot(*zip(*guided, strict=True), "-s", color="#e6194b", label="busiest by usage")
        axis.set_xticks(keeps)
        axis.set_xlabel(f"experts kept per layer (of {result['experts']})", fontsize=7)
    figure.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize=7)
    figure.suptitle(f"{result['benchmark']}: expert pruning (Figure 7)", fontsize=9)
    return save(figure, path)
