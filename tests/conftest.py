import pytest
import torch
from PIL import Image, ImageDraw

from sphinx_x import SphinxXForConditionalGeneration, preset_config
from sphinx_x.processing.processor import SphinxXProcessor
from sphinx_x.processing.tokenizer import train_toy_tokenizer


@pytest.fixture(scope="session")
def toy_tokenizer():
    return train_toy_tokenizer()


@pytest.fixture
def toy_config():
    return preset_config("sphinx-x-toy")


@pytest.fixture
def toy_model(toy_config):
    torch.manual_seed(0)
    return SphinxXForConditionalGeneration(toy_config).eval()


@pytest.fixture
def toy_processor(toy_tokenizer, toy_config):
    return SphinxXProcessor.for_model(toy_tokenizer, toy_config)


def shapes_image(width: int, height: int) -> Image.Image:
    """A picture with some structure, so that different views really differ."""
    image = Image.new("RGB", (width, height), (230, 230, 220))
    draw = ImageDraw.Draw(image)
    draw.rectangle((width * 0.1, height * 0.2, width * 0.4, height * 0.7), fill=(220, 40, 40))
    draw.ellipse((width * 0.5, height * 0.1, width * 0.9, height * 0.6), fill=(40, 80, 220))
    return image


@pytest.fixture
def mixed_batch_inputs():
    """Conversations with a wide image, a text-only turn and a tall image (so skip tokens occur)."""
    conversations = [
        [
            {"from": "human", "value": "<image>\nWhat is on the left?"},
            {"from": "gpt", "value": "A red square."},
        ],
        [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Hi there."}],
        [
            {"role": "user", "content": "Where is the circle?"},
            {"role": "assistant", "content": "<p>circle</p> [0.50, 0.10, 0.90, 0.60]"},
            {"role": "user", "content": "And its colour?"},
            {"role": "assistant", "content": "Blue."},
        ],
    ]
    images = [shapes_image(96, 32), None, shapes_image(40, 80)]
    return conversations, images
