import pytest
import torch
from transformers import AutoModelForImageTextToText

from sphinx_x import SphinxXForConditionalGeneration, preset_config
from sphinx_x.model.sphinx import IGNORE_INDEX
from sphinx_x.processing.processor import SphinxXProcessor


def test_mixed_batch_trains_everything_but_the_experts(toy_model, toy_processor, mixed_batch_inputs):
    conversations, images = mixed_batch_inputs
    batch = toy_processor(conversations, images, add_generation_prompt=False, padding_side="right")
    assert batch["has_image"].tolist() == [True, False, True]
    assert batch["views_skipped"].tolist()[0] == [False, False, False, True, True]
    assert batch["views_skipped"].tolist()[2] == [False, False, True, False, True]
    toy_model.train()
    projected = []
    toy_model.projector.register_forward_hook(lambda _m, args, _o: projected.append(args[0].requires_grad))
    output = toy_model(**batch)
    assert torch.isfinite(output.loss) and projected == [False]  # no graph through the frozen experts
    assert output.supervised_tokens == (batch["labels"][:, 1:] != IGNORE_INDEX).sum()
    output.loss.backward()
    for name in ("projector.linear.weight", "projector.norm.weight", "visual_tokens.start_img",
                 "visual_tokens.end_img", "visual_tokens.skip_img", "language_model.lm_head.weight"):  # fmt: skip
        grad = toy_model.get_parameter(name).grad
        assert grad is not None and grad.abs().sum() > 0, name
    assert all(p.grad is None for p in toy_model.vision_experts.parameters())
    assert not toy_model.vision_experts.training


def test_text_only_batch_needs_no_pixels(toy_model, toy_processor):
    batch = toy_processor([[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]],
                          add_generation_prompt=False)  # fmt: skip
    assert "pixel_values_convnext" not in batch
    assert torch.isfinite(toy_model(**batch).loss)


def test_skipped_sub_images_are_never_encoded(toy_model, toy_processor, mixed_batch_inputs):
    conversations, images = mixed_batch_inputs
    seen = []
    toy_model.vision_experts.convnext.register_forward_hook(
        lambda _m, args, _o: seen.append(args[0].shape[0])
    )
    toy_model(**toy_processor(conversations, images, add_generation_prompt=False))
    assert seen == [3 + 3]  # two images, each with 2 of 4 sub-images skipped


def test_loss_only_counts_supervised_tokens(toy_model, toy_processor, mixed_batch_inputs):
    conversations, images = mixed_batch_inputs
    batch = toy_processor(conversations, images, add_generation_prompt=False, padding_side="right")
    with torch.no_grad():
        output = toy_model(**batch)
    # Reference, written out: position t predicts token t + 1; only answer tokens (and their "\n###") count.
    log_probs = torch.log_softmax(output.logits[:, :-1].float(), dim=-1)
    targets = batch["labels"][:, 1:]
    supervised = targets != IGNORE_INDEX
    picked = log_probs.gather(-1, targets.clamp(min=0)[..., None])[..., 0]
    torch.testing.assert_close(output.loss, -picked[supervised].mean())
    assert output.supervised_tokens == supervised.sum() < (batch["attention_mask"][:, 1:] == 1).sum() / 2
    # Relabelling one prompt token as supervised must change the loss: the mask is what decides.
    prompt = (batch["labels"] == IGNORE_INDEX) & (batch["attention_mask"] == 1)
    position = prompt[0].nonzero()[5].item()
    relabelled = batch["labels"].clone()
    relabelled[0, position] = batch["input_ids"][0, position]
    with torch.no_grad():
        assert not torch.isclose(toy_model(**(batch | {"labels": relabelled})).loss, output.loss)


