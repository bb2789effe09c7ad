"""A short pre-training of the toy vision experts, standing in for CLIP's and DINOv2's.

The released experts arrive pre-trained on billions of images; randomly initialised toy experts
see colours but hardly shapes or letters. Before the one-stage training freezes them, we train
them briefly on *separate* synthetic images (never the demo's training or held-out images) with a
dense objective, the kind of knowledge detection-style pre-training gives real encoders: for every
feature cell of every view, what lies under the cell's centre (colour, shape or text, which word:
read from an exact object mask), that object's extent (its box), and where the centre lies in the
padded square. Then they are frozen, as in the paper.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import nn
from tqdm import tqdm

from ..model.views import ImageTransform
from .corpus import COLOURS, SHAPES, WORDS, draw_shapes, normalised, ocr_page, paint

BACKGROUND = "none"
COLOUR_CLASSES = [*COLOURS, BACKGROUND]
KIND_CLASSES = [*SHAPES, "text", BACKGROUND]
WORD_CLASSES = [*WORDS, BACKGROUND]
HEADS = {
    "colour": len(COLOUR_CLASSES),
    "kind": len(KIND_CLASSES),
    "word": len(WORD_CLASSES),
    "box": 4,
    "centre": 2,
}


def annotated_image(rng: random.Random):
    """A shapes picture or an OCR page; its objects as (box in the padded square, colour, kind, word);
    and an object map: pixel value k + 1 where object k is painted, 0 on the background."""
    if rng.random() < 0.5:
        image, shapes = draw_shapes(rng, rng.randint(1, 3))
        objects = [(normalised(s.box, *image.size), s.colour, s.kind, BACKGROUND) for s in shapes]
        masks = Image.new("L", image.size, 0)
        for index, shape in enumerate(shapes):
            paint(ImageDraw.Draw(masks), shape.kind, shape.box, index + 1)
        return image, objects, masks
    image, words = ocr_page(rng, rng.randint(1, 3))
    side = max(image.size)
    masks = Image.new("L", image.size, 0)
    for index, (_, box) in enumerate(words):
        ImageDraw.Draw(masks).rectangle([value * side for value in box], fill=index + 1)
    return image, [(box, BACKGROUND, "text", word) for word, box in words], masks


def cell_targets(objects, masks: Image.Image, skipped, grid: int, side: int) -> dict[str, torch.Tensor]:
    """Per encoded view and cell (`[views, side * side, ...]`): class ids of what lies under the cell
    centre, that object's box (zeros on background), and the centre's (x, y) in the padded square."""
    square = max(masks.size)
    targets = {"colour": [], "kind": [], "word": [], "box": [], "centre": []}
    for view, is_skipped in enumerate(skipped):
        if is_skipped:
            continue
        row, col = divmod(view - 1, grid) if view else (0, 0)
        scale, left, top = (1.0, 0.0, 0.0) if view == 0 else (1.0 / grid, col / grid, row / grid)
        cells = {name: [] for name in targets}
        for i in range(side):
            for j in range(side):
                x, y = left + (j + 0.5) / side * scale, top + (i + 0.5) / side * scale
                px, py = int(x * square), int(y * square)
                inside = px < masks.width and py < masks.height
                index = masks.getpixel((px, py)) if inside else 0
                box, colour, kind, word = objects[index - 1] if index else ([0.0] * 4, *[BACKGROUND] * 3)
                cells["colour"].append(COLOUR_CLASSES.index(colour))
                cells["kind"].append(KIND_CLASSES.index(kind))
                cells["word"].append(WORD_CLASSES.index(word))
                cells["box"].append(list(box))
                cells["centre"].append([x, y])
        for name in targets:
            targets[name].append(cells[name])
    return {name: torch.tensor(values) for name, values in targets.items()}


def dense_loss(
    heads: nn.ModuleDict, features: torch.Tensor, targets: dict[str, torch.Tensor]
) -> torch.Tensor:
    """Most cells are background: the word and the box are learnt on the cells that have them, or the
    heads would settle on "background" and the experts learn nothing about letters."""
    loss = F.cross_entropy(heads["colour"](features), targets["colour"])
    loss = loss + F.cross_entropy(heads["kind"](features), targets["kind"])
    words = targets["word"] != len(WORD_CLASSES) - 1
    if words.any():
        loss = loss + F.cross_entropy(heads["word"](features[words]), targets["word"][words])
    objects = targets["kind"] != len(KIND_CLASSES) - 1
    if objects.any():
        loss = loss + 10 * F.l1_loss(heads["box"](features[objects]), targets["box"][objects])
    return loss + 10 * F.mse_loss(heads["centre"](features), targets["centre"])


def pretrain_experts(
    experts,
    config,
    images: int = 1024,
    steps: int = 160,
    batch: int = 32,
    seed: int = 123,
    lr: float = 2e-3,
    device: torch.device | str = "cpu",
) -> tuple[list[float], nn.ModuleDict]:
    """Train `experts` (a `MixtureOfVisualExperts`) in place on fresh synthetic images, on `device`
    (they are left there); returns the losses and the probe heads (for `probe_accuracy`; not part of
    the model)."""
    rng = random.Random(seed)
    transform = ImageTransform.from_config(config)
    side = config.feature_grid_side
    data = []
    for _ in range(images):
        image, objects, masks = annotated_image(rng)
        views = transform(image)
        data.append((views.pixels, cell_targets(objects, masks, views.geometry.skipped, config.grid, side)))
    heads = nn.ModuleDict({name: nn.Linear(config.visual_feature_size, size) for name, size in HEADS.items()})
    experts.to(device).requires_grad_(True)
    heads.to(device)
    optimizer = torch.optim.AdamW([*experts.parameters(), *heads.parameters()], lr=lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.05)
    losses = []
    for _ in tqdm(range(steps), desc="pre-training the toy experts", unit="step"):
        chosen = rng.sample(data, batch)
        pixels = {
            name: torch.cat([views[name] for views, _ in chosen]).to(device) for name in config.view_sizes
        }
        targets = {name: torch.cat([t[name] for _, t in chosen]).flatten(0, 1).to(device) for name in HEADS}
        features = experts.encode(pixels).fused  # with gradients, unlike experts(pixels)
        loss = dense_loss(heads, features[:, 1:].flatten(0, 1), targets)  # [:, 1:]: not the pseudo-CLS
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    experts.requires_grad_(False)
    return losses, heads


@torch.no_grad()
def probe_accuracy(
    experts, heads: nn.ModuleDict, config, images: int = 200, seed: int = 99
) -> dict[str, float]:
    """Accuracy of the pre-training heads on fresh images, over the cells that hold an object:
    how well the frozen features tell colour, shape and word apart."""
    rng = random.Random(seed)
    transform = ImageTransform.from_config(config)
    device = next(heads.parameters()).device
    right, total = (
        dict.fromkeys(("colour", "kind", "word", "box"), 0),
        dict.fromkeys(("colour", "kind", "word", "box"), 0),
    )
    for _ in range(images):
        image, objects, masks = annotated_image(rng)
        views = transform(image)
        targets = cell_targets(objects, masks, views.geometry.skipped, config.grid, config.feature_grid_side)
        targets = {name: value.to(device) for name, value in targets.items()}
        pixels = {name: value.to(device) for name, value in views.pixels.items()}
        features = experts(pixels).fused[:, 1:].flatten(0, 1)
        for name, classes in (("colour", COLOUR_CLASSES), ("kind", KIND_CLASSES), ("word", WORD_CLASSES)):
            target = targets[name].flatten()
            cells = target != len(classes) - 1
            right[name] += (heads[name](features[cells]).argmax(-1) == target[cells]).sum().item()
            total[name] += cells.sum().item()
        objects = targets["kind"].flatten() != len(KIND_CLASSES) - 1
        predicted, truth = heads["box"](features[objects]), targets["box"].flatten(0, 1)[objects]
        right["box"] += (box_iou(predicted, truth) >= 0.5).sum().item()
        total["box"] += objects.sum().item()
    return {name: right[name] / max(total[name], 1) for name in right}


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of matching rows of two `[N, 4]` xyxy tensors."""
    left, top = torch.maximum(a[:, 0], b[:, 0]), torch.maximum(a[:, 1], b[:, 1])
    right, bottom = torch.minimum(a[:, 2], b[:, 2]), torch.minimum(a[:, 3], b[:, 3])
    inter = (right - left).clamp(min=0) * (bottom - top).clamp(min=0)
    area = lambda box: (box[:, 2] - box[:, 0]).clamp(min=0) * (box[:, 3] - box[:, 1]).clamp(min=0)  # noqa: E731
    return inter / (area(a) + area(b) - inter).clamp(min=1e-6)
