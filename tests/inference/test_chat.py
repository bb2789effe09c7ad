from PIL import Image

from sphinx_x.inference.chat import ChatSession
from sphinx_x.inference.draw import draw_locations
from sphinx_x.inference.generate import DecodingSettings
from sphinx_x.processing.locations import Location


def test_session_keeps_the_conversation(toy_model, toy_processor):
    session = ChatSession(
        toy_model,
        toy_processor,
        Image.new("RGB", (64, 32)),
        DecodingSettings(max_new_tokens=4, temperature=0),
    )
    first = session.ask("What is it?")
    session.ask("Why?")
    if first.strip():
        assert [m.role for m in session.history] == ["user", "assistant", "user", "assistant"][
            : len(session.history)
        ]
        assert session.history[0].text == "What is it?"


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
