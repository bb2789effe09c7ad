import copy

import pytest
import torch
from transformers import AutoModelForCausalLM

from sphinx_x.analysis.pruning import (
    busiest_experts,
    masked_experts,
    prune_experts,
    random_experts,
    save_pruned,
)
from sphinx_x.analysis.routers import active_experts, num_experts, sparse_blocks
from sphinx_x.analysis.run import run_prune
from sphinx_x.analysis.usage import RoutingUsage
from sphinx_x.convert.export import export_llm
from sphinx_x.loading import load_model

from .conftest import logits_of

KEPT = [[0, 3], [1, 2]]  # per layer


def test_pruning_keeps_exactly_the_chosen_experts(moe_model):
    original = copy.deepcopy(moe_model)
    prune_experts(moe_model, KEPT)
    assert num_experts(moe_model) == 2 and moe_model.config.text_config.num_local_experts == 2
    for block, before, row in zip(sparse_blocks(moe_model), sparse_blocks(original), KEPT, strict=True):
        assert block.gate.weight.shape == (2, 64) and block.experts.gate_up_proj.shape[0] == 2
        assert block.experts.down_proj.shape[0] == 2 and block.experts.num_experts == 2
        assert torch.equal(block.gate.weight, before.gate.weight[row])
        assert torch.equal(block.experts.gate_up_proj, before.experts.gate_up_proj[row])
        assert torch.equal(block.experts.down_proj, before.experts.down_proj[row])


def test_the_router_mask_equals_the_sliced_model(moe_model, moe_batch):
    with masked_experts(moe_model, KEPT):
        masked = logits_of(moe_model, moe_batch)
    unmasked = logits_of(moe_model, moe_batch)
    assert (masked - unmasked).abs().max() > 1e-3  # the mask was on, and is off again
    prune_experts(moe_model, KEPT)
    assert torch.allclose(logits_of(moe_model, moe_batch), masked, atol=1e-5)


def test_keeping_every_expert_is_the_model_as_loaded(moe_model, moe_batch):
    loaded = logits_of(moe_model, moe_batch)
    prune_experts(moe_model, [[0, 1, 2, 3]] * 2)
    assert torch.equal(logits_of(moe_model, moe_batch), loaded)


def test_a_pruned_folder_reproduces_the_in_memory_logits_and_exports_as_stock_mixtral(
    tmp_path, moe_model, moe_processor, moe_batch
):
    prune_experts(moe_model, KEPT)
    expected = logits_of(moe_model, moe_batch)
    save_pruned(moe_model, moe_processor, tmp_path / "pruned")
    reloaded, _ = load_model(tmp_path / "pruned", device="cpu")
    assert num_experts(reloaded) == 2
    assert torch.equal(logits_of(reloaded, moe_batch), expected)
    export_llm(tmp_path / "pruned", tmp_path / "llm")
    stock = AutoModelForCausalLM.from_pretrained(tmp_path / "llm")
    assert type(stock).__name__ == "MixtralForCausalLM" and stock.config.num_local_experts == 2
    text = moe_batch["input_ids"][1:2, moe_batch["attention_mask"][1].bool()]  # the text-only sample
    with torch.no_grad():
        assert torch.allclose(stock(text).logits, reloaded.language_model(text).logits, atol=1e-6)


def test_keeping_fewer_experts_than_top_k_uses_every_kept_one(moe_model, moe_batch):
    with masked_experts(moe_model, [[1], [3]]):
        masked = logits_of(moe_model, moe_batch)
    prune_experts(moe_model, [[1], [3]])
    assert active_experts(moe_model) == 1
    assert torch.allclose(logits_of(moe_model, moe_batch), masked, atol=1e-5)


def test_random_choices_follow_the_seed_and_usage_picks_the_busiest():
    first = random_experts(num_layers=6, total=8, keep=3, seed=5)
    assert first == random_experts(6, 8, 3, seed=5) and first != random_experts(6, 8, 3, seed=6)
    assert all(len(set(row)) == 3 and row == sorted(row) for row in first)
    usage = RoutingUsage.empty(num_layers=2, num_experts=4, top_k=2)
    usage.tokens[:] = 10
    usage.choices[1] = torch.tensor([[1.0, 9, 4, 6], [8, 2, 7, 3]])
    usage.mass[1] = torch.tensor([[5.0, 1, 1, 3], [1, 1, 1, 7]])
    assert busiest_experts(usage, 2) == [[1, 3], [0, 2]]
    assert busiest_experts(usage, 2, measure="mass") == [[0, 3], [0, 3]]  # ties: the lower index


@pytest.mark.parametrize(
    "kept, message",
    [
        ([[0, 1]], "for 1 layers"),
        ([[0, 1], [2]], "same number"),
        ([[0, 0], [1, 2]], "distinct"),
        ([[0, 4], [1, 2]], "0..3"),
    ],
)
def test_a_bad_choice_is_an_error_that_says_why(moe_model, kept, message):
    with pytest.raises(ValueError, match=message):
        prune_experts(moe_model, kept)


def test_run_prune_writes_each_run_and_measures_the_memory(tmp_path, moe_model, moe_processor):
    source = tmp_path / "source"
    save_pruned(moe_model, moe_processor, source)  # nothing pruned yet: a plain folder
    records = run_prune(lambda: load_model(source, device="cpu"), keep=1, runs=2, seed=7, out=tmp_path / "out",
                        source_folder=source)  # fmt: skip
    assert [r["seed"] for r in records] == [7, 8]
    for run, record in enumerate(records):
        assert record["kept"] == random_experts(2, 4, 1, 7 + run)
        assert record["parameter_bytes_after"] < record["parameter_bytes_before"]
        assert record["folder_bytes_after"] < record["folder_bytes_before"]
        model, _ = load_model(tmp_path / "out" / f"run-{run}", device="cpu")
        assert num_experts(model) == 1 and (tmp_path / "out" / f"run-{run}" / "pruning.json").is_file()
    experts = sum(
        p.numel() * 4 for b in sparse_blocks(moe_model) for p in (b.gate.weight, *b.experts.parameters())
    )
    assert records[0]["parameter_bytes_before"] - records[0]["parameter_bytes_after"] == experts * 3 // 4
