"""Readers of open-answer benchmarks' published files: VizWiz, OCR-VQA, MathVista, MM-Vet,
LLaVA-Bench (In-the-Wild), HallusionBench and ScreenSpot (GUI grounding)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

from ..data import prompts
from .readers import (
    SHORT_ANSWER,
    BenchmarkDataError,
    EvalItem,
    find_one,
    image_index,
    read_json,
    resolve_image,
)

# LLaVA-1.5's VizWiz prompt: unanswerable questions are a third of the benchmark.
VIZWIZ_SUFFIX = "\nWhen the provided information is insufficient, respond with 'Unanswerable'." + SHORT_ANSWER
# SeeClick's ScreenSpot prompt (njucckevin/SeeClick pretrain/screenspot_test.py), as the seeclick
# converter trains it.
SCREENSPOT_PROMPT = prompts.GUI_POINT[0]
OCRVQA_TEST = 3  # OCR-VQA split codes: 1 train, 2 val, 3 test


def read_vizwiz(root: Path) -> Iterator[EvalItem]:
    """VizWiz VQA `val.json` ([{image, question, answers: [{answer, answer_confidence}]}]) + `val/` images."""
    source = find_one(root, ("val.json", "*.json"), "VizWiz val.json")
    images = image_index(root)
    for entry in read_json(source):
        yield EvalItem(
            Path(entry["image"]).stem, entry["question"] + VIZWIZ_SUFFIX, resolve_image(images, entry["image"], source),
            {"answers": [answer["answer"] for answer in entry["answers"]]},
        )  # fmt: skip


def read_ocrvqa(root: Path) -> Iterator[EvalItem]:
    """OCR-VQA `dataset.json` ({book id: {imageURL, questions, answers, split}}), the test split; images
    are named by book id with the URL's suffix, as the dataset's download script saves them."""
    source = find_one(root, ("dataset.json",), "OCR-VQA dataset.json")
    images = image_index(root)
    for book, entry in read_json(source).items():
        if entry.get("split") != OCRVQA_TEST:
            continue
        image = resolve_image(images, f"{book}{Path(entry['imageURL']).suffix or '.jpg'}", source)
        for number, (question, answer) in enumerate(zip(entry["questions"], entry["answers"], strict=True)):
            yield EvalItem(f"{book}-{number}", question + SHORT_ANSWER, image, {"answers": [answer]})


def read_mathvista(root: Path) -> Iterator[EvalItem]:
    """MathVista testmini as released on GitHub: `testmini.json` ({pid: {question, image, choices,
    precision, answer, question_type, answer_type, metadata}}) + `query.json` ({pid: prompt with its
    hint}) + `images/`. The query is the prompt, as MathVista's response generation does."""
    source = find_one(root, ("testmini.json",), "MathVista testmini.json")
    queries = read_json(find_one(source.parent, ("query.json",), "MathVista query.json"))
    images = image_index(root)
    for pid, problem in read_json(source).items():
        if pid not in queries:
            raise BenchmarkDataError(f"{source}: problem {pid} has no query in query.json")
        fields = ("choices", "question_type", "answer_type", "precision", "answer", "metadata")
        yield EvalItem(
            str(pid), queries[pid], resolve_image(images, problem["image"], source),
            {"query": queries[pid]} | {field: problem.get(field) for field in fields},
        )  # fmt: skip


def read_mmvet(root: Path) -> Iterator[EvalItem]:
    """MM-Vet `mm-vet.json` ({id: {imagename, question, answer, capability}}) + `images/`."""
    source = find_one(root, ("mm-vet.json",), "mm-vet.json")
    images = image_index(root)
    for sample_id, entry in read_json(source).items():
        yield EvalItem(
            sample_id, entry["question"], resolve_image(images, entry["imagename"], source),
            {"question": entry["question"], "answer": entry["answer"], "capability": entry["capability"]},
        )  # fmt: skip


def read_jsonl(path: Path) -> list[dict]:
    lines = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise BenchmarkDataError(f"{path}:{number}: not valid JSON ({error.msg})") from None
    return lines


