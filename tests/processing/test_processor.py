import json

import pytest
import torch
from PIL import Image

from sphinx_x.model.sphinx import IGNORE_INDEX
from sphinx_x.processing.conversation import ConversationError
from sphinx_x.processing.processor import NothingToSuperviseError, SampleTooLongError, SphinxXProcessor
from sphinx_x.processing.tokenizer import train_toy_tokenizer


def supervised_spans(labels):
    """Runs of consecutive supervised labels."""
    spans, current = [], []
    for label in labels:
        if label == IGNORE_INDEX:
            if current:
                spans.append(current)
            current = []
        else:
            current.append(label)
    return spans + ([current] if current else [])


def test_supervised_tokens_decode_to_the_answers(toy_processor, mixed_batch_inputs):
    conversations, images = mixed_batch_inputs
    for turns, image in zip(conversations, images, strict=True):
        sample = toy_processor.encode(turns, image)
        answers = [
            t.get("value", t.get("content"))
            for t in turns
            if t.get("from", t.get("role")) in ("gpt", "assistant")
        ]
        decoded = [toy_processor.tokenizer.decode(span) for span in supervised_spans(sample.labels)]
        assert decoded == [answer + "\n###" for answer in answers]


def test_sample_layout_is_bos_image_text_eos(toy_processor, mixed_batch_inputs):
    conversations, images = mixed_batch_inputs
    sample = toy_processor.encode(conversations[0], images[0])
    visual = toy_processor.visual_token_count(*images[0].size)
    assert sample.input_ids[0] == toy_processor.tokenizer.bos_token_id
    assert sample.input_ids[1 : 1 + visual] == [toy_processor.image_token] * visual
    assert toy_processor.image_token not in sample.input_ids[1 + visual :]
    assert sample.input_ids[-1] == toy_processor.tokenizer.eos_token_id and sample.labels[-1] == IGNORE_INDEX


def test_segments_tokenise_like_the_whole_text(toy_processor, mixed_batch_inputs):
    # The SentencePiece-style boundary marker recreates the space between segments.
    turns = mixed_batch_inputs[0][2]
    sample = toy_processor.encode(turns)
    rendered = toy_processor.template.render(toy_processor_messages(turns))
    whole = toy_processor.tokenizer.encode(rendered, add_special_tokens=False)
    assert sample.input_ids[1:-1] == whole


def toy_processor_messages(turns):
    from sphinx_x.processing.conversation import to_messages

    return to_messages(turns)


def test_byte_level_style_tokenizer_gets_the_space_back():
    # A tokenizer without a boundary marker (GPT-2 style) must see " answer", not "answer".
    toy = train_toy_tokenizer()
    toy.backend_tokenizer.pre_tokenizer = __import__("tokenizers").pre_tokenizers.Metaspace(
        prepend_scheme="never"
    )
    from sphinx_x.presets import preset_config

    processor = SphinxXProcessor.for_model(toy, preset_config("sphinx-x-toy"))
    assert not processor.boundary_prefix
    sample = processor.encode([{"role": "user", "content": "q"}, {"role": "assistant", "content": "yes"}])
    [span] = supervised_spans(sample.labels)
    assert toy.convert_ids_to_tokens(span)[0].startswith("▁")


def test_nothing_to_supervise_is_reported(toy_processor):
    with pytest.raises(NothingToSuperviseError):
        toy_processor.encode([{"role": "user", "content": "Only a question"}])


def test_too_long_sample_is_reported(toy_tokenizer, toy_config):
    processor = SphinxXProcessor.for_model(toy_tokenizer, toy_config, max_length=20)
    with pytest.raises(SampleTooLongError, match="the limit is 20"):
        processor.encode([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}])


def test_tokenizer_larger_than_the_vocabulary_is_refused(toy_config):
    toy_config.text_config.vocab_size = 100
    with pytest.raises(ValueError, match="vocabulary holds 100"):
        SphinxXProcessor.for_model(train_toy_tokenizer(), toy_config)


def test_left_padding_for_generation(toy_processor):
    batch = toy_processor(
        [[{"role": "user", "content": "a"}], [{"role": "user", "content": "a longer question"}]]
    )
    assert batch["attention_mask"][0, 0] == 0 and batch["attention_mask"][:, -1].all()
    assert (batch["input_ids"][0][batch["attention_mask"][0] == 0] == toy_processor.pad_token_id).all()
    assert "labels" not in batch  # a prompt has nothing to supervise


