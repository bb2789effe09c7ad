"""MM-Vet: a judge grades each answer 0.0-1.0 against the ground truth; scores per capability.

Follows the official grader (yuweihao/MM-Vet, `mm-vet_evaluator.py`): its few-shot table prompt,
`max_tokens=3`, the first word of the answer parsed as a float in [0, 1]; when that fails the
question is asked again with "Predict the correctness of the answer (digit): " appended, at
temperatures 0.0, 0.5, 1.0, 1.5, and a sample still unparsed scores 0.0 (the official loop makes a
fifth request at 2.0 whose answer it never reads; we do not send it). The grader prompt below is
the benchmark's own text, reproduced verbatim because the scores depend on it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

PROMPT_VERSION = "mm-vet-grader/official-2023 (yuweihao/MM-Vet mm-vet_evaluator.py, gpt-4-0613 in the paper)"
GRADER_PROMPT = """Compare the ground truth and prediction from AI models, to give a correctness score for the prediction. <AND> in the ground truth means it is totally right only when all elements in the ground truth are present in the prediction, and <OR> means it is totally right when any one element in the ground truth is present in the prediction. The correctness score is 0.0 (totally wrong), 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, or 1.0 (totally right). Just complete the last space of the correctness score.

Question | Ground truth | Prediction | Correctness
--- | --- | --- | ---
What is x in the equation? | -1 <AND> -5 | x = 3 | 0.0
What is x in the equation? | -1 <AND> -5 | x = -1 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -5 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -5 or 5 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -1 or x = -5 | 1.0
Can you explain this meme? | This meme is poking fun at the fact that the names of the countries Iceland and Greenland are misleading. Despite its name, Iceland is known for its beautiful green landscapes, while Greenland is mostly covered in ice and snow. The meme is saying that the person has trust issues because the names of these countries do not accurately represent their landscapes. | The meme talks about Iceland and Greenland. It's pointing out that despite their names, Iceland is not very icy and Greenland isn't very green. | 0.4
Can you explain this meme? | This meme is poking fun at the fact that the names of the countries Iceland and Greenland are misleading. Despite its name, Iceland is known for its beautiful green landscapes, while Greenland is mostly covered in ice and snow. The meme is saying that the person has trust issues because the names of these countries do not accurately represent their landscapes. | The meme is using humor to point out the misleading nature of Iceland's and Greenland's names. Iceland, despite its name, has lush green landscapes while Greenland is mostly covered in ice and snow. The text 'This is why I have trust issues' is a playful way to suggest that these contradictions can lead to distrust or confusion. The humor in this meme is derived from the unexpected contrast between the names of the countries and their actual physical characteristics. | 1.0
"""
RETRY_SUFFIX = "\nPredict the correctness of the answer (digit): "
RETRY_TEMPERATURES = (0.0, 0.5, 1.0, 1.5)
MAX_TOKENS = 3


def grader_prompt(question: str, answer: str, prediction: str) -> str:
    answer = answer.replace("<AND>", " <AND> ").replace("<OR>", " <OR> ")
    return GRADER_PROMPT + "\n" + " | ".join([question, answer, prediction, ""])


def parse_grade(content: str) -> float | None:
    """The first space-separated word as a float in [0, 1] (the official check, so NaN passes)."""
    try:
        score = float(content.split(" ")[0].strip())
    except ValueError:
        return None
    return None if score > 1.0 or score < 0.0 else score


def grade(item: dict, judge) -> dict:
    """`judge_score` (0..1) and the judge's last answer, for one record with question/answer/prediction."""
    prompt = grader_prompt(item["question"], item["answer"], item["prediction"])
    content = judge.chat([{"role": "user", "content": prompt}], temperature=0.0, max_tokens=MAX_TOKENS)
    score = parse_grade(content)
    for attempt, temperature in enumerate(RETRY_TEMPERATURES, start=1):
        if score is not None:
            break
        content = judge.chat(
            [{"role": "user", "content": prompt + RETRY_SUFFIX}],
            temperature=temperature,
            max_tokens=MAX_TOKENS,
            attempt=attempt,
        )
        score = parse_grade(content)
    return {"judge_score": 0.0 if score is None else score, "judge_answer": content}


def mmvet_scores(items: Iterable[dict]) -> dict[str, float]:
    """`total` = mean grade; `capability/X` = mean over samples needing X; `integration/X_Y` = mean over
    samples needing exactly that set (names sorted: the official joins a set, in no fixed order)."""
    items = list(items)
    by_capability: dict[str, list[float]] = defaultdict(list)
    by_integration: dict[str, list[float]] = defaultdict(list)
    for item in items:
        capabilities = sorted(set(item["capability"]))
        for capability in capabilities:
            by_capability[capability].append(item["judge_score"])
        by_integration["_".join(capabilities)].append(item["judge_score"])
    scores = {"total": sum(item["judge_score"] for item in items) / len(items) if items else 0.0}
    scores |= {f"capability/{name}": sum(v) / len(v) for name, v in sorted(by_capability.items())}
    scores |= {f"integration/{name}": sum(v) / len(v) for name, v in sorted(by_integration.items())}
    return scores
