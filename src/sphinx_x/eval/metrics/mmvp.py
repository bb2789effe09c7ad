"""MMVP: a judge says whether each answer is correct; a pair of images (questions 2k-1 and 2k, the same
question with opposite answers) counts only when both are.

Follows tsb0601/MMVP `scripts/gpt_grader.py`: system "You are a helpful and precise assistant ...",
the user text below, temperature 0.2 (gpt-4-0314 there); the answer counts as yes only when it is
exactly "yes" (case-insensitive, `^(yes|no)$`). Accuracy = pairs with both right / pairs, as the
MMVP paper defines it (one published version of the script divides by questions instead; the
paper's numbers are per pair). The grader text is the benchmark's own, reproduced verbatim.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

PROMPT_VERSION = "mmvp-grader/gpt_grader.py (tsb0601/MMVP, gpt-4-0314)"
SYSTEM = (
    "You are a helpful and precise assistant for checking the quality of the answer. "
    "Please answer in only yes or no."
)
YES_OR_NO = re.compile(r"^(yes|no)$", re.IGNORECASE)
TEMPERATURE = 0.2


def grader_prompt(question: str, correct_answer: str, response: str) -> str:
    return (
        f"Given the following question {question}, the correct answer is {correct_answer}. "
        f"Does the following answer correctly answers the question, answer:{response}?"
    )


def grade(item: dict, judge) -> dict:
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": grader_prompt(item["question"], item["answer"], item["prediction"])},
    ]
    answer = judge.chat(messages, temperature=TEMPERATURE)
    verdict = answer.lower() if YES_OR_NO.match(answer) else "could not determine"
    return {"judge_verdict": verdict, "judge_answer": answer}


def pair_scores(items: Iterable[dict]) -> dict[str, float]:
    pairs: dict[str, list[bool]] = defaultdict(list)
    questions = 0
    for item in items:
        pairs[str(item["pair"])].append(item["judge_verdict"] == "yes")
        questions += 1
    complete = {pair: results for pair, results in pairs.items() if len(results) == 2}
    return {
        "pair_accuracy": sum(all(r) for r in complete.values()) / len(complete) if complete else 0.0,
        "question_accuracy": sum(sum(r) for r in pairs.values()) / questions if questions else 0.0,
        "pairs": len(complete),
        "incomplete_pairs": len(pairs) - len(complete),
    }