def test_loss_only_runs_the_lm_head_where_the_loss_reads_and_changes_nothing_else(
    toy_model, toy_processor, mixed_batch_inputs
):
    conversations, images = mixed_batch_inputs
    batch = toy_processor(conversations, images, add_generation_prompt=False, padding_side="right")
    results = []
    for loss_only in (False, True):
        toy_model.zero_grad()
        output = toy_model(**batch, loss_only=loss_only)
        output.loss.backward()
        grads = {n: p.grad.clone() for n, p in toy_model.named_parameters() if p.grad is not None}
        results.append((output, grads))
    (full, full_grads), (only, only_grads) = results
    torch.testing.assert_close(only.loss, full.loss)
    assert only.supervised_tokens == full.supervised_tokens
    predicting = (batch["labels"][:, 1:] != IGNORE_INDEX).any(dim=0)
    assert only.logits.shape[1] == predicting.sum() < full.logits.shape[1] / 2
    torch.testing.assert_close(only.logits, full.logits[:, :-1][:, predicting])
    assert only_grads.keys() == full_grads.keys() and "language_model.lm_head.weight" in only_grads
    for name, grad in full_grads.items():
        torch.testing.assert_close(only_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_mismatched_visual_token_count_names_both_counts(toy_model, toy_processor, mixed_batch_inputs):
    conversations, images = mixed_batch_inputs
    batch = toy_processor(conversations[:1], images[:1], add_generation_prompt=False)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    one_short = torch.cat([ids[:, :1], ids[:, 2:]], dim=1)  # drop the first placeholder after BOS
    with pytest.raises(
        ValueError, match=r"image 0 of the batch has 58 image tokens in input_ids but gives 59"
    ):
        toy_model(**(batch | {"input_ids": one_short, "attention_mask": mask[:, 1:], "labels": None}))


def test_mixtral_base_llm(toy_tokenizer, mixed_batch_inputs):
    config = preset_config("sphinx-x-toy-moe")
    model = SphinxXForConditionalGeneration(config)
    conversations, images = mixed_batch_inputs
    batch = SphinxXProcessor.for_model(toy_tokenizer, config)(
        conversations, images, add_generation_prompt=False
    )
    output = model(**batch)
    output.loss.backward()
    assert model.language_model.model.layers[0].mlp.gate.weight.grad is not None


def test_mixtral_load_balancing_loss_and_router_logits_come_through(toy_tokenizer, mixed_batch_inputs):
    config = preset_config("sphinx-x-toy-moe")
    torch.manual_seed(0)
    model = SphinxXForConditionalGeneration(config)
    conversations, images = mixed_batch_inputs
    batch = SphinxXProcessor.for_model(toy_tokenizer, config)(
        conversations, images, add_generation_prompt=False
    )
    assert model(**batch).aux_loss is None  # only when asked, as transformers does
    output = model(**batch, output_router_logits=True)
    # Switch-Transformer loss: E * sum_e(tokens share * probability mass) is 1 when perfectly balanced.
    assert output.aux_loss > 0.5
    tokens = batch["input_ids"].numel()
    assert len(output.router_logits) == config.text_config.num_hidden_layers
    assert all(
        layer.shape == (tokens, config.text_config.num_local_experts) for layer in output.router_logits
    )
    output.aux_loss.backward()
    assert model.language_model.model.layers[0].mlp.gate.weight.grad.abs().sum() > 0


def test_save_and_load_round_trip_gives_identical_logits(
    tmp_path, toy_model, toy_processor, mixed_batch_inputs
):
    conversations, images = mixed_batch_inputs
    batch = toy_processor(conversations, images, add_generation_prompt=False)
    toy_model.save_pretrained(tmp_path)
    toy_processor.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "tokenizer.json").exists()
    reloaded = SphinxXForConditionalGeneration.from_pretrained(tmp_path).eval()
    via_auto = AutoModelForImageTextToText.from_pretrained(tmp_path).eval()
    processor = SphinxXProcessor.from_pretrained(tmp_path)
    assert processor.tokenizer.get_vocab() == toy_processor.tokenizer.get_vocab()
    reloaded_batch = processor(conversations, images, add_generation_prompt=False)
    assert torch.equal(reloaded_batch["input_ids"], batch["input_ids"])
    with torch.no_grad():
        expected = toy_model(**batch).logits
        assert torch.equal(reloaded(**reloaded_batch).logits, expected)
        assert torch.equal(via_auto(**batch).logits, expected)
    state, loaded = toy_model.state_dict(), reloaded.state_dict()
    assert state.keys() == loaded.keys() and all(torch.equal(state[k], loaded[k]) for k in state)
    # Loading makes new parameters: the vision experts must stay frozen, everything else trainable.
    assert not any(parameter.requires_grad for parameter in reloaded.vision_experts.parameters())
    assert all(parameter.requires_grad for parameter in reloaded.language_model.parameters())


def test_transformers_generate_takes_the_pixel_values_of_every_expert(
    toy_model, toy_processor, mixed_batch_inputs
):
    conversations, images = mixed_batch_inputs
    batch = toy_processor([conversations[0][:1]], images[:1])
    generated = toy_model.generate(**batch, max_new_tokens=5, do_sample=False)[
        0, batch["input_ids"].shape[1] :
    ]
    ids, mask = batch["input_ids"], batch["attention_mask"]
    pixels = {key: value for key, value in batch.items() if key not in ("input_ids", "attention_mask")}
    expected = []
    for _ in range(len(generated)):  # greedy without a cache, the image token never chosen
        with torch.no_grad():
            logits = toy_model(ids, mask, **pixels).logits[0, -1]
        logits[toy_model.config.image_token_id] = float("-inf")
        expected.append(logits.argmax().item())
        ids, mask = (
            torch.cat([ids, torch.tensor([[expected[-1]]])], 1),
            torch.cat([mask, torch.ones(1, 1, dtype=mask.dtype)], 1),
        )
    assert generated.tolist() == expected
    with pytest.raises(ValueError, match="pixel_values_clip"):  # not an expert of this model
        toy_model.generate(**batch, pixel_values_clip=batch["pixel_values_dinov2"], max_new_tokens=1)


def test_image_text_to_text_pipeline_on_a_saved_folder(tmp_path, toy_model, toy_processor):
    from PIL import Image
    from transformers import pipeline

    toy_model.save_pretrained(tmp_path)
    toy_processor.save_pretrained(tmp_path)
    answer = pipeline("image-text-to-text", model=str(tmp_path))(
        images=Image.new("RGB", (40, 30), (200, 10, 10)), text="What is it?", max_new_tokens=3
    )
    assert answer[0]["input_text"] == "What is it?" and answer[0]["generated_text"].startswith("What is it?")
