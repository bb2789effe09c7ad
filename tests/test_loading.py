"""sphinx_x.loading: the one way to get a model, from a folder, a preset or public parts."""

import json
import string

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from sphinx_x import SphinxXForConditionalGeneration, preset_config
from sphinx_x.cli import main
from sphinx_x.loading import ModelFolderError, load_model, resolve_device, resolve_dtype
from sphinx_x.processing.tokenizer import TOY_CORPUS


def test_preset_and_folder_give_the_same_model(tmp_path):
    torch.manual_seed(0)
    model, processor = load_model("sphinx-x-toy", device="cpu")
    assert not model.training and model.config.image_token_id == processor.image_token == 4
    model.save_pretrained(tmp_path), processor.save_pretrained(tmp_path)
    assert (tmp_path / "processor_config.json").is_file()
    again, reloaded = load_model(str(tmp_path), device="cpu")
    batch = processor([[{"role": "user", "content": "Hi"}]])
    with torch.no_grad():
        assert torch.equal(
            model(**batch).logits, again(**reloaded([[{"role": "user", "content": "Hi"}]])).logits
        )


def test_what_cannot_be_loaded_says_why(tmp_path):
    with pytest.raises(
        ModelFolderError, match="not a model folder .* nor a preset.*known presets: sphinx-x-tiny"
    ):
        load_model(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="real-size preset and has no weights here"):
        load_model("sphinx-x-tiny")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFolderError, match="no config.json"):
        load_model(tmp_path / "empty")
    with pytest.raises(ValueError, match="--dtype 'bf16': expected one of auto, float32"):
        resolve_dtype("bf16")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="--device cuda: torch .* use --device cpu"):
            resolve_device("cuda")


def test_a_damaged_weights_file_is_named(tmp_path, toy_model, toy_processor):
    toy_model.save_pretrained(tmp_path), toy_processor.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(ModelFolderError, match=r"weights cannot be read \(model.safetensors\)"):
        load_model(tmp_path)


def old_toy_tokenizer() -> PreTrainedTokenizerFast:
    """The toy tokenizer as sphinx-x 0.1 trained it: no <image> token."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.BpeTrainer(vocab_size=512, special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
                                  initial_alphabet=list(string.printable) + ["▁"], show_progress=False)  # fmt: skip
    tokenizer.train_from_iterator(TOY_CORPUS, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>")  # fmt: skip


def write_old_folder(folder) -> tuple[SphinxXForConditionalGeneration, PreTrainedTokenizerFast]:
    """A folder as sphinx-x 0.1 saved it: image placeholder -200, a bare tokenizer, a full vocabulary."""
    tokenizer = old_toy_tokenizer()
    config = preset_config("sphinx-x-toy")
    config.text_config.vocab_size, config.image_token_id = len(tokenizer), None
    torch.manual_seed(0)
    model = SphinxXForConditionalGeneration(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    saved = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(saved | {"image_token_id": -200}))
    return model, tokenizer


def test_folders_saved_before_the_image_token_are_upgraded(tmp_path):
    old, tokenizer = write_old_folder(tmp_path / "old")
    with pytest.warns(UserWarning, match="saved before sphinx-x 0.2"):
        model, processor = load_model(tmp_path / "old")
    vocabulary = len(tokenizer)
    assert processor.image_token == model.config.image_token_id == vocabulary  # a new token, after the others
    assert model.config.text_config.vocab_size == vocabulary + 1
    text = torch.tensor([tokenizer.encode("What is in the image?")])
    with torch.no_grad():  # the text model is unchanged: same logits over the old vocabulary
        torch.testing.assert_close(
            model.language_model(text).logits[..., :vocabulary], old.language_model(text).logits
        )
    image = __import__("PIL.Image").Image.new("RGB", (64, 32))
    answer = __import__("sphinx_x").generate(model, processor.tokenizer, processor([[{"role": "user", "content": "Hi"}]], [image]),
                                             __import__("sphinx_x").DecodingSettings(4, temperature=0))  # fmt: skip
    assert isinstance(answer[0], str)
    assert main(["convert", "upgrade", str(tmp_path / "old"), str(tmp_path / "new")]) == 0
    assert (tmp_path / "new" / "processor_config.json").is_file()
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("error")  # the upgraded folder loads without a warning
        upgraded, _ = load_model(tmp_path / "new")
    assert upgraded.config.image_token_id == vocabulary


def test_an_old_folder_through_from_pretrained_explains_itself(tmp_path):
    write_old_folder(tmp_path / "old")
    model = SphinxXForConditionalGeneration.from_pretrained(tmp_path / "old")
    with pytest.raises(ValueError, match="no <image> token .* load it with sphinx_x.load_model"):
        model(torch.tensor([[1, 5, 6]]))
