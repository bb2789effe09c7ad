import pytest
import torch

from sphinx_x.analysis.active_experts import experts_per_token, set_active_experts
from sphinx_x.analysis.routers import NotAMixtureOfExpertsError, active_experts, routers
from sphinx_x.loading import load_model

from .conftest import logits_of


def test_k_as_trained_is_the_model_as_loaded(moe_model, moe_batch):
    loaded = logits_of(moe_model, moe_batch)
    set_active_experts(moe_model, 2)
    assert torch.equal(logits_of(moe_model, moe_batch), loaded)


def test_the_logits_change_with_k(moe_model, moe_batch):
    by_k = {}
    for k in (1, 2, 3, 4):
        set_active_experts(moe_model, k)
        by_k[k] = logits_of(moe_model, moe_batch)
        assert all(router.top_k == k for router in routers(moe_model))
    for k in (1, 3, 4):
        assert (by_k[k] - by_k[2]).abs().max() > 1e-3


def test_setting_only_the_config_changes_nothing(moe_model, moe_batch):
    # Why set_active_experts exists: transformers copies k into each router when it builds the layer.
    loaded = logits_of(moe_model, moe_batch)
    moe_model.config.text_config.num_experts_per_tok = 1
    assert torch.equal(logits_of(moe_model, moe_batch), loaded)


def test_the_context_restores_k_and_a_saved_k_loads_back(tmp_path, moe_model, moe_processor):
    with experts_per_token(moe_model, 4):
        assert active_experts(moe_model) == 4
    assert active_experts(moe_model) == 2
    set_active_experts(moe_model, 1)
    moe_model.save_pretrained(tmp_path)
    moe_processor.save_pretrained(tmp_path)
    reloaded, _ = load_model(tmp_path, device="cpu")
    assert active_experts(reloaded) == 1 and reloaded.config.text_config.num_experts_per_tok == 1


def test_k_outside_1_to_e_and_a_dense_model_are_errors(moe_model, toy_model):
    for k in (0, 5):
        with pytest.raises(ValueError, match="expected 1 to 4"):
            set_active_experts(moe_model, k)
    with pytest.raises(NotAMixtureOfExpertsError, match="llama"):
        set_active_experts(toy_model, 1)
