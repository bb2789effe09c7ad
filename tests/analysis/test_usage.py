import json
import math

import pytest
import torch

from sphinx_x.analysis.active_experts import set_active_experts
from sphinx_x.analysis.inputs import Sample
from sphinx_x.analysis.routers import routers
from sphinx_x.analysis.usage import (
    ALL_TYPES,
    MEASURES,
    RoutingUsage,
    UsageRecorder,
    read_usage,
    record_usage,
    write_usage,
)
from sphinx_x.data.records import BadRecords


def recorded(model, batch) -> RoutingUsage:
    with torch.no_grad(), UsageRecorder(model) as recorder:
        recorder.observe(batch["input_ids"], batch["attention_mask"])
        model(**batch)
    return recorder.usage


def test_shares_sum_to_one_per_layer_and_tokens_are_split_by_type(moe_model, moe_processor, moe_batch):
    usage = recorded(moe_model, moe_batch)
    visual = (moe_batch["input_ids"] == moe_processor.image_token).sum().item()
    real = moe_batch["attention_mask"].sum().item()
    assert visual > 0
    assert usage.counts("visual")[0].tolist() == [visual] * 2  # per layer
    assert usage.counts("text")[0].tolist() == [real - visual] * 2  # padding left out
    assert usage.counts("all")[1].sum(-1).tolist() == [2 * real] * 2  # top-2: two choices per token
    for token_type in ALL_TYPES:
        for measure in MEASURES:
            share = usage.share(token_type, measure)
            assert share.shape == (2, 4)
            assert torch.allclose(share.sum(-1), torch.ones(2, dtype=torch.float64))


def test_a_router_forced_to_one_expert_gives_it_share_one(moe_model, moe_batch):
    set_active_experts(moe_model, 1)
    for router in routers(moe_model):
        router.weight.data.zero_()
        router.weight.data[2] = 1.0  # logit D for expert 2, 0 for the others, on an all-ones input
        router.register_forward_pre_hook(lambda module, args: (torch.ones_like(args[0]),))
    usage = recorded(moe_model, moe_batch)
    for token_type in ALL_TYPES:
        choices = usage.share(token_type, "choices")
        assert choices[:, 2].tolist() == [1.0, 1.0] and choices.sum().item() == 2.0
        assert torch.allclose(usage.share(token_type, "mass")[:, 2], torch.ones(2, dtype=torch.float64))
        assert usage.entropy(token_type).tolist() == [0.0, 0.0]
        assert usage.imbalance(token_type).tolist() == [4.0, 4.0]
    assert usage.modality_gap().tolist() == [0.0, 0.0]  # both modalities on the one expert


def test_entropy_and_imbalance_of_a_balanced_router():
    usage = RoutingUsage.empty(num_layers=1, num_experts=4, top_k=2)
    usage.tokens[1] = 10
    usage.choices[1] = 5.0  # 20 choices spread evenly
    usage.mass[1] = 2.5
    assert usage.entropy("text").item() == pytest.approx(1.0)
    assert usage.imbalance("text", "mass").item() == pytest.approx(1.0)
    assert math.isnan(usage.entropy("visual").item())  # no visual token seen


def test_modality_specialists_are_at_distance_one():
    usage = RoutingUsage.empty(num_layers=1, num_experts=4, top_k=1)
    usage.tokens[:] = 10
    usage.choices[0, 0, 0] = usage.mass[0, 0, 0] = 10  # visual tokens: expert 0
    usage.choices[1, 0, 1] = 6  # text tokens: experts 1 and 2
    usage.choices[1, 0, 2] = 4
    assert usage.modality_gap().tolist() == [1.0]
    assert usage.distance(usage, "all").tolist() == [0.0]
    assert usage.distance(usage, "visual", other_type="all").item() == pytest.approx(0.5)


def test_counts_add_up_whatever_the_batching_and_memory_stays_flat(
    moe_model, moe_processor, mixed_batch_inputs
):
    conversations, images = mixed_batch_inputs
    samples = [
        Sample(c, i, f"sample {n}") for n, (c, i) in enumerate(zip(conversations, images, strict=True))
    ]
    one_batch = record_usage(moe_model, moe_processor, samples, batch_size=3)
    one_by_one = record_usage(moe_model, moe_processor, samples * 4, batch_size=1)
    assert one_by_one.choices.shape == one_batch.choices.shape  # the same counters, four times the inputs
    assert torch.equal(one_by_one.tokens, 4 * one_batch.tokens)
    assert torch.allclose(one_by_one.mass, 4 * one_batch.mass, atol=1e-3)
    assert torch.allclose(one_by_one.share("all", "mass"), one_batch.share("all", "mass"), atol=1e-5)


def test_a_bad_sample_is_counted_not_fatal(tmp_path, moe_model, moe_processor):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG garbage")
    bad = BadRecords()
    good = Sample([{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello."}], None, "a:1")
    usage = record_usage(moe_model, moe_processor, [good, Sample(good.conversation, broken, "a:2")], bad)
    assert bad.total == 1 and "a:2" in bad.reasons
    assert usage.counts("visual")[0].sum() == 0 and usage.counts("text")[0][0] > 0


def test_the_recorder_refuses_a_forward_it_was_not_told_about(moe_model, moe_batch):
    with UsageRecorder(moe_model), pytest.raises(RuntimeError, match="call observe"):
        moe_model(**moe_batch)


def test_usage_file_round_trip_with_null_for_unseen_types(tmp_path, moe_model, moe_processor):
    text_only = [Sample([{"role": "user", "content": "Say hi."}], None, "q")]
    usage = record_usage(moe_model, moe_processor, text_only)
    path = write_usage({"language": usage}, tmp_path / "usage.json")
    data = json.loads(path.read_text())["domains"]["language"]
    assert data["visual"]["choices"]["share"] == [[None] * 4, [None] * 4]
    assert sum(data["text"]["choices"]["share"][0]) == pytest.approx(1.0, abs=1e-5)
    again = read_usage(path)["language"]
    assert torch.equal(again.choices, usage.choices) and again.top_k == 2
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="bad.json: not a usage file"):
        read_usage(tmp_path / "bad.json")
