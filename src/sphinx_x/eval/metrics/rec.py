"""Referring expression comprehension: Acc@0.5 and mean IoU, as SPHINX's evaluator computes them.

The model answers in coordinates normalised to the padded square of side S = max(W, H). With the
release's centred padding the short side was padded by the integer offset (max - min) // 2; with
the SPHINX-X corner padding the offset is 0. The ground truth (absolute xyxy pixels) is shifted by
that offset and the prediction multiplied by S, then compared.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

FIRST_BRACKET = re.compile(r"\[(.*?)\]")  # no DOTALL, like the reference


def parse_first_box(text: str) -> list[float]:
    """The first `[...]` (else the text before the first `]`), split on `,`: 4 floats or [0, 0, 0, 0]."""
    match = FIRST_BRACKET.search(text)
    body = match.group(1) if match else text.split("]")[0]
    parts = body.split(",")
    if len(parts) != 4:
        return [0.0, 0.0, 0.0, 0.0]
    try:
        return [float(part) for part in parts]
    except ValueError:
        return [0.0, 0.0, 0.0, 0.0]


def padding_offset(width: int, height: int, padding: str) -> tuple[int, int]:
    if padding == "corner":
        return 0, 0
    if padding != "center":
        raise ValueError(f"padding must be 'center' or 'corner', got {padding!r}")
    shift = (max(width, height) - min(width, height)) // 2
    return (0, shift) if width > height else (shift, 0)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two xyxy boxes, no clipping or reordering (torchvision's formula)."""
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    intersection = width * height
    union = area_a + area_b - intersection
    return intersection / union if union > 0 else 0.0


def rec_iou(prediction: str, box: Sequence[float], width: int, height: int, padding: str) -> float:
    """IoU between the model's first box and the ground truth `box` (original-image xyxy pixels)."""
    side = max(width, height)
    dx, dy = padding_offset(width, height, padding)
    truth = [box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy]
    predicted = [value * side for value in parse_first_box(prediction)]
    return box_iou(predicted, truth)
