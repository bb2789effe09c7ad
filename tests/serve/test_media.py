"""Image URLs: what may be fetched or read, and what never reaches the network, the disk or the decoder.

No real DNS: `remote.resolve_host` is replaced; the only HTTP server is a local one on 127.0.0.1.
"""

import asyncio
import base64
import io
import struct
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from sphinx_x.serve import media, remote
from sphinx_x.serve.errors import APIError
from sphinx_x.serve.limits import ServerLimits

from .conftest import png_header_only

WHERE = "messages[0].content[0].image_url"


def png_bytes(width=8, height=8) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_claiming(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    start = data.index(b"\xff\xc0") + 5  # SOF0: length (2), precision (1), then height, width
    data[start : start + 4] = struct.pack(">HH", height, width)
    return bytes(data)


def refusal(call) -> APIError:
    with pytest.raises(APIError) as caught:
        call()
    return caught.value


def fetch(url, limits):
    return asyncio.run(media.image_bytes(url, limits, WHERE))


@contextmanager
def http_server(routes):
    """A local HTTP server; `routes[path]` is (status, headers, body, delay). Yields (port, hits)."""
    hits = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            status, headers, body, delay = routes.get(self.path, (404, {}, b"", 0))
            time.sleep(delay)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value.format(port=self.server.server_port))
            self.end_headers()
            for piece in body if isinstance(body, list) else [body]:
                try:
                    self.wfile.write(piece)
                except (BrokenPipeError, ConnectionResetError):
                    return

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_port, hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def loopback_is_public(monkeypatch, lookups):
    """Let the local test server stand in for a public host (the fake DNS points allowed names at it)."""
    _, answers = lookups
    for host in ("images.test", "cdn.test", "internal.test"):
        answers[host] = ["127.0.0.1"]
    real = remote.is_public_address
    monkeypatch.setattr(remote, "is_public_address", lambda address: address == "127.0.0.1" or real(address))


# -- which URLs may be fetched at all ----------------------------------------------------------


def test_remote_images_are_off_by_default(lookups):
    error = refusal(lambda: media.check_before_fetching("https://images.test/a.png", ServerLimits(), WHERE))
    assert error.status == 400 and "does not fetch remote images" in error.message and lookups[0] == []


@pytest.mark.parametrize("url", ["http://evil.test/a.png", "http://cdn.images.test/a.png",
                                 "http://images.test.evil.net/a.png", "http://images.test@evil.test/a.png"])  # fmt: skip
def test_only_the_exact_allowed_host_is_fetched(url, lookups):
    limits = ServerLimits(allowed_remote_hosts=("images.test",))
    error = refusal(lambda: fetch(url, limits))
    assert error.status == 400 and "not on this server's allow-list" in error.message
    assert lookups[0] == []  # refused before any name was resolved


@pytest.mark.parametrize(
    "url", ["ftp://images.test/a.png", "javascript:alert(1)", "/etc/passwd", "gopher://x"]
)
def test_other_schemes_are_refused(url):
    error = refusal(
        lambda: media.check_before_fetching(url, ServerLimits(allowed_remote_hosts=("images.test",)), WHERE)
    )
    assert error.status == 400


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254",
                                     "100.64.0.1", "0.0.0.0", "::1", "fe80::1", "fc00::5", "::ffff:127.0.0.1",
                                     "224.0.0.1", "240.0.0.1"])  # fmt: skip
def test_names_that_resolve_to_internal_addresses_are_refused(address, lookups):
    calls, answers = lookups
    answers["images.test"] = ["93.184.215.14", address]  # one bad address is enough
    error = refusal(
        lambda: fetch("http://images.test/a.png", ServerLimits(allowed_remote_hosts=("images.test",)))
    )
    assert error.status == 400 and "private, loopback, link-local or reserved" in error.message
    assert address not in error.message and "93.184" not in error.message  # never echoes what it resolved
    assert calls == ["images.test"]


def test_a_loopback_answer_never_reaches_the_local_server(lookups):
    _, answers = lookups
    answers["images.test"] = ["127.0.0.1"]
    with http_server({"/a.png": (200, {}, png_bytes(), 0)}) as (port, hits):
        limits = ServerLimits(allowed_remote_hosts=("images.test",))
        assert refusal(lambda: fetch(f"http://images.test:{port}/a.png", limits)).status == 400
    assert hits == []


# -- fetching what is allowed -------------------------------------------------------------------


def test_an_allowed_image_is_downloaded(loopback_is_public):
    with http_server({"/a.png": (200, {"Content-Type": "image/png"}, png_bytes(), 0)}) as (port, hits):
        data = fetch(f"http://images.test:{port}/a.png", ServerLimits(allowed_remote_hosts=("images.test",)))
    assert data == png_bytes() and hits == ["/a.png"]


