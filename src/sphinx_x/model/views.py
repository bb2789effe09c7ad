"""Image -> padded square -> one global view + a grid of sub-images, per visual expert.

    padded square (side S = grid * view)           views, in this order
    +---------+---------+                           0: global  = the whole square resized to `view`
    |  sub 1  |  sub 2  |                           1: sub 1   (row 0, col 0)
    |  (TL)   |  (TR)   |                           2: sub 2   (row 0, col 1)
    +---------+---------+                           3: sub 3   (row 1, col 0)
    |  sub 3  |  sub 4  |                           4: sub 4   (row 1, col 1)
    |  (BL)   |  (BR)   |
    +---------+---------+

Two paddings make the square:
  * "center" (released checkpoints): pad the picture to a square with the CLIP-mean colour,
    centred, then resize. No sub-image is ever fully padded.
  * "corner" (SPHINX-X): resize keeping the aspect ratio so the long side is S, put the picture at
    the top-left and pad right/bottom with zeros (in the normalised tensor). A sub-image that lies
    entirely in the padding is *skipped*: it is not encoded and the model puts one skip token in
    its place. The decision comes from the geometry, never from pixel values.
Each expert sees its own view size (ConvNeXt 512, DINOv2 224 in the releases): its global view
is the square resized to its view size, its sub-images are crops of the square resized to
grid * view size. The square's side is grid * the largest view size (e.g. 2 * 512 = 1024).

The release transform ("center") also reproduces the release's arithmetic: every view it resizes
goes through float16 (`interpolate(x.half(), ...)` on a GPU: float arithmetic on float16 inputs,
rounded to float16), the global view always (a same-size "resize" still rounds), the sub-images
only when their source is resized (crops of the full-resolution square are not rounded).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
RELEASE_PAD_COLOR = tuple(int(255 * m) for m in CLIP_MEAN)  # (122, 116, 104)


@dataclass(frozen=True)
class ViewGeometry:
    """Where an image of `width` x `height` lands in the padded square, and which views are skipped.

    `content_width` / `content_height` are the picture's size inside a square of side `square_side`;
    `skipped[0]` is the global view (never skipped), then the sub-images in row-major order.
    """

    width: int
    height: int
    grid: int
    padding: str
    square_side: int
    content_width: int
    content_height: int
    skipped: tuple[bool, ...]

    @property
    def num_views(self) -> int:
        return len(self.skipped)

    @property
    def num_encoded_views(self) -> int:
        return self.skipped.count(False)


def view_geometry(
    width: int, height: int, grid: int, square_side: int, padding: str, use_skip_token: bool
) -> ViewGeometry:
    long_side = max(width, height)
    if padding == "corner":
        content_width = max(1, round(width * square_side / long_side))
        content_height = max(1, round(height * square_side / long_side))
    else:
        content_width = content_height = square_side  # the coloured padding is part of the picture
    sub_side = square_side // grid
    sub_images = [
        use_skip_token and (row * sub_side >= content_height or col * sub_side >= content_width)
        for row in range(grid)
        for col in range(grid)
    ]
    skipped = (False, *sub_images) if grid > 1 else (False,)
    return ViewGeometry(width, height, grid, padding, square_side, content_width, content_height, skipped)


@dataclass
class ImageViews:
    """The encoded views of one image: `pixels[expert]` is `[num_encoded_views, 3, view, view]`."""

    geometry: ViewGeometry
    pixels: dict[str, torch.Tensor]


class ImageTransform:
    """Turns a PIL image into the views each expert encodes (CLIP-normalised float32 tensors)."""

    def __init__(self, grid: int, view_sizes: dict[str, int], padding: str, use_skip_token: bool):
        self.grid = grid
        self.view_sizes = dict(view_sizes)
        self.padding = padding
        self.use_skip_token = use_skip_token
        # The square is built once, at the largest expert's resolution (ConvNeXt: exactly grid * 512).
        self.square_side = grid * max(self.view_sizes.values())
        self.release_rounding = padding == "center"

    @classmethod
    def from_config(cls, config) -> ImageTransform:
        return cls(config.grid, config.view_sizes, config.padding, config.use_skip_token)

    def geometry(self, width: int, height: int) -> ViewGeometry:
        return view_geometry(width, height, self.grid, self.square_side, self.padding, self.use_skip_token)

    def __call__(self, image: Image.Image) -> ImageViews:
        geometry = self.geometry(*image.size)
        square = self.padded_square(image, geometry)
        encoded = [index for index, skipped in enumerate(geometry.skipped) if not skipped]
        # Experts of the same view size (Q-Former, CLIP, DINOv2 at 224) share one set of views.
        by_size = {
            size: all_views(square, self.grid, size, self.release_rounding)[encoded]
            for size in set(self.view_sizes.values())
        }
        return ImageViews(geometry, {expert: by_size[size] for expert, size in self.view_sizes.items()})

    def padded_square(self, image: Image.Image, geometry: ViewGeometry) -> torch.Tensor:
        """`[3, S, S]` CLIP-normalised square."""
        if self.padding == "center":
            return normalize(
                to_tensor(pad_to_square_centered(image).resize((self.square_side,) * 2, Image.BICUBIC))
            )
        content = image.resize((geometry.content_width, geometry.content_height), Image.BICUBIC)
        square = torch.zeros(3, self.square_side, self.square_side)
        square[:, : geometry.content_height, : geometry.content_width] = normalize(to_tensor(content))
        return square


def pad_to_square_centered(image: Image.Image) -> Image.Image:
    width, height = image.size
    side = max(width, height)
    square = Image.new("RGB", (side, side), RELEASE_PAD_COLOR)
    square.paste(image, ((side - width) // 2, (side - height) // 2))
    return square


def to_tensor(image: Image.Image) -> torch.Tensor:
    """`[3, H, W]` float32 in [0, 1]."""
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()


def normalize(pixels: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(CLIP_MEAN).view(3, 1, 1)
    std = torch.tensor(CLIP_STD).view(3, 1, 1)
    return (pixels - mean) / std


def resize(pixels: torch.Tensor, side: int) -> torch.Tensor:
    """Bicubic `[3, S, S]` -> `[3, side, side]`; the same tensor when the size does not change."""
    if pixels.shape[-1] == side:
        return pixels
    return F.interpolate(pixels[None], size=(side, side), mode="bicubic", align_corners=False)[0]


def resize_in_half_precision(pixels: torch.Tensor, side: int) -> torch.Tensor:
    """The release's `interpolate(x.half(), ...).to(x)` as a GPU computes it: the input rounded to
    float16, interpolated in float32, the result rounded to float16. (The CPU's float16 kernel
    rounds its intermediate results too, and differs by one float16 step on about 40% of pixels.)"""
    return resize(pixels.half().float(), side).half().float()


def all_views(
    square: torch.Tensor, grid: int, view_size: int, release_rounding: bool = False
) -> torch.Tensor:
    """`[1 + grid**2, 3, view, view]`: the global view, then the sub-images row by row.
    `release_rounding`: resized views go through float16, as in the release (module docstring)."""
    resized_view = resize_in_half_precision if release_rounding else resize
    global_view = resized_view(square, view_size)
    if grid == 1:
        return global_view[None]
    fine = square if square.shape[-1] == grid * view_size else resized_view(square, grid * view_size)
    # [3, g*v, g*v] -> [3, g, v, g, v] -> [g(row), g(col), 3, v, v]
    tiles = fine.view(3, grid, view_size, grid, view_size).permute(1, 3, 0, 2, 4)
    return torch.cat([global_view[None], tiles.reshape(grid * grid, 3, view_size, view_size)])