def read_llava_bench(root: Path) -> Iterator[EvalItem]:
    """LLaVA-Bench (In-the-Wild): `questions.jsonl` ({question_id, image, text, category}),
    `answers_gpt4.jsonl` ({question_id, text}), `context.jsonl` ({image, caption}) + `images/`."""
    questions_file = find_one(root, ("questions.jsonl",), "questions.jsonl")
    folder = questions_file.parent
    references = {
        a["question_id"]: a["text"]
        for a in read_jsonl(find_one(folder, ("answers_gpt4.jsonl",), "answers_gpt4.jsonl"))
    }
    captions = {
        c["image"]: c["caption"] for c in read_jsonl(find_one(folder, ("context.jsonl",), "context.jsonl"))
    }
    images = image_index(root)
    for question in read_jsonl(questions_file):
        number = question["question_id"]
        if number not in references or question["image"] not in captions:
            raise BenchmarkDataError(f"{questions_file}: question {number} lacks a GPT-4 answer or a context")
        yield EvalItem(
            str(number), question["text"], resolve_image(images, question["image"], questions_file),
            {"question": question["text"], "gpt4_answer": references[number], "caption": captions[question["image"]],
             "category": question["category"]},
        )  # fmt: skip


HALLUSION_FIELDS = ("category", "subcategory", "set_id", "figure_id", "question_id", "visual_input")


def read_hallusion(root: Path) -> Iterator[EvalItem]:
    """HallusionBench `HallusionBench.json` ([{category, subcategory, set_id, figure_id, question_id,
    question, gt_answer, gt_answer_details, visual_input, filename}]) + `hallusion_bench/{category}/
    {subcategory}/{set_id}_{figure_id}.png`; questions with visual_input 0 are asked without an image."""
    source = find_one(root, ("HallusionBench.json",), "HallusionBench.json")
    folder = source.parent
    for entry in read_json(source):
        image = None
        if str(entry["visual_input"]) != "0":
            name = f"{entry['set_id']}_{entry['figure_id']}.png"
            candidates = [folder / "hallusion_bench" / entry["category"] / entry["subcategory"] / name]
            if entry.get("filename"):
                candidates.append(folder / entry["filename"])
            image = next((path for path in candidates if path.is_file()), None)
            if image is None:
                raise BenchmarkDataError(f"{source}: no image at {candidates[0]}")
        key = "_".join(str(entry[field]) for field in HALLUSION_FIELDS[:5])
        yield EvalItem(
            key, entry["question"], image,
            {field: str(entry[field]) for field in HALLUSION_FIELDS}
            | {"question": entry["question"], "gt_answer": str(entry["gt_answer"]), "gt_answer_details": entry["gt_answer_details"]},
        )  # fmt: skip


SCREENSPOT_PLATFORMS = ("mobile", "desktop", "web")


def read_screenspot(root: Path) -> Iterator[EvalItem]:
    """ScreenSpot `screenspot_{mobile,desktop,web}.json` ([{img_filename, bbox: [x, y, w, h],
    instruction, data_type, data_source}]) + `screenspot_imgs/`; image sizes read from the headers."""
    folder = root if root.is_dir() else root.parent
    files = {
        platform: sorted(folder.rglob(f"screenspot_{platform}.json")) for platform in SCREENSPOT_PLATFORMS
    }
    if not any(files.values()):
        raise BenchmarkDataError(f"{root}: no screenspot_mobile/desktop/web.json")
    images = image_index(root)
    for platform, found in files.items():
        for source in found[:1]:
            for index, entry in enumerate(read_json(source)):
                path = resolve_image(images, entry["img_filename"], source)
                with Image.open(path) as image:
                    width, height = image.size
                yield EvalItem(
                    f"{platform}-{index}", SCREENSPOT_PROMPT.format(instruction=entry["instruction"]), path,
                    {"bbox": entry["bbox"], "width": width, "height": height, "platform": platform,
                     "data_type": entry["data_type"], "data_source": entry.get("data_source")},
                )  # fmt: skip
