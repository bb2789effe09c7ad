"""The toy experts' pre-training: dense targets read from exact object masks, and a loss that falls."""

from __future__ import annotations

import random

import torch
from PIL import Image, ImageDraw

from sphinx_x.demo.corpus import Shape, normalised, paint
from sphinx_x.demo.pretrain_experts import KIND_CLASSES, WORD_CLASSES, box_iou, cell_targets, pretrain_experts
from sphinx_x.demo.run import demo_model_config
from sphinx_x.model.vision_experts import MixtureOfVisualExperts


def test_cell_targets_follow_the_object_mask_not_its_box():
    triangle = Shape("triangle", "red", (0, 0, 128, 128))
    masks = Image.new("L", (128, 128), 0)
    paint(ImageDraw.Draw(masks), triangle.kind, triangle.box, 1)
    objects = [(normalised(triangle.box, 128, 128), "red", "triangle", "none")]
    targets = cell_targets(
        objects, masks, skipped=[False] + [True] * 4, grid=2, side=4
    )  # the global view only
    kinds = targets["kind"].view(4, 4)
    background = KIND_CLASSES.index("none")
    assert kinds[0, 0] == background  # the box's top-left corner lies outside the triangle
    assert kinds[3, 1] == KIND_CLASSES.index("triangle") and kinds[0, 1] == background
    assert torch.equal(targets["word"], torch.full((1, 16), WORD_CLASSES.index("none")))
    inside = targets["kind"][0] != background
    assert torch.allclose(targets["box"][0][inside], torch.tensor([0.0, 0.0, 1.0, 1.0]))
    assert targets["centre"][0, 0].tolist() == [0.125, 0.125]


def test_pretraining_lowers_the_dense_loss():
    torch.manual_seed(0)
    config = demo_model_config(vocab_size=64)
    experts = MixtureOfVisualExperts(config.visual_experts)
    losses, heads = pretrain_experts(
        experts, config, images=48, steps=40, batch=16, seed=random.Random(0).randint(0, 9)
    )
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5
    assert not any(p.requires_grad for p in experts.parameters())  # frozen again afterwards
    assert set(heads) == {"colour", "kind", "word", "box", "centre"}


def test_box_iou():
    a = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.5, 0.5]])
    b = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.25, 0.25, 0.75, 0.75]])
    assert torch.allclose(box_iou(a, b), torch.tensor([1.0, 0.0625 / 0.4375]))
