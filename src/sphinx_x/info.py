"""What the presets are made of: parameters per part and visual tokens for an image size, built on
the meta device (no weights allocated), and the family as one table."""

from __future__ import annotations

import json

import torch

from .model.sphinx import SphinxXForConditionalGeneration
from .model.token_layout import count_visual_tokens
from .model.views import ImageTransform
from .presets import PRESETS, get_preset


def parts(config) -> dict[str, tuple[str, ...]]:
    """The model's parts, for counting: each visual expert by name, the projectors with the
    start/end/skip embeddings, the LLM."""
    experts = {name: (f"vision_experts.{name}",) for name in config.view_sizes}
    return experts | {
        "projector": ("projector", "query_projectors", "visual_tokens"),
        "llm": ("language_model",),
    }


def preset_info(name: str, width: int = 1024, height: int = 1024, use_skip_token: bool = True) -> dict:
    preset = get_preset(name)
    config = preset.build()
    if not use_skip_token:
        config.use_skip_token = False
    with torch.device("meta"):
        model = SphinxXForConditionalGeneration(config)
    params = {
        part: sum(count(model.get_submodule(m)) for m in modules) for part, modules in parts(config).items()
    }
    params["total"] = count(model)
    params["trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    geometry = ImageTransform.from_config(config).geometry(width, height)
    return {
        "preset": name,
        "llm": config.text_config.model_type,
        "base_llm": preset.base_llm,
        "grid": config.grid,
        "visual_experts": list(config.view_sizes),
        "tokens_per_view": config.tokens_per_view + 2,  # with start_img and end_img
        "image": f"{width}x{height}",
        "views_encoded": geometry.num_encoded_views,
        "views_skipped": geometry.num_views - geometry.num_encoded_views,
        "visual_tokens": count_visual_tokens(geometry.skipped, config.tokens_per_view),
        "weights": preset.weights,
        "params": params,
    }


def grid_text(grid: int) -> str:
    return "global view only" if grid == 1 else f"{grid}x{grid} + global"


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def format_info(info: dict) -> str:
    lines = [
        f"{info['preset']}  (LLM: {info['base_llm']}, {grid_text(info['grid'])}, "
        f"experts {' + '.join(info['visual_experts'])}: {info['tokens_per_view']} tokens per view)",
        "parameters:",
    ]
    lines += [f"  {part:<10} {value / 1e9:8.3f} B  ({value:,})" for part, value in info["params"].items()]
    lines.append(
        f"image {info['image']}: {info['views_encoded']} views encoded, {info['views_skipped']} skipped "
        f"-> {info['visual_tokens']} visual tokens"
    )
    lines.append(f"weights: {info['weights']}")
    return "\n".join(lines)


def family_rows() -> list[dict]:
    """One row per preset: base LLM, grid, parameters, visual tokens of a 1:1 and a 2:1 image."""
    rows = []
    for name in PRESETS:
        square, wide = preset_info(name, 1024, 1024), preset_info(name, 2048, 1024)
        rows.append({"preset": name, "base_llm": square["base_llm"], "grid": grid_text(square["grid"]),
                     "parameters": square["params"]["total"], "visual_tokens_1to1": square["visual_tokens"],
                     "visual_tokens_2to1": wide["visual_tokens"], "weights": square["weights"]})  # fmt: skip
    return rows


def family_table(as_json: bool = False) -> str:
    rows = family_rows()
    if as_json:
        return json.dumps(rows)
    lines = ["| preset | base LLM | grid | parameters | visual tokens 1:1 | visual tokens 2:1 | weights |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    lines += [f"| {r['preset']} | {r['base_llm']} | {r['grid']} | {human(r['parameters'])} | {r['visual_tokens_1to1']} "
              f"| {r['visual_tokens_2to1']} | {r['weights']} |" for r in rows]  # fmt: skip
    return "\n".join(lines)


def human(count: int) -> str:
    return f"{count / 1e9:.2f} B" if count >= 1e8 else f"{count / 1e6:.2f} M"
