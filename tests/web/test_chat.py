"""A page's turn without the page: the checks, the stream, the history, the drawing."""

from types import SimpleNamespace

import pytest
from PIL import Image

from sphinx_x.inference.draw import PALETTE
from sphinx_x.serve.limits import ServerLimits
from sphinx_x.web.chat import Conversation, Sampling, WebChat, WebError
from sphinx_x.web.prompts import TASK_PROMPTS

from ..scripted import ScriptedAnswers
from ..serve.conftest import png_header_only
from .conftest import BOX_ANSWER, TALL, make_chat

RED = Image.new("RGB", (1, 1), PALETTE[0]).getpixel((0, 0))


@pytest.fixture
def chat(toy):
    chat = make_chat(toy)
    chat.engine.start()
    yield chat
    chat.engine.stop()


def test_a_turn_streams_and_joins_the_conversation(chat, toy, tall_image):
    conversation = chat.open_image(tall_image)
    assert conversation.image.size == TALL
    assert conversation.visual_tokens == chat.processor.visual_token_count(*TALL)
    with ScriptedAnswers(toy[0], toy[1].tokenizer, [BOX_ANSWER, "Red."]):
        steps = list(
            chat.ask(conversation, "Where is the red object?", Sampling(temperature=0, max_tokens=40))
        )
        assert len(steps) > 2 and steps[-1] == BOX_ANSWER  # streamed, growing
        assert all(BOX_ANSWER.startswith(step) for step in steps)
        assert (
            list(chat.ask(conversation, "And its colour?", Sampling(temperature=0, max_tokens=40)))[-1]
            == "Red."
        )
    assert [(turn.role, turn.text) for turn in conversation.turns] == [
        ("user", "Where is the red object?"), ("assistant", BOX_ANSWER),
        ("user", "And its colour?"), ("assistant", "Red."),
    ]  # fmt: skip
    assert conversation.new_chat().turns == [] and conversation.new_chat().image is conversation.image
    assert chat.grounding(conversation, BOX_ANSWER) == [
        {"type": "box", "phrase": "the red object", "pixels": [20.0, 40.0, 100.0, 120.0],
         "square": [0.1, 0.2, 0.5, 0.6]}
    ]  # fmt: skip


@pytest.mark.parametrize(
    "padding, box",
    [("corner", (20, 40, 100, 120)), ("center", (0, 40, 50, 120))],  # 100x200: centred, x shifts by 50
)
def test_the_answer_is_drawn_in_the_original_pixels(padding, box):
    chat = WebChat(SimpleNamespace(max_context=2048), SimpleNamespace(padding=padding), "m", ServerLimits())
    conversation = Conversation(Image.new("RGB", TALL, (10, 200, 30)))
    drawn = chat.draw(conversation, BOX_ANSWER)
    assert drawn.size == TALL
    x1, y1, x2, y2 = box
    middle = (y1 + y2) // 2
    assert drawn.getpixel((max(x1, 0), middle)) == RED and drawn.getpixel((x2 - 1, middle)) == RED
    assert drawn.getpixel((x1 + 10, middle)) == (10, 200, 30)  # inside the box: the image
    assert chat.draw(conversation, "No boxes here.") is None


def test_bad_images_are_messages(chat, tmp_path):
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "bomb.png").write_bytes(png_header_only(20000, 20000))
    (tmp_path / "big.png").write_bytes(b"\0" * (chat.limits.max_image_bytes + 1))
    for name, expected in [("text.png", "not a readable image"), ("bomb.png", "exceeds the limit"),
                           ("big.png", "the limit is"), ("missing.png", "no such file")]:  # fmt: skip
        with pytest.raises(WebError, match=expected):
            chat.open_image(tmp_path / name)


def test_bad_questions_are_messages(chat, tall_image):
    conversation = chat.open_image(tall_image)
    with pytest.raises(WebError, match="Type a question first"):
        list(chat.ask(conversation, "   ", Sampling(max_tokens=8)))
    long = WebChat(chat.engine, chat.processor, "m", ServerLimits(max_tokens=4096))
    with pytest.raises(WebError, match="too long for the model: this model's context is 2048 tokens.*visual"):
        list(long.ask(conversation, "Hi", Sampling(max_tokens=2040)))
    with pytest.raises(WebError, match="over this server's limit of 64"):
        list(chat.ask(conversation, "Hi", Sampling(max_tokens=65)))
    with pytest.raises(WebError, match="temperature must be >= 0"):
        list(chat.ask(conversation, "Hi", Sampling(temperature=-1, max_tokens=8)))
    assert conversation.turns == []


def test_a_full_queue_is_a_busy_message_and_loses_no_conversation(toy, tall_image):
    chat = make_chat(toy, ServerLimits(max_tokens=8, max_running=1, max_queue=0))  # engine not started
    conversation = chat.open_image(tall_image)
    chat.engine.submit(
        *chat.prepare(conversation, "First?", Sampling(max_tokens=8))[1:]
    )  # takes the one slot
    with pytest.raises(WebError, match=r"^The server is busy \(.*\); try again in a moment\.$"):
        next(chat.ask(conversation, "Second?", Sampling(max_tokens=8)))
    assert conversation.turns == []


def test_an_answer_past_the_timeout_is_stopped_with_a_message(toy, tall_image):
    chat = make_chat(toy, ServerLimits(max_tokens=8, request_timeout=0.05))  # engine not started: no answer
    conversation = chat.open_image(tall_image)
    with pytest.raises(WebError, match=r"^The answer took longer than 0\.05 s and was stopped\.$"):
        next(chat.ask(conversation, "Anyone there?", Sampling(max_tokens=8)))
    assert conversation.turns == []
    assert chat.engine.scheduler.take_cancelled()  # the request was cancelled, its slot freed


def test_the_task_prompts_are_the_releases():
    assert set(TASK_PROMPTS) == {"Describe", "Ground a phrase", "Detect all", "Read the text",
                                 "Text in a region", "Set-of-Mark"}  # fmt: skip
    assert TASK_PROMPTS["Ground a phrase"] == (
        "Please provide the bounding box coordinate of the region this sentence describes: the red object."
    )
    assert "mark 1 at [0.10, 0.20, 0.50, 0.60]; mark 2 at [0.70, 0.35]" in TASK_PROMPTS["Set-of-Mark"]
