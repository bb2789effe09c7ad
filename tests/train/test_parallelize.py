"""FSDP2 as the trainer applies it, in this process (a one-process gloo group): the bf16 policy, the
frozen experts, CPU offload and compile. Two processes: tests/train/test_trainer.py and test_checkpoint.py."""

import copy

import pytest
import torch
import torch.distributed as dist
from torch.distributed.tensor import DTensor

from sphinx_x.train.optim import build_optimizer
from sphinx_x.train.parallelize import apply_compile, apply_fsdp


@pytest.fixture
def one_process_group():
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    yield
    dist.destroy_process_group()


@pytest.fixture
def batch(toy_processor, mixed_batch_inputs):
    conversations, images = mixed_batch_inputs
    return toy_processor(conversations, images, add_generation_prompt=False, padding_side="right")


def weight_dtypes_in_forward(model) -> list[torch.dtype]:
    seen = []
    layer = model.language_model.model.layers[0].self_attn.q_proj
    layer.register_forward_pre_hook(lambda module, _args: seen.append(module.weight.dtype))
    return seen


def test_bf16_policy_computes_in_bf16_over_fp32_master_weights(one_process_group, toy_model, batch):
    toy_model.train()
    apply_fsdp(toy_model, param_dtype=torch.bfloat16)
    seen = weight_dtypes_in_forward(toy_model)
    toy_model(**batch).loss.backward()
    assert seen == [torch.bfloat16]
    trainable = [p for p in toy_model.parameters() if p.requires_grad]
    assert all(isinstance(p, DTensor) and p.dtype == torch.float32 for p in trainable)
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in trainable)  # reduced in fp32
    # The frozen experts are not sharded and get no gradient.
    experts = list(toy_model.vision_experts.parameters())
    assert not any(isinstance(p, DTensor) or p.requires_grad or p.grad is not None for p in experts)


def test_float32_runs_keep_float32_parameters(one_process_group, toy_model, batch):
    apply_fsdp(toy_model, param_dtype=None)
    seen = weight_dtypes_in_forward(toy_model)
    toy_model(**batch)
    assert seen == [torch.float32]


def test_cpu_offload_takes_the_same_step(one_process_group, toy_model, batch):
    plain = copy.deepcopy(toy_model).train()
    toy_model.train()
    apply_fsdp(toy_model, cpu_offload=True)
    for model in (plain, toy_model):
        optimizer = build_optimizer(model, lr=1e-2)
        model(**batch).loss.backward()
        optimizer.step()
    with torch.no_grad():
        torch.testing.assert_close(toy_model(**batch).loss, plain(**batch).loss, rtol=1e-5, atol=1e-6)


def test_compile_is_per_layer_and_keeps_parameter_names(toy_model):
    names = list(toy_model.state_dict())
    apply_compile(toy_model)
    assert all(layer._compiled_call_impl is not None for layer in toy_model.language_model.model.layers)
    assert list(toy_model.state_dict()) == names  # checkpoints and exports are unchanged


@pytest.mark.slow
def test_compiled_layers_give_the_eager_loss(toy_model, batch):
    eager = toy_model(**batch).loss
    apply_compile(toy_model)
    torch.testing.assert_close(toy_model(**batch).loss, eager, rtol=1e-5, atol=1e-5)
