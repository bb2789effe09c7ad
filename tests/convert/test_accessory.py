import json

import pytest
import sentencepiece as spm
import torch
from PIL import Image, ImageDraw
from safetensors.torch import load_file

from sphinx_x import SphinxXForConditionalGeneration
from sphinx_x.convert.accessory import ConversionError, convert_accessory
from sphinx_x.convert.shards import CheckpointFormatError
from sphinx_x.processing.conversation import to_messages
from sphinx_x.processing.processor import SphinxXProcessor

from .release_reference import VIEWS, reference_logits, release_state, train_sentencepiece, write_release

VOCAB = 400


@pytest.fixture(scope="module")
def sentencepiece_model(tmp_path_factory):
    return train_sentencepiece(tmp_path_factory.mktemp("sentencepiece"))


@pytest.fixture(scope="module")
def state():
    return release_state(VOCAB)


@pytest.fixture(scope="module")
def converted(tmp_path_factory, state, sentencepiece_model):
    root = tmp_path_factory.mktemp("release")
    source = write_release(root / "SPHINX-Tiny-1k", state, sentencepiece_model)
    convert_accessory(source, root / "converted", view_sizes=VIEWS)
    return root / "converted"


def picture(width: int, height: int) -> Image.Image:
    image = Image.new("RGB", (width, height), (240, 240, 230))
    draw = ImageDraw.Draw(image)
    draw.rectangle((5, 5, width // 2, height - 8), fill=(200, 30, 30))
    draw.ellipse((width // 2, 2, width - 3, height // 2), fill=(20, 60, 200))
    return image


def test_converted_model_reproduces_the_release_forward_pass(converted, state, sentencepiece_model):
    model = SphinxXForConditionalGeneration.from_pretrained(converted).eval()
    processor = SphinxXProcessor.from_pretrained(converted)
    assert (model.config.padding, model.config.use_skip_token, model.config.grid) == ("center", False, 2)
    image, question = picture(70, 40), [{"role": "user", "content": "What is in the image?"}]
    batch = processor([question], [image])
    prompt = processor.template.render(to_messages(question), add_generation_prompt=True)
    text_ids = spm.SentencePieceProcessor(model_file=str(sentencepiece_model)).encode(prompt)
    visual = processor.visual_token_count(*image.size)
    assert visual == 5 * (16 + 1 + 2)
    assert batch["input_ids"][0, 1 + visual :].tolist() == text_ids  # same ids as the release's tokenizer
    with torch.no_grad():
        ours = model(**batch).logits[0]
    expected = reference_logits(state, image, text_ids, bos_id=1, grid=2)
    # The release's vocabulary, then one row for the <image> token the conversion added.
    released = expected.shape[-1]
    assert processor.image_token == released and ours.shape[-1] == released + 1
    torch.testing.assert_close(ours[:, :released], expected, atol=1e-4, rtol=1e-4)
    assert processor.tokenizer.decode(batch["input_ids"][0], skip_special_tokens=True).startswith(prompt[:20])


def test_single_view_release(tmp_path, state, sentencepiece_model):
    source = write_release(tmp_path / "SPHINX-Tiny", state, sentencepiece_model, llama_type="llama_ens_light")
    convert_accessory(source, tmp_path / "out", view_sizes=VIEWS)
    model = SphinxXForConditionalGeneration.from_pretrained(tmp_path / "out").eval()
    processor = SphinxXProcessor.from_pretrained(tmp_path / "out")
    image, question = picture(40, 64), [{"role": "user", "content": "Describe it."}]
    batch = processor([question], [image])
    text_ids = batch["input_ids"][0, 1 + 19 :].tolist()
    with torch.no_grad():
        expected = reference_logits(state, image, text_ids, 1, grid=1)
        ours = model(**batch).logits[0, :, : expected.shape[-1]]  # without the added <image> row
        torch.testing.assert_close(ours, expected, atol=1e-4, rtol=1e-4)


def test_multi_turn_training_ids_match_sentencepiece_on_the_whole_text(converted, sentencepiece_model):
    processor = SphinxXProcessor.from_pretrained(converted)
    turns = [
        {"role": "user", "content": "What is in the image?"},
        {"role": "assistant", "content": "A red square."},
        {"role": "user", "content": "Where?"},
        {"role": "assistant", "content": "[0.12, 0.34, 0.56, 0.78]"},
    ]
    sample = processor.encode(turns)
    rendered = processor.template.render(to_messages(turns))
    whole = spm.SentencePieceProcessor(model_file=str(sentencepiece_model)).encode(rendered)
    assert sample.input_ids == [1, *whole, 2]


def test_two_tensor_parallel_shards_merge_to_the_one_shard_weights(
    tmp_path, converted, state, sentencepiece_model
):
    source = write_release(tmp_path / "mp2", state, sentencepiece_model, parts=2)
    assert len(list(source.glob("consolidated.*.pth"))) == 2
    convert_accessory(source, tmp_path / "out", view_sizes=VIEWS)
    one, two = load_file(converted / "model.safetensors"), load_file(tmp_path / "out" / "model.safetensors")
    assert one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one)


def test_sharded_output_loads(tmp_path, state, sentencepiece_model, converted):
    source = write_release(tmp_path / "src", state, sentencepiece_model)
    convert_accessory(source, tmp_path / "out", max_shard_bytes=200_000, view_sizes=VIEWS)
    index = json.loads((tmp_path / "out" / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1
    reloaded = SphinxXForConditionalGeneration.from_pretrained(tmp_path / "out").state_dict()
    reference = SphinxXForConditionalGeneration.from_pretrained(converted).state_dict()
    assert all(torch.equal(reloaded[k], reference[k]) for k in reference)


def broken_release(tmp_path, state, sentencepiece_model, change):
    changed = dict(state)
    change(changed)
    return write_release(tmp_path / "broken", changed, sentencepiece_model)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update({"llma.extra_head.weight": torch.zeros(2)}), r"1 unknown keys: llma\.extra_head\.weight"),
        (lambda s: s.pop("llma.layers.1.ffn_norm.weight"),
         r"1 missing keys: language_model\.model\.layers\.1\.post_attention_layernorm\.weight"),
        (lambda s: s.update({"llma.layers.0.attention.wq.weight": torch.zeros(60, 64)}),
         r"keys of the wrong shape: llma\.layers\.0\.attention\.wq\.weight: \(60, 64\) cannot be mapped"),
        (lambda s: s.update({"llma.layers.0.attention.wq.weight": torch.zeros(48, 64)}),
         r"keys of the wrong shape: llma\.layers\.0\.attention\.wq\.weight -> .*q_proj\.weight: \(48, 64\), expected \(64, 64\)"),
        (lambda s: s.update({"llma.openclip_convnext_xxl.head.fc.weight": torch.zeros(3, 32)}),
         r"unknown keys: llma\.openclip_convnext_xxl\.head\.fc\.weight"),
    ],
)  # fmt: skip
def test_bad_keys_stop_the_conversion_by_name(tmp_path, state, sentencepiece_model, change, message):
    source = broken_release(tmp_path, state, sentencepiece_model, change)
    with pytest.raises(ConversionError, match=message):
        convert_accessory(source, tmp_path / "out", view_sizes=VIEWS)
    assert not (tmp_path / "out").exists()  # nothing written


def test_unsupported_and_malformed_folders(tmp_path, state, sentencepiece_model):
    source = write_release(tmp_path / "moe", state, sentencepiece_model, llama_type="mixtral_sparse_ens5")
    with pytest.raises(CheckpointFormatError, match=r"no llma\.qformer\.\* keys"):
        convert_accessory(source, tmp_path / "out")
    source = write_release(tmp_path / "other", state, sentencepiece_model, llama_type="llama_qformerv2")
    with pytest.raises(
        CheckpointFormatError, match="llama_type 'llama_qformerv2' unknown; supported: llama_ens_light"
    ):
        convert_accessory(source, tmp_path / "out")
    source = write_release(tmp_path / "gap", state, sentencepiece_model, parts=2)
    (source / "consolidated.01-of-02.model.pth").unlink()
    with pytest.raises(CheckpointFormatError, match="incomplete or mixed tensor-parallel shards"):
        convert_accessory(source, tmp_path / "out", view_sizes=VIEWS)
    source = write_release(tmp_path / "args", state, sentencepiece_model)
    (source / "config.json").write_text(json.dumps({"n_heads": 4, "dim": 128}))
    with pytest.raises(CheckpointFormatError, match=r"config\.json: dim=128 but the weights say 64"):
        convert_accessory(source, tmp_path / "out", view_sizes=VIEWS)
    (source / "config.json").write_text("{")
    with pytest.raises(CheckpointFormatError, match=r"config\.json: not valid JSON"):
        convert_accessory(source, tmp_path / "out", view_sizes=VIEWS)


def test_command_line_conversion(tmp_path, state, sentencepiece_model, capsys):
    from sphinx_x.cli import main

    source = write_release(tmp_path / "src", state, sentencepiece_model)
    argv = ["convert", "accessory", str(source), str(tmp_path / "out"), "--dtype", "bfloat16",
            "--convnext-view-size", "32", "--dinov2-view-size", "16"]  # fmt: skip
    assert main(argv) == 0
    assert "sphinx-x chat --model" in capsys.readouterr().out
    assert (
        load_file(tmp_path / "out" / "model.safetensors")["projector.linear.weight"].dtype == torch.bfloat16
    )
    assert main(["chat", "--model", str(tmp_path / "out"), "--max-new-tokens", "3", "--seed", "0", "Hi"]) == 0
    assert main(["convert", "export-llm", str(tmp_path / "out"), str(tmp_path / "llm")]) == 0
    assert (tmp_path / "llm" / "config.json").exists()
    assert main(["convert", "accessory", str(tmp_path / "nowhere"), str(tmp_path / "x")]) == 2
