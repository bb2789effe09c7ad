"""The new user's battery of bad inputs, written in the real formats."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pymupdf
from PIL import Image


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def bomb_png(path: Path, side: int = 30_000) -> Path:
    """A valid PNG header declaring side x side pixels, with one compressed row: decoding it would
    take side * side * 3 bytes; only the header may ever be read."""
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" + b"\x00" * 3 * side)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", rows) + png_chunk(b"IEND", b"")
    )
    return path


def image_battery(folder: Path) -> dict[str, Path]:
    """Name -> file: images a loader must refuse (with a reason) or read (as upright RGB)."""
    folder.mkdir(parents=True, exist_ok=True)
    good = Image.new("RGB", (40, 20), (200, 30, 30))
    good.save(folder / "good.png")
    (folder / "empty.png").write_bytes(b"")
    full = (folder / "good.png").read_bytes()
    (folder / "truncated.png").write_bytes(full[: len(full) // 2])
    (folder / "text.jpg").write_text("this is not an image")
    good.save(folder / "png-named.jpg", format="PNG")  # a wrong extension, a readable image
    good.convert("CMYK").save(folder / "cmyk.jpg")
    Image.new("I;16", (40, 20), 40000).save(folder / "16bit.png")
    good.convert("P").save(folder / "palette.png")
    rotated = good.copy()
    exif = rotated.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees to show upright
    rotated.save(folder / "exif.jpg", exif=exif)
    bomb_png(folder / "bomb.png")
    return {path.stem: path for path in folder.iterdir()}


REFUSED = {"empty", "truncated", "text", "bomb"}
REFUSED_FROM_THE_HEADER = REFUSED - {"truncated"}  # a cut file's header is whole: decoding finds the cut


def damaged_pdf(path: Path, pages: int = 4) -> Path:
    """A text PDF cut at 60% of its bytes: MuPDF repairs what it can and part of it is lost."""
    document = pymupdf.open()
    for number in range(pages):
        page = document.new_page()
        page.insert_text(
            (72, 72), f"Page {number}: " + "the quick brown fox jumps over the lazy dog " * 20, fontsize=11
        )
    data = document.tobytes()
    path.write_bytes(data[: int(len(data) * 0.6)])
    return path
