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


# -- the benchmarks of issue 22, each in its published layout --------------------------------------


def seed(root: Path) -> None:
    write_json(root / "SEED-Bench.json", {"questions": [
        {"answer": "B", "choice_a": "One", "choice_b": "Two", "choice_c": "Three", "choice_d": "Four",
         "data_id": "1454426_2591111986", "data_type": "image", "question": "How many towels are in the image?",
         "question_id": "101669", "question_type_id": 5},
        {"answer": "A", "choice_a": "a", "choice_b": "b", "choice_c": "c", "choice_d": "d", "data_id": "94328.webm",
         "data_type": "video", "question": "What is the action?", "question_id": "v1738", "question_type_id": 10},
    ], "question_type": {"Instances Counting": 5, "Action Recognition": 10}})  # fmt: skip
    png(root / "SEED-Bench-image" / "1454426_2591111986.jpg")


def vizwiz(root: Path) -> None:
    write_json(root / "val.json", [{"image": "VizWiz_val_00000000.jpg", "question": "What is this?",
        "answers": [{"answer": "soup", "answer_confidence": "yes"}] * 9 + [{"answer": "unanswerable", "answer_confidence": "no"}],
        "answer_type": "other", "answerable": 1}])  # fmt: skip
    png(root / "val" / "VizWiz_val_00000000.jpg")


def ocrvqa(root: Path) -> None:
    write_json(root / "dataset.json", {
        "000001": {"imageURL": "http://ecx.images-amazon.com/images/I/51.jpg", "questions": ["Who wrote this book?", "Is this a comic?"],
                   "answers": ["Ann Lee", "No"], "title": "T", "authorName": "Ann Lee", "genre": "Art", "split": 3},
        "000002": {"imageURL": "http://x/2.gif", "questions": ["q"], "answers": ["a"], "split": 1},
    })  # fmt: skip
    png(root / "images" / "000001.jpg")


def ai2d(root: Path) -> None:
    write_json(root / "questions" / "4.png.json", {"imageName": "4.png", "questions": {
        "Which is a producer?": {"abcLabel": False, "answerTexts": ["fox", "grass", "owl"], "correctAnswer": 1, "questionId": "4.png-0"}}})  # fmt: skip
    write_json(root / "questions" / "5.png.json", {"imageName": "5.png", "questions": {
        "Train only?": {"abcLabel": False, "answerTexts": ["a", "b"], "correctAnswer": 0, "questionId": "5.png-0"}}})  # fmt: skip
    (root / "ai2d_test_ids.csv").write_text("4\n")
    png(root / "images" / "4.png")
    png(root / "images" / "5.png")


def iconqa(root: Path) -> None:
    write_json(root / "iconqa" / "test" / "choose_txt" / "101" / "data.json", {
        "question": "Which shape is round?", "choices": ["square", "circle"], "answer": 1, "ques_type": "choose_txt",
        "grade": "grade1", "label": "shape"})  # fmt: skip
    png(root / "iconqa" / "test" / "choose_txt" / "101" / "image.png")
    write_json(
        root / "iconqa" / "test" / "fill_in_blank" / "102" / "data.json",
        {"question": "How many?", "answer": "3"},
    )


def qbench(root: Path) -> None:
    write_json(root / "llvisionqa_dev.json", [
        {"img_path": "00079.jpg", "question": "How is the clarity of the image?", "candidates": ["High", "Medium", "Low"],
         "correct_ans": "Low", "type": 2, "concern": 0}])  # fmt: skip
    png(root / "images" / "00079.jpg")


def mmvp(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Questions.csv").write_text(
        "Index,Question,Options,Correct Answer\n"
        "1,Are the butterfly's wings closer to being open or closed?,(a) Open (b) Closed,(a)\n"
        "2,Are the butterfly's wings closer to being open or closed?,(a) Open (b) Closed,(b)\n"
    )
    png(root / "MMVP Images" / "1.jpg")
    png(root / "MMVP Images" / "2.jpg")


