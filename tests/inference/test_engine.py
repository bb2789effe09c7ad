import threading

import pytest
import torch

from sphinx_x import SphinxXForConditionalGeneration, preset_config
from sphinx_x.inference.engine import ContextLengthError, Engine
from sphinx_x.inference.sampling import DecodingSettings
from sphinx_x.inference.scheduler import QueueFullError
from sphinx_x.processing.processor import SphinxXProcessor

from ..conftest import shapes_image

GREEDY = DecodingSettings(max_new_tokens=12, temperature=0, stop_strings=())


def prompt(processor, question, image=None):
    """(input_ids, image_inputs) of one question, as the server submits them."""
    sample = processor.encode([{"role": "user", "content": question}], image, add_generation_prompt=True)
    return sample.input_ids, processor.collate_views([sample.views]) if sample.views else None


@pytest.fixture
def prompts(toy_processor):
    """Mixed prompt lengths and image shapes: wide (skip tokens), none, tall, square."""
    return [
        prompt(toy_processor, "What is on the left?", shapes_image(96, 32)),
        prompt(toy_processor, "Say hi."),
        prompt(toy_processor, "Where is the circle, and what colour is it?", shapes_image(40, 80)),
        prompt(toy_processor, "Describe the picture in detail.", shapes_image(64, 64)),
    ]


def reference_greedy(model, input_ids, image_inputs, steps):
    """No cache, no engine: the whole sequence through the model at every step."""
    ids, images, out = torch.tensor([input_ids]), image_inputs or {}, []
    with torch.no_grad():
        for _ in range(steps):
            logits = model(ids, torch.ones_like(ids), **images).logits[0, -1]
            logits[model.config.image_token_id] = float("-inf")
            out.append(int(logits.argmax()))
            ids = torch.cat([ids, torch.tensor([[out[-1]]])], dim=1)
    return out


def solo(model, tokenizer, request, settings=GREEDY):
    engine = Engine(model, tokenizer)
    handle = engine.submit(*request, settings)
    engine.run_until_done()
    return handle


@pytest.mark.parametrize("preset", ["sphinx-x-toy", "sphinx-x-toy-moe"])
def test_greedy_answer_is_the_same_alone_and_among_others(preset, toy_tokenizer):
    torch.manual_seed(0)
    config = preset_config(preset)
    model = SphinxXForConditionalGeneration(config).eval()
    processor = SphinxXProcessor.for_model(toy_tokenizer, config)
    requests = [
        prompt(processor, "What is on the left?", shapes_image(96, 32)),
        prompt(processor, "Say hi."),
        prompt(processor, "Where is the circle, and what colour is it?", shapes_image(40, 80)),
    ]
    alone = [solo(model, toy_tokenizer, request).token_ids for request in requests]
    assert alone[0] == reference_greedy(model, *requests[0], GREEDY.max_new_tokens)

    engine = Engine(model, toy_tokenizer)
    handles = [engine.submit(*requests[0], GREEDY)]
    for request in requests[1:]:  # the others join while the first is decoding
        engine.step()
        engine.step()
        handles.append(engine.submit(*request, GREEDY))
    engine.run_until_done()
    assert [handle.token_ids for handle in handles] == alone
    assert len({len(request[0]) for request in requests}) == 3  # three prompt lengths, none padded
    assert len(engine.cache) == 0  # everything finished and was dropped


def test_prompts_admitted_together_share_one_prefill_pass_and_answer_as_alone(
    toy_model, toy_tokenizer, prompts
):
    alone = [solo(toy_model, toy_tokenizer, request).token_ids for request in prompts]
    engine = Engine(toy_model, toy_tokenizer)
    passes = []
    engine.llm.register_forward_pre_hook(lambda _m, _a, kwargs: passes.append(kwargs["inputs_embeds"].shape[1]),
                                         with_kwargs=True)  # fmt: skip
    handles = [engine.submit(*request, GREEDY) for request in prompts]
    engine.step()  # every prompt admitted and prefilled
    assert passes == [sum(len(ids) for ids, _ in prompts)]  # one pass over all four prompts
    engine.run_until_done()
    assert [handle.token_ids for handle in handles] == alone


