"""The demo's report: one self-contained HTML page (images embedded)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from ..inference.draw import draw_locations
from ..processing.locations import parse_locations

# The demo's bars (issue 17): held-out, at least 100 samples per task, the real metrics.
BARS = {"vqa_accuracy": 0.75, "rec_acc50": 0.5, "ocr_exact_match": 0.5, "task/count": 0.8, "task/colour": 0.8}


def embedded_png(image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def example_cards(examples: list[dict], per_task: int = 2) -> str:
    cards, shown = [], {}
    for example in examples:
        image, task = example["image"], example["task"]
        if image is None or shown.get(task, 0) >= per_task:
            continue
        shown[task] = shown.get(task, 0) + 1
        locations = parse_locations(example["prediction"])
        picture = draw_locations(image, locations, "corner") if locations else image
        picture = picture.resize((picture.width * 2, picture.height * 2))
        mark = "&#10003;" if example["score"] >= 0.5 else "&#10007;"
        cards.append(
            f'<div class="card"><img src="{embedded_png(picture)}"><p class="task">{task} {mark}</p>'
            f"<p><b>Q</b> {html.escape(example['question'])}</p><p><b>model</b> {html.escape(example['prediction'])}</p>"
            f"<p><b>truth</b> {html.escape(example['answer'])}</p></div>"
        )
    return "\n".join(cards)


def metrics_rows(metrics: dict) -> str:
    rows = []
    for key, value in metrics.items():
        bar = BARS.get(key)
        verdict = "" if bar is None else f" (bar {bar:.2f}: {'met' if value >= bar else 'NOT met'})"
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        rows.append(f"<tr><td>{html.escape(key)}</td><td>{shown}{verdict}</td></tr>")
    return "\n".join(rows)


def experts_section(experts: dict) -> str:
    """Where the frozen experts came from, and how well linear probes read their features."""
    probes = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{value:.3f}</td></tr>"
        for name, value in experts["probes"].items()
    )
    settings = experts["settings"]
    return (f"<p>Pre-trained by <code>{html.escape(experts['command'])}</code> ({settings['steps']} steps of "
            f"{settings['batch']} on {settings['images']} synthetic images, seed {settings['seed']}), then frozen. "
            f"Linear probes on {experts['probe_images']} fresh images (share of the object cells whose colour, shape "
            f"kind and word they name, and whose box they place at IoU &ge; 0.5):</p><table>{probes}</table>")  # fmt: skip


def write_report(out: Path, metrics: dict, examples: list[dict], loss_curve: Path, experts: dict) -> Path:
    curve = (
        f'<img src="data:image/png;base64,{base64.b64encode(loss_curve.read_bytes()).decode()}">'
        if loss_curve.exists()
        else ""
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>sphinx-x demo</title><style>
body {{ font-family: sans-serif; margin: 2em; }} table {{ border-collapse: collapse; }}
td {{ border: 1px solid #ccc; padding: 4px 10px; }} .grid {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.card {{ width: 280px; border: 1px solid #ddd; padding: 8px; font-size: 13px; }} .task {{ font-weight: bold; }}
</style></head><body>
<h1>sphinx-x demo: a toy SPHINX-X trained on a synthetic multi-domain corpus</h1>
<p>The toy vision experts arrive pre-trained and stay frozen, as in the paper; the projector and the
toy LLM start from random weights and are trained in one stage on the synthetic corpus.</p>
<h2>Held-out metrics</h2><table>{metrics_rows(metrics)}</table>
<h2>The frozen vision experts</h2>{experts_section(experts)}
<h2>Loss</h2>{curve}
<h2>Held-out samples (predicted boxes drawn)</h2><div class="grid">{example_cards(examples)}</div>
</body></html>"""
    path = out / "report.html"
    path.write_text(page)
    return path