def cmmmu(root: Path) -> None:
    image = {"bytes": png_bytes(), "path": "a.png"}
    base = {f"image_{n}": None for n in range(2, 6)} | {f"image_{n}_filename": None for n in range(2, 6)}
    rows = [
        base | {"id": "1", "type": "选择", "question": '<img="a.png">图中是什么颜色？', "option1": "红色", "option2": "蓝色",
                "option3": "绿色", "option4": "黄色", "image_1": image, "image_1_filename": "a.png", "answer": "B",
                "subcategory": "艺术", "category": "艺术与设计"},
        base | {"id": "2", "type": "判断", "question": "这是正方形。", "option1": None, "option2": None, "option3": None,
                "option4": None, "image_1": image, "image_1_filename": "b.png", "answer": "对", "subcategory": "数学",
                "category": "科学"},
        base | {"id": "3", "type": "填空", "question": "面积是____。", "option1": None, "option2": None, "option3": None,
                "option4": None, "image_1": image, "image_1_filename": "c.png", "answer": "3.5", "subcategory": "数学",
                "category": "科学"},
    ]  # fmt: skip
    (root / "science").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), root / "science" / "val-00000-of-00001.parquet")


def hallusionbench(root: Path) -> None:
    entry = {"category": "VD", "subcategory": "chart", "set_id": "0", "sample_note": "bar", "question": "Is the bar red? Please answer yes or no.",
             "gt_answer_details": "The bar is red.", "gt_answer": "1", "question_id": "0"}  # fmt: skip
    write_json(root / "HallusionBench.json", [
        entry | {"figure_id": "0", "visual_input": "1", "filename": "./hallusion_bench/VD/chart/0_0.png"},
        entry | {"figure_id": "1", "visual_input": "2", "gt_answer": "0", "gt_answer_details": "The bar is blue.",
                 "filename": "./hallusion_bench/VD/chart/0_1.png"},
        entry | {"category": "VS", "subcategory": "map", "figure_id": "0", "visual_input": "0", "filename": None,
                 "question": "Is Paris in France? Please answer yes or no.", "gt_answer_details": "Paris is in France."},
    ])  # fmt: skip
    png(root / "hallusion_bench" / "VD" / "chart" / "0_0.png")
    png(root / "hallusion_bench" / "VD" / "chart" / "0_1.png")


def mathvista(root: Path) -> None:
    metadata = {"split": "testmini", "language": "english", "img_width": 48, "img_height": 32, "source": "IconQA",
                "category": "math-targeted-vqa", "task": "math word problem", "context": "abstract scene",
                "grade": "elementary school", "skills": ["arithmetic reasoning"]}  # fmt: skip
    write_json(root / "testmini.json", {
        "1": {"question": "How many cubes?", "image": "images/1.jpg", "choices": None, "unit": None, "precision": None,
              "answer": "4", "question_type": "free_form", "answer_type": "integer", "pid": "1", "metadata": metadata},
        "2": {"question": "Which is larger?", "image": "images/2.jpg", "choices": ["left", "right"], "unit": None,
              "precision": None, "answer": "right", "question_type": "multi_choice", "answer_type": "text", "pid": "2",
              "metadata": metadata},
    })  # fmt: skip
    write_json(root / "query.json", {
        "1": "Hint: Please answer the question requiring an integer answer and provide the final value, e.g., 1, 2, 3, at the end.\nQuestion: How many cubes?",
        "2": "Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.\nQuestion: Which is larger?\nChoices:\n(A) left\n(B) right",
    })  # fmt: skip
    png(root / "images" / "1.jpg")
    png(root / "images" / "2.jpg")


def mmvet(root: Path) -> None:
    write_json(root / "mm-vet.json", {
        "v1_0": {"imagename": "v1_0.png", "question": "What is x in this equation?", "answer": "-1<AND>-5", "capability": ["ocr", "math"]},
        "v1_1": {"imagename": "v1_1.png", "question": "What is the colour?", "answer": "red", "capability": ["rec"]},
    })  # fmt: skip
    png(root / "images" / "v1_0.png")
    png(root / "images" / "v1_1.png")


