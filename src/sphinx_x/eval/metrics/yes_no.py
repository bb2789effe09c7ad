"""Yes/no benchmarks: POPE (the official evaluate.py) and MME (lmms-eval)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

MME_PERCEPTION = ("existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark",
                  "artwork", "OCR")  # fmt: skip
MME_COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")


def pope_parse(text: str) -> str:
    """First sentence, commas dropped, split on single spaces: "no" if it says No / not / no, else "yes"."""
    if "." in text:
        text = text.split(".")[0]
    words = text.replace(",", "").split(" ")
    return "no" if ("No" in words or "not" in words or "no" in words) else "yes"


def pope_scores(items: Iterable[tuple[str, str]]) -> dict[str, float]:
    """`items`: (prediction text, "yes"/"no" answer). Positive class = yes."""
    tp = fp = tn = fn = 0
    for prediction, answer in items:
        said_yes, is_yes = pope_parse(prediction) == "yes", answer.strip().lower() == "yes"
        tp += said_yes and is_yes
        fp += said_yes and not is_yes
        tn += not said_yes and not is_yes
        fn += not said_yes and is_yes
    total = tp + fp + tn + fn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "accuracy": (tp + tn) / total if total else 0.0,
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "yes_ratio": (tp + fp) / total if total else 0.0,
        "count": total,
    }


def mme_parse(text: str) -> str:
    text = text.lower().strip().replace(".", "")
    if text in ("yes", "no"):
        return text
    if len(text) == 1:
        return {"y": "yes", "n": "no"}.get(text, "other")
    if "yes" in text[:4]:
        return "yes"
    if "no" in text[:4]:
        return "no"
    return "other"


def mme_scores(items: Iterable[dict]) -> dict[str, float]:
    """`items` with prediction, answer, subtask, image. Per subtask 100*acc + 100*acc+ (max 200)."""
    images: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for item in items:
        correct = mme_parse(item["prediction"]) == item["answer"].strip().lower()
        images[item["subtask"]][item["image"]].append(correct)
    scores = {}
    for subtask, per_image in images.items():
        answers = [correct for results in per_image.values() for correct in results]
        accuracy = sum(answers) / len(answers)
        accuracy_plus = sum(all(results) for results in per_image.values()) / len(per_image)
        scores[subtask] = 100 * accuracy + 100 * accuracy_plus
    scores["perception"] = sum(scores[s] for s in MME_PERCEPTION if s in scores)
    scores["cognition"] = sum(scores[s] for s in MME_COGNITION if s in scores)
    return scores
