"""MathVista: answer extraction (rules, else a judge with the official few-shot prompt), the
official normalisation, then exact equality with the answer string.

Follows lupantech/MathVista `evaluation/extract_answer.py` and `evaluation/calculate_score.py`:
- extraction: an empty response extracts ""; a multiple-choice response equal to a choice is taken
  as is; for integer / float answers a response that `int()` / `float()` parses is taken; anything
  else goes to the judge with the demo prompt + `{query}\\n\\n{response}\\n\\nExtracted answer: `
  (temperature 0, max_tokens 256; gpt-4-0613 in the paper). The optional "quick extract" rule of the
  script is off by default there and is not used here.
- normalisation: multiple choice: a "(X)" letter in the extraction, then a letter -> its choice,
  anything else -> the choice nearest by Levenshtein distance (first on ties); integer:
  `str(int(float(x)))`; float: `str(round(float(x), precision))`; list: `str(x)`; failures -> None.
- a problem is right iff the normalised prediction == the answer string.
The demo prompt is the benchmark's own text, reproduced verbatim.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

from .text_match import levenshtein

PROMPT_VERSION = "mathvista-extract/ext_ans demo prompt (lupantech/MathVista extract_answer.py)"
DEMO_PROMPT = """
Please read the following example. Then extract the answer from the model response and type it at the end of the prompt.

Hint: Please answer the question requiring an integer answer and provide the final value, e.g., 1, 2, 3, at the end.
Question: Which number is missing?

Model response: The number missing in the sequence is 14.

Extracted answer: 14

Hint: Please answer the question requiring a floating-point number with one decimal place and provide the final value, e.g., 1.2, 1.3, 1.4, at the end.
Question: What is the fraction of females facing the camera?

Model response: The fraction of females facing the camera is 0.6, which means that six out of ten females in the group are facing the camera.

Extracted answer: 0.6

Hint: Please answer the question requiring a floating-point number with two decimal places and provide the final value, e.g., 1.23, 1.34, 1.45, at the end.
Question: How much money does Luca need to buy a sour apple candy and a butterscotch candy? (Unit: $)

Model response: Luca needs $1.45 to buy a sour apple candy and a butterscotch candy.

Extracted answer: 1.45

Hint: Please answer the question requiring a Python list as an answer and provide the final list, e.g., [1, 2, 3], [1.2, 1.3, 1.4], at the end.
Question: Between which two years does the line  graph saw its maximum peak?

Model response: The line graph saw its maximum peak between 2007 and 2008.

Extracted answer: [2007, 2008]

Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.
Question: What fraction of the shape is blue?\nChoices:\n(A) 3/11\n(B) 8/11\n(C) 6/11\n(D) 3/5

Model response: The correct answer is (B) 8/11.

Extracted answer: B
"""
MAX_TOKENS = 256
SCORE_KEYS = ("question_type", "answer_type", "language", "source", "category", "task", "context", "grade")


def rule_extraction(response: str, problem: dict) -> str | None:
    """The extraction the official script makes without asking the judge, or None (ask the judge)."""
    if response == "":
        return ""
    if problem["question_type"] == "multi_choice" and response in (problem.get("choices") or []):
        return response
    for answer_type, parse in (("integer", int), ("float", float)):
        if problem["answer_type"] == answer_type:
            try:
                return str(parse(response))
            except ValueError:
                pass
    return None


def extraction_prompt(query: str, response: str) -> str:
    return f"{DEMO_PROMPT.strip()}\n\n{query}\n\n{response}\n\nExtracted answer: "


def extract(item: dict, judge) -> dict:
    prompt = extraction_prompt(item["query"], item["prediction"])
    answer = judge.chat([{"role": "user", "content": prompt}], temperature=0.0, max_tokens=MAX_TOKENS)
    return {"extraction": answer.strip()}


def most_similar(prediction: str, choices: list[str]) -> str:
    distances = [levenshtein(prediction, choice) for choice in choices]
    return choices[distances.index(min(distances))]


def normalize_extraction(extraction, choices, question_type: str, answer_type: str, precision):
    if question_type == "multi_choice":
        extraction = extraction.strip() if isinstance(extraction, str) else str(extraction)
        letters = re.findall(r"\(([a-zA-Z])\)", extraction)
        if letters:
            extraction = letters[0].upper()
        options = [chr(ord("A") + i) for i in range(len(choices))]
        if extraction in options:
            return choices[options.index(extraction)]
        return most_similar(extraction, choices)
    try:
        if answer_type == "integer":
            return str(int(float(extraction)))
        if answer_type == "float":
            return str(round(float(extraction), int(precision)))
        if answer_type == "list":
            return str(extraction)
    except (TypeError, ValueError):
        return None
    return extraction


def mathvista_item(item: dict) -> dict:
    extraction = item.get("extraction")
    if extraction is None:
        extraction = rule_extraction(item["prediction"], item)
    if extraction is None:
        raise ValueError("needs the judge's answer extraction (no rule applies)")
    normalized = normalize_extraction(
        extraction,
        item.get("choices") or [],
        item["question_type"],
        item["answer_type"],
        item.get("precision"),
    )
    return {"extraction": extraction, "normalized": normalized, "score": float(normalized == item["answer"])}


def mathvista_scores(items: Iterable[dict]) -> dict[str, float]:
    """Accuracy, and per value of the official breakdown keys (metadata fields and each skill)."""
    items = list(items)
    groups: dict[str, list[float]] = defaultdict(list)
    for item in items:
        metadata = item.get("metadata") or {}
        fields = {key: item.get(key, metadata.get(key)) for key in SCORE_KEYS}
        for key, value in fields.items():
            if value is not None:
                groups[f"{key}/{value}"].append(item["score"])
        for skill in metadata.get("skills") or []:
            groups[f"skills/{skill}"].append(item["score"])
    scores = {"accuracy": sum(item["score"] for item in items) / len(items) if items else 0.0}
    return scores | {name: sum(v) / len(v) for name, v in sorted(groups.items())}
