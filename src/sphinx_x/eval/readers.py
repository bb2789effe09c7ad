"""Readers of the benchmarks' published files, each yielding `EvalItem`s for the runner.

A reader takes the local path the user gives (a folder, or the benchmark's main file) and finds
the files by the names the benchmark publishes them under. Images are referenced (a path or
encoded bytes) and only decoded when their batch runs.
"""

from __future__ import annotations

import ast
import base64
import csv
import json
import pickle
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..data import prompts
from ..data.prompts import OPTION_LETTER, SHORT_ANSWER
from ..processing.images import image_size as read_image_size

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


@dataclass
class EvalItem:
    """One question: `prompt` is shown to the model; `reference` holds what the metric compares against."""

    id: str
    prompt: str
    image: Path | bytes | None
    reference: dict = field(default_factory=dict)


class BenchmarkDataError(ValueError):
    """The benchmark files are not where or what the reader expects; the message names them."""


def find_one(root: Path, patterns: tuple[str, ...], what: str) -> Path:
    if root.is_file():
        return root
    for pattern in patterns:
        found = sorted(root.rglob(pattern))
        if found:
            return found[0]
    raise BenchmarkDataError(f"{root}: no {what} (looked for {', '.join(patterns)})")


def image_index(root: Path) -> dict[str, Path]:
    """Every image file under `root` by file name (benchmarks name images uniquely)."""
    folder = root if root.is_dir() else root.parent
    return {path.name: path for path in folder.rglob("*") if path.suffix.lower() in IMAGE_SUFFIXES}


def resolve_image(index: dict[str, Path], name: str, source: Path) -> Path:
    """The image file `name` refers to. One that is not there is not an error here: the runner
    reports it as an unanswered item (with its path) and scores the rest, instead of stopping."""
    return index.get(Path(name).name) or source.parent / name


def read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise BenchmarkDataError(f"{path}: not valid JSON ({error})") from None


def options_text(options: dict[str, str]) -> str:
    return "\n".join(f"{letter}. {text}" for letter, text in options.items())


REC_PROMPT = prompts.REC[0]  # the release's grounding prompt, "{phrase}" to fill


# -- VQA family ---------------------------------------------------------------------------------


def read_vqav2(root: Path) -> Iterator[EvalItem]:
    """VQAv2 / OK-VQA: `*questions*.json` + `*annotations*.json` + COCO images."""
    questions_file = find_one(root, ("*questions*.json",), "questions JSON")
    annotations_file = find_one(root, ("*annotations*.json",), "annotations JSON")
    questions = read_json(questions_file)
    subtype = questions.get("data_subtype", "val2014")
    answers = {
        a["question_id"]: [x["answer"] for x in a["answers"]]
        for a in read_json(annotations_file)["annotations"]
    }
    images = image_index(root)
    for question in questions["questions"]:
        image = f"COCO_{subtype}_{question['image_id']:012d}.jpg"
        yield EvalItem(
            str(question["question_id"]), question["question"] + SHORT_ANSWER, resolve_image(images, image, questions_file),
            {"answers": answers[question["question_id"]], "question_id": question["question_id"]},
        )  # fmt: skip


def read_textvqa(root: Path) -> Iterator[EvalItem]:
    source = find_one(root, ("TextVQA*.json", "*textvqa*.json"), "TextVQA JSON")
    images = image_index(root)
    for entry in read_json(source)["data"]:
        image = resolve_image(images, f"{entry['image_id']}.jpg", source)
        yield EvalItem(
            str(entry["question_id"]), entry["question"] + SHORT_ANSWER, image, {"answers": entry["answers"]}
        )


def read_gqa(root: Path) -> Iterator[EvalItem]:
    source = find_one(root, ("testdev_balanced_questions.json", "*questions*.json"), "GQA questions JSON")
    images = image_index(root)
    for question_id, entry in read_json(source).items():
        image = resolve_image(images, f"{entry['imageId']}.jpg", source)
        yield EvalItem(str(question_id), entry["question"] + SHORT_ANSWER, image, {"answer": entry["answer"]})


def read_docvqa(root: Path) -> Iterator[EvalItem]:
    """DocVQA / InfographicsVQA: `{"data": [{questionId, question, image, answers}]}`."""
    source = find_one(root, ("val_v1.0*.json", "*val*.json", "*.json"), "DocVQA JSON")
    images = image_index(root)
    for entry in read_json(source)["data"]:
        image = resolve_image(images, entry.get("image") or entry.get("image_local_name"), source)
        yield EvalItem(
            str(entry["questionId"]), entry["question"] + SHORT_ANSWER, image,
            {"answers": entry.get("answers", []), "question_id": entry["questionId"]},
        )  # fmt: skip


def read_chartqa(root: Path) -> Iterator[EvalItem]:
    """ChartQA test: `test_human.json` and `test_augmented.json` ([{imgname, query, label}]) + `png/`."""
    files = [root] if root.is_file() else sorted(root.rglob("test_*.json"))
    if not files:
        raise BenchmarkDataError(f"{root}: no test_human.json / test_augmented.json")
    images = image_index(root)
    for source in files:
        split = source.stem.removeprefix("test_")
        for index, entry in enumerate(read_json(source)):
            yield EvalItem(
                f"{split}-{index}", entry["query"] + SHORT_ANSWER, resolve_image(images, entry["imgname"], source),
                {"answer": str(entry["label"]), "category": split},
            )  # fmt: skip


