"""The page's API with the official `gradio_client`: image + question -> streamed answer, boxes."""

import threading

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from sphinx_x.inference.draw import PALETTE

from ..scripted import ScriptedAnswers
from .conftest import BOX_ANSWER, TALL, WAIT_SECONDS, make_chat, running_page

RED = Image.new("RGB", (1, 1), PALETTE[0]).getpixel((0, 0))


def call(client, *args, api_name):
    return client.submit(*args, api_name=api_name).result(timeout=WAIT_SECONDS)


@pytest.fixture
def client(page_with_script):
    url, _ = page_with_script
    return Client(url, verbose=False)


def test_image_and_question_give_the_answer_and_its_boxes(client, page_with_script, tall_image):
    _, script = page_with_script
    info = call(client, handle_file(str(tall_image)), api_name="/set_image")[-1]
    assert "`toy-model`" in info and "100x200" in info and "59 visual tokens" in info
    script.pending += [BOX_ANSWER, "It is red."]
    chat, drawn, located, question = call(client, "Where is the red object?", 0, 0.75, 40, api_name="/ask")
    assert [message["role"] for message in chat] == ["user", "assistant"]
    assert chat[1]["content"][0]["text"] == "**the red object** [0.10, 0.20, 0.50, 0.60]"
    assert located == [{"type": "box", "phrase": "the red object", "pixels": [20.0, 40.0, 100.0, 120.0],
                        "square": [0.1, 0.2, 0.5, 0.6]}]  # fmt: skip
    image = Image.open(drawn).convert("RGB")
    assert (
        image.size == TALL and image.getpixel((20, 80)) == RED and image.getpixel((50, 80)) == (10, 200, 30)
    )
    assert question == ""
    chat, drawn, located, _ = call(client, "What colour is it?", 0, 0.75, 40, api_name="/ask")  # multi-turn
    assert [m["content"][0]["text"] for m in chat[2:]] == ["What colour is it?", "It is red."]
    assert drawn is None and located == []
    assert call(client, api_name="/new_chat")[0] == []


def test_mistakes_are_messages(client, tmp_path, tall_image):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    info = call(client, handle_file(str(tmp_path / "broken.png")), api_name="/set_image")[-1]
    assert "Image refused" in info and "not a readable image" in info
    call(client, handle_file(str(tall_image)), api_name="/set_image")
    with pytest.raises(AppError, match="Type a question first"):
        call(client, "  ", 0, 0.75, 40, api_name="/ask")
    with pytest.raises(AppError, match="greater than maximum value 64"):  # the slider checks it
        call(client, "Hi", 0, 0.75, 2000, api_name="/ask")


def test_sessions_share_the_engine_not_their_histories(toy, tall_image):
    """Four clients at once: their answers are decoded together, each sees only its own turn."""
    model, processor = toy
    chat, peak, done = make_chat(toy), [0], threading.Event()

    def watch():
        while not done.wait(0.005):
            peak[0] = max(peak[0], chat.engine.snapshot()["running"])

    with (
        ScriptedAnswers(model, processor.tokenizer, [" ".join(["word"] * 30)] * 4),
        running_page(chat) as url,
    ):
        clients = [Client(url, verbose=False) for _ in range(4)]
        for client in clients:
            call(client, handle_file(str(tall_image)), api_name="/set_image")
        threading.Thread(target=watch, daemon=True).start()
        jobs = [
            client.submit(f"Question {i}", 0, 0.75, 60, api_name="/ask") for i, client in enumerate(clients)
        ]
        chats = [job.result(timeout=WAIT_SECONDS)[0] for job in jobs]
        done.set()
    assert [[m["content"][0]["text"] for m in chat if m["role"] == "user"] for chat in chats] == [
        [f"Question {i}"] for i in range(4)
    ]
    assert peak[0] >= 2  # continuous batching across page sessions (4 measured here)
