import torch

from sphinx_x.inference.generate import DecodingSettings, TextStream, choose_next_tokens, generate
from sphinx_x.processing.conversation import STOP_STRING


def plain_greedy(model, tokenizer, batch, max_new_tokens):
    """Reference: recompute the whole sequence at every step, no cache."""
    ids, mask = batch["input_ids"], batch["attention_mask"]
    images = {
        k: batch[k]
        for k in ("pixel_values_convnext", "pixel_values_dinov2", "views_skipped", "has_image")
        if k in batch
    }
    for _ in range(max_new_tokens):
        with torch.no_grad():
            logits = model(ids, mask, **images).logits[:, -1]
        ids = torch.cat([ids, logits.argmax(-1, keepdim=True)], dim=1)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
    texts = []
    for row in ids[:, batch["input_ids"].shape[1] :].tolist():
        if tokenizer.eos_token_id in row:
            row = row[: row.index(tokenizer.eos_token_id)]
        texts.append(tokenizer.decode(row, skip_special_tokens=True).split(STOP_STRING)[0])
    return texts


def test_cached_generation_equals_plain_greedy_loop(toy_model, toy_processor, mixed_batch_inputs):
    conversations, images = mixed_batch_inputs
    prompts = [turns[:1] for turns in conversations]  # first question of each, left-padded batch
    batch = toy_processor(prompts, images)
    assert batch["attention_mask"][:, 0].tolist().count(0) >= 1  # padding really happens
    settings = DecodingSettings(max_new_tokens=12, temperature=0)
    expected = plain_greedy(toy_model, toy_processor.tokenizer, batch, 12)
    assert generate(toy_model, toy_processor.tokenizer, batch, settings) == expected
    assert all(expected)  # a fresh model babbles: non-empty answers make the comparison meaningful


def test_images_are_encoded_once(toy_model, toy_processor, mixed_batch_inputs):
    conversations, images = mixed_batch_inputs
    calls = []
    toy_model.vision_experts.dinov2.register_forward_hook(lambda *_: calls.append(1))
    generate(toy_model, toy_processor.tokenizer, toy_processor([conversations[0][:1]], images[:1]),
             DecodingSettings(max_new_tokens=5, temperature=0))  # fmt: skip
    assert len(calls) == 1


def test_streamed_text_adds_up_to_the_answer(toy_model, toy_processor, mixed_batch_inputs):
    conversations, images = mixed_batch_inputs
    pieces = []
    [answer] = generate(
        toy_model, toy_processor.tokenizer, toy_processor([conversations[0][:1]], images[:1]),
        DecodingSettings(max_new_tokens=10, seed=1), on_text=lambda index, text: pieces.append((index, text)),
    )  # fmt: skip
    assert "".join(text for _, text in pieces) == answer and {index for index, _ in pieces} <= {0}


def test_sampling_is_reproducible_with_a_seed(toy_model, toy_processor):
    batch = toy_processor([[{"role": "user", "content": "Tell me"}]])
    settings = DecodingSettings(max_new_tokens=8, temperature=1.0, top_p=0.9, seed=3)
    first = generate(toy_model, toy_processor.tokenizer, batch, settings)
    assert generate(toy_model, toy_processor.tokenizer, batch, settings) == first


def test_a_sampled_answer_depends_on_its_own_seed_not_on_its_batch(
    toy_model, toy_processor, mixed_batch_inputs
):
    conversations, images = mixed_batch_inputs
    prompts = [turns[:1] for turns in conversations]
    settings = DecodingSettings(max_new_tokens=8, temperature=1.0, top_p=0.95)
    together = generate(
        toy_model, toy_processor.tokenizer, toy_processor(prompts, images), settings, seeds=[11, 12, 13]
    )
    alone = [
        generate(
            toy_model, toy_processor.tokenizer, toy_processor([prompt], [image]), settings, seeds=[seed]
        )[0]
        for prompt, image, seed in zip(prompts, images, [11, 12, 13], strict=True)
    ]
    assert together == alone and len(set(together)) > 1


def test_top_p_keeps_only_the_nucleus():
    logits = torch.log(torch.tensor([[0.6, 0.3, 0.05, 0.05]]))
    settings = DecodingSettings(temperature=1.0, top_p=0.75)
    generator = torch.Generator().manual_seed(0)
    picks = {choose_next_tokens(logits, settings, [generator]).item() for _ in range(200)}
    assert picks == {0, 1}
    assert choose_next_tokens(logits, DecodingSettings(temperature=0), None).item() == 0


def test_stream_stops_at_a_stop_string_split_across_tokens(toy_tokenizer):
    stream = TextStream(toy_tokenizer, (STOP_STRING,))
    pieces = []
    answer = toy_tokenizer.encode("yes", add_special_tokens=False)
    tail = toy_tokenizer.convert_tokens_to_ids(["\n", "#", "#", "#", "▁Human:"])
    for token in answer + tail:
        if stream.finished:
            break
        pieces.append(stream.push(token))
    assert stream.finished and stream.text == "yes" and "".join(pieces) == "yes"
    assert pieces[len(answer) :] == ["", "", "", ""]  # "\n", "#", "#" held back until the stop is certain


def test_stream_stops_at_eos(toy_tokenizer):
    stream = TextStream(toy_tokenizer, (STOP_STRING,))
    for token in toy_tokenizer.encode("no", add_special_tokens=False):
        stream.push(token)
    stream.push(toy_tokenizer.eos_token_id)
    assert stream.finished and stream.text == "no"
