"""Multiple-choice answer extraction and scoring: MMBench / CCBench (CircularEval, with VLMEvalKit's
optional judge fallback), ScienceQA, SEED-Bench, Q-Bench and MMMU, each as its reference
implementation does it."""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping

# -- MMBench / CCBench (VLMEvalKit's exact matching, no LLM judge) -----------------------------

REFUSALS = (
    "Sorry, I can't help with images of people yet.",
    "I can't process this file.",
    "I'm sorry, but without the image provided",
    "Cannot determine the answer",
)
NO_ANSWER = "Z"


def infer_option_letter(answer: str, options: Mapping[str, str]) -> str | None:
    """Exactly one option letter standing as a token once punctuation and markdown are removed."""
    if any(refusal in answer for refusal in REFUSALS):
        return NO_ANSWER
    cleaned = answer
    for char in ".()[],:;!*#{}":
        cleaned = cleaned.replace(char, " ")
    tokens = [token.strip() for token in cleaned.split()]
    found = [letter for letter in options if letter in tokens]
    if len(found) == 1:
        return found[0]
    if not found and sum(1 for mark in (NO_ANSWER, "") if mark in tokens) == 1:
        return NO_ANSWER
    return None


def infer_option_text(answer: str, options: Mapping[str, str]) -> str | None:
    """Exactly one option's text contained in the answer (case-insensitive)."""
    lowered = answer.lower()
    found = [letter for letter, text in options.items() if str(text).lower() in lowered]
    return found[0] if len(found) == 1 else None


def mmbench_choice(answer: str, options: Mapping[str, str]) -> str | None:
    """The chosen letter, or None (a miss). A refusal gives "Z", which never matches."""
    return infer_option_letter(str(answer), options) or infer_option_text(str(answer), options)


def chosen_letter(item: dict) -> str | None:
    """The judge's choice where exact matching failed and a judge was asked, else exact matching."""
    if item.get("judge_choice") is not None:
        return item["judge_choice"]
    return mmbench_choice(item["prediction"], item["options"])


def circular_scores(items: Iterable[dict]) -> dict[str, float]:
    """`items` with prediction, answer, options, group, optional category. A group counts only if
    every circularly shifted copy is right."""
    groups: dict[str, list[bool]] = defaultdict(list)
    categories: dict[str, str] = {}
    for item in items:
        groups[str(item["group"])].append(chosen_letter(item) == item["answer"])
        if item.get("category") is not None:
            categories[str(item["group"])] = item["category"]
    passed = {group: all(results) for group, results in groups.items()}
    scores = {"accuracy": sum(passed.values()) / len(passed) if passed else 0.0, "questions": len(passed)}
    per_category: dict[str, list[bool]] = defaultdict(list)
    for group, ok in passed.items():
        if group in categories:
            per_category[categories[group]].append(ok)
    scores |= {f"category/{name}": sum(oks) / len(oks) for name, oks in sorted(per_category.items())}
    return scores


# -- the judge fallback (VLMEvalKit's `extract_answer_from_item`) --------------------------------

CHOICE_PROMPT_VERSION = "vlmevalkit-choice/build_prompt (open-compass/VLMEvalKit multiple_choice.py)"
CHOICE_JUDGE_PROMPT = (
    "You are an AI assistant who will help me to match an answer with several options of a single-choice "
    "question. You are provided with a question, several options, and an answer, and you need to find which "
    "option is most similar to the answer. If the meaning of all options are significantly different from "
    "the answer, output Z. Your should output a single uppercase character in A, B, C, D (if they are valid "
    "options), and Z. \n"
    "Example 1: \n"
    "Question: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\n"
    "Answer: a cute teddy bear\nYour output: A\n"
    "Example 2: \n"
    "Question: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\n"
    "Answer: Spider\nYour output: Z\n"
    "Example 3: \n"
    "Question: {}?\nOptions: {}\nAnswer: {}\nYour output: "
)
JUDGE_ATTEMPTS = 3


def needs_judge_choice(item: dict) -> bool:
    return mmbench_choice(item["prediction"], item["options"]) is None


def judge_choice(item: dict, judge) -> dict:
    """Up to three judge answers; the first naming one option (or Z) wins; else a random option or Z,
    drawn from a generator seeded by the item id (VLMEvalKit draws unseeded)."""
    options = item["options"]
    listing = "There are several options: \n" + "".join(
        f"{letter}. {text}\n" for letter, text in options.items()
    )
    question = item.get("raw_question") or item.get("question", "")
    prompt = CHOICE_JUDGE_PROMPT.format(question, listing, item["prediction"])
    answer = ""
    for attempt in range(JUDGE_ATTEMPTS):
        answer = judge.chat([{"role": "user", "content": prompt}], temperature=0.0, attempt=attempt)
        letter = mmbench_choice(answer, options)
        if letter is not None:
            return {"judge_choice": letter, "judge_answer": answer}
    rng = random.Random(f"judge-fallback:{item.get('id', item['prediction'])}")
    return {"judge_choice": rng.choice([*options, NO_ANSWER]), "judge_answer": answer}


