import os
import shutil
import socket
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from PIL import Image

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # the page's server never calls home

from sphinx_x.inference.engine import Engine  # noqa: E402
from sphinx_x.loading import load_model  # noqa: E402
from sphinx_x.serve.limits import ServerLimits  # noqa: E402
from sphinx_x.web.chat import WebChat  # noqa: E402

from ..scripted import ScriptedAnswers  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; never `playwright install`
BOX_ANSWER = "<p>the red object</p> [0.10, 0.20, 0.50, 0.60]"
TALL = (
    100,
    200,
)  # its padded square is 200 wide: BOX_ANSWER is [20, 40, 100, 120] in pixels (corner padding)
WAIT_SECONDS = 60


@pytest.fixture(scope="session")
def toy():
    torch.manual_seed(0)
    return load_model("sphinx-x-toy", device="cpu")


def make_chat(toy, limits=ServerLimits(max_tokens=64, max_running=4, request_timeout=60)) -> WebChat:
    model, processor = toy
    engine = Engine(
        model, processor.tokenizer, limits.max_running, limits.max_queue, limits.max_prefill_tokens
    )
    return WebChat(engine, processor, "toy-model", limits)


@pytest.fixture
def tall_image(tmp_path) -> Path:
    path = tmp_path / "tall.png"
    Image.new("RGB", TALL, (10, 200, 30)).save(path)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_page(chat: WebChat):
    """The page on a free 127.0.0.1 port, in this process; its URL. Stopped (and the engine) on exit."""
    from sphinx_x.web.app import launch

    port = free_port()
    demo = launch(chat, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
        chat.engine.stop()


@pytest.fixture(scope="module")
def page_with_script(toy):
    """A running page whose model answers what the test appends to `script.pending`."""
    model, processor = toy
    with ScriptedAnswers(model, processor.tokenizer, []) as script, running_page(make_chat(toy)) as url:
        yield url, script


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium driven by Playwright; skipped only outside CI when it is absent.

    Module-scoped: Playwright's sync API keeps an asyncio loop running on this thread while it is
    open, and later tests that call `asyncio.run` (tests/serve) need it closed."""
    if shutil.which(str(CHROMIUM)) is None:
        if os.environ.get("CI") or os.environ.get("SPHINX_X_CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI: .ci/run installs it (apt-get install -y chromium)")
        pytest.skip(
            f"no browser for the end-to-end tests: {CHROMIUM} is absent (apt-get install -y chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield browser
        browser.close()
