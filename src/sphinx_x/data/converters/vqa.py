"""Visual question answering (Table 1, vision-language), each from its published files.

    vqav2         VQAv2 / OK-VQA: `*questions*.json` ({"data_subtype", "questions": [{question_id,
                  image_id, question}]}) + `*annotations*.json` ({"annotations": [{question_id,
                  multiple_choice_answer?, answers: [{answer}]}]}); images COCO_{subtype}_{id:012d}.jpg
    gqa           {question_id: {imageId, question, answer}} (`train_balanced_questions.json`)
    textvqa       {"data": [{question_id, image_id, question, answers}]}
    vizwiz        [{image, question, answers: [{answer, answer_confidence}], answerable}]
    docvqa        {"data": [{questionId, question, image, answers}]}
    infographicsvqa  the same, images under "image_local_name"
    chartqa       [{imgname, query, label}] (`train_human.json`, `train_augmented.json`)
    ocrvqa        {id: {imageURL, questions, answers, split}} (`dataset.json`); --split train|val|test
    ai2d          `questions/{image}.json`: {imageName, questions: {text: {answerTexts, correctAnswer}}}
    scienceqa     `problems.json`: {id: {question, choices, answer, hint, image, split}}; --split
    clevr         CLEVR v1.0 `CLEVR_{split}_questions.json`: {"questions": [{image_filename, question, answer}]}
    dvqa          DVQA `train_qa.json`: [{image, question, answer, question_id, template_id, answer_bbox}]
    visual-genome-qa  Visual Genome `question_answers.json`: [{"id": image_id, "qas": [{question, answer}]}]
    geometry3k    Geometry3K (InterGPS): `{split}/{id}/data.json` ({problem_text, choices, answer: letter})
                  beside `img_diagram.png`

Questions about one image become the turns of one record (up to --max-turns per record), as the
release trains. Answers with several annotators' votes take the most common one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..prompts import OPTION_LETTER, SHORT_ANSWER
from .common import (
    ConvertOptions,
    Grouper,
    Result,
    attempt,
    find_file,
    json_items,
    json_pairs,
    make_record,
    most_common,
)

LETTERS = "ABCDEFGHIJ"


def per_image(grouper: Grouper, where: str, task: str, options: ConvertOptions) -> Iterator[Result]:
    """Records of (question, answer) pairs grouped by image, `max_turns` per record."""

    def build(image: str, pairs: list, part: int) -> dict:
        suffix = f"-{part}" if part else ""
        return make_record(f"{task}-{Path(image).stem}{suffix}", [tuple(pair) for pair in pairs], image, task)

    for image, pairs in grouper.groups():
        for part, start in enumerate(range(0, len(pairs), options.max_turns)):
            yield attempt(
                f"{where}:image {image}", build, image, pairs[start : start + options.max_turns], part
            )


def short(question: str) -> str:
    return question.strip() + SHORT_ANSWER


def vqav2(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    questions_file = find_file(sources, ("*questions*.json",), "questions JSON")
    annotations_file = find_file(sources, ("*annotations*.json",), "annotations JSON")
    subtype = next(json_items(questions_file, "data_subtype"), "train2014")
    with Grouper() as answers, Grouper() as by_image:
        for annotation in json_items(annotations_file, "annotations.item"):
            where, answer = attempt(
                f"{annotations_file}:question {annotation.get('question_id')}", vqa_answer, annotation
            )
            if isinstance(answer, Exception):
                yield where, answer
            else:
                answers.add(annotation["question_id"], answer)
        for question in json_items(questions_file, "questions.item"):
            answer = answers.get(question.get("question_id"))
            if not answer:
                yield f"{questions_file}:question {question.get('question_id')}", ValueError("no annotation")
                continue
            image = f"COCO_{subtype}_{question['image_id']:012d}.jpg"
            by_image.add(image, [short(question["question"]), answer[0]])
        yield from per_image(by_image, str(questions_file), "vqa", options)


def vqa_answer(annotation: dict) -> str:
    """VQAv2 states the consensus (`multiple_choice_answer`); OK-VQA only lists the ten answers."""
    if annotation.get("multiple_choice_answer"):
        return annotation["multiple_choice_answer"]
    return most_common(answer["answer"] for answer in annotation["answers"])


def gqa(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    path = find_file(sources, ("*questions*.json", "*.json"), "GQA questions JSON")
    with Grouper() as by_image:
        for question_id, entry in json_pairs(path):
            try:
                by_image.add(f"{entry['imageId']}.jpg", [short(entry["question"]), entry["answer"]])
            except (KeyError, TypeError):
                yield f"{path}:question {question_id}", ValueError("expected imageId, question and answer")
        yield from per_image(by_image, str(path), "vqa", options)


def _grouped(
    path: Path, prefix: str, question_of, image_of, answer_of, task: str, options
) -> Iterator[Result]:
    """Grouping for the formats of one list of question entries."""
    with Grouper() as by_image:
        for index, entry in enumerate(json_items(path, prefix)):
            where, pair = attempt(f"{path}:[{index}]", lambda e: [question_of(e), answer_of(e)], entry)
            if isinstance(pair, Exception):
                yield where, pair
                continue
            where, image = attempt(where, image_of, entry)
            if isinstance(image, Exception):
                yield where, image
                continue
            by_image.add(image, pair)
        yield from per_image(by_image, str(path), task, options)


def textvqa(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    path = find_file(sources, ("TextVQA*.json", "*textvqa*.json", "*.json"), "TextVQA JSON")
    return _grouped(
        path, "data.item", lambda e: short(e["question"]), lambda e: f"{e['image_id']}.jpg",
        lambda e: most_common(e["answers"]), "textvqa", options,
    )  # fmt: skip


def vizwiz(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    path = find_file(sources, ("*.json",), "VizWiz JSON")
    return _grouped(
        path, "item", lambda e: short(e["question"]), lambda e: e["image"],
        lambda e: most_common(a["answer"] for a in e["answers"]), "vizwiz", options,
    )  # fmt: skip


def _document_vqa(image_field: str, task: str):
    """DocVQA and InfographicsVQA share one format; only the image field's name differs."""

    def convert(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
        path = find_file(sources, ("*train*.json", "*.json"), f"{task} JSON")
        return _grouped(
            path, "data.item", lambda e: short(e["question"]), lambda e: e[image_field],
            lambda e: e["answers"][0].strip(), task, options,
        )  # fmt: skip

    return convert


docvqa = _document_vqa("image", "docvqa")
infographicsvqa = _document_vqa("image_local_name", "infographicsvqa")


def chartqa(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    files = [s for s in sources if s.is_file()] or sorted(p for s in sources for p in s.rglob("train_*.json"))
    for path in files:
        yield from _grouped(
            path, "item", lambda e: short(e["query"]), lambda e: e["imgname"], lambda e: str(e["label"]).strip(),
            "chartqa", options,
        )  # fmt: skip


def ocrvqa(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    """OCR-VQA's split codes: 1 train, 2 val, 3 test. Images are named by id with the URL's suffix."""
    path = find_file(sources, ("dataset.json", "*.json"), "OCR-VQA dataset.json")
    wanted = {"train": 1, "val": 2, "test": 3}[options.split or "train"]

    def build(book_id: str, entry: dict) -> dict:
        suffix = Path(entry["imageURL"]).suffix or ".jpg"
        pairs = [(short(q), a.strip()) for q, a in zip(entry["questions"], entry["answers"], strict=True)]
        return make_record(f"ocrvqa-{book_id}", pairs[: options.max_turns], f"{book_id}{suffix}", "ocrvqa")

    for book_id, entry in json_pairs(path):
        if isinstance(entry, dict) and entry.get("split") == wanted:
            yield attempt(f"{path}:{book_id}", build, book_id, entry)


def multiple_choice(question: str, choices: list[str], context: str = "") -> str:
    if len(choices) > len(LETTERS):
        raise ValueError(f"choices: at most {len(LETTERS)} supported, got {len(choices)}")
    options = "\n".join(f"{LETTERS[i]}. {choice}" for i, choice in enumerate(choices))
    head = f"Context: {context.strip()}\n" if context and context.strip() else ""
    return f"{head}{question.strip()}\n{options}{OPTION_LETTER}"


def ai2d(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    files = sorted(p for s in sources for p in ([s] if s.is_file() else (s.rglob("questions/*.json"))))

    def build(path: Path) -> dict:
        entry = next(json_items(path, ""))
        pairs = [
            (multiple_choice(text, item["answerTexts"]), LETTERS[item["correctAnswer"]])
            for text, item in entry["questions"].items()
        ]
        return make_record(
            f"ai2d-{Path(entry['imageName']).stem}", pairs[: options.max_turns], entry["imageName"], "ai2d"
        )

    for path in files:
        yield attempt(str(path), build, path)


def scienceqa(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    """Images are `{split}/{id}/image.png` under the image root (the release's `images/` folder);
    questions without an image become text-only records."""
    path = find_file(sources, ("problems.json",), "ScienceQA problems.json")
    split = options.split or "train"

    def build(problem_id: str, entry: dict) -> dict:
        question = multiple_choice(entry["question"], entry["choices"], entry.get("hint") or "")
        image = f"{split}/{problem_id}/{entry['image']}" if entry.get("image") else None
        return make_record(f"sqa-{problem_id}", [(question, LETTERS[entry["answer"]])], image, "scienceqa")

    for problem_id, entry in json_pairs(path):
        if isinstance(entry, dict) and entry.get("split") == split:
            yield attempt(f"{path}:{problem_id}", build, problem_id, entry)


def clevr(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    path = find_file(sources, ("CLEVR_*_questions.json", "*questions*.json"), "CLEVR questions JSON")
    return _grouped(
        path, "questions.item", lambda e: short(e["question"]), lambda e: e["image_filename"],
        lambda e: str(e["answer"]).strip(), "clevr", options,
    )  # fmt: skip


def dvqa(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    files = [s for s in sources if s.is_file()] or sorted(p for s in sources for p in s.rglob("*_qa.json"))
    for path in files:
        yield from _grouped(
            path, "item", lambda e: short(e["question"]), lambda e: e["image"], lambda e: str(e["answer"]).strip(),
            "dvqa", options,
        )  # fmt: skip


def visual_genome_qa(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    """Visual Genome's answers are sentences' worth of punctuation ("White."): the final period goes."""
    path = find_file(sources, ("question_answers.json",), "question_answers.json")

    def build(entry: dict) -> dict:
        pairs = [(short(qa["question"]), qa["answer"].strip().rstrip(".")) for qa in entry["qas"]
                 if qa.get("question", "").strip() and qa.get("answer", "").strip()]  # fmt: skip
        return make_record(f"vgqa-{entry['id']}", pairs[: options.max_turns], f"{entry['id']}.jpg", "vqa")

    for index, entry in enumerate(json_items(path, "item")):
        yield attempt(f"{path}:[{index}]", build, entry)


def geometry3k(sources: list[Path], options: ConvertOptions) -> Iterator[Result]:
    """Images are written relative to the split folders' parent (give it as the image root)."""
    files = sorted(p for s in sources for p in ([s] if s.is_file() else s.rglob("data.json")))

    def build(path: Path) -> dict:
        entry = next(json_items(path, ""))
        if entry["answer"] not in LETTERS[: len(entry["choices"])]:
            raise ValueError(f"answer {entry['answer']!r}: expected one of the choices' letters")
        image = f"{path.parent.parent.name}/{path.parent.name}/img_diagram.png"
        question = multiple_choice(entry["problem_text"], entry["choices"])
        return make_record(
            f"geo3k-{path.parent.parent.name}-{path.parent.name}",
            [(question, entry["answer"])],
            image,
            "geometry",
        )

    for path in files:
        yield attempt(str(path), build, path)
