import pytest
import torch

from sphinx_x.train.optim import build_optimizer, build_scheduler, warmup_cosine


def test_warmup_then_cosine_to_zero():
    assert warmup_cosine(0, 100, 10) == pytest.approx(0.1)
    assert warmup_cosine(9, 100, 10) == pytest.approx(1.0)
    assert warmup_cosine(10, 100, 10) == pytest.approx(1.0)
    assert warmup_cosine(55, 100, 10) == pytest.approx(0.5)
    assert warmup_cosine(100, 100, 10) == pytest.approx(0.0)


def test_optimizer_follows_the_recipe():
    model = torch.nn.Linear(2, 2)
    model.bias.requires_grad_(False)
    optimizer = build_optimizer(model, lr=2e-5)
    group = optimizer.param_groups[0]
    assert group["betas"] == (0.9, 0.95) and group["weight_decay"] == 0.0 and len(group["params"]) == 1
    scheduler = build_scheduler(optimizer, total_steps=200, warmup_fraction=0.01)  # 2 warmup steps
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-5)
    optimizer.step()
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(2e-5)
