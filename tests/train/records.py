"""A tiny LLaVA-style dataset on disk, with the kinds of bad records real data has."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (40, 70, 220), "yellow": (230, 210, 40)}


def write_dataset(root: Path, images: int = 16, texts: int = 16, bad: bool = True) -> dict[str, Path]:
    (root / "images").mkdir(parents=True, exist_ok=True)
    vision, language = [], []
    names = list(COLOURS)
    for index in range(images):
        colour = names[index % len(names)]
        size = [(64, 32), (32, 64), (48, 48), (96, 32)][index % 4]
        Image.new("RGB", size, COLOURS[colour]).save(root / "images" / f"{index}.png")
        vision.append({"id": f"v{index}", "image": f"{index}.png", "conversations": [
            {"from": "human", "value": "<image>\\nWhat colour is the picture?"}, {"from": "gpt", "value": f"It is {colour}."}]})  # fmt: skip
    for index in range(texts):
        a, b = index % 5, index % 3
        language.append({"id": f"t{index}", "conversations": [
            {"from": "human", "value": f"What is {a} plus {b}?"}, {"from": "gpt", "value": f"{a + b}"}]})  # fmt: skip
    vision_lines = [json.dumps(record) for record in vision]
    if bad:
        vision_lines += [
            "{not json",
            json.dumps(
                {"id": "missing", "image": "nowhere.png", "conversations": vision[0]["conversations"]}
            ),
            json.dumps({"id": "silent", "conversations": [{"from": "human", "value": "Only a question"}]}),
        ]
    (root / "vision.jsonl").write_text("\n".join(vision_lines) + "\n")
    (root / "language.json").write_text(json.dumps(language))
    (root / "mixture.yaml").write_text(
        "sources:\n"
        "  - {name: colours, path: vision.jsonl, image_root: images, weight: 1.0, type: vision}\n"
        "  - {name: sums, path: language.json, weight: 1.0, type: language}\n"
    )
    return {
        "mixture": root / "mixture.yaml",
        "vision": root / "vision.jsonl",
        "language": root / "language.json",
    }


def toy_config(root: Path, out: Path, **run) -> dict:
    """A config dict for `TrainConfig.from_dict` / a YAML file, tiny and deterministic."""
    return {
        "model": {"preset": "sphinx-x-toy"},
        "data": {"mixture": str(root / "mixture.yaml"), "num_workers": 0, "max_length": 512},
        "optim": {"lr": 1e-3, "global_batch_size": 4, "micro_batch_size": 2, "warmup_fraction": 0.1},
        "run": {
            "out": str(out),
            "epochs": 1,
            "checkpoint_every": 2,
            "dtype": "float32",
            "tensorboard": True,
            "seed": 0,
        }
        | run,
    }
