"""A synthetic multi-domain corpus: every domain of the paper's Table 1 in miniature.

  language        dialog and arithmetic (text only)
  vision          classification, detection and referring grounding of coloured shapes, boxes as text
  vision-language counting, yes/no and colour questions; captions
  ocr             words typeset into PDF pages with PyMuPDF, rendered; read back with and without boxes
  set-of-mark     marks described in the text over the raw image ("mark 2 at [..]: what is it?")

Images come in several aspect ratios so that skip tokens occur. Records are LLaVA-style JSONL,
one file per domain, with a mixture YAML, exactly what `sphinx-x train` reads.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from ..data import prompts
from ..data.prompts import SHORT_ANSWER
from ..processing.conversation import ChatTemplate, to_messages
from ..processing.locations import format_box, format_grounded

COLOURS = {"red": (215, 40, 40), "green": (40, 170, 70), "blue": (45, 80, 215), "yellow": (225, 200, 30)}
SHAPES = ("square", "circle", "triangle")
ASPECTS = ((1, 1), (2, 1), (1, 2), (3, 2), (2, 3))
LONG_SIDE = 128
WORDS = ("apple", "river", "cloud", "stone", "table", "music", "light", "paper", "tiger", "house", "bread", "chair",
         "plant", "ocean", "smile", "train", "glass", "sugar", "piano", "horse", "lemon", "brick", "candle", "robot")  # fmt: skip
NUMBER_WORDS = ("zero", "one", "two", "three")
DIALOGS = [
    ("Hello!", "Hello! How can I help you today?"),
    ("What can you do?", "I can describe images, find objects, read text and answer questions."),
    ("Thank you.", "You are welcome."),
    ("Who are you?", "I am a small SPHINX-X model trained on synthetic data."),
]


@dataclass
class Shape:
    kind: str
    colour: str
    box: tuple[int, int, int, int]  # pixels, xyxy

    @property
    def name(self) -> str:
        return f"{self.colour} {self.kind}"


def canvas_size(rng: random.Random) -> tuple[int, int]:
    wide, high = rng.choice(ASPECTS)
    scale = LONG_SIDE / max(wide, high)
    return round(wide * scale), round(high * scale)


def normalised(box, width: int, height: int) -> list[float]:
    """Pixels -> the SPHINX-X (corner-padded) square: divide by the long side."""
    side = max(width, height)
    return [value / side for value in box]


def draw_shapes(rng: random.Random, count: int) -> tuple[Image.Image, list[Shape]]:
    """`count` shapes of distinct (colour, kind), not overlapping, on a light background."""
    width, height = canvas_size(rng)
    image = Image.new("RGB", (width, height), (235, 232, 225))
    draw = ImageDraw.Draw(image)
    shapes: list[Shape] = []
    names = rng.sample([(c, k) for c in COLOURS for k in SHAPES], count)
    for colour, kind in names:
        for _ in range(50):
            size = rng.randint(int(0.4 * min(width, height)), int(0.65 * min(width, height)))
            x, y = rng.randint(0, width - size), rng.randint(0, height - size)
            box = (x, y, x + size, y + size)
            if all(not overlaps(box, other.box) for other in shapes):
                break
        else:
            continue
        paint(draw, kind, box, COLOURS[colour])
        shapes.append(Shape(kind, colour, box))
    return image, shapes


def overlaps(a, b) -> bool:
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])


def paint(draw: ImageDraw.ImageDraw, kind: str, box, colour) -> None:
    if kind == "square":
        draw.rectangle(box, fill=colour)
    elif kind == "circle":
        draw.ellipse(box, fill=colour)
    else:
        draw.polygon([(box[0], box[3]), (box[2], box[3]), ((box[0] + box[2]) / 2, box[1])], fill=colour)


def turn(question: str, answer: str) -> list[dict]:
    return [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]


def shape_sample(rng: random.Random, task: str, image: Image.Image, shapes: list[Shape]) -> list[dict]:
    """One conversation about a shapes image, for `task`."""
    width, height = image.size
    target = rng.choice(shapes)
    box = format_box(normalised(target.box, width, height))
    if task == "classify":
        return turn("Classify the image.", f"This is a {shapes[0].kind}")
    if task == "detect":
        kind = target.kind
        boxes = [normalised(s.box, width, height) for s in shapes if s.kind == kind]
        return turn(f"Detect all {kind}s shown in the image.", format_grounded(kind, boxes))
    if task == "rec":
        return turn(prompts.REC[0].format(phrase=f"the {target.name}"), box)
    if task == "count":
        return turn("How many shapes are there?" + SHORT_ANSWER, str(len(shapes)))
    if task == "yesno":
        present = rng.random() < 0.5
        colour, kind = (target.colour, target.kind) if present else absent_shape(rng, shapes)
        return turn(f"Is there a {colour} {kind} in the image?" + SHORT_ANSWER, "Yes" if present else "No")
    if task == "colour":
        return turn(f"What colour is the {target.kind}?" + SHORT_ANSWER, target.colour) if unique_kind(shapes, target) else turn(
            f"What shape is {target.colour}?" + SHORT_ANSWER, target.kind)  # fmt: skip
    if task == "caption":
        return turn("Describe the image briefly.", caption(shapes))
    if task == "som":
        marks = "; ".join(
            f"mark {i + 1} at {format_box(normalised(s.box, width, height))}" for i, s in enumerate(shapes)
        )
        index = shapes.index(target) + 1
        return turn(f"The image has these marks: {marks}. What is mark {index}?", f"A {target.name}.")
    raise ValueError(task)


def unique_kind(shapes: list[Shape], target: Shape) -> bool:
    return sum(s.kind == target.kind for s in shapes) == 1


def absent_shape(rng: random.Random, shapes: list[Shape]) -> tuple[str, str]:
    present = {(s.colour, s.kind) for s in shapes}
    return rng.choice([(c, k) for c in COLOURS for k in SHAPES if (c, k) not in present])


def caption(shapes: list[Shape]) -> str:
    names = [f"a {s.name}" for s in sorted(shapes, key=lambda s: (s.box[0], s.box[1]))]
    return (
        "There is " + names[0]
        if len(names) == 1
        else "There are " + ", ".join(names[:-1]) + " and " + names[-1]
    ) + "."


def language_sample(rng: random.Random) -> list[dict]:
    if rng.random() < 0.7:
        a, b = rng.randint(0, 20), rng.randint(0, 20)
        if rng.random() < 0.5:
            return turn(f"What is {a} plus {b}?", str(a + b))
        a, b = max(a, b), min(a, b)
        return turn(f"What is {a} minus {b}?", str(a - b))
    question, answer = rng.choice(DIALOGS)
    return turn(question, answer)


# -- OCR pages --------------------------------------------------------------------------------


FONT_SIZES = {1: (56.0, 80.0), 2: (34.0, 46.0)}  # points, for one word / for several on the page


def ocr_page(rng: random.Random, words: int) -> tuple[Image.Image, list[tuple[str, list[float]]]]:
    """`words` vocabulary words typeset on a PDF page with PyMuPDF, rendered; word boxes from the PDF."""
    import pymupdf

    width, height = rng.choice([(240, 120), (150, 240), (200, 200)])  # points
    document = pymupdf.open()
    page = document.new_page(width=width, height=height)
    chosen = rng.sample(WORDS, words)
    line_height = (height - 12) / words
    for row, word in enumerate(chosen):
        # One word per line, lines never overlapping (PyMuPDF would merge words that touch), inside the page.
        # Large type: a 32-pixel view of a 128-pixel page must still show letters of a few pixels.
        size = min(
            rng.uniform(*FONT_SIZES[min(words, 2)]), line_height / 1.3, (width - 8) / (0.62 * len(word))
        )
        x = rng.uniform(4, max(4.5, width - 0.62 * size * len(word) - 4))
        y = 6 + row * line_height + rng.uniform(size, max(size, line_height - 0.3 * size))
        page.insert_text((x, y), word, fontsize=size, fontname=rng.choice(["helv", "cour", "tiro"]))
    scale = LONG_SIDE / max(width, height)
    pixmap = page.get_pixmap(matrix=pymupdf.Matrix(scale, scale))
    image = Image.frombytes("RGB", (pixmap.width, pixmap.height), pixmap.samples)
    found = [(w[4], [w[0] * scale, w[1] * scale, w[2] * scale, w[3] * scale]) for w in page.get_text("words")]
    document.close()
    found.sort(key=lambda item: (item[1][1], item[1][0]))  # reading order
    return image, [(word, normalised(box, *image.size)) for word, box in found]


def ocr_sample(rng: random.Random, task: str) -> tuple[Image.Image, list[dict]]:
    image, words = ocr_page(rng, 1 if task == "ocr_read" else rng.randint(2, 3))
    image.info["words"] = words
    return image, ocr_turn(rng, task, words)


def ocr_turn(rng: random.Random, task: str, words) -> list[dict]:
    if task == "ocr_read":
        return turn("What is written in the image?", " ".join(word for word, _ in words))
    if task == "ocr_spot":
        return turn(prompts.SPOT[0], "; ".join(format_grounded(word, [box]) for word, box in words))
    word, box = rng.choice(words)
    return turn(f"What is the text in the region {format_box(box)}?", word)


def ocr_conversation(rng: random.Random, image: Image.Image, task: str, turns: int) -> list[dict]:
    others = [t for t in OCR_TASKS if t != task]
    return [
        t
        for each in [task, *rng.sample(others, min(turns - 1, len(others)))]
        for t in ocr_turn(rng, each, image.info["words"])
    ]


# -- the corpus -------------------------------------------------------------------------------

SHAPE_TASKS = {"classify": "vision", "detect": "vision", "rec": "vision", "count": "vqa", "yesno": "vqa",
               "colour": "vqa", "caption": "caption", "som": "set-of-mark"}  # fmt: skip
OCR_TASKS = {"ocr_read": "ocr", "ocr_spot": "ocr", "ocr_region": "ocr"}
# Asked only as a conversation's first question. After turns that name shapes (a caption, "the red
# square") a yes/no answer can be read from the text: "Yes" when the shape was named, else mostly
# "No". Trained so, the model learned exactly that and answered "No" to 96 of 100 held-out
# questions, which ask first (docs/demo.md).
FIRST_ONLY = ("yesno",)


def make_sample(rng: random.Random, task: str, images: Path, name: str, turns: int = 1) -> dict:
    """One record whose first question is of `task`; with `turns` > 1, more questions about the same
    image follow (multi-turn, as the release trains), each of another task of the same domain."""
    if task == "language":
        return {"id": name, "conversations": [t for _ in range(turns) for t in language_sample(rng)]}
    if task in OCR_TASKS:
        image, conversation = ocr_sample(rng, task)
        if turns > 1:  # more questions about a page need its words: make the page once, ask several
            conversation = ocr_conversation(rng, image, task, turns)
    else:
        image, shapes = draw_shapes(rng, 1 if task == "classify" else rng.randint(1, 3))
        never_follow = {task, *FIRST_ONLY, *(("classify",) if len(shapes) > 1 else ())}
        followers = [t for t in SHAPE_TASKS if t not in never_follow]
        conversation = [t for each in [task, *rng.sample(followers, min(turns - 1, len(followers)))]
                        for t in shape_sample(rng, each, image, shapes)]  # fmt: skip
    image.save(images / f"{name}.png", compress_level=1)  # 2-3x faster than level 6 here, as fast to read
    conversation[0]["value"] = "<image>\n" + conversation[0]["value"]
    return {"id": name, "image": f"{name}.png", "task": task, "conversations": conversation}


# Samples per job: each job has a random stream of its own, so the corpus is the same for any worker count.
CHUNK = 250


def write_corpus(folder: Path, samples_per_task: dict[str, int], seed: int, turns: int = 1) -> Path:
    """Records per domain + `mixture.yaml`; returns the mixture path. The images are drawn and
    typeset by every CPU core (PyMuPDF's typesetting is most of the time)."""
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    jobs = [(seed, task, start, min(start + CHUNK, count), images, turns)
            for task, count in samples_per_task.items() for start in range(0, count, CHUNK)]  # fmt: skip
    workers = min(len(jobs), os.cpu_count() or 1, 8)
    if workers > 1:
        # fork: the workers only draw and save pictures (no torch), and start at once.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            chunks = list(pool.map(make_samples, *zip(*jobs, strict=True)))
    else:
        chunks = [make_samples(*job) for job in jobs]
    by_domain: dict[str, list[dict]] = {}
    for (_seed, task, *_), records in zip(jobs, chunks, strict=True):
        domain = SHAPE_TASKS.get(task) or OCR_TASKS.get(task) or "language"
        by_domain.setdefault(domain, []).extend(records)
    lines = ["sources:"]
    for domain, records in by_domain.items():
        (folder / f"{domain}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        lines.append(
            f"  - {{name: {domain}, path: {domain}.jsonl, image_root: images, weight: 1.0, type: {domain}}}"
        )
    (folder / "mixture.yaml").write_text("\n".join(lines) + "\n")
    return folder / "mixture.yaml"


def make_samples(seed: int, task: str, start: int, end: int, images: Path, turns: int) -> list[dict]:
    """Samples `start..end` of `task`, from a random stream of their own."""
    rng = random.Random(f"{seed}/{task}/{start}")
    return [make_sample(rng, task, images, f"{task}-{i}", turns) for i in range(start, end)]


def corpus_texts(folder: Path) -> list[str]:
    """Every conversation of the corpus as the model reads it (system prompt and role names
    included), to train the tokenizer on: text the model sees in every sample must not cost a
    token per character."""
    template, texts = ChatTemplate(), []
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            turns = json.loads(line)["conversations"]
            texts.append(template.render(to_messages(turns)))
    return texts
