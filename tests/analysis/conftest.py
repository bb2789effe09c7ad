import pytest
import torch

from sphinx_x import SphinxXForConditionalGeneration, preset_config
from sphinx_x.processing.processor import SphinxXProcessor


@pytest.fixture
def moe_config():
    return preset_config("sphinx-x-toy-moe")  # 2 layers, 4 experts, top-2


@pytest.fixture
def moe_model(moe_config):
    torch.manual_seed(0)
    return SphinxXForConditionalGeneration(moe_config).eval()


@pytest.fixture
def moe_processor(toy_tokenizer, moe_config):
    return SphinxXProcessor.for_model(toy_tokenizer, moe_config)


@pytest.fixture
def moe_batch(moe_processor, mixed_batch_inputs):
    """A padded batch with two images (visual tokens, one with skip tokens) and a text-only sample."""
    conversations, images = mixed_batch_inputs
    samples = [moe_processor.encode(c, i) for c, i in zip(conversations, images, strict=True)]
    batch = moe_processor.collate(samples)
    batch.pop("labels")
    return batch


def logits_of(model, batch) -> torch.Tensor:
    with torch.no_grad():
        return model(**batch).logits
