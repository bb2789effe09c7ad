"""LLaVA-Bench (In-the-Wild): a judge rates the GPT-4 reference answer (assistant 1) and the model's
answer (assistant 2) from 1 to 10; the score is the model's mean over the reference's mean.

Follows LLaVA's `llava/eval/eval_gpt_review_bench.py` + `table/rule.json` (the `llava_bench_*`
rules, one text for conv / detail / complex) + `summarize_gpt_review.py`: system message, content
layout, temperature 0.2, max_tokens 1024 (gpt-4-0314 in LLaVA); the first line of the review, commas
made spaces, must split into exactly two numbers, else the pair is [-1, -1] and still averaged in,
as the official summary does. The rule text is the benchmark's own, reproduced verbatim.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

PROMPT_VERSION = "llava-bench-review/rule.json llava_bench_* (haotian-liu/LLaVA eval_gpt_review_bench.py)"
SYSTEM = "You are a helpful and precise assistant for checking the quality of the answer."
ROLE = "Assistant"
RULE = (
    "We would like to request your feedback on the performance of two AI assistants in response to the "
    "user question displayed above. The user asks the question on observing an image. For your reference, "
    "the visual content in the image is represented with a few sentences describing the image. \n"
    "Please rate the helpfulness, relevance, accuracy, level of details of their responses. Each assistant "
    "receives an overall score on a scale of 1 to 10, where a higher score indicates better overall "
    "performance.\nPlease first output a single line containing only two values indicating the scores for "
    "Assistant 1 and 2, respectively. The two scores are separated by a space.\nIn the subsequent line, "
    "please provide a comprehensive explanation of your evaluation, avoiding any potential bias and ensuring "
    "that the order in which the responses were presented does not affect your judgment."
)
TEMPERATURE, MAX_TOKENS = 0.2, 1024


def review_prompt(caption, question: str, reference: str, prediction: str) -> str:
    context = "\n".join(caption) if isinstance(caption, list) else caption
    return (
        f"[Context]\n{context}\n\n[Question]\n{question}\n\n"
        f"[{ROLE} 1]\n{reference}\n\n[End of {ROLE} 1]\n\n"
        f"[{ROLE} 2]\n{prediction}\n\n[End of {ROLE} 2]\n\n[System]\n{RULE}\n\n"
    )


def parse_review(review: str) -> list[float]:
    parts = review.split("\n")[0].replace(",", " ").split(" ")
    if len(parts) != 2:
        return [-1.0, -1.0]
    try:
        return [float(parts[0]), float(parts[1])]
    except ValueError:
        return [-1.0, -1.0]


def review(item: dict, judge) -> dict:
    content = review_prompt(item["caption"], item["question"], item["gpt4_answer"], item["prediction"])
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}]
    answer = judge.chat(messages, temperature=TEMPERATURE, max_tokens=MAX_TOKENS)
    return {"judge_scores": parse_review(answer), "judge_answer": answer}


def relative_scores(items: Iterable[dict]) -> dict[str, float]:
    """`relative` = model mean / reference mean, overall and per category (conv, detail, complex)."""
    groups: dict[str, list[list[float]]] = defaultdict(list)
    for item in items:
        groups["all"].append(item["judge_scores"])
        groups[f"category/{item['category']}"].append(item["judge_scores"])
    scores: dict[str, float] = {}
    for name, pairs in sorted(groups.items()):
        reference = sum(pair[0] for pair in pairs) / len(pairs)
        model = sum(pair[1] for pair in pairs) / len(pairs)
        key = "relative" if name == "all" else name
        scores[key] = model / reference if reference else 0.0
        if name == "all":
            scores |= {"reference_score": reference / 10, "model_score": model / 10}
    scores["unparsed_reviews"] = sum(pair == [-1.0, -1.0] for pair in groups.get("all", []))
    return scores
