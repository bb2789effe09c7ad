"""What a server accepts, set by the operator; the defaults are safe on a public-facing port.

Every limit is checked before the work it protects: the body size before parsing, the image count
and declared sizes before anything is fetched or decoded, the image header's pixel count before
the decoder runs, and the tokens before the request is queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MiB = 1024 * 1024


@dataclass(frozen=True)
class ServerLimits:
    max_body_bytes: int = 12 * MiB  # a request's whole JSON body (a base64 image is 4/3 of its bytes)
    max_image_bytes: int = 8 * MiB  # one image's encoded bytes, however it arrives
    max_image_pixels: int = 4096 * 4096  # width x height from the header; larger is refused undecoded
    max_images_per_request: int = 1  # the model takes one image per conversation
    max_tokens: int = 1024  # the most a request may ask for (and the default when it asks nothing)
    max_running: int = 16  # requests decoding together
    max_queue: int = 64  # requests waiting for a running slot; beyond it: 429
    max_prefill_tokens: int = 2048  # prompt tokens admitted per engine step
    request_timeout: float = 300.0  # seconds from arrival to the last token; then cancelled (504)
    # Remote media: off unless hosts are listed. Exact host names, no wildcards.
    allowed_remote_hosts: tuple[str, ...] = ()
    remote_timeout: float = 10.0  # seconds for a whole download, redirects included
    max_redirects: int = 3  # each hop is checked again like the first URL
    allowed_media_dir: Path | None = None  # file:// URLs only under this folder; None: refused

    def __post_init__(self):
        positive = ("max_body_bytes", "max_image_bytes", "max_image_pixels", "max_tokens", "max_running",
                    "request_timeout", "remote_timeout")  # fmt: skip
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.max_images_per_request < 0 or self.max_queue < 0 or self.max_redirects < 0:
            raise ValueError("max_images_per_request, max_queue and max_redirects must be >= 0")
        hosts = tuple(host.strip().lower().rstrip(".") for host in self.allowed_remote_hosts)
        if any(not host or "/" in host or "*" in host for host in hosts):
            raise ValueError(f"allowed remote hosts are exact host names, got {self.allowed_remote_hosts}")
        object.__setattr__(self, "allowed_remote_hosts", hosts)
        if self.allowed_media_dir is not None:
            folder = Path(self.allowed_media_dir).expanduser().resolve()
            if not folder.is_dir():
                raise ValueError(f"allowed media folder {self.allowed_media_dir}: not a directory")
            object.__setattr__(self, "allowed_media_dir", folder)
