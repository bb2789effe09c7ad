from PIL import Image

from sphinx_x.inference import chat
from sphinx_x.inference.chat import ChatSession
from sphinx_x.inference.draw import draw_locations
from sphinx_x.inference.generate import DecodingSettings
from sphinx_x.processing.locations import Location

from ..scripted import ScriptedAnswers


def test_session_keeps_the_conversation(toy_model, toy_processor, monkeypatch):
    prompts = []
    real_generate = chat.generate
    monkeypatch.setattr(
        chat, "generate", lambda *a, **k: prompts.append(a[2]["input_ids"][0]) or real_generate(*a, **k)
    )
    settings = DecodingSettings(max_new_tokens=20, temperature=0)
    session = ChatSession(toy_model, toy_processor, Image.new("RGB", (64, 32)), settings)
    with ScriptedAnswers(toy_model, toy_processor.tokenizer, ["A red square.", "It is on the left.", ""]):
        assert session.ask("What is it?") == "A red square."
        assert session.ask("Where?") == "It is on the left."
        assert session.ask("And?") == ""  # an empty answer cannot be a turn: the question is dropped too
    assert [(m.role, m.text) for m in session.history] == [
        ("user", "What is it?"), ("assistant", "A red square."), ("user", "Where?"), ("assistant", "It is on the left."),
    ]  # fmt: skip
    second = toy_processor.tokenizer.decode(prompts[1], skip_special_tokens=True)
    assert "What is it?" in second and "A red square." in second and second.rstrip().endswith("Assistant:")
    session.reset()
    assert session.history == [] and session.image is not None


def test_boxes_are_drawn_in_original_pixels(tmp_path):
    image = Image.new("RGB", (200, 100), (255, 255, 255))
    drawn = draw_locations(image, [Location((0.0, 0.0, 0.5, 0.25), "left half")], padding="corner")
    assert drawn.size == (200, 100)
    assert drawn.getpixel((99, 30)) != (255, 255, 255)  # right edge of the box at x = 0.5 * 200
    assert drawn.getpixel((150, 80)) == (255, 255, 255)
    assert image.getpixel((99, 30)) == (255, 255, 255)  # the original is untouched


def test_draw_answer_writes_a_picture_only_when_there_are_boxes(tmp_path, toy_model, toy_processor):
    session = ChatSession(toy_model, toy_processor, Image.new("RGB", (64, 32)))
    assert session.draw_answer("no locations", tmp_path / "none.png") is None
    path = session.draw_answer("<p>thing</p> [0.10, 0.10, 0.40, 0.40] and [0.8, 0.2]", tmp_path / "boxes.png")
    assert path.exists() and Image.open(path).size == (64, 32)
