"""Readers of multiple-choice benchmarks' published files: SEED-Bench, AI2D, IconQA, Q-Bench, MMVP
and CMMMU. Each yields `EvalItem`s with the prompt its community uses and what its scorer needs."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from .readers import (
    OPTION_LETTER,
    BenchmarkDataError,
    EvalItem,
    find_one,
    image_index,
    options_text,
    read_json,
    resolve_image,
)

LETTERS = "ABCDEFGHIJ"


def lettered(choices: list[str]) -> dict[str, str]:
    if len(choices) > len(LETTERS):
        raise BenchmarkDataError(f"{len(choices)} options: at most {len(LETTERS)} supported")
    return {LETTERS[i]: str(choice) for i, choice in enumerate(choices)}


def choice_prompt(question: str, options: dict[str, str]) -> str:
    return f"{question.strip()}\n{options_text(options)}{OPTION_LETTER}"


# -- SEED-Bench -----------------------------------------------------------------------------------


def read_seed(root: Path) -> Iterator[EvalItem]:
    """SEED-Bench(-1) `SEED-Bench.json` ({"questions": [...], "question_type": {name: id}}) and the
    CC3M images of dimensions 1-9 (`SEED-Bench-image/`, named by `data_id`); video questions skipped."""
    source = find_one(root, ("SEED-Bench.json", "*seed*.json"), "SEED-Bench.json")
    content = read_json(source)
    names = {number: name for name, number in content.get("question_type", {}).items()}
    images = image_index(root)
    by_stem = {path.stem: path for path in images.values()}
    for question in content["questions"]:
        if question.get("data_type") != "image":
            continue
        data_id = str(question["data_id"])
        image = images.get(Path(data_id).name) or by_stem.get(Path(data_id).stem)
        if image is None:
            raise BenchmarkDataError(f"{source}: image {data_id!r} not found under {source.parent}")
        options = {letter: question[f"choice_{letter.lower()}"] for letter in "ABCD"}
        yield EvalItem(
            str(question["question_id"]), choice_prompt(question["question"], options), image,
            {"answer": question["answer"], "category": names.get(question["question_type_id"], question["question_type_id"])},
        )  # fmt: skip


# -- AI2D and IconQA (exact option matching, VLMEvalKit) ------------------------------------------


def read_ai2d(root: Path) -> Iterator[EvalItem]:
    """AI2D: `questions/{image}.json` ({imageName, questions: {text: {answerTexts, correctAnswer,
    questionId}}}) + `images/`; with `ai2d_test_ids.csv` (one image id per line) only the test split."""
    folder = root if root.is_dir() else root.parent
    files = sorted(folder.rglob("questions/*.json"))
    if not files:
        raise BenchmarkDataError(f"{root}: no questions/*.json files")
    ids_file = next(iter(sorted(folder.rglob("*test_ids*.csv"))), None)
    wanted = {line.strip().split(",")[0] for line in ids_file.read_text().splitlines()} if ids_file else None
    images = image_index(root)
    for path in files:
        entry = read_json(path)
        if wanted is not None and Path(entry["imageName"]).stem not in wanted:
            continue
        image = resolve_image(images, entry["imageName"], path)
        for text, question in entry["questions"].items():
            options = lettered(question["answerTexts"])
            yield EvalItem(
                question["questionId"], choice_prompt(text, options), image,
                {"answer": LETTERS[question["correctAnswer"]], "options": options, "group": question["questionId"],
                 "raw_question": text},
            )  # fmt: skip


def read_iconqa(root: Path, split: str = "test") -> Iterator[EvalItem]:
    """IconQA: `iconqa/{split}/choose_txt/{question_id}/data.json` ({question, choices, answer: index})
    + `image.png` beside it. The multiple-choice-text subset, as InstructBLIP and MiniGPT-v2 report."""
    folder = root if root.is_dir() else root.parent
    files = sorted(folder.rglob(f"{split}/choose_txt/*/data.json"))
    if not files:
        raise BenchmarkDataError(f"{root}: no {split}/choose_txt/*/data.json files")
    for path in files:
        entry = read_json(path)
        image = path.parent / "image.png"
        if not image.is_file():
            raise BenchmarkDataError(f"{path}: no image.png beside it")
        options = lettered(entry["choices"])
        yield EvalItem(
            path.parent.name, choice_prompt(entry["question"], options), image,
            {"answer": LETTERS[int(entry["answer"])], "options": options, "group": path.parent.name,
             "raw_question": entry["question"], "category": entry.get("grade")},
        )  # fmt: skip


# -- Q-Bench --------------------------------------------------------------------------------------

QBENCH_TYPES = {0: "yes-or-no", 1: "what", 2: "how"}
QBENCH_CONCERNS = {0: "distortion", 1: "other", 2: "in-context distortion", 3: "in-context other"}


def read_qbench(root: Path) -> Iterator[EvalItem]:
    """Q-Bench (A1, LLVisionQA) `llvisionqa_dev.json` ([{img_path, question, candidates, correct_ans,
    type, concern}]) + its images; the dev split (the test answers are not published)."""
    source = find_one(root, ("llvisionqa_dev.json", "llvisionqa*.json"), "llvisionqa_dev.json")
    images = image_index(root)
    for index, entry in enumerate(read_json(source)):
        options = lettered(entry["candidates"])
        letter = next((k for k, v in options.items() if v == entry["correct_ans"]), None)
        if letter is None:
            raise BenchmarkDataError(f"{source}:[{index}]: correct_ans is not one of the candidates")
        yield EvalItem(
            f"qbench-{index}", choice_prompt(entry["question"], options), resolve_image(images, entry["img_path"], source),
            {"answer": letter, "answer_text": entry["correct_ans"],
             "type": QBENCH_TYPES.get(entry.get("type"), entry.get("type")),
             "concern": QBENCH_CONCERNS.get(entry.get("concern"), entry.get("concern"))},
        )  # fmt: skip


# -- MMVP -----------------------------------------------------------------------------------------


def read_mmvp(root: Path) -> Iterator[EvalItem]:
    """MMVP `Questions.csv` (Index, Question, Options "(a) x (b) y", Correct Answer "(a)") +
    `MMVP Images/{Index}.jpg`. The prompt is the official one: question, a space, the options."""
    source = find_one(root, ("Questions.csv",), "MMVP Questions.csv")
    with open(source, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            index = int(row["Index"])
            image = source.parent / "MMVP Images" / f"{index}.jpg"
            if not image.is_file():
                raise BenchmarkDataError(f"{source}: no image {image}")
            yield EvalItem(
                str(index), f"{row['Question']} {row['Options']}", image,
                {"answer": row["Correct Answer"], "pair": (index - 1) // 2},
            )  # fmt: skip


# -- CMMMU ----------------------------------------------------------------------------------------

CMMMU_INSTRUCTIONS = {
    "选择": "请回答以下多项选择题，并选出正确选项。这些题目可能包括单选和多选题型。如果所提供的信息不足以确定一个明确的答案，那么请根据可用的数据和你的判断来选择最可能正确的选项。",
    "判断": "请回答以下判断题，并根据题目描述和所给的信息来判断问题中陈述的对错。如果信息不完整或不足以作出绝对判断，请运用你的逻辑推理和现有信息来做出最可能的判断。",
    "填空": "请回答以下填空题，并根据题目的要求和所提供的信息来给出最恰当的答案。如果信息不足以确切回答，那么请依据现有的数据和你的推理能力来填写最合理的答案。",
}  # fmt: skip


def cmmmu_prompt(row: dict, options: dict[str, str]) -> str:
    """CMMMU's own prompt: the type's instruction, then 问题 / 选项 / 正确答案; image tags -> <图片 i>."""
    kind = row["type"] if row["type"] in CMMMU_INSTRUCTIONS else "填空"
    if kind == "选择":
        listing = "".join(f"({letter}) {text}\n" for letter, text in options.items())
        body = f"问题：{row['question']}\n选项：\n{listing}\n正确答案：\n"
    else:
        body = f"问题：{row['question']}\n正确答案：\n"
    prompt = CMMMU_INSTRUCTIONS[kind] + "\n\n" + body
    for number in range(1, 6):
        name = row.get(f"image_{number}_filename")
        if name:
            prompt = prompt.replace(f'<img="{name}">', f"<图片 {number}>")
    return prompt


def read_cmmmu(root: Path, split: str = "val") -> Iterator[EvalItem]:
    """CMMMU as published on the Hugging Face hub: `{split}-*.parquet` per discipline (id, type,
    question, option1-4, image_1..5 (+ _filename), answer, subcategory). The first image is shown."""
    import pyarrow.parquet as pq  # the `eval` extra

    files = [root] if root.is_file() else sorted(root.rglob(f"{split}-*.parquet"))
    if not files:
        raise BenchmarkDataError(f"{root}: no {split}-*.parquet files")
    for source in files:
        for row in pq.read_table(source).to_pylist():
            options = {LETTERS[i - 1]: str(row[f"option{i}"]) for i in range(1, 5) if row.get(f"option{i}")}
            image = next((row[f"image_{n}"]["bytes"] for n in range(1, 6) if row.get(f"image_{n}")), None)
            answer = row["answer"]
            yield EvalItem(
                str(row["id"]), cmmmu_prompt(row, options), image,
                {"answer": answer if isinstance(answer, str) else str(answer), "question_type": row["type"],
                 "options": options, "category": row.get("subcategory")},
            )  # fmt: skip