# -- Q-Bench (Q-Future/Q-Bench's LLaVA evaluation script) ---------------------------------------


def qbench_correct(prediction: str, letter: str, answer_text: str) -> bool:
    """The letter alone, "X." anywhere, the option text alone, or the letter alone on a line."""
    prediction = prediction.strip()
    return (
        prediction == letter
        or f"{letter}." in prediction
        or prediction == answer_text
        or letter in prediction.split("\n")
    )


# -- ScienceQA (LLaVA's eval_science_qa) -------------------------------------------------------

SCIENCEQA_LETTERS = ("A", "B", "C", "D", "E")


def scienceqa_choice(prediction: str) -> str | None:
    if prediction in SCIENCEQA_LETTERS:
        return prediction
    if len(prediction) >= 3 and prediction[0] in SCIENCEQA_LETTERS and prediction[1:3] == ". ":
        return prediction[0]
    found = re.findall(r"The answer is ([A-Z]).", prediction)
    return found[0] if len(found) == 1 else None


# -- SEED-Bench (lmms-eval) --------------------------------------------------------------------


def seed_choice(prediction: str) -> str:
    prediction = prediction.strip()
    return prediction[0] if len(prediction) > 1 else prediction


# -- MMMU (lmms-eval's port of the MMMU evaluation) ---------------------------------------------


def mmmu_choice(response: str, options: Mapping[str, str], rng: random.Random) -> str:
    """`(A)`, then `A `, then `A.`; several -> the last occurring; none -> option texts for long
    responses; still none -> a choice drawn from `rng` (seed it for reproducible scores)."""
    letters = list(options)
    for char in (",", ".", "!", "?", ";", ":", "'"):
        response = response.strip(char)
    response = " " + response + " "
    patterns = ("({})", "{} ", "{}.")
    candidates, used = [], None
    for pattern in patterns:
        candidates = [letter for letter in letters if pattern.format(letter) in response]
        if candidates:
            used = pattern
            break
    by_text = False
    if not candidates and len(response.split()) > 5:
        candidates = [letter for letter, text in options.items() if str(text).lower() in response.lower()]
        by_text = bool(candidates)
    if not candidates:
        return rng.choice(letters)
    if len(candidates) == 1:
        return candidates[0]
    if by_text:
        positions = [response.lower().rfind(str(options[letter]).lower()) for letter in candidates]
    else:  # the reference looks for " A " even when "A." matched (then every position may be -1)
        marker = "({})" if used == "({})" else " {} "
        positions = [response.rfind(marker.format(letter)) for letter in candidates]
    return candidates[positions.index(max(positions))]  # the first maximum, like np.argmax


_NUMBER_PATTERNS = (
    r"-?\b\d{1,3}(?:,\d{3})+\b",
    r"-?\d+(?:\.\d+)?[eE][+-]?\d+",
    r"-?(?:\d+\.\d+|\.\d+|\d+)(?![eE][+-]?\d+)(?![,\d])",
)
_INDICATORS = ["could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result "]


def extract_numbers(text: str) -> list[str]:
    return [number for pattern in _NUMBER_PATTERNS for number in re.findall(pattern, text)]


def normalize_open(text: str) -> list:
    text = text.strip()
    try:
        return [round(float(text.replace(",", "")), 2)]
    except ValueError:
        text = text.lower()
        return [" " + text, text + " "] if len(text) == 1 else [text]


def key_sub_responses(response: str) -> list[str]:
    response = response.strip().strip(".").lower()
    # The reference splits on ". " before a capital letter *after* lowercasing, so only newlines split.
    sub_responses = re.split(r"\.\s(?=[A-Z])|\n", response)
    keys = []
    for index, sub in enumerate(sub_responses):
        indicators = _INDICATORS + (["="] if index == len(sub_responses) - 1 else [])
        candidates = [sub.split(indicator)[-1].strip() for indicator in indicators if indicator in sub]
        shortest = min(candidates, key=len) if candidates else None
        if shortest and shortest.strip() not in (":", ",", ".", "!", "?", ";", "'"):
            keys.append(shortest)
    return keys or [response]


def mmmu_open_predictions(response: str) -> list:
    keys = key_sub_responses(response)
    candidates = keys + [number for key in keys for number in extract_numbers(key)]
    return list({value for candidate in candidates for value in normalize_open(candidate)})


def mmmu_open_correct(response: str, answers: str | list[str]) -> bool:
    gold = [
        value
        for answer in (answers if isinstance(answers, list) else [answers])
        for value in normalize_open(answer)
    ]
    for prediction in mmmu_open_predictions(response):
        if isinstance(prediction, str):
            if any(isinstance(answer, str) and answer in prediction for answer in gold):
                return True
        elif prediction in gold:
            return True
    return False
