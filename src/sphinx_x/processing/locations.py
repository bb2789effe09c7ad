"""Boxes and points as text, and their coordinates in the padded square vs. the original image.

Text conventions of the release: coordinates normalised to [0, 1] in the padded square, two
decimals: a box `[x1, y1, x2, y2]`, a point `[x, y]`, several for one phrase joined with `; ` in one
bracket, a grounded phrase `<p>phrase</p> [x1, y1, x2, y2]`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)"
_BRACKET = re.compile(r"(?:<p>(?P<phrase>.*?)</p>\s*)?\[(?P<body>[^\[\]]*)\]", re.DOTALL)


def format_box(box: Sequence[float]) -> str:
    return "[" + format_coordinates(box) + "]"


def format_point(point: Sequence[float]) -> str:
    return "[" + format_coordinates(point) + "]"


def format_coordinates(values: Sequence[float]) -> str:
    return ", ".join(f"{min(max(value, 0.0), 1.0):.2f}" for value in values)


def format_locations(groups: Sequence[Sequence[float]]) -> str:
    """Several boxes (or points) for one phrase, in one bracket: `[a, b, c, d; e, f, g, h]`."""
    return "[" + "; ".join(format_coordinates(group) for group in groups) + "]"


def format_grounded(phrase: str, groups: Sequence[Sequence[float]]) -> str:
    return f"<p>{phrase}</p> {format_locations(groups)}"


@dataclass(frozen=True)
class Location:
    """One box (4 numbers) or point (2 numbers) found in text, with the phrase it belongs to, if any."""

    coordinates: tuple[float, ...]
    phrase: str | None = None

    @property
    def kind(self) -> str:
        return "box" if len(self.coordinates) == 4 else "point"


def parse_locations(text: str) -> list[Location]:
    """Every box and point in model output, tolerant of spacing, missing `<p>` tags and stray text.

    Groups that are not 2 or 4 numbers (e.g. a list of words in brackets) are ignored.
    """
    locations = []
    for match in _BRACKET.finditer(text):
        phrase = match.group("phrase")
        for group in match.group("body").split(";"):
            numbers = tuple(float(value) for value in re.findall(_NUMBER, group))
            if len(numbers) in (2, 4) and re.fullmatch(rf"\s*{_NUMBER}(?:\s*,?\s*{_NUMBER})*\s*", group):
                locations.append(Location(numbers, phrase.strip() if phrase else None))
    return locations


@dataclass(frozen=True)
class SquareFrame:
    """How an image of `width` x `height` sits in its padded square, for either padding."""

    width: int
    height: int
    padding: str  # "center" (released checkpoints) or "corner" (SPHINX-X)

    @property
    def side(self) -> int:
        return max(self.width, self.height)

    @property
    def offset(self) -> tuple[int, int]:
        if self.padding == "corner":
            return 0, 0
        return (self.side - self.width) // 2, (self.side - self.height) // 2  # as the release pastes

    def to_square(self, coordinates: Sequence[float]) -> tuple[float, ...]:
        """Pixel coordinates `(x, y, ...)` of the original image -> normalised square coordinates."""
        dx, dy = self.offset
        return tuple((value + (dx, dy)[i % 2]) / self.side for i, value in enumerate(coordinates))

    def to_pixels(self, coordinates: Sequence[float]) -> tuple[float, ...]:
        """Normalised square coordinates -> pixels of the original image, clipped to it."""
        dx, dy = self.offset
        limits = (self.width, self.height)
        return tuple(
            min(max(value * self.side - (dx, dy)[i % 2], 0.0), float(limits[i % 2]))
            for i, value in enumerate(coordinates)
        )
