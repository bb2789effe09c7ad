"""CMMMU: answer extraction and scoring for its three question types, as CMMMU's own evaluation does
it (CMMMU-Benchmark/CMMMU `eval/`, as ported in lmms-eval `tasks/cmmmu/utils.py`).

- 选择 (multiple choice, possibly several letters): count "(A)" occurrences, else bare letter
  occurrences, else option-text occurrences; the most frequent letters, in ABCD order, joined
  ("AC"); none found -> a random letter (seeded per question here, so reruns agree).
- 判断 (true/false): key sub-responses after indicator words; each counts as positive (正确, 对, ...)
  or negative (错误, 不对, ...), ambiguous phrases dropped; more positives -> 对, more negatives -> 错,
  a tie -> random (seeded).
- 填空 (fill in the blank): key sub-responses after indicator words plus the numbers in them,
  normalised (numbers rounded to 2 decimals; strings much longer than the answer dropped); right
  when a normalised answer string is contained in a string prediction, or a number is equal.
Micro accuracy overall, per subject (subcategory) and per discipline.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

DISCIPLINES = {
    "艺术与设计": ["艺术", "艺术理论", "设计", "音乐"],
    "商业": ["会计", "经济", "金融", "管理", "营销"],
    "科学": ["生物", "化学", "地理", "数学", "物理"],
    "健康与医学": ["基础医学", "临床医学", "诊断学与实验室医学", "制药", "公共卫生"],
    "人文社会科学": ["历史", "文献学", "社会学", "心理学"],
    "技术与工程": ["农业", "建筑学", "计算机科学", "电子学", "能源和电力", "材料", "机械工程"],
}
POSITIVE = ("正确", "对", "准确", "肯定", "对的")
NEGATIVE = ("不对", "错误", "不正确", "不准确", "不合适", "否定", "错的", "错")
AMBIGUOUS = ("对错", "是否正确", "否正确", "或者", "是否", "正确性", "对不")
FILL_INDICATORS = ("是", "为", "所以", "等于", "方案", "选择", "正确答案", "因此", "最后", "答案", "结果")
TF_INDICATORS = ("是", "为", "所以", "判断", "陈述", "说法", "表达", "答案", "结果")
TRIVIAL = (":", ",", ".", "!", "?", ";", "'")


def choice_prediction(
    response: str, letters: Sequence[str], options: dict[str, str], rng: random.Random
) -> str:
    for char in (",", ".", "!", "?", ";", ":", "'"):
        response = response.strip(char)
    response = f" {response} "
    candidates = [letter for letter in letters for _ in range(response.count(f"({letter})"))]
    if not candidates:
        candidates = [letter for letter in letters for _ in range(response.count(letter))]
    if not candidates and response.split():
        candidates = [letter for letter, text in options.items() for _ in range(response.count(text))]
    if not candidates:
        return rng.choice(list(letters))
    counts = Counter(candidates)
    top = max(counts.values())
    return "".join(letter for letter in letters if counts.get(letter, 0) == top)


def key_sub_responses(response: str, indicators: Sequence[str], equation_last: bool) -> list[str]:
    """The shortest tail after an indicator word, per sentence (split on 。 and newlines)."""
    response = response.strip("。").strip()
    sentences = re.split(r"。|\n", response)
    keys = []
    for index, sentence in enumerate(sentences):
        words = list(indicators) + (["="] if equation_last and index == len(sentences) - 1 else [])
        shortest = None
        for word in words:
            if word in sentence:
                tail = sentence.split(word)[-1].strip()
                if not shortest or len(tail) < len(shortest):  # an empty tail is replaced, as there
                    shortest = tail
        if shortest and shortest.strip() not in TRIVIAL:
            keys.append(shortest)
    return keys or [response]


def extract_numbers(text: str) -> list[str]:
    with_commas = re.findall(r"-?\d{1,3}(?:，\d{3})+", text)
    scientific = re.findall(r"-?\d+(?:\.\d+)?[eE][+-]?\d+", text)
    simple = re.findall(r"-?(?:\d+\.\d+|\.\d+|\d+)(?![eE][+-]?\d+)(?!，\d)", text)
    return with_commas + scientific + simple


def is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
        return True
    except ValueError:
        return False


def latin_letters(text: str) -> int:
    return sum(c.isalpha() and "a" <= c <= "z" or "A" <= c <= "Z" for c in text)


def normalize(text: str, answer: str) -> list:
    text = text.strip()
    if is_number(text):
        return [round(float(text.replace(",", "")), 2)]
    if len(text) > len(answer) + 20 or latin_letters(text) > latin_letters(answer) + 2:
        return []
    return [text]


def fill_predictions(response: str, answer: str) -> list:
    keys = key_sub_responses(response, FILL_INDICATORS, equation_last=True)
    candidates = keys + [number for key in keys for number in extract_numbers(key)]
    return list({value for candidate in candidates for value in normalize(candidate, answer)})


def fill_correct(response: str, answer: str) -> bool:
    gold = normalize(answer, answer)
    for prediction in fill_predictions(response, answer):
        if isinstance(prediction, str):
            if any(isinstance(g, str) and g in prediction for g in gold):
                return True
        elif prediction in gold:
            return True
    return False


def true_false_prediction(response: str, rng: random.Random) -> str:
    keys = set(key_sub_responses(response, TF_INDICATORS, equation_last=False))
    keys = [key for key in sorted(keys) if not any(word in key for word in AMBIGUOUS)]
    positive = sum(1 for key in keys if any(word in key for word in POSITIVE))
    negative = sum(
        1 for key in keys if not any(w in key for w in POSITIVE) and any(w in key for w in NEGATIVE)
    )
    if positive != negative:
        return "对" if positive > negative else "错"
    return rng.choice(["对", "错"])


def cmmmu_item(item: dict, seed: int) -> dict:
    rng = random.Random(f"{seed}:{item.get('id', item['prediction'])}")
    kind, answer, prediction = item["question_type"], str(item["answer"]), item["prediction"]
    if kind == "选择":
        options = item["options"]
        parsed = choice_prediction(prediction, list(options), options, rng)
        return {"parsed": parsed, "score": float(parsed == answer)}
    if kind == "判断":
        parsed = true_false_prediction(prediction, rng)
        return {"parsed": parsed, "score": float(parsed == answer)}
    return {"score": float(fill_correct(prediction, answer))}


def cmmmu_scores(items: Iterable[dict]) -> dict[str, float]:
    items = list(items)
    discipline_of = {subject: name for name, subjects in DISCIPLINES.items() for subject in subjects}
    groups: dict[str, list[float]] = defaultdict(list)
    for item in items:
        groups[f"category/{item['category']}"].append(item["score"])
        if item["category"] in discipline_of:
            groups[f"discipline/{discipline_of[item['category']]}"].append(item["score"])
    scores = {"accuracy": sum(item["score"] for item in items) / len(items) if items else 0.0}
    return scores | {name: sum(v) / len(v) for name, v in sorted(groups.items())}