def llava_bench(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    lines = {
        "questions.jsonl": [{"question_id": 0, "image": "001.jpg", "text": "What is the name of this famous sight?", "category": "conv"},
                            {"question_id": 1, "image": "001.jpg", "text": "Describe the scene.", "category": "detail"}],
        "answers_gpt4.jsonl": [{"question_id": 0, "text": "The Diamond Head crater.", "answer_id": "a0", "model_id": "gpt-4-0314"},
                               {"question_id": 1, "text": "An aerial view of a crater.", "answer_id": "a1", "model_id": "gpt-4-0314"}],
        "context.jsonl": [{"id": "001", "image": "001.jpg", "caption": "An aerial view of Diamond Head."}],
    }  # fmt: skip
    for name, entries in lines.items():
        (root / name).write_text("".join(json.dumps(entry) + "\n" for entry in entries))
    png(root / "images" / "001.jpg")


def screenspot(root: Path) -> None:
    write_json(root / "screenspot_mobile.json", [
        {"img_filename": "mobile_1.png", "bbox": [10, 4, 20, 10], "instruction": "open settings", "data_type": "icon", "data_source": "ios"}])  # fmt: skip
    write_json(root / "screenspot_web.json", [
        {"img_filename": "web_1.png", "bbox": [0, 0, 24, 16], "instruction": "click login", "data_type": "text", "data_source": "shop"}])  # fmt: skip
    png(root / "screenspot_imgs" / "mobile_1.png", size=(32, 48))
    png(root / "screenspot_imgs" / "web_1.png", size=(48, 32))


def refcoco_family(root: Path) -> None:
    """refcoco+/refs(unc).p and refcocog/refs(umd).p beside refs(google).p, as the refer toolkit ships them."""
    for name, refs_files in (("refcoco+", ("refs(unc).p",)), ("refcocog", ("refs(google).p", "refs(umd).p"))):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for refs_file in refs_files:
            split = "val" if "google" not in refs_file else "train"
            refs = [
                {
                    "ref_id": 7,
                    "ann_id": 100,
                    "image_id": 9,
                    "split": split,
                    "sentences": [{"sent": f"{refs_file} box", "sent_id": 1}],
                }
            ]
            with open(folder / refs_file, "wb") as handle:
                pickle.dump(refs, handle)
        write_json(folder / "instances.json", {"images": [{"id": 9, "file_name": "COCO_train2014_000000000009.jpg", "width": 48, "height": 32}],
                                               "annotations": [{"id": 100, "bbox": [4, 2, 20, 10]}]})  # fmt: skip
        png(folder / "train2014" / "COCO_train2014_000000000009.jpg")


def mvbench(root: Path) -> None:
    """The frame-folder task (TVQA episodic reasoning, 3 fps, start/end in seconds)."""
    write_json(root / "json" / "episodic_reasoning.json", [
        {"video": "s01e01_seg02_clip_00", "question": "Why is Sheldon upset?", "candidates": ["He lost", "He won", "He is hungry"],
         "answer": "He lost", "start": 1.0, "end": 3.0}])  # fmt: skip
    for index in range(1, 13):  # 12 frames = 4 s at 3 fps; seconds 1-3 are frames 3..9 (0-based)
        png(
            root / "video" / "tvqa" / "frames_fps3_hq" / "s01e01_seg02_clip_00" / f"{index:05d}.jpg",
            colour=(index, 0, 0),
        )


def videobench(root: Path) -> None:
    write_json(root / "Eval_QA" / "MOT_QA_new.json", {"0": {
        "vid_path": "Eval_video/MOT/MOT16-02.mp4", "video_id": "MOT16-02", "question": "How many pedestrians are visible?",
        "choices": {"A": "81", "B": "37", "C": "18"}, "answer": "C"}})  # fmt: skip
    (root / "Eval_video" / "MOT").mkdir(parents=True, exist_ok=True)
    (root / "Eval_video" / "MOT" / "MOT16-02.mp4").write_bytes(b"not decoded in tests")


ISSUE22_BUILDERS = {
    "seed": seed, "vizwiz": vizwiz, "ocrvqa": ocrvqa, "ai2d": ai2d, "iconqa": iconqa, "qbench": qbench, "mmvp": mmvp,
    "cmmmu": cmmmu, "hallusionbench": hallusionbench, "mathvista": mathvista, "mmvet": mmvet, "llava-bench": llava_bench,
    "screenspot": screenspot, "mvbench": mvbench,
}  # fmt: skip