# -- yes / no -----------------------------------------------------------------------------------


def read_pope(root: Path) -> Iterator[EvalItem]:
    """POPE: `coco_pope_{random,popular,adversarial}.json`, one JSON object per line."""
    files = [root] if root.is_file() else sorted(root.rglob("*pope*.json*"))
    if not files:
        raise BenchmarkDataError(f"{root}: no *pope*.json files")
    images = image_index(root)
    for source in files:
        split = source.stem.split("_")[-1]
        for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as error:
                raise BenchmarkDataError(f"{source}:{number}: not valid JSON ({error.msg})") from None
            yield EvalItem(
                f"{split}-{entry['question_id']}", entry["text"] + SHORT_ANSWER, resolve_image(images, entry["image"], source),
                {"answer": entry["label"], "split": split},
            )  # fmt: skip


def read_mme(root: Path) -> Iterator[EvalItem]:
    """MME's folder layout: one folder per subtask; `question\\tanswer` lines in a .txt per image,
    either beside the image or in `questions_answers_YN/` next to `images/`."""
    subtasks = sorted(path for path in root.iterdir() if path.is_dir())
    if not subtasks:
        raise BenchmarkDataError(f"{root}: no subtask folders (existence, count, OCR, ...)")
    for subtask in subtasks:
        question_files = sorted((subtask / "questions_answers_YN").glob("*.txt")) or sorted(
            subtask.glob("*.txt")
        )
        image_folder = subtask / "images" if (subtask / "images").is_dir() else subtask
        for question_file in question_files:
            image = next(
                (
                    p
                    for p in image_folder.glob(question_file.stem + ".*")
                    if p.suffix.lower() in IMAGE_SUFFIXES
                ),
                None,
            )
            if image is None:
                raise BenchmarkDataError(
                    f"{question_file}: no image named {question_file.stem}.* in {image_folder}"
                )
            for number, line in enumerate(question_file.read_text(encoding="utf-8").splitlines()):
                if line.strip():
                    question, answer = line.rsplit("\t", 1)
                    yield EvalItem(
                        f"{subtask.name}/{question_file.stem}/{number}", question.strip(), image,
                        {"answer": answer.strip(), "subtask": subtask.name, "image": f"{subtask.name}/{image.name}"},
                    )  # fmt: skip


# -- multiple choice ----------------------------------------------------------------------------


