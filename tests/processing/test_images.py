import io

import numpy as np
import pytest
from PIL import Image

from sphinx_x.processing.images import ImageLoadError, ImageTooLargeError, load_image


def save(image: Image.Image, path, **kwargs):
    image.save(path, **kwargs)
    return path


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = save(image, tmp_path / "rotated.jpg", exif=exif.tobytes())
    assert load_image(path).size == (20, 40)


@pytest.mark.parametrize(
    ("mode", "suffix"),
    [("L", "png"), ("1", "png"), ("P", "png"), ("RGBA", "png"), ("LA", "png"), ("CMYK", "jpg")],
)
def test_modes_become_rgb(tmp_path, mode, suffix):
    image = Image.new("RGB", (16, 8), (200, 100, 50)).convert(mode)
    loaded = load_image(save(image, tmp_path / f"image.{suffix}"))
    assert loaded.mode == "RGB" and loaded.size == (16, 8)


def test_transparent_pixels_become_white(tmp_path):
    image = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert load_image(save(image, tmp_path / "clear.png")).getpixel((0, 0)) == (255, 255, 255)
    palette = Image.new("P", (4, 4), 0)
    palette.putpalette([10, 20, 30] * 256)
    palette.info["transparency"] = 0
    assert load_image(save(palette, tmp_path / "clear_palette.png")).getpixel((0, 0)) == (255, 255, 255)


def test_sixteen_bit_grayscale_is_rescaled(tmp_path):
    values = np.array([[0, 32768], [65535, 1000]], dtype=np.uint16)
    path = save(Image.fromarray(values), tmp_path / "deep.png")
    loaded = load_image(path)
    assert loaded.mode == "RGB"
    assert [loaded.getpixel((x, y))[0] for y in range(2) for x in range(2)] == [0, 128, 255, 4]


def test_float_image_is_rescaled_to_its_range():
    image = Image.fromarray(np.array([[0.5, 1.5]], dtype=np.float32), mode="F")
    assert [load_image(image).getpixel((x, 0)) for x in range(2)] == [(0, 0, 0), (255, 255, 255)]


def test_truncated_file_names_the_file(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buffer, format="PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buffer.getvalue()[:-40])
    with pytest.raises(ImageLoadError, match="cut.png"):
        load_image(path)


def test_unreadable_file_names_the_file(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("not an image")
    with pytest.raises(ImageLoadError, match=r"notes\.jpg.*not a readable image"):
        load_image(path)


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(ImageLoadError, match=r"absent\.png: no such image file"):
        load_image(tmp_path / "absent.png")


def test_huge_image_is_refused_before_decoding(tmp_path):
    # A 9000x9000 PNG of one colour is tiny on disk but 243 MB once decoded to RGB.
    path = save(Image.new("L", (9000, 9000)), tmp_path / "bomb.png")
    with pytest.raises(ImageTooLargeError, match=r"bomb\.png: 9000x9000 = 81000000 pixels exceeds the limit"):
        load_image(path)
    with pytest.raises(ImageTooLargeError, match=r"bomb\.png: 9000x9000"):
        load_image(path, max_pixels=1000 * 1000)
