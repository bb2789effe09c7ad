"""Video benchmarks answered from one frame: MVBench (rule) and Video-Bench (judge maps the answer to
an option), each with its official scorer.

MVBench (OpenGVLab/Ask-Anything `video_chat2/mvbench.ipynb`, `check_ans`): the ground truth is
"(X) option text"; the first space-separated word of the lowercased prediction, periods removed,
must be contained in "(x)", or contain it. Quirk kept from the reference: an empty prediction
counts as right (the empty string is contained in anything); its generation never returns one
because it prefixes "(", so the number of empty predictions is reported alongside.
Accuracy per task (20 tasks) and overall.

Video-Bench (PKU-YuanGroup/Video-Bench `Step2_chatgpt_judge.py`, `Step3_compute_scores.py`):
gpt-3.5-turbo-0613 is asked, with the three messages below, which option the answer matches, and
must answer a dict {"maximum probability": "X"} with X in A-F; an answer that does not parse is
left out of the counts, as there. Accuracy per dataset; three weighted group scores; the final
score is their mean. The judge messages are the benchmark's own text, reproduced verbatim.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable

# -- MVBench --------------------------------------------------------------------------------------


def mvbench_correct(prediction: str, answer: str) -> bool:
    predicted_option = prediction.lower().split(" ")[0]
    answer_option = answer.lower().split(" ")[0]
    return predicted_option.replace(".", "") in answer_option or answer_option in predicted_option


def mvbench_scores(items: Iterable[dict]) -> dict[str, float]:
    items = list(items)
    by_task: dict[str, list[bool]] = defaultdict(list)
    for item in items:
        by_task[item["category"]].append(mvbench_correct(item["prediction"], item["answer"]))
    right = [ok for results in by_task.values() for ok in results]
    scores = {"accuracy": sum(right) / len(right) if right else 0.0}
    scores |= {f"category/{task}": sum(v) / len(v) for task, v in sorted(by_task.items())}
    return scores | {"empty_predictions": sum(not item["prediction"].strip() for item in items)}


# -- Video-Bench ----------------------------------------------------------------------------------

PROMPT_VERSION = "videobench-choice/Step2_chatgpt_judge.py (PKU-YuanGroup/Video-Bench, gpt-3.5-turbo-0613)"
SYSTEM = "As a language expert, please complete the following task."
INSTRUCTION = (
    "You are now an answer selection expert, and I will provide you with a question with several options, "
    "as well as a target sentence. Please return the alphabet of the option with the highest probability of "
    "matching this target sentence. Given question with options and the target sequence:\n"
)
ANSWER_FORMAT = (
    'Please output your responses in the form of a dictionary {"maximum probability":"xxx"}  '
    "where xxx is A or B or C or ..."
)
VIDEOBENCH_LETTERS = ("A", "B", "C", "D", "E", "F")
# Step3_compute_scores.py: dataset weights within the three abilities.
VIDEOBENCH_GROUPS = {
    "Exclusive_understanding": {"ActivityNet": 1, "MSVD": 1, "MSRVTT": 1, "TGIF": 1, "Youcook2": 1,
                                "Ucfcrime": 1, "MOT": 0.5},
    "Prior_Knowledge": {"TVQA": 1, "MV": 1, "NBA": 1},
    "Comprehension_and_Decision-making": {"Driving-exam": 0.5, "Driving-decision-making": 1, "SQA3D": 1},
}  # fmt: skip


def videobench_messages(question: str, prediction: str) -> list[dict]:
    # The reference sends str() of a Python dict, with its key spelt "target sequcene".
    judge_input = {"target sequcene": prediction, "question": question}
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "assistant", "content": INSTRUCTION + str(judge_input)},
        {"role": "user", "content": ANSWER_FORMAT},
    ]


def parse_choice(answer: str) -> str | None:
    try:
        choice = json.loads(answer)["maximum probability"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return None
    return choice if choice in VIDEOBENCH_LETTERS else None


def videobench_choice(item: dict, judge) -> dict:
    answer = judge.chat(videobench_messages(item["question"], item["prediction"]), temperature=None)
    return {"judge_choice": parse_choice(answer), "judge_answer": answer}


def videobench_scores(items: Iterable[dict]) -> dict[str, float]:
    by_dataset: dict[str, list[bool]] = defaultdict(list)
    unparsed = 0
    for item in items:
        if item["judge_choice"] is None:
            unparsed += 1  # left out of the counts, as the reference does
            continue
        by_dataset[item["category"]].append(item["judge_choice"] == item["answer"])
    datasets = {name: sum(v) / len(v) for name, v in by_dataset.items()}
    scores: dict[str, float] = {f"category/{name}": value for name, value in sorted(datasets.items())}
    groups = {}
    for group, weights in VIDEOBENCH_GROUPS.items():
        present = {name: weight for name, weight in weights.items() if name in datasets}
        if present:  # the reference needs all; a partial run reports the datasets it has
            groups[group] = sum(w * datasets[name] for name, w in present.items()) / sum(present.values())
    scores |= {f"group/{name}": value for name, value in groups.items()}
    scores["final_score"] = sum(groups.values()) / len(groups) if groups else 0.0
    expected = {name for weights in VIDEOBENCH_GROUPS.values() for name in weights}
    return scores | {
        "unparsed_judge_answers": unparsed,
        "all_datasets_present": float(expected <= set(datasets)),
    }
