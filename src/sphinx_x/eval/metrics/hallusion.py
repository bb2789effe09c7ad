"""HallusionBench: a judge marks each answer correct / incorrect / unclear against the reference
answer; accuracy per question (aAcc), per question pair (qAcc) and per figure (fAcc).

Follows tianyi-lab/HallusionBench `utils.py` + `evaluation.py`:
- judge (`evaluate_by_chatgpt`, gpt-4 with the endpoint's default temperature): "incorrect" in the
  lowercased answer -> 0, else "correct" -> 1, else 2 (unclear);
- `assign_correctness`: a visual-supplement question asked without its figure (VS, figure_id 0) is
  right when judged correct *or unclear* (not knowing is fine without the figure); any other
  question is right only when judged correct;
- aAcc: right / all questions; qAcc: (category, subcategory, set_id, question_id) groups with every
  question right; fAcc: (category, subcategory, set_id, figure_id) groups, VS figure 0 left out;
  Easy aAcc: figure-0 questions grouped by question (so plain accuracy); Hard aAcc: questions on
  edited figures (figure_id != 0) grouped by question, every one right.
The judge prompt is the benchmark's own text, reproduced verbatim.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

PROMPT_VERSION = "hallusionbench-check/evaluate_by_chatgpt (tianyi-lab/HallusionBench utils.py, gpt-4)"
JUDGE_PROMPT = (
    "Imagine you are an intelligent teacher. Thoroughly read the question, reference answer and the "
    "prediction answer to ensure a clear understanding of the information provided. Assess the "
    "correctness of the predictions. If the prediction answer does not conflict with the reference answer, "
    "please generate \u201ccorrect\u201d. If the prediction answer conflict with the reference answer, please "
    "generate \u201cincorrect\u201d. If the prediction answer is unclear about the answer, please generate "
    '"unclear". \n\n Question:'
)


def judge_prompt(question: str, reference: str, prediction: str) -> str:
    return f"{JUDGE_PROMPT}{question}\nReference answer: {reference}\nPrediction answer:{prediction}\nOutput:"


def parse_verdict(answer: str) -> int:
    answer = answer.lower()
    if "incorrect" in answer:
        return 0
    return 1 if "correct" in answer else 2


def check(item: dict, judge) -> dict:
    prompt = judge_prompt(item["question"], item["gt_answer_details"], item["prediction"])
    answer = judge.chat([{"role": "user", "content": prompt}], temperature=None)
    return {"judge_verdict": parse_verdict(answer), "judge_answer": answer}


def is_right(item: dict) -> bool:
    verdict = int(item["judge_verdict"])
    if item["category"] == "VS" and str(item["figure_id"]) == "0":
        return verdict in (1, 2)
    return verdict == 1


def group_accuracy(items: list[dict], key_fields: tuple[str, ...]) -> float:
    groups: dict[tuple, list[bool]] = defaultdict(list)
    for item in items:
        groups[tuple(str(item[field]) for field in key_fields)].append(is_right(item))
    return sum(all(results) for results in groups.values()) / len(groups) if groups else 0.0


QUESTION = ("category", "subcategory", "set_id", "question_id")
FIGURE = ("category", "subcategory", "set_id", "figure_id")


def hallusion_scores(items: Iterable[dict]) -> dict[str, float]:
    items = list(items)
    figures = [i for i in items if not (i["category"] == "VS" and str(i["figure_id"]) == "0")]
    easy = [i for i in items if str(i["figure_id"]) == "0"]
    hard = [i for i in items if str(i["figure_id"]) != "0"]
    return {
        "aAcc": sum(is_right(i) for i in items) / len(items) if items else 0.0,
        "qAcc": group_accuracy(items, QUESTION),
        "fAcc": group_accuracy(figures, FIGURE),
        "easy_aAcc": group_accuracy(easy, QUESTION),
        "hard_aAcc": group_accuracy(hard, QUESTION),
        "unclear": sum(int(i["judge_verdict"]) == 2 for i in items),
    }
