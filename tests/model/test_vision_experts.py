import math

import torch
import torch.nn.functional as F

from sphinx_x.model.views import CLIP_MEAN, CLIP_STD
from sphinx_x.model.vision_experts import IMAGENET_MEAN, IMAGENET_STD, MixtureOfVisualExperts
from sphinx_x.presets import toy_convnext, toy_dinov2, two_experts


def make_experts(**dinov2_changes):
    torch.manual_seed(0)
    dinov2 = toy_dinov2()
    for key, value in dinov2_changes.items():
        setattr(dinov2, key, value)
    return MixtureOfVisualExperts(two_experts(toy_convnext(), dinov2, 32, 32))


def both(pixels):
    return {"convnext": pixels, "dinov2": pixels}


def test_experts_are_frozen_and_stay_in_eval_mode():
    experts = make_experts()
    experts.train()
    assert not experts.training and not experts.convnext.training and not experts.dinov2.training
    assert not any(p.requires_grad for p in experts.parameters())
    pixels = torch.randn(2, 3, 32, 32, requires_grad=True)
    assert not experts(both(pixels)).fused.requires_grad
    experts.requires_grad_(True)  # what the demo's pre-training does: the same encoding, with gradients
    experts.encode(both(pixels)).fused.sum().backward()
    stems = (
        experts.convnext.embeddings.patch_embeddings.weight,
        experts.dinov2.embeddings.patch_embeddings.projection.weight,
    )
    assert all(stem.grad is not None and stem.grad.abs().sum() > 0 for stem in stems)


def test_convnext_uses_config_eps_in_every_layernorm():
    experts = make_experts()
    norms = [m for m in experts.convnext.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert norms and all(norm.eps == 1e-5 for norm in norms)


def test_fused_features_are_gap_then_grid_concatenated_with_dinov2():
    experts = make_experts()
    pixels = torch.randn(2, 3, 32, 32)
    fused = experts(both(pixels)).fused
    assert fused.shape == (2, 17, 32 + 32)
    convnext = fused[..., :32]
    torch.testing.assert_close(convnext[:, 0], convnext[:, 1:].mean(dim=1))  # pseudo-CLS = mean of the grid
    feature_map = experts.convnext(pixels).last_hidden_state  # [2, 32, 4, 4]
    expected = experts.convnext.layernorm(feature_map.permute(0, 2, 3, 1)).reshape(2, 16, 32)
    torch.testing.assert_close(convnext[:, 1:], expected)  # row-major, LayerNorm per position


def test_dinov2_sees_imagenet_normalised_pixels():
    experts = make_experts()
    clip_pixels = torch.randn(1, 3, 32, 32)
    raw = clip_pixels * torch.tensor(CLIP_STD).view(1, 3, 1, 1) + torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    imagenet = (raw - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(
        1, 3, 1, 1
    )
    expected = experts.dinov2(imagenet).last_hidden_state
    torch.testing.assert_close(experts.expert_tokens("dinov2", clip_pixels), expected, atol=1e-5, rtol=1e-5)


def test_position_embeddings_are_resized_like_the_dinov2_hub():
    # Trained at 64 (8x8 positions), used at 32 (4x4): the hub scales by (4 + 0.1) / 8.
    experts = make_experts(image_size=64)
    table = experts.dinov2.embeddings.position_embeddings
    resized = experts.dinov2.embeddings.interpolate_pos_encoding(None, 32, 32)
    grid = table[:, 1:].reshape(1, 8, 8, -1).permute(0, 3, 1, 2)
    hub = F.interpolate(grid, scale_factor=(4.1 / 8, 4.1 / 8), mode="bicubic", antialias=False)
    torch.testing.assert_close(resized[:, 1:], hub.permute(0, 2, 3, 1).reshape(1, 16, -1))
    exact = F.interpolate(grid, size=(4, 4), mode="bicubic", align_corners=False)
    assert not torch.allclose(hub, exact)  # the offset matters, which is why we follow the hub
    assert math.isclose(resized[0, 0, 0].item(), table[0, 0, 0].item())