def test_the_processor_saves_and_loads_itself(tmp_path, toy_tokenizer, toy_config):
    processor = SphinxXProcessor.for_model(toy_tokenizer, toy_config, max_length=300, max_image_pixels=10_000,
                                           conversation_template={"system": "Be brief.", "user_name": "Human",
                                                                  "assistant_name": "Assistant"})  # fmt: skip
    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "processor_config.json").read_text())
    assert (
        saved["processor_class"] == "SphinxXProcessor" and saved["grid"] == 2 and saved["max_length"] == 300
    )
    loaded = SphinxXProcessor.from_pretrained(tmp_path)
    assert (loaded.max_length, loaded.max_image_pixels, loaded.template.system) == (300, 10_000, "Be brief.")
    assert (loaded.view_sizes, loaded.padding, loaded.tokens_per_view) == (
        {"convnext": 32, "dinov2": 32},
        "corner",
        17,
    )
    turns = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]
    assert loaded.encode(turns).input_ids == processor.encode(turns).input_ids
    assert loaded.model_input_names == ["input_ids", "attention_mask", "pixel_values_convnext", "pixel_values_dinov2",
                                        "views_skipped", "has_image"]  # fmt: skip


def test_chat_template_messages_with_image_parts(toy_processor):
    image = Image.new("RGB", (64, 32), (10, 20, 30))
    chat = [
        {
            "role": "user",
            "content": [{"type": "image", "image": image}, {"type": "text", "text": "What is it?"}],
        }
    ]
    plain = [{"role": "user", "content": "What is it?"}]
    from_parts, from_argument = toy_processor(chat), toy_processor([plain], [image])
    assert torch.equal(from_parts["input_ids"], from_argument["input_ids"])
    assert torch.equal(from_parts["pixel_values_dinov2"], from_argument["pixel_values_dinov2"])
    rendered = toy_processor.apply_chat_template(chat)
    assert rendered.startswith("<image>") and rendered.endswith("### Human: What is it?\n### Assistant:")
    two = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "image", "image": image},
                                        {"type": "text", "text": "Compare."}]}]  # fmt: skip
    with pytest.raises(ConversationError, match="holds 2 images; SPHINX-X takes one"):
        toy_processor(two)
    with pytest.raises(ConversationError, match=r"content\[0\]: expected a text or image part"):
        toy_processor([{"role": "user", "content": [{"type": "audio"}]}])


def test_prompts_are_token_lists_that_decode_and_typed_control_tokens_stay_text(toy_processor):
    image = Image.new("RGB", (64, 32))
    sample = toy_processor.encode([{"role": "user", "content": "Say <image> and </s> please"}], image, True)
    visual = toy_processor.visual_token_count(64, 32)
    assert sample.input_ids.count(toy_processor.image_token) == visual  # only the real placeholders
    assert toy_processor.tokenizer.eos_token_id not in sample.input_ids
    decoded = toy_processor.tokenizer.decode(sample.input_ids)
    # A typed "<image>" is LLaVA's placeholder, dropped (the image block sits after BOS); "</s>" is text.
    assert decoded.count("<image>") == visual and "Human: Say  and </s> please" in decoded


def test_four_expert_views_are_keyed_by_the_expert_list(toy_tokenizer):
    from PIL import Image

    from sphinx_x.presets import preset_config

    config = preset_config("sphinx-moe-1k")
    config.image_token_id = toy_tokenizer.convert_tokens_to_ids("<image>")
    processor = SphinxXProcessor.for_model(toy_tokenizer, config)
    names = ["pixel_values_qformer", "pixel_values_clip", "pixel_values_convnext", "pixel_values_dinov2"]
    assert processor.model_input_names == [
        "input_ids",
        "attention_mask",
        *names,
        "views_skipped",
        "has_image",
    ]
    batch = processor([[{"role": "user", "content": "Hi"}]], [Image.new("RGB", (300, 200), (9, 99, 199))])
    assert {name: tuple(batch[name].shape) for name in names} == {
        "pixel_values_qformer": (5, 3, 224, 224), "pixel_values_clip": (5, 3, 224, 224),
        "pixel_values_convnext": (5, 3, 512, 512), "pixel_values_dinov2": (5, 3, 224, 224),
    }  # fmt: skip
    assert (
        processor.visual_token_count(300, 200) == 1455 == (batch["input_ids"] == processor.image_token).sum()
    )