def read_mmbench(root: Path) -> Iterator[EvalItem]:
    """MMBench / CCBench TSV (base64 images); every question asked once per circular shift."""
    source = find_one(root, ("*.tsv",), "MMBench TSV")
    csv.field_size_limit(sys.maxsize)  # base64 images are long fields
    with open(source, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            letters = [letter for letter in "ABCDEFGHI" if row.get(letter) not in (None, "", "nan")]
            texts = [row[letter] for letter in letters]
            image = base64.b64decode(row["image"])
            hint = row.get("hint") if row.get("hint") not in (None, "", "nan") else None
            for shift in range(len(letters)):
                shifted = dict(zip(letters, texts[shift:] + texts[:shift], strict=True))
                answer = letters[(letters.index(row["answer"]) - shift) % len(letters)]
                prompt = (
                    f"{hint}\n" if hint else ""
                ) + f"{row['question']}\n{options_text(shifted)}{OPTION_LETTER}"
                yield EvalItem(
                    f"{row['index']}-{shift}", prompt, image,
                    {"answer": answer, "options": shifted, "group": row["index"], "category": row.get("category"),
                     "raw_question": row["question"]},
                )  # fmt: skip


def read_scienceqa(root: Path, split: str = "test") -> Iterator[EvalItem]:
    """ScienceQA `problems.json`; the IMG subset (questions with an image) of `split`."""
    source = find_one(root, ("problems.json",), "ScienceQA problems.json")
    images = {path.parent.name: path for path in (root if root.is_dir() else root.parent).rglob("image.png")}
    for problem_id, problem in read_json(source).items():
        if problem.get("split") != split or not problem.get("image"):
            continue
        options = {chr(ord("A") + i): choice for i, choice in enumerate(problem["choices"])}
        context = f"Context: {problem['hint']}\n" if problem.get("hint") else ""
        if problem_id not in images:
            raise BenchmarkDataError(f"{source}: no {split}/{problem_id}/image.png")
        yield EvalItem(
            problem_id, f"{context}{problem['question']}\n{options_text(options)}{OPTION_LETTER}", images[problem_id],
            {"answer": chr(ord("A") + problem["answer"]), "category": problem.get("subject")},
        )  # fmt: skip


def read_mmmu(root: Path) -> Iterator[EvalItem]:
    """MMMU as published: one `validation-*.parquet` per subject (first image used)."""
    import pyarrow.parquet as pq  # the `eval` extra

    files = [root] if root.is_file() else sorted(root.rglob("validation-*.parquet"))
    if not files:
        raise BenchmarkDataError(f"{root}: no validation-*.parquet files")
    for source in files:
        for row in pq.read_table(source).to_pylist():
            options = ast.literal_eval(row["options"]) if row.get("options") else []
            question = row["question"].replace("<image 1>", "").strip()
            image = (row.get("image_1") or {}).get("bytes")
            subject = row["id"].split("_")[1] if row["id"].count("_") >= 2 else None
            if row.get("question_type") == "multiple-choice" and options:
                lettered = {chr(ord("A") + i): text for i, text in enumerate(options)}
                prompt = f"{question}\n{options_text(lettered)}{OPTION_LETTER}"
                reference = {"answer": row["answer"], "options": lettered}
            else:
                prompt, reference = question + SHORT_ANSWER, {"answer": parse_answer_list(row["answer"])}
            yield EvalItem(row["id"], prompt, image, reference | {"category": subject})


def parse_answer_list(answer: str):
    if answer.startswith("["):
        try:
            return [str(value) for value in ast.literal_eval(answer)]
        except (ValueError, SyntaxError):
            return answer
    return answer


VIDEO_SAMPLES = 8  # frames sampled evenly from a clip; the middle one is the image (paper §4.4)


def middle_sample(first: int, last: int, samples: int = VIDEO_SAMPLES) -> int:
    """The middle of `samples` frame indices spread evenly over [first, last], both ends included."""
    sampled = [first + round(i * (last - first) / max(samples - 1, 1)) for i in range(samples)]
    return sampled[samples // 2]


def read_video_qa(root: Path, frames: int = VIDEO_SAMPLES) -> Iterator[EvalItem]:
    """Video QA from frames on disk: `questions.json` [{id, video, question, options, answer, task}]
    and `frames/{video}/*.jpg`. As the paper does, the middle of `frames` evenly sampled frames is the image."""
    source = find_one(root, ("questions.json",), "video questions.json")
    frame_root = source.parent / "frames"
    for entry in read_json(source):
        video = frame_root / entry["video"]
        files = sorted(p for p in video.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise BenchmarkDataError(f"{video}: no frames")
        yield EvalItem(
            str(entry["id"]), f"{entry['question']}\n{options_text(entry['options'])}{OPTION_LETTER}",
            files[middle_sample(0, len(files) - 1, frames)],
            {"answer": entry["answer"], "options": entry["options"], "group": str(entry["id"]), "category": entry.get("task")},
        )  # fmt: skip


# -- grounding ----------------------------------------------------------------------------------


def read_refcoco(root: Path, split: str = "val", refs: str = "refs(unc).p") -> Iterator[EvalItem]:
    """RefCOCO / RefCOCO+ / RefCOCOg: `refs(unc).p` or `refs(umd).p` + `instances.json` + COCO train2014.

    The refer toolkit's folders hold several split files (`refs(google).p` beside `refs(unc).p`); the
    benchmark's own one is read (UNC for RefCOCO / RefCOCO+, UMD for RefCOCOg), any other only when
    it is the only one. The refs file is a pickle, as published: read only files you trust.
    """
    refs_file = find_one(root, (refs, "refs(*).p"), f"{refs}")
    instances = read_json(find_one(root, ("instances.json",), "instances.json"))
    boxes = {annotation["id"]: annotation["bbox"] for annotation in instances["annotations"]}
    image_info = {image["id"]: image for image in instances["images"]}
    images = image_index(root)
    with open(refs_file, "rb") as handle:
        refs = pickle.load(handle)
    for ref in refs:
        if ref["split"] != split:
            continue
        info = image_info[ref["image_id"]]
        x, y, w, h = boxes[ref["ann_id"]]
        image = resolve_image(images, info["file_name"], refs_file)
        for sentence in ref["sentences"]:
            yield EvalItem(
                f"{ref['ref_id']}-{sentence['sent_id']}", REC_PROMPT.format(phrase=sentence["sent"]), image,
                {"box": [x, y, x + w, y + h], "width": info["width"], "height": info["height"]},
            )  # fmt: skip


# -- sphinx-x's own synthetic held-out tasks (the demo's) ----------------------------------------


def read_toy_tasks(root: Path) -> Iterator[EvalItem]:
    """The demo's held-out records (`*.jsonl` of the trainer's schema, each with a "task"): the first
    question is asked, the first answer is the reference."""
    files = sorted(root.glob("*.jsonl")) if root.is_dir() else [root]
    if not files:
        raise BenchmarkDataError(f"{root}: no *.jsonl held-out records")
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            record = json.loads(line)
            question, answer = record["conversations"][0]["value"], record["conversations"][1]["value"]
            image = path.parent / "images" / record["image"] if record.get("image") else None
            width, height = read_image_size(image) if image is not None and image.exists() else (0, 0)
            reference = {
                "answer": answer,
                "task": record.get("task", "language"),
                "width": width,
                "height": height,
            }
            yield EvalItem(
                str(record.get("id", f"{path.stem}:{number}")),
                question.replace("<image>\n", ""),
                image,
                reference,
            )
