"""The analyses on a converted SPHINX-MoE release (tiny, in the release's key layout: four visual
experts, sparse Mixtral), not only on sphinx-x's own toy MoE."""

import pytest
import torch

from sphinx_x.analysis.active_experts import set_active_experts
from sphinx_x.analysis.inputs import Sample
from sphinx_x.analysis.pruning import prune_experts, save_pruned
from sphinx_x.analysis.routers import num_experts
from sphinx_x.analysis.usage import record_usage
from sphinx_x.convert.accessory import convert_accessory
from sphinx_x.loading import load_model

from ..convert.four_expert_reference import MIXTRAL, four_expert_state, release_args
from ..convert.release_reference import train_sentencepiece, write_release
from ..convert.test_four_experts import VOCAB, picture


@pytest.fixture(scope="module")
def released_moe(tmp_path_factory):
    root = tmp_path_factory.mktemp("released-moe")
    source = write_release(
        root / "mixtral_sparse_ens", four_expert_state(VOCAB, "mixtral", seed=1), train_sentencepiece(root),
        llama_type="mixtral_sparse_ens", args=release_args("mixtral"), num_experts=MIXTRAL["experts"],
    )  # fmt: skip
    convert_accessory(source, root / "out")
    return root / "out"


def test_usage_k_and_pruning_on_a_converted_release(tmp_path, released_moe):
    model, processor = load_model(released_moe, device="cpu")
    question = [
        {"role": "user", "content": "What is in the image?"},
        {"role": "assistant", "content": "Shapes."},
    ]
    usage = record_usage(model, processor, [Sample(question, picture(70, 40), "q")])
    visual = processor.visual_token_count(70, 40)
    assert usage.counts("visual")[0].tolist() == [visual] * usage.num_layers  # Q-Former tokens included
    assert torch.allclose(usage.share("all").sum(-1), torch.ones(usage.num_layers, dtype=torch.float64))

    batch = processor([question[:1]], [picture(70, 40)])
    with torch.no_grad():
        as_loaded = model(**batch).logits
        set_active_experts(model, 1)
        assert (model(**batch).logits - as_loaded).abs().max() > 1e-4
        set_active_experts(model, 2)
        assert torch.equal(model(**batch).logits, as_loaded)
        prune_experts(model, [[0, 3]] * usage.num_layers)
        pruned = model(**batch).logits
    save_pruned(model, processor, tmp_path / "pruned")
    reloaded, _ = load_model(tmp_path / "pruned", device="cpu")
    assert num_experts(reloaded) == 2
    with torch.no_grad():
        assert torch.equal(reloaded(**batch).logits, pruned)
