"""Boxes and points of an answer as data, in the pixels of the image the client sent.

The model writes locations normalised to the padded square it saw (`[0.12, 0.30, 0.55, 0.71]`);
a client drawing them would need to know the padding convention. Each location comes back as

    {"type": "box", "phrase": "the dog", "pixels": [x1, y1, x2, y2], "square": [0.12, 0.30, 0.55, 0.71]}

(`"point"` with `[x, y]`), `pixels` in the original (EXIF-upright) image, clipped to it.
"""

from __future__ import annotations

from ..processing.locations import SquareFrame, parse_locations


def grounding(answer: str, width: int, height: int, padding: str) -> list[dict]:
    frame = SquareFrame(width, height, padding)
    return [
        {
            "type": location.kind,
            "phrase": location.phrase,
            "pixels": [round(value, 1) for value in frame.to_pixels(location.coordinates)],
            "square": list(location.coordinates),
        }
        for location in parse_locations(answer)
    ]
