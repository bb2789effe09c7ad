"""An `image_url` of a request -> the image's bytes, or a clear refusal, before any decoding.

    data:image/...;base64,...   always; its size is computed from the text before decoding it
    http(s)://host/...          only for hosts the operator allows (remote.py)
    file:///path                only under the operator's media folder, symlinks resolved first
    anything else               refused

Decoding is the processor's `load_image`, which reads the header and refuses an image with too
many pixels before the decoder runs (a decompression bomb never reaches it).
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from urllib.parse import unquote, urlsplit

from PIL import Image

from ..processing.images import ImageLoadError, ImageTooLargeError, load_image
from .errors import bad_request, too_large
from .limits import ServerLimits
from .remote import check_remote_url, fetch_remote

WEB_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")  # what the server decodes; no EPS, TIFF, ...


def check_before_fetching(url: str, limits: ServerLimits, where: str) -> None:
    """Everything that can be decided from the URL alone: scheme, host, folder, data size."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "data":
        data_payload(url, limits, where)
    elif scheme in ("http", "https"):
        check_remote_url(url, limits, where)
    elif scheme == "file":
        local_path(url, limits, where)
    else:
        raise bad_request(f"{where}: expected a data:, http(s): or file: URL, got {url[:40]!r}", where)


async def image_bytes(url: str, limits: ServerLimits, where: str) -> bytes:
    scheme = url.split(":", 1)[0].lower()
    if scheme == "data":
        return decode_data_url(url, limits, where)
    if scheme == "file":
        return read_local(local_path(url, limits, where), limits, where)
    return await fetch_remote(url, limits, where)


def data_payload(url: str, limits: ServerLimits, where: str) -> str:
    """The base64 text of a data: URL, after checking what it will decode to."""
    header, comma, payload = url.partition(",")
    if not comma or not header.lower().endswith(";base64"):
        raise bad_request(f"{where}: a data: URL must be base64 (data:image/png;base64,...)", where)
    if not header[5:].lower().startswith("image/"):
        raise bad_request(f"{where}: the data: URL is {header[5:].split(';')[0]!r}, not an image", where)
    decoded_size = len(payload) * 3 // 4
    if decoded_size > limits.max_image_bytes:
        raise too_large(
            f"{where}: the image is ~{decoded_size} bytes; the limit is {limits.max_image_bytes}", where
        )
    return payload


def decode_data_url(url: str, limits: ServerLimits, where: str) -> bytes:
    payload = data_payload(url, limits, where)
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(f"{where}: the data: URL is not valid base64", where) from None


def local_path(url: str, limits: ServerLimits, where: str) -> Path:
    """The file a file:// URL names, if it lies under the allowed folder (checked before it is opened)."""
    if limits.allowed_media_dir is None:
        raise bad_request(f"{where}: this server does not read local files", where)
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise bad_request(f"{where}: a file: URL names no host (file:///path)", where)
    path = Path(unquote(parts.path)).resolve()  # symlinks and '..' resolved before the check
    if not path.is_relative_to(limits.allowed_media_dir):
        raise bad_request(f"{where}: the file is outside the folder this server may read", where)
    return path


def read_local(path: Path, limits: ServerLimits, where: str) -> bytes:
    if not path.is_file():
        raise bad_request(f"{where}: no such file in the media folder", where)
    if path.stat().st_size > limits.max_image_bytes:
        raise too_large(
            f"{where}: the file is {path.stat().st_size} bytes; the limit is {limits.max_image_bytes}", where
        )
    return path.read_bytes()


def decode_image(data: bytes, limits: ServerLimits, where: str) -> Image.Image:
    """Bytes -> an upright RGB image; too many pixels (read from the header) is a 413, undecoded."""
    try:
        return load_image(data, limits.max_image_pixels, name=where, formats=WEB_FORMATS)
    except ImageTooLargeError as error:
        raise too_large(str(error), where) from None
    except ImageLoadError as error:
        raise bad_request(str(error), where) from None
