import pytest
import torch
from PIL import Image

from sphinx_x.model.token_layout import count_visual_tokens
from sphinx_x.model.views import CLIP_MEAN, CLIP_STD, RELEASE_PAD_COLOR, ImageTransform, view_geometry
from sphinx_x.presets import preset_config

RATIOS = {"1:1": (1000, 1000), "2:1": (1000, 500), "1:2": (500, 1000), "3:1": (1500, 500), "1:3": (500, 1500)}

# Skipped sub-images (row-major) for each grid and ratio, with corner padding.
EXPECTED_SKIPS = {
    (1, "1:1"): 0, (1, "2:1"): 0, (1, "3:1"): 0,
    (2, "1:1"): 0, (2, "2:1"): 2, (2, "1:2"): 2, (2, "3:1"): 2, (2, "1:3"): 2,
    (3, "1:1"): 0, (3, "2:1"): 3, (3, "1:2"): 3, (3, "3:1"): 6, (3, "1:3"): 6,
}  # fmt: skip


@pytest.mark.parametrize(("grid", "ratio"), list(EXPECTED_SKIPS))
def test_skipped_sub_images_per_grid_and_ratio(grid, ratio):
    width, height = RATIOS[ratio]
    corner = view_geometry(width, height, grid, grid * 512, "corner", use_skip_token=True)
    assert corner.num_views == (1 + grid * grid if grid > 1 else 1)
    assert sum(corner.skipped) == EXPECTED_SKIPS[grid, ratio]
    assert corner.skipped[0] is False  # the global view is never skipped
    centred = view_geometry(width, height, grid, grid * 512, "center", use_skip_token=False)
    assert not any(centred.skipped)


def test_skips_are_the_padded_row_or_column():
    wide = view_geometry(1000, 500, 2, 1024, "corner", True)
    assert wide.skipped == (False, False, False, True, True)  # bottom row
    tall = view_geometry(500, 1000, 2, 1024, "corner", True)
    assert tall.skipped == (False, False, True, False, True)  # right column


@pytest.mark.parametrize(
    ("preset", "size", "skip", "tokens"),
    [
        ("sphinx-x-tiny", (1000, 1000), True, 1295),
        ("sphinx-x-tiny", (1000, 500), True, 779),
        ("sphinx-x-tiny", (1000, 500), False, 1295),
        ("sphinx-x-plus-2k", (1000, 500), True, 1816),
        ("sphinx-x-plus-2k", (1000, 500), False, 2590),
        ("sphinx-x-plus-2k", (1500, 500), True, 1042),
    ],
)
def test_worked_counts_of_the_architecture_facts(preset, size, skip, tokens):
    config = preset_config(preset)
    config.use_skip_token = skip
    geometry = ImageTransform.from_config(config).geometry(*size)
    assert count_visual_tokens(geometry.skipped, config.tokens_per_view) == tokens


def test_one_view_per_image_for_the_single_view_release():
    geometry = view_geometry(1000, 500, 1, 512, "center", False)
    assert count_visual_tokens(geometry.skipped, 257) == 259


def test_corner_padding_places_picture_top_left_and_pads_with_zero():
    transform = ImageTransform(
        grid=2, view_sizes={"convnext": 32, "dinov2": 16}, padding="corner", use_skip_token=True
    )
    views = transform(Image.new("RGB", (64, 32), (255, 255, 255)))
    assert views.geometry.skipped == (False, False, False, True, True)
    convnext = views.pixels["convnext"]
    assert convnext.shape == (3, 3, 32, 32) and views.pixels["dinov2"].shape == (3, 3, 16, 16)
    white = (1 - torch.tensor(CLIP_MEAN)) / torch.tensor(CLIP_STD)
    torch.testing.assert_close(convnext[1, :, 5, 5], white)  # top-left sub-image is picture
    assert convnext[0, :, 24:].abs().max() < 1e-6  # global view: bottom half is zero padding


def test_centered_padding_uses_the_release_colour():
    transform = ImageTransform(
        grid=1, view_sizes={"convnext": 32, "dinov2": 32}, padding="center", use_skip_token=False
    )
    views = transform(Image.new("RGB", (64, 16), (0, 0, 0)))
    pad = (torch.tensor(RELEASE_PAD_COLOR) / 255 - torch.tensor(CLIP_MEAN)) / torch.tensor(CLIP_STD)
    black = -torch.tensor(CLIP_MEAN) / torch.tensor(CLIP_STD)
    # The release's global view is "resized" 64 -> 32 in float16: every value is a float16 number.
    torch.testing.assert_close(views.pixels["convnext"][0, :, 0, 0], pad.half().float(), atol=0, rtol=0)
    torch.testing.assert_close(views.pixels["convnext"][0, :, 16, 0], black.half().float(), atol=0, rtol=0)
    assert RELEASE_PAD_COLOR == (122, 116, 104)


def test_views_are_global_then_row_major_sub_images():
    # Four quadrants of different colours: sub-image k must be quadrant k.
    image = Image.new("RGB", (64, 64))
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    for index, colour in enumerate(colours):
        row, col = divmod(index, 2)
        image.paste(colour, (col * 32, row * 32, col * 32 + 32, row * 32 + 32))
    transform = ImageTransform(grid=2, view_sizes={"convnext": 32}, padding="corner", use_skip_token=True)
    views = transform(image).pixels["convnext"]
    for index, colour in enumerate(colours):
        expected = (torch.tensor(colour) / 255 - torch.tensor(CLIP_MEAN)) / torch.tensor(CLIP_STD)
        torch.testing.assert_close(views[1 + index, :, 16, 16], expected)
