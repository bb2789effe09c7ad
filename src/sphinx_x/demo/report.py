"""The demo's report: one self-contained HTML page (images embedded)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from ..inference.draw import draw_locations
from ..processing.locations import parse_locations

BARS = {"vqa_accuracy": 0.8, "rec_acc50": 0.5, "ocr_exact_match": 0.5}


def embedded_png(image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def example_cards(examples: list[dict], per_task: int = 2) -> str:
    cards, shown = [], {}
    for example in examples:
        record, image = example["record"], example["image"]
        if image is None or shown.get(record["task"], 0) >= per_task:
            continue
        shown[record["task"]] = shown.get(record["task"], 0) + 1
        locations = parse_locations(example["prediction"])
        picture = draw_locations(image, locations, "corner") if locations else image
        picture = picture.resize((picture.width * 2, picture.height * 2))
        question = record["conversations"][0]["value"].replace("<image>\n", "")
        mark = "&#10003;" if example["score"] >= 0.5 else "&#10007;"
        cards.append(
            f'<div class="card"><img src="{embedded_png(picture)}"><p class="task">{record["task"]} {mark}</p>'
            f"<p><b>Q</b> {html.escape(question)}</p><p><b>model</b> {html.escape(example['prediction'])}</p>"
            f"<p><b>truth</b> {html.escape(record['conversations'][1]['value'])}</p></div>"
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


def write_report(out: Path, metrics: dict, examples: list[dict], loss_curve: Path) -> Path:
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
<h2>Held-out metrics</h2><table>{metrics_rows(metrics)}</table>
<h2>Loss</h2>{curve}
<h2>Held-out samples (predicted boxes drawn)</h2><div class="grid">{example_cards(examples)}</div>
</body></html>"""
    path = out / "report.html"
    path.write_text(page)
    return path
