"""ScreenSpot: is the point the model clicks inside the target element's box? Accuracy per platform
(mobile, desktop, web) and per element type (text, icon).

Follows SeeClick's `pretrain/screenspot_test.py` (njucckevin/SeeClick): the ground-truth `bbox`
[x, y, w, h] in pixels becomes [x1, y1, x2, y2]; a predicted box clicks its centre, a predicted
point clicks itself; the click is right when x1 <= x <= x2 and y1 <= y <= y2 (edges included); an
answer with no point or box is wrong. Our model writes coordinates in the padded square (the
release's convention), so the click is mapped back to the image's pixels first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from ...processing.locations import SquareFrame, parse_locations


def click_point(prediction: str, width: int, height: int, padding: str) -> tuple[float, float] | None:
    """The pixel the answer clicks: its first point, or the centre of its first box."""
    locations = parse_locations(prediction)
    if not locations:
        return None
    values = locations[0].coordinates
    x, y = values if len(values) == 2 else ((values[0] + values[2]) / 2, (values[1] + values[3]) / 2)
    frame = SquareFrame(width, height, padding)
    dx, dy = frame.offset  # not clipped to the image: a click outside it must miss
    return x * frame.side - dx, y * frame.side - dy


def click_hit(prediction: str, bbox: Sequence[float], width: int, height: int, padding: str) -> float:
    point = click_point(prediction, width, height, padding)
    if point is None:
        return 0.0
    x, y, w, h = bbox
    return float(x <= point[0] <= x + w and y <= point[1] <= y + h)


def screenspot_scores(items: Iterable[dict]) -> dict[str, float]:
    groups: dict[str, list[float]] = defaultdict(list)
    for item in items:
        groups["accuracy"].append(item["hit"])
        groups[f"platform/{item['platform']}"].append(item["hit"])
        groups[f"platform/{item['platform']}/{item['data_type']}"].append(item["hit"])
    return {name: sum(v) / len(v) for name, v in sorted(groups.items())} or {"accuracy": 0.0}