def test_prompts_past_the_pack_size_are_prefilled_in_several_passes(toy_model, toy_tokenizer, prompts,
                                                                    monkeypatch):  # fmt: skip
    from sphinx_x.inference import engine as engine_module

    monkeypatch.setattr(engine_module, "PREFILL_PACK_TOKENS", len(prompts[0][0]) + len(prompts[1][0]))
    engine = Engine(toy_model, toy_tokenizer)
    passes = []
    engine.llm.register_forward_pre_hook(lambda _m, _a, kwargs: passes.append(kwargs["inputs_embeds"].shape[1]),
                                         with_kwargs=True)  # fmt: skip
    for request in prompts:
        engine.submit(*request, GREEDY)
    engine.step()
    assert passes == [len(prompts[0][0]) + len(prompts[1][0]), len(prompts[2][0]), len(prompts[3][0])]


def test_a_finished_request_leaves_the_cache_at_once(toy_model, toy_tokenizer, prompts):
    engine = Engine(toy_model, toy_tokenizer)
    short = engine.submit(*prompts[1], DecodingSettings(max_new_tokens=2, temperature=0, stop_strings=()))
    long = engine.submit(*prompts[0], DecodingSettings(max_new_tokens=20, temperature=0, stop_strings=()))
    while not short.finished:
        engine.step()
    assert short.finish_reason == "length" and not long.finished
    assert len(engine.cache) == engine.cache.entries_of(long.id) == len(prompts[0][0]) + 1
    assert engine.cache.entries_of(short.id) == 0


def test_cancel_frees_the_slot_for_the_next_request(toy_model, toy_tokenizer, prompts):
    engine = Engine(toy_model, toy_tokenizer, max_running=1, max_waiting=1)
    first = engine.submit(*prompts[0], DecodingSettings(max_new_tokens=50, temperature=0, stop_strings=()))
    second = engine.submit(*prompts[1], GREEDY)
    engine.step()
    engine.step()
    assert engine.snapshot()["running"] == 1 and engine.snapshot()["waiting"] == 1
    first.cancel()
    engine.step()
    assert first.finished and first.finish_reason == "cancelled" and first.completion_tokens == 2
    assert (
        engine.scheduler.running == [engine.scheduler.running[0]] and engine.cache.entries_of(first.id) == 0
    )
    engine.run_until_done()
    assert second.token_ids == solo(toy_model, toy_tokenizer, prompts[1]).token_ids


def test_the_queue_is_bounded(toy_model, toy_tokenizer, prompts):
    engine = Engine(toy_model, toy_tokenizer, max_running=1, max_waiting=1)
    engine.submit(*prompts[1], GREEDY)
    engine.submit(*prompts[1], GREEDY)
    with pytest.raises(QueueFullError, match="busy: 2 requests wait for 1 running slots"):
        engine.submit(*prompts[1], GREEDY)
    engine.step()  # one runs, one waits: still full
    assert engine.snapshot()["running"] == 1 and engine.snapshot()["waiting"] == 1
    with pytest.raises(QueueFullError):
        engine.submit(*prompts[1], GREEDY)
    engine.run_until_done()
    engine.submit(*prompts[1], GREEDY)


def test_a_request_that_cannot_fit_the_context_is_refused_with_its_numbers(toy_model, toy_tokenizer, prompts):
    engine = Engine(toy_model, toy_tokenizer)
    ids, images = prompts[0]
    visual = ids.count(toy_model.config.image_token_id)
    with pytest.raises(
        ContextLengthError, match=rf"context is 2048 tokens; the prompt has {len(ids)} \({visual} of"
    ):
        engine.submit(ids, images, DecodingSettings(max_new_tokens=2048))


def test_each_image_is_encoded_once_at_its_prefill(toy_model, toy_tokenizer, prompts):
    calls = []
    toy_model.vision_experts.dinov2.register_forward_hook(lambda *_: calls.append(1))
    engine = Engine(toy_model, toy_tokenizer)
    for request in prompts:
        engine.submit(*request, GREEDY)
    engine.run_until_done()
    assert len(calls) == 3  # three of the four prompts have an image, each encoded in one call


def test_seeded_sampling_does_not_depend_on_the_other_requests(toy_model, toy_tokenizer, prompts):
    sampled = DecodingSettings(max_new_tokens=10, temperature=1.0, top_p=0.9, seed=7, stop_strings=())
    alone = solo(toy_model, toy_tokenizer, prompts[2], sampled).token_ids
    engine = Engine(toy_model, toy_tokenizer)
    others = [engine.submit(*request, sampled) for request in prompts[:2]]
    mine = engine.submit(*prompts[2], sampled)
    engine.run_until_done()
    assert mine.token_ids == alone and all(other.finished for other in others)
    unseeded = DecodingSettings(max_new_tokens=10, temperature=1.0, top_p=0.9, seed=8, stop_strings=())
    assert solo(toy_model, toy_tokenizer, prompts[2], unseeded).token_ids != alone


