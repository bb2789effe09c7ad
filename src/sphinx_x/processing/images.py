"""The one image reader: any image a user hands us, as an upright 8-bit RGB picture or its size,
or an `ImageLoadError` that names the file and the reason.

Handles EXIF orientation, grayscale / palette / alpha / CMYK / 16-bit and float modes, truncated,
empty or unreadable files, and refuses images too large to decode safely before decoding them,
against our own limit (`max_pixels`), whatever Pillow's own decompression-bomb limit says. Every
place that opens an image for training, validation, conversion, the demo or evaluation goes
through `load_image` or `image_size`, so a bad image is one kind of error everywhere.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

# 64 megapixels: a 8192x8192 RGB image decodes to ~200 MB; anything larger is almost surely a
# decompression bomb or a mistake, and our views never need that much detail.
DEFAULT_MAX_PIXELS = 8192 * 8192

# Transparent regions are shown on white, as viewers and browsers do.
ALPHA_BACKGROUND = (255, 255, 255)


class ImageLoadError(ValueError):
    """An image could not be read; the message names the file and the reason."""


class ImageTooLargeError(ImageLoadError):
    """An image has more pixels than we agree to decode."""


def load_image(
    source: str | os.PathLike | bytes | Image.Image,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    name: str | None = None,
    formats: tuple[str, ...] | None = None,
) -> Image.Image:
    """Read `source` (a path, encoded bytes or a PIL image) as an upright RGB image.

    `name` is what errors call the image (default: the path, or "<image bytes>"); `formats`, if
    given, are the only Pillow formats tried (a server accepts the common web formats only).
    """
    if isinstance(source, Image.Image):
        return to_rgb(ImageOps.exif_transpose(source), name=name or "<PIL image>")
    with opened(source, max_pixels, name, formats) as (image, path):
        try:
            image.load()
            return to_rgb(ImageOps.exif_transpose(image), name=str(path))
        except ImageLoadError:
            raise
        except (OSError, SyntaxError, ValueError) as error:  # truncated data, bad tiles, bad EXIF
            raise ImageLoadError(f"{path}: could not decode the image ({error})") from error


def image_size(
    source: str | os.PathLike | bytes, max_pixels: int = DEFAULT_MAX_PIXELS, name=None
) -> tuple[int, int]:
    """(width, height) from the header alone, no decoding; the same checks and errors as `load_image`."""
    with opened(source, max_pixels, name) as (image, _):
        return image.size


@contextmanager
def opened(
    source, max_pixels: int, name: str | None, formats: tuple[str, ...] | None = None
) -> Iterator[tuple[Image.Image, Path]]:
    """The image with only its header read and its size checked, and the path errors call it."""
    path = Path(name or "<image bytes>") if isinstance(source, bytes) else Path(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides
            image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else path, formats=formats)
    except FileNotFoundError as error:
        raise ImageLoadError(f"{path}: no such image file") from error
    except IsADirectoryError as error:
        raise ImageLoadError(f"{path}: a folder, not an image file") from error
    except UnidentifiedImageError as error:
        raise ImageLoadError(f"{path}: not a readable image (unknown or corrupt format)") from error
    except Image.DecompressionBombError as error:  # Pillow refuses at twice its own limit
        pixels = re.search(r"\((\d+) pixels\)", str(error))
        size = f"{pixels.group(1)} pixels" if pixels else "more pixels than Pillow opens"
        raise ImageTooLargeError(
            f"{path}: {size} exceeds the limit of {max_pixels}; downscale it first or raise max_pixels"
        ) from error
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageLoadError(f"{path}: could not read the image ({error})") from error
    with image:
        refuse_if_too_large(image, path, max_pixels)
        yield image, path


def refuse_if_too_large(image: Image.Image, path: Path, max_pixels: int) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{path}: {width}x{height} = {width * height} pixels exceeds the limit of {max_pixels}; "
            "downscale it first or raise max_pixels"
        )
    if width == 0 or height == 0:
        raise ImageLoadError(f"{path}: the image is empty ({width}x{height})")


def to_rgb(image: Image.Image, name: str) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        return high_depth_to_rgb(image)
    if image.mode == "P":
        image = image.convert("RGBA") if "transparency" in image.info else image.convert("RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        return composite_on_background(image.convert("RGBA"))
    try:
        return image.convert("RGB")
    except (ValueError, OSError) as error:
        raise ImageLoadError(f"{name}: cannot convert image mode {image.mode!r} to RGB ({error})") from error


def high_depth_to_rgb(image: Image.Image) -> Image.Image:
    """16-bit and float images: rescale to 0..255 by their type's range (float: by the data's range)."""
    import numpy as np  # only for these rare modes: numpy would double the CLI's start-up

    values = np.asarray(image)
    if image.mode == "F":
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    else:
        full_scale = 65535.0 if values.max() > 255 or image.mode.startswith("I;16") else 255.0
        scaled = values.astype(np.float64) / full_scale
    gray = np.clip(np.round(scaled * 255.0), 0, 255).astype(np.uint8)
    return Image.fromarray(gray, mode="L").convert("RGB")


def composite_on_background(rgba: Image.Image) -> Image.Image:
    background = Image.new("RGB", rgba.size, ALPHA_BACKGROUND)
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background
