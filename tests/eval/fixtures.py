"""Tiny copies of each benchmark's published files, with the published field names and layouts."""

from __future__ import annotations

import base64
import io
import json
import pickle
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image


def png(path: Path, size=(48, 32), colour=(200, 30, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def png_bytes(size=(40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def vqav2(root: Path) -> None:
    write_json(root / "v2_OpenEnded_mscoco_val2014_questions.json", {"data_subtype": "val2014", "questions": [
        {"image_id": 42, "question": "What color is the box?", "question_id": 420},
        {"image_id": 42, "question": "How many boxes?", "question_id": 421}]})  # fmt: skip
    write_json(root / "v2_mscoco_val2014_annotations.json", {"annotations": [
        {"question_id": 420, "answers": [{"answer": "red", "answer_id": i} for i in range(1, 11)]},
        {"question_id": 421, "answers": [{"answer": "1", "answer_id": i} for i in range(1, 11)]}]})  # fmt: skip
    png(root / "val2014" / "COCO_val2014_000000000042.jpg")


def textvqa(root: Path) -> None:
    write_json(root / "TextVQA_0.5.1_val.json", {"data": [
        {"question_id": 7, "question": "What does the sign say?", "image_id": "abc123", "answers": ["stop"] * 10}]})  # fmt: skip
    png(root / "train_images" / "abc123.jpg")


def docvqa(root: Path) -> None:
    write_json(root / "val_v1.0.json", {"data": [
        {"questionId": 5, "question": "What is the date?", "image": "documents/doc1.png", "answers": ["1 May 2020"]}]})  # fmt: skip
    png(root / "documents" / "doc1.png", size=(60, 80))


def chartqa(root: Path) -> None:
    write_json(root / "test_human.json", [{"imgname": "c1.png", "query": "Highest value?", "label": "42"}])
    write_json(root / "test_augmented.json", [{"imgname": "c1.png", "query": "Lowest value?", "label": "7"}])
    png(root / "png" / "c1.png")


def pope(root: Path) -> None:
    (root / "coco_pope_random.json").parent.mkdir(parents=True, exist_ok=True)
    lines = [{"question_id": 1, "image": "COCO_val2014_000000000001.jpg", "text": "Is there a dog in the image?", "label": "yes"},
             {"question_id": 2, "image": "COCO_val2014_000000000001.jpg", "text": "Is there a cat in the image?", "label": "no"}]  # fmt: skip
    (root / "coco_pope_random.json").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    (root / "coco_pope_adversarial.json").write_text(json.dumps(lines[0]) + "\n")
    png(root / "val2014" / "COCO_val2014_000000000001.jpg")


def mme(root: Path) -> None:
    png(root / "existence" / "000000006040.jpg")
    (root / "existence" / "000000006040.txt").write_text(
        "Is there a train in this image? Please answer yes or no.\tYes\n"
        "Is there a bed in this image? Please answer yes or no.\tNo\n"
    )
    png(root / "artwork" / "images" / "10002.jpg")
    (root / "artwork" / "questions_answers_YN").mkdir(parents=True)
    (root / "artwork" / "questions_answers_YN" / "10002.txt").write_text(
        "Is this artwork created by Leonardo? Please answer yes or no.\tYes\n"
        "Is this artwork created by Monet? Please answer yes or no.\tNo\n"
    )


def mmbench(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    image = base64.b64encode(png_bytes()).decode()
    header = "index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\tl2-category\timage"
    rows = [f"0\tWhat colour is the square?\tnan\tred\tgreen\tblue\tnan\tB\tcolor\tperception\t{image}",
            f"1\tHow many squares?\tLook closely.\tone\ttwo\tnan\tnan\tA\tcount\tperception\t{image}"]  # fmt: skip
    (root / "mmbench_dev_en.tsv").write_text("\n".join([header, *rows]) + "\n")


def scienceqa(root: Path) -> None:
    write_json(root / "problems.json", {
        "11": {"question": "Which is a mammal?", "choices": ["whale", "shark"], "answer": 0, "hint": "",
               "image": "image.png", "split": "test", "subject": "natural science"},
        "12": {"question": "No image here", "choices": ["a", "b"], "answer": 1, "hint": "", "image": None, "split": "test"},
        "13": {"question": "Train only", "choices": ["a", "b"], "answer": 1, "hint": "", "image": "image.png", "split": "train"},
    })  # fmt: skip
    png(root / "test" / "11" / "image.png")
    png(root / "train" / "13" / "image.png")


def mmmu(root: Path) -> None:
    rows = [
        {"id": "validation_Art_1", "question": "<image 1> Which style?", "options": "['Baroque', 'Cubism', 'Gothic']",
         "answer": "B", "question_type": "multiple-choice", "image_1": {"bytes": png_bytes(), "path": "a.png"}},
        {"id": "validation_Math_2", "question": "<image 1> What is x?", "options": "[]", "answer": "['3', '3.0']",
         "question_type": "open", "image_1": {"bytes": png_bytes(), "path": "b.png"}},
    ]  # fmt: skip
    (root / "Art").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), root / "Art" / "validation-00000-of-00001.parquet")


def refcoco(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    refs = [
        {"ref_id": 1, "ann_id": 100, "image_id": 9, "split": "val", "sentences": [{"sent": "the red box", "sent_id": 11}]},
        {"ref_id": 2, "ann_id": 101, "image_id": 9, "split": "testA", "sentences": [{"sent": "left thing", "sent_id": 12}]},
    ]  # fmt: skip
    with open(root / "refs(unc).p", "wb") as handle:
        pickle.dump(refs, handle)
    write_json(root / "instances.json", {
        "images": [{"id": 9, "file_name": "COCO_train2014_000000000009.jpg", "width": 48, "height": 32}],
        "annotations": [{"id": 100, "bbox": [4, 2, 20, 10]}, {"id": 101, "bbox": [0, 0, 10, 10]}],
    })  # fmt: skip
    png(root / "train2014" / "COCO_train2014_000000000009.jpg")


def video(root: Path) -> None:
    write_json(root / "questions.json", [
        {"id": "v1", "video": "clip1", "question": "What happens?", "options": {"A": "a fall", "B": "a jump"},
         "answer": "B", "task": "action"}])  # fmt: skip
    for index in range(10):
        png(root / "frames" / "clip1" / f"{index:04d}.jpg", colour=(index * 20, 0, 0))


BUILDERS = {
    "vqav2": vqav2, "textvqa": textvqa, "docvqa": docvqa, "chartqa": chartqa, "pope": pope, "mme": mme,
    "mmbench": mmbench, "scienceqa": scienceqa, "mmmu": mmmu, "refcoco-val": refcoco, "video": video,
}  # fmt: skip


def build_all(root: Path) -> Path:
    for name, build in BUILDERS.items():
        build(root / name)
    return root
