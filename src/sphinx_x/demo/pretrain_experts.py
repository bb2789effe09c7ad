"""A short pre-training of the toy vision experts, standing in for CLIP's and DINOv2's.

The released experts arrive pre-trained on billions of images; randomly initialised toy experts
see colours but hardly shapes or letters. Before the one-stage training freezes them, we train
them briefly on *separate* synthetic images (never the demo's training or held-out images) with a
dense objective: for every feature cell of every view, the colour, the kind (shape or text) and the
word under the cell's centre, and where that centre lies in the padded square. Then they are
frozen, as in the paper.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..model.views import ImageTransform
from .corpus import COLOURS, SHAPES, WORDS, draw_shapes, normalised, ocr_page

BACKGROUND = "none"
COLOUR_CLASSES = [*COLOURS, BACKGROUND]
KIND_CLASSES = [*SHAPES, "text", BACKGROUND]
WORD_CLASSES = [*WORDS, BACKGROUND]


def annotated_image(rng: random.Random):
    """A shapes picture or an OCR page, with (box in the padded square, colour, kind, word) per object."""
    if rng.random() < 0.5:
        image, shapes = draw_shapes(rng, rng.randint(1, 3))
        return image, [(normalised(s.box, *image.size), s.colour, s.kind, BACKGROUND) for s in shapes]
    image, words = ocr_page(rng, rng.randint(1, 3))
    return image, [(box, BACKGROUND, "text", word) for word, box in words]


def cell_targets(objects, skipped, grid: int, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class ids (colour, kind, word) under each cell centre, `[encoded views, side * side, 3]`, and
    the centre's (x, y) in the padded square, `[encoded views, side * side, 2]`."""
    targets, centres = [], []
    for view, is_skipped in enumerate(skipped):
        if is_skipped:
            continue
        row, col = divmod(view - 1, grid) if view else (0, 0)
        scale, left, top = (1.0, 0.0, 0.0) if view == 0 else (1.0 / grid, col / grid, row / grid)
        cells, points = [], []
        for i in range(side):
            for j in range(side):
                x, y = left + (j + 0.5) / side * scale, top + (i + 0.5) / side * scale
                points.append([x, y])
                label = (BACKGROUND, BACKGROUND, BACKGROUND)
                for box, colour, kind, word in objects:
                    if box[0] <= x <= box[2] and box[1] <= y <= box[3]:
                        label = (colour, kind, word)
                cells.append(
                    [
                        COLOUR_CLASSES.index(label[0]),
                        KIND_CLASSES.index(label[1]),
                        WORD_CLASSES.index(label[2]),
                    ]
                )
        targets.append(cells)
        centres.append(points)
    return torch.tensor(targets), torch.tensor(centres)


def pretrain_experts(
    experts, config, images: int = 1024, steps: int = 160, batch: int = 32, seed: int = 123
) -> list[float]:
    """Train `experts` (a `MixtureOfVisualExperts`) in place on fresh synthetic images; returns the losses."""
    rng = random.Random(seed)
    transform = ImageTransform.from_config(config)
    side = config.feature_grid_side
    data = []
    for _ in range(images):
        image, objects = annotated_image(rng)
        views = transform(image)
        data.append((views.pixels, *cell_targets(objects, views.geometry.skipped, config.grid, side)))
    heads = nn.ModuleList(
        nn.Linear(config.visual_feature_size, len(c)) for c in (COLOUR_CLASSES, KIND_CLASSES, WORD_CLASSES)
    )
    heads.append(nn.Linear(config.visual_feature_size, 2))  # the cell centre's (x, y)
    experts.requires_grad_(True)
    optimizer = torch.optim.AdamW([*experts.parameters(), *heads.parameters()], lr=2e-3, weight_decay=0.0)
    losses = []
    for _ in tqdm(range(steps), desc="pre-training the toy experts", unit="step"):
        chosen = rng.sample(data, batch)
        convnext = torch.cat([pixels["convnext"] for pixels, _, _ in chosen])
        dinov2 = torch.cat([pixels["dinov2"] for pixels, _, _ in chosen])
        targets = torch.cat([target for _, target, _ in chosen]).flatten(0, 1)  # [cells, 3]
        centres = torch.cat([centre for _, _, centre in chosen]).flatten(0, 1)  # [cells, 2]
        features = torch.cat([experts.convnext_features(convnext), experts.dinov2_features(dinov2)], dim=-1)[
            :, 1:
        ]
        features = features.flatten(0, 1)
        loss = sum(F.cross_entropy(head(features), targets[:, k]) for k, head in enumerate(heads[:3]))
        loss = loss + 10 * F.mse_loss(heads[3](features), centres)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    experts.requires_grad_(False)
    return losses
