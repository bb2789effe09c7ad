import socket
import struct
import threading
import time
import zlib
from contextlib import contextmanager

import pytest
import torch
import uvicorn
from PIL import ImageFile

from sphinx_x.inference.engine import Engine
from sphinx_x.loading import load_model
from sphinx_x.model.sphinx import split_pixel_values
from sphinx_x.serve import remote
from sphinx_x.serve.app import create_app
from sphinx_x.serve.limits import ServerLimits

STARTUP_SECONDS = 30


@pytest.fixture(scope="session")
def toy_model_dir(tmp_path_factory):
    """A random sphinx-x-toy saved as a model folder, as `sphinx-x serve --model DIR` loads it."""
    torch.manual_seed(0)
    model, processor = load_model("sphinx-x-toy", device="cpu")
    folder = tmp_path_factory.mktemp("models") / "toy-model"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def loaded_toy(toy_model_dir):
    return load_model(toy_model_dir, device="cpu")


@contextmanager
def running_server(model, processor, limits=ServerLimits(), api_key=None, name="toy-model"):
    """A real uvicorn server on a free 127.0.0.1 port, in a thread; stopped on exit. Yields its base URL."""
    engine = Engine(
        model, processor.tokenizer, limits.max_running, limits.max_queue, limits.max_prefill_tokens
    )
    app = create_app(engine, processor, name, limits, api_key)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_SECONDS)
        sock.close()
        assert not thread.is_alive(), "the server did not stop"


def data_url(image, format="PNG") -> str:
    import base64
    import io

    buffer = io.BytesIO()
    image.save(buffer, format)
    return f"data:image/{format.lower()};base64," + base64.b64encode(buffer.getvalue()).decode()


def teach_answer(model, processor, conversation, image, margin=100.0):
    """Make the model answer `conversation`'s last turn exactly: the LM head gets the least-squares
    change that adds `margin` to each answer token's logit at its position (the hidden states of a
    replayed prefix are the same, so greedy decoding replays the answer)."""
    llm = model.language_model
    if llm.lm_head.weight is llm.get_input_embeddings().weight:
        llm.lm_head.weight = torch.nn.Parameter(llm.lm_head.weight.detach().clone())
    batch = processor.collate([processor.encode(conversation, image)])
    pixel_values, _ = split_pixel_values(batch)
    visual = [pixel_values, batch.get("views_skipped"), batch.get("has_image")]
    with torch.no_grad():
        hidden = llm.model(inputs_embeds=model.embed_inputs(batch["input_ids"], *visual)).last_hidden_state[
            0, :-1
        ]
        targets = batch["labels"][0, 1:]
        supervised = targets != -100
        wanted = torch.zeros(int(supervised.sum()), llm.lm_head.weight.shape[0])
        wanted[torch.arange(len(wanted)), targets[supervised]] = margin
        change = torch.linalg.lstsq(hidden[supervised].double(), wanted.double()).solution  # [D, V]
        llm.lm_head.weight += change.T.to(llm.lm_head.weight.dtype)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` (a decompression bomb's shape), with a tiny body."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def lookups(monkeypatch):
    """Every name the server tries to resolve; `answers[host]` is what the fake DNS says."""
    calls, answers = [], {}

    async def fake_resolve(host, port):
        calls.append(host)
        return answers.get(host, ["93.184.215.14"])  # a public address by default

    monkeypatch.setattr(remote, "resolve_host", fake_resolve)
    return calls, answers


@pytest.fixture
def decoder_calls(monkeypatch):
    calls = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: calls.append(self.size) or real_load(self))
    return calls
