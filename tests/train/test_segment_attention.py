"""Packed rows attended sample by sample: the same logits as each sample alone, no dense mask built,
and inference (padding masks, KV caches) exactly as with transformers' SDPA."""

import pytest
import torch
import torch.nn.functional as F

from sphinx_x.train.packing import collate_packed, pack_rows
from sphinx_x.train.segment_attention import NAME, sample_spans, use_segment_attention


@pytest.fixture
def samples(toy_processor, mixed_batch_inputs):
    conversations, images = mixed_batch_inputs
    return [toy_processor.encode(c, i) for c, i in zip(conversations, images, strict=True)]


@pytest.fixture
def segmented(toy_model):
    previous = use_segment_attention(toy_model.language_model)
    assert previous == "sdpa" and toy_model.language_model.config._attn_implementation == NAME
    yield toy_model
    toy_model.language_model.set_attn_implementation(previous)


def test_spans_are_read_where_the_positions_restart():
    positions = torch.tensor([[0, 1, 2, 0, 1, 0, 1, 2, 3], [0, 1, 2, 3, 4, 5, 0, 1, 2]])
    assert sample_spans(positions, 9) == [[(0, 3), (3, 5), (5, 9)], [(0, 6), (6, 9)]]
    assert sample_spans(torch.arange(9)[None], 9) is None  # one sample per row: plain causal SDPA


def test_one_row_gives_each_sample_its_solo_logits_without_a_dense_mask(segmented, toy_processor, samples,
                                                                        monkeypatch):  # fmt: skip
    lengths = [len(sample.input_ids) for sample in samples]
    packed = collate_packed(samples, toy_processor)  # the default: one row, no padding
    assert packed["input_ids"].shape == (1, sum(lengths))
    calls, in_llm = [], []
    llm = segmented.language_model
    llm.register_forward_pre_hook(lambda *_: in_llm.append(1))
    real_sdpa = F.scaled_dot_product_attention
    monkeypatch.setattr(F, "scaled_dot_product_attention",  # the LLM's calls (the experts' come first)
                        lambda q, k, v, **kw: (in_llm and calls.append((k.shape[2], kw))) or real_sdpa(q, k, v, **kw))  # fmt: skip
    with torch.no_grad():
        output = segmented(**packed)
    assert calls
    assert all(kw["attn_mask"] is None and kw["is_causal"] for _, kw in calls)  # no block-diagonal mask
    assert max(key_length for key_length, _ in calls) == max(lengths)  # one sample's span, never the row
    monkeypatch.undo()
    start = 0
    with torch.no_grad():
        for index in pack_rows(lengths)[0]:
            alone = segmented(**toy_processor.collate([samples[index]]))
            end = start + lengths[index]
            torch.testing.assert_close(output.logits[0, start:end], alone.logits[0], rtol=1e-5, atol=1e-5)
            start = end


def test_masks_and_caches_go_to_transformers_sdpa(segmented, toy_processor, samples):
    batch = toy_processor.collate(samples, padding_side="left")
    with torch.no_grad():
        ours = segmented(**batch).logits
        segmented.language_model.set_attn_implementation("sdpa")
        theirs = segmented(**batch).logits
    assert torch.equal(ours, theirs)


def test_the_trainer_packs_with_it_and_gives_the_model_back_as_loaded(data, tmp_path, monkeypatch):
    from sphinx_x.train import segment_attention
    from sphinx_x.train.config import TrainConfig
    from sphinx_x.train.trainer import Trainer

    from .records import toy_config

    calls = []
    real = segment_attention.segment_attention
    monkeypatch.setattr(
        segment_attention, "segment_attention", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    config = toy_config(data, tmp_path / "run", checkpoint_every=100)
    config["data"] |= {"packing": True}
    trainer = Trainer(TrainConfig.from_dict(config))
    trainer.train()
    assert calls  # the packed steps ran through it
    assert trainer.model.language_model.config._attn_implementation == "sdpa"