def test_each_redirect_hop_is_checked_again(loopback_is_public):
    routes = {
        "/to-internal": (302, {"Location": "http://internal.test:{port}/secret"}, b"", 0),
        "/to-cdn": (301, {"Location": "http://cdn.test:{port}/b.png"}, b"", 0),
        "/b.png": (200, {}, png_bytes(), 0),
        "/loop": (302, {"Location": "/loop"}, b"", 0),
        "/to-file": (302, {"Location": "file:///etc/passwd"}, b"", 0),
    }
    limits = ServerLimits(allowed_remote_hosts=("images.test", "cdn.test"))
    with http_server(routes) as (port, hits):
        error = refusal(lambda: fetch(f"http://images.test:{port}/to-internal", limits))
        assert "'internal.test' is not on this server's allow-list" in error.message and hits == [
            "/to-internal"
        ]
        assert fetch(f"http://images.test:{port}/to-cdn", limits) == png_bytes()
        assert (
            "more than 3 redirects"
            in refusal(lambda: fetch(f"http://images.test:{port}/loop", limits)).message
        )
        assert (
            "only http and https"
            in refusal(lambda: fetch(f"http://images.test:{port}/to-file", limits)).message
        )
    assert hits.count("/loop") == 4 and "/secret" not in hits


def test_the_byte_cap_holds_while_downloading_and_on_the_declared_length(loopback_is_public):
    routes = {
        "/endless.png": (200, {}, [b"x" * 10_000] * 50, 0),  # no Content-Length: counted while reading
        "/declared.png": (200, {"Content-Length": "900000"}, b"x" * 100, 0),
    }
    limits = ServerLimits(allowed_remote_hosts=("images.test",), max_image_bytes=50_000)
    with http_server(routes) as (port, _):
        error = refusal(lambda: fetch(f"http://images.test:{port}/endless.png", limits))
        assert error.status == 413 and "more than 50000 bytes" in error.message
        error = refusal(lambda: fetch(f"http://images.test:{port}/declared.png", limits))
        assert error.status == 413 and "900000 bytes" in error.message


def test_a_slow_download_times_out(loopback_is_public):
    limits = ServerLimits(allowed_remote_hosts=("images.test",), remote_timeout=0.3)
    with http_server({"/slow.png": (200, {}, png_bytes(), 2.0)}) as (port, _):
        started = time.monotonic()
        error = refusal(lambda: fetch(f"http://images.test:{port}/slow.png", limits))
        assert "longer than 0.3 s" in error.message and time.monotonic() - started < 1.5


# -- local files --------------------------------------------------------------------------------


def test_local_files_only_under_the_allowed_folder(tmp_path):
    allowed, outside = tmp_path / "media", tmp_path / "private"
    allowed.mkdir()
    outside.mkdir()
    (allowed / "ok.png").write_bytes(png_bytes())
    (outside / "secret.png").write_bytes(png_bytes())
    (allowed / "link.png").symlink_to(outside / "secret.png")
    assert (
        "does not read local files"
        in refusal(lambda: fetch(f"file://{allowed}/ok.png", ServerLimits())).message
    )
    limits = ServerLimits(allowed_media_dir=allowed)
    assert fetch(f"file://{allowed}/ok.png", limits) == png_bytes()
    for url in [f"file://{outside}/secret.png", f"file://{allowed}/../private/secret.png", f"file://{allowed}/link.png",
                "file:///etc/passwd", f"file://{allowed}/%2e%2e/private/secret.png"]:  # fmt: skip
        error = refusal(lambda url=url: fetch(url, limits))
        assert error.status == 400 and "outside the folder" in error.message, url
    assert "no such file" in refusal(lambda: fetch(f"file://{allowed}/missing.png", limits)).message
    small = ServerLimits(allowed_media_dir=allowed, max_image_bytes=10)
    assert refusal(lambda: fetch(f"file://{allowed}/ok.png", small)).status == 413


# -- data: URLs and decoding --------------------------------------------------------------------


def test_data_urls_are_sized_before_they_are_decoded(monkeypatch):
    decoded, real_decode = [], base64.b64decode
    monkeypatch.setattr(media.base64, "b64decode", lambda *a, **k: decoded.append(1) or real_decode(*a, **k))
    big = "data:image/png;base64," + "A" * 20_000
    error = refusal(lambda: fetch(big, ServerLimits(max_image_bytes=10_000)))
    assert error.status == 413 and decoded == []
    assert "not valid base64" in refusal(lambda: fetch("data:image/png;base64,@@@", ServerLimits())).message
    assert "not an image" in refusal(lambda: fetch("data:text/html;base64,PGI+", ServerLimits())).message
    assert "must be base64" in refusal(lambda: fetch("data:image/png,rawbytes", ServerLimits())).message
    decoded.clear()
    good = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
    assert fetch(good, ServerLimits()) == png_bytes() and decoded == [1]


@pytest.mark.parametrize(
    "bomb", [png_header_only(30000, 30000), jpeg_claiming(30000, 30000)], ids=["png", "jpeg"]
)
def test_a_decompression_bomb_never_reaches_the_decoder(bomb, decoder_calls):
    error = refusal(lambda: media.decode_image(bomb, ServerLimits(), WHERE))
    assert error.status == 413 and "exceeds the limit" in error.message
    assert decoder_calls == []
    assert media.decode_image(png_bytes(), ServerLimits(), WHERE).size == (8, 8)
    assert decoder_calls and set(decoder_calls) == {(8, 8)}  # the spy does see a real decode


def test_only_web_formats_are_decoded():
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "TIFF")
    assert (
        "not a readable image"
        in refusal(lambda: media.decode_image(buffer.getvalue(), ServerLimits(), WHERE)).message
    )
