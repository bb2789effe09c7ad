"""Answer-string metrics of document and chart VQA: ANLS (DocVQA, InfoVQA), relaxed accuracy
(ChartQA) and case-insensitive exact match (OCR-VQA, as Qwen-VL's `evaluate_vqa.py` scores it)."""

from __future__ import annotations

from collections.abc import Sequence

ANLS_THRESHOLD = 0.5


def levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def anls(prediction: str, answers: Sequence[str]) -> float:
    """The docvqa.org / RRC script: lengths of the *raw* strings in the denominator, 0 below 0.5."""
    best = 0.0
    for answer in answers:
        clean_answer = " ".join(answer.strip().lower().split())
        clean_prediction = " ".join(prediction.strip().lower().split())
        length = max(len(answer.upper()), len(prediction.upper()))
        distance = levenshtein(clean_answer, clean_prediction) / length if length else 0.0
        best = max(best, 1.0 - distance)
    return best if best >= ANLS_THRESHOLD else 0.0


def to_float(text: str) -> float | None:
    try:
        if text.endswith("%"):
            return float(text.rstrip("%")) / 100.0
        return float(text)
    except ValueError:
        return None


def relaxed_correct(prediction: str, target: str, tolerance: float = 0.05) -> float:
    """ChartQA (lmms-eval): within 5% of a non-zero numeric target, else case-insensitive equality."""
    predicted, expected = to_float(prediction), to_float(target)
    if predicted is not None and expected:
        return float(abs(predicted - expected) / abs(expected) <= tolerance)
    return float(prediction.lower() == target.lower())


def exact_match_any(prediction: str, answers: Sequence[str]) -> float:
    """1 when the stripped, lowercased prediction equals a stripped, lowercased answer."""
    predicted = prediction.strip().lower()
    return float(any(predicted == answer.strip().lower() for answer in answers))
