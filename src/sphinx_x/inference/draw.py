"""Draw the boxes and points of an answer on a copy of the image, labelled with their phrases."""

from __future__ import annotations

from PIL import Image, ImageDraw

from ..processing.locations import Location, SquareFrame

PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324"]


def draw_locations(image: Image.Image, locations: list[Location], padding: str) -> Image.Image:
    """`locations` are in the padded square's normalised coordinates; drawn in original pixels."""
    canvas = image.convert("RGB").copy()
    draw = ImageDraw.Draw(canvas)
    frame = SquareFrame(canvas.width, canvas.height, padding)
    line = max(2, round(max(canvas.size) / 300))
    for index, location in enumerate(locations):
        colour = PALETTE[index % len(PALETTE)]
        pixels = frame.to_pixels(location.coordinates)
        label = location.phrase or str(index + 1)
        if location.kind == "box":
            x1, y1, x2, y2 = pixels
            draw.rectangle((min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)), outline=colour, width=line)
            anchor = (min(x1, x2) + line, min(y1, y2) + line)
        else:
            x, y = pixels
            radius = 2 * line
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
            anchor = (x + radius, y - radius)
        text_box = draw.textbbox(anchor, label)
        draw.rectangle(text_box, fill=colour)
        draw.text(anchor, label, fill="white")
    return canvas
