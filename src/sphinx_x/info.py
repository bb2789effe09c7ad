"""What a preset is made of: parameters per part and visual tokens for an image size, no weights allocated."""

from __future__ import annotations

import torch

from .model.sphinx import SphinxXForConditionalGeneration
from .model.token_layout import count_visual_tokens
from .model.views import ImageTransform
from .presets import preset_config

PARTS = {
    "convnext": ("vision_experts.convnext",),
    "dinov2": ("vision_experts.dinov2",),
    "projector": ("projector", "visual_tokens"),  # the Linear + LayerNorm and start/end/skip embeddings
    "llm": ("language_model",),
}


def preset_info(name: str, width: int = 1024, height: int = 1024, use_skip_token: bool = True) -> dict:
    config = preset_config(name)
    if not use_skip_token:
        config.use_skip_token = False
    with torch.device("meta"):
        model = SphinxXForConditionalGeneration(config)
    params = {part: sum(count(model.get_submodule(m)) for m in modules) for part, modules in PARTS.items()}
    params["total"] = count(model)
    params["trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    geometry = ImageTransform.from_config(config).geometry(width, height)
    return {
        "preset": name,
        "llm": config.text_config.model_type,
        "grid": config.grid,
        "image": f"{width}x{height}",
        "views_encoded": geometry.num_encoded_views,
        "views_skipped": geometry.num_views - geometry.num_encoded_views,
        "visual_tokens": count_visual_tokens(geometry.skipped, config.tokens_per_view),
        "params": params,
    }


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def format_info(info: dict) -> str:
    lines = [
        f"{info['preset']}  (LLM: {info['llm']}, grid {info['grid']}x{info['grid']} + global)",
        "parameters:",
    ]
    lines += [f"  {part:<10} {value / 1e9:8.3f} B  ({value:,})" for part, value in info["params"].items()]
    lines.append(
        f"image {info['image']}: {info['views_encoded']} views encoded, {info['views_skipped']} skipped "
        f"-> {info['visual_tokens']} visual tokens"
    )
    return "\n".join(lines)
