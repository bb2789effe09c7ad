"""`sphinx-x data validate`: every bad record of a dataset, by file, line and field, before training.

Checks what training would otherwise skip one by one: malformed JSON lines, records that are not
objects, missing / empty / non-alternating turns, no assistant turn, a missing or unreadable image,
and boxes or points outside [0, 1]. Records are read by the trainer's streaming reader (JSON list,
JSONL, parquet), and the conversation rules and the image loader are the ones the processor uses,
so a record that passes here encodes in training.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..processing.conversation import ConversationError, check_alternation, to_messages
from ..processing.images import ImageLoadError, load_image
from ..processing.locations import parse_locations
from .records import entries


@dataclass(frozen=True)
class Problem:
    where: str  # "file:line" (or "file:[index]" in a JSON list)
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.message}"


@dataclass
class ValidationReport:
    files: int = 0
    records: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def bad_records(self) -> int:
        return len({problem.where for problem in self.problems})

    def summary(self) -> str:
        kinds = Counter(problem.field.split("[")[0] for problem in self.problems)
        details = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
        return f"{self.files} files, {self.records} records, {self.bad_records} bad" + (
            f" ({details})" if details else ""
        )


def record_problems(where: str, record, image_root: Path, decode_images: bool) -> list[Problem]:
    if not isinstance(record, dict):
        return [Problem(where, "record", f"expected a JSON object, got {type(record).__name__}")]
    problems = conversation_problems(where, record.get("conversations"))
    if record.get("image") is not None:
        problems += image_problems(where, image_root / str(record["image"]), decode_images)
    return problems


def conversation_problems(where: str, turns) -> list[Problem]:
    if not isinstance(turns, list) or not turns:
        return [Problem(where, "conversations", "expected a non-empty list of turns")]
    try:
        messages = to_messages(turns)
        check_alternation(messages, add_generation_prompt=False)
    except ConversationError as error:
        return [Problem(where, "conversations", f"{error}")]
    problems = []
    if not any(message.role == "assistant" for message in messages):
        problems.append(Problem(where, "conversations", "no assistant ('gpt') turn: nothing to supervise"))
    for index, message in enumerate(messages):
        for location in parse_locations(message.text):
            if any(not 0.0 <= value <= 1.0 for value in location.coordinates):
                coordinates = list(location.coordinates)
                problems.append(
                    Problem(
                        where,
                        f"conversations[{index}].value",
                        f"{location.kind} outside [0, 1]: {coordinates}",
                    )
                )
    return problems


def image_problems(where: str, path: Path, decode: bool) -> list[Problem]:
    if not path.is_file():
        return [Problem(where, "image", f"file not found: {path}")]
    if decode:
        try:
            load_image(path)
        except ImageLoadError as error:
            return [Problem(where, "image", str(error))]
    return []


def validate(
    paths: list[str | Path], image_root: str | Path | None = None, decode_images: bool = True
) -> ValidationReport:
    """Validate record files; images resolve against `image_root` (default: each file's folder)."""
    report = ValidationReport()
    for path in map(Path, paths):
        if not path.is_file():
            report.problems.append(Problem(str(path), "file", "not found"))
            continue
        report.files += 1
        root = Path(image_root) if image_root is not None else path.parent
        try:
            for where, record in entries(path):  # the trainer's reader: JSON list, JSONL or parquet
                report.records += 1
                if isinstance(record, Exception):  # a malformed line
                    report.problems.append(Problem(where, "line", str(record)))
                else:
                    report.problems += record_problems(where, record, root, decode_images)
        except ValueError as error:  # a broken JSON list: nothing after the break can be read
            report.problems.append(Problem(str(path), "file", str(error)))
    return report