def test_a_stop_string_ends_the_answer_before_it(toy_model, toy_tokenizer, prompts):
    full = solo(toy_model, toy_tokenizer, prompts[0], DecodingSettings(20, temperature=0, stop_strings=()))
    stop = full.text[len(full.text) // 2 :][:3]
    stopped = solo(
        toy_model, toy_tokenizer, prompts[0], DecodingSettings(20, temperature=0, stop_strings=(stop,))
    )
    assert stopped.finish_reason == "stop" and stopped.text == full.text[: full.text.index(stop)]
    assert full.finish_reason == "length" and full.completion_tokens == 20


def test_the_image_token_is_never_chosen(toy_model, toy_tokenizer, prompts):
    with torch.no_grad():  # make <image> by far the likeliest next token
        toy_model.language_model.lm_head.weight[toy_model.config.image_token_id] *= 1000
    handle = solo(toy_model, toy_tokenizer, prompts[1])
    assert handle.completion_tokens == GREEDY.max_new_tokens
    assert toy_model.config.image_token_id not in handle.token_ids


def test_a_bad_request_fails_alone(toy_model, toy_tokenizer, prompts):
    ids, images = prompts[0]
    engine = Engine(toy_model, toy_tokenizer)
    broken = engine.submit(ids[:1] + ids[6:], images, GREEDY)  # 5 image tokens too few for its image
    fine = engine.submit(*prompts[1], GREEDY)
    engine.run_until_done()
    assert broken.finish_reason == "error" and "do not match" in broken.error
    assert (
        fine.finish_reason == "length"
        and fine.token_ids == solo(toy_model, toy_tokenizer, prompts[1]).token_ids
    )


def test_background_engine_streams_to_concurrent_clients(toy_model, toy_tokenizer, prompts):
    expected = [solo(toy_model, toy_tokenizer, request).text for request in prompts]
    engine = Engine(toy_model, toy_tokenizer, max_running=2).start()
    streamed = [None] * len(prompts)

    def client(index):
        streamed[index] = "".join(engine.submit(*prompts[index], GREEDY))

    threads = [threading.Thread(target=client, args=(index,)) for index in range(len(prompts))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        engine.stop()
    assert streamed == expected
    assert engine.snapshot()["finished"] == {"length": 4} and engine.snapshot()["running"] == 0


def test_stopping_the_engine_cancels_what_is_left(toy_model, toy_tokenizer, prompts):
    engine = Engine(toy_model, toy_tokenizer)  # never started: nothing runs
    handle = engine.submit(*prompts[1], GREEDY)
    engine.stop()
    assert handle.wait(timeout=1) and handle.finish_reason == "cancelled"


def test_eager_attention_takes_the_additive_mask_and_answers_the_same(toy_model, toy_tokenizer, prompts):
    expected = [solo(toy_model, toy_tokenizer, request).token_ids for request in prompts]
    toy_model.language_model.set_attn_implementation("eager")
    engine = Engine(toy_model, toy_tokenizer)
    assert engine.cache.additive_dtype == torch.float32
    handles = [engine.submit(*request, GREEDY) for request in prompts]
    engine.run_until_done()
    assert [handle.token_ids for handle in handles] == expected


def test_attention_that_cannot_take_a_mask_is_refused(toy_model, toy_tokenizer):
    toy_model.language_model.config._attn_implementation = "flash_attention_2"
    with pytest.raises(ValueError, match="attn_implementation"):
        Engine(toy_model, toy_tokenizer)


def test_a_failing_step_ends_its_requests_with_an_error_and_the_engine_goes_on(
    toy_model, toy_tokenizer, prompts
):
    engine = Engine(toy_model, toy_tokenizer)
    real_prefill, calls = engine.prefill, []
    engine.prefill = lambda *args: calls.append(1) or (real_prefill(*args) if len(calls) > 1 else 1 / 0)
    failed = engine.submit(*prompts[1], GREEDY)
    engine.step()
    assert failed.finish_reason == "error" and "division by zero" in failed.error and len(engine.cache) == 0
    later = engine.submit(*prompts[1], GREEDY)
    engine.run_until_done()
    assert (
        later.finish_reason == "length"
        and later.token_ids == solo(toy_model, toy_tokenizer, prompts[1]).token_ids
    )
