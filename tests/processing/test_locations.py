import pytest

from sphinx_x.processing.locations import (
    Location,
    SquareFrame,
    format_box,
    format_grounded,
    format_point,
    parse_locations,
)  # fmt: skip


def test_formatting_follows_the_release():
    assert format_box([0.371, 0.5149, 0.52, 0.6]) == "[0.37, 0.51, 0.52, 0.60]"
    assert format_point([0.5, 1.2]) == "[0.50, 1.00]"
    assert format_grounded("a dog", [[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]]) == (
        "<p>a dog</p> [0.10, 0.20, 0.30, 0.40; 0.50, 0.60, 0.70, 0.80]"
    )


def test_parsing_is_tolerant():
    text = (
        "There is <p>a dog</p>[0.1,0.2, 0.3 ,0.4; .5, .6, .7, .8] and a nose at [0.55, 0.25]. Options [a, b]."
    )
    assert parse_locations(text) == [
        Location((0.1, 0.2, 0.3, 0.4), "a dog"),
        Location((0.5, 0.6, 0.7, 0.8), "a dog"),
        Location((0.55, 0.25), None),
    ]
    assert parse_locations("no boxes here [1, 2, 3]") == []


@pytest.mark.parametrize("padding", ["center", "corner"])
def test_square_and_pixel_coordinates_round_trip(padding):
    frame = SquareFrame(1000, 500, padding)
    box = (100.0, 50.0, 600.0, 450.0)
    square = frame.to_square(box)
    assert frame.to_pixels(square) == pytest.approx(box)


def test_padding_offsets():
    assert SquareFrame(1000, 500, "corner").to_square((500, 250)) == (0.5, 0.25)
    assert SquareFrame(1000, 500, "center").to_square((500, 250)) == (0.5, 0.5)
    assert SquareFrame(1000, 500, "center").to_pixels((0.0, 0.0)) == (0.0, 0.0)  # clipped to the image
