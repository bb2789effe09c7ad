"""How fast do the demo's toy vision experts learn what the demo asks of them, against a plain CNN?

The demo's bars for grounding and reading are bound by its toy experts (see the README). This
benchmark isolates that: each encoder, trained from scratch with the same optimiser, steps and
batches, classifies the demo's own images from the 32-pixel global view the experts see.

  tasks     kind   one coloured shape per image: square, circle or triangle (chance 1/3)
            word   one vocabulary word typeset on a PDF page (chance 1/24)
  encoders  ours      the demo's toy ConvNeXt, its tokens pooled as the release pools them (mean,
                      the pseudo-CLS) and by max; the demo's toy DINOv2 (its CLS token)
            baseline  a plain 3-layer CNN (3x3 convolutions, ReLU, max pooling)
            ablations the plain CNN with one of ConvNeXt's ingredients swapped in: its patchify
                      stem, its LayerNorms, or its depthwise 7x7 + pointwise convolutions

Prints held-out accuracy and the ratio ours / baseline.

    python benchmarks/toy_expert_learnability.py [--steps 200] [--images 1000]
"""

from __future__ import annotations

import argparse
import platform
import random
import time

import torch
import torch.nn.functional as F
from torch import nn


class ChannelNorm(nn.Module):
    """LayerNorm over the channels of `[N, C, H, W]`, as ConvNeXt normalises."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def conv(variant: str, cin: int, cout: int) -> list[nn.Module]:
    """One layer of the plain CNN, or of an ablation that swaps in one ConvNeXt ingredient."""
    if variant == "depthwise":  # ConvNeXt's spatial mixing: a depthwise 7x7, then a 1x1 across channels
        return [nn.Conv2d(cin, cin, 7, padding=3, groups=cin), nn.Conv2d(cin, cout, 1)]
    layers = [nn.Conv2d(cin, cout, 3, padding=1)]
    return [*layers, ChannelNorm(cout)] if variant == "layernorm" else layers


class PlainCNN(nn.Module):
    """3x3 convolutions, ReLU, max pooling; `variant` swaps in one of ConvNeXt's ingredients:
    "patchify" (a 4x4 stride-4 stem first), "layernorm" (after every convolution) or "depthwise"."""

    def __init__(self, classes: int, variant: str = ""):
        super().__init__()
        stem = [nn.Conv2d(3, 32, 4, stride=4), nn.ReLU()] if variant == "patchify" else []
        pool = [] if variant == "patchify" else [nn.MaxPool2d(2)]  # the stem already downsampled
        self.net = nn.Sequential(
            *stem,
            *conv(variant, 32 if stem else 3, 32), nn.ReLU(), *pool,
            *conv(variant, 32, 64), nn.ReLU(), *pool,
            *conv(variant, 64, 64), nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten(),
            nn.Linear(64, classes),
        )  # fmt: skip

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.net(pixels)


class ToyConvNext(nn.Module):
    def __init__(self, config, classes: int, pooling: str):
        super().__init__()
        from transformers import ConvNextModel

        self.convnext, self.pooling = ConvNextModel(config), pooling
        self.head = nn.Linear(config.hidden_sizes[-1], classes)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        tokens = self.convnext(pixels).last_hidden_state.flatten(2).transpose(1, 2)
        tokens = self.convnext.layernorm(tokens)  # as MixtureOfVisualExperts reads them
        return self.head(tokens.mean(1) if self.pooling == "mean" else tokens.amax(1))


class ToyDinov2(nn.Module):
    def __init__(self, config, classes: int):
        super().__init__()
        from transformers import Dinov2Model

        self.dinov2, self.head = Dinov2Model(config), nn.Linear(config.hidden_size, classes)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        from sphinx_x.model.vision_experts import clip_to_imagenet_normalisation

        return self.head(self.dinov2(clip_to_imagenet_normalisation(pixels)).last_hidden_state[:, 0])


# name -> builder(demo config, classes); the toy experts are built from the demo's expert configs.
ENCODERS = {
    "plain 3-layer CNN (baseline)": lambda config, classes: PlainCNN(classes),
    "plain CNN + a 4x4 patchify stem": lambda config, classes: PlainCNN(classes, "patchify"),
    "plain CNN + LayerNorm": lambda config, classes: PlainCNN(classes, "layernorm"),
    "plain CNN, depthwise 7x7 + 1x1 convolutions": lambda config, classes: PlainCNN(classes, "depthwise"),
    "toy ConvNeXt, mean tokens (pseudo-CLS)": lambda config, classes: ToyConvNext(config.expert("convnext").config, classes, "mean"),
    "toy ConvNeXt, max over tokens": lambda config, classes: ToyConvNext(config.expert("convnext").config, classes, "max"),
    "toy DINOv2, CLS": lambda config, classes: ToyDinov2(config.expert("dinov2").config, classes),
}  # fmt: skip


def global_views(task: str, images: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    from sphinx_x.demo.corpus import SHAPES, WORDS, draw_shapes, ocr_page
    from sphinx_x.demo.run import demo_model_config
    from sphinx_x.model.views import ImageTransform

    rng, transform = random.Random(seed), ImageTransform.from_config(demo_model_config(1024))
    pixels, labels = [], []
    for _ in range(images):
        if task == "kind":
            image, shapes = draw_shapes(rng, 1)
            label = SHAPES.index(shapes[0].kind)
        else:
            image, words = ocr_page(rng, 1)
            label = WORDS.index(words[0][0])
        pixels.append(transform(image).pixels["convnext"][0])
        labels.append(label)
    return torch.stack(pixels), torch.tensor(labels), len(SHAPES) if task == "kind" else len(WORDS)


def held_out_accuracy(model: nn.Module, pixels, labels, steps: int, seed: int, batch: int = 32) -> float:
    train = len(labels) * 4 // 5
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.0)
    for _ in range(steps):
        chosen = torch.randint(0, train, (batch,), generator=generator)
        loss = F.cross_entropy(model(pixels[chosen]), labels[chosen])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return (model(pixels[train:]).argmax(-1) == labels[train:]).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from sphinx_x.demo.run import demo_model_config

    config = demo_model_config(1024)
    print(
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    print(
        f"{args.steps} steps of 32, AdamW lr 2e-3, {args.images} images (80% train), 32-pixel global view\n"
    )
    print("| task | encoder | held-out accuracy | ours / plain CNN | seconds |")
    print("|---|---|---|---|---|")
    for task in ("kind", "word"):
        pixels, labels, classes = global_views(task, args.images, args.seed)
        baseline = None
        for name, build in ENCODERS.items():
            torch.manual_seed(args.seed)
            started = time.perf_counter()
            model = build(config, classes)
            accuracy = held_out_accuracy(model, pixels, labels, args.steps, args.seed)
            baseline = accuracy if baseline is None else baseline
            ratio = accuracy / max(baseline, 1e-9)
            print(
                f"| {task} | {name} | {accuracy:.2f} | {ratio:.2f}x | {time.perf_counter() - started:.0f} |"
            )


if __name__ == "__main__":
    main()
