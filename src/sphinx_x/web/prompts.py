"""One-click prompts for the release's tasks, in the release's own phrasing (`data/prompts.py`).

The phrase, region and marks are examples; a user edits the question box to ask about their own.
"""

from __future__ import annotations

from ..data import prompts
from ..data.set_of_mark import Mark

EXAMPLE_PHRASE = "the red object"
EXAMPLE_REGION = "[0.10, 0.20, 0.50, 0.60]"
EXAMPLE_MARKS = (Mark(1, "box", [0.10, 0.20, 0.50, 0.60]), Mark(2, "point", [0.70, 0.35]))

TASK_PROMPTS: dict[str, str] = {
    "Describe": prompts.DETAILED_CAPTION[0],
    "Ground a phrase": prompts.REC[0].format(phrase=EXAMPLE_PHRASE),
    "Detect all": prompts.DETECT[0].format(category="objects"),
    "Read the text": prompts.READ[0],
    "Text in a region": prompts.REGION_TEXT[0].format(box=EXAMPLE_REGION),
    "Set-of-Mark": prompts.SET_OF_MARK[0].format(marks="; ".join(mark.as_text() for mark in EXAMPLE_MARKS)),
}
