"""The mixture of visual experts of a config: every expert of its list, frozen, per view.

    pixels[name]: [N, 3, V_name, V_name]  (the processor's `pixel_values_{name}`)
        grid experts, in list order  -> [N, 1 + h*w, C_i] each -> concatenated on channels
                                         -> `fused` [N, 1 + h*w, sum C_i]; token 0 is
                                            CLS / pseudo-CLS of each, then the aligned grids
        query experts (Q-Former)      -> `queries[name]` [N, Q, C]

Each expert is a stock transformers model registered under its name (`vision_experts.{name}.*`);
its kind's module (convnext.py, ...) says how it is built and how its output becomes tokens.
The experts are frozen: no gradients, always in eval mode, whatever the parent's mode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ...config import VisualExpert
from . import clip_vit, convnext, dinov2, qformer

KINDS = {"convnext": convnext, "dinov2": dinov2, "clip_vit": clip_vit, "qformer": qformer}


@dataclass
class VisualFeatures:
    """The experts' output for `N` views: the fused grid tokens and each query expert's tokens."""

    fused: torch.Tensor  # [N, 1 + h*w, sum of the grid experts' channels]
    queries: dict[str, torch.Tensor]  # name -> [N, Q, C], in list order


class MixtureOfVisualExperts(nn.Module):
    def __init__(self, experts: Sequence[VisualExpert], modules: Mapping[str, nn.Module] | None = None):
        """The experts of `experts` (a config's `visual_experts`), freshly built, or the pretrained
        `modules` given by name."""
        super().__init__()
        self.specs = list(experts)
        for expert in self.specs:
            module = modules[expert.name] if modules is not None else KINDS[expert.kind].build(expert)
            KINDS[expert.kind].prepare(module, expert)
            self.add_module(expert.name, module)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> MixtureOfVisualExperts:
        return super().train(False)  # frozen experts: dropout and drop-path stay off

    def expert_tokens(self, name: str, pixels: torch.Tensor) -> torch.Tensor:
        """One expert's tokens for `[N, 3, V, V]` views (gradients flow, for pre-training toy experts)."""
        spec = next(expert for expert in self.specs if expert.name == name)
        return KINDS[spec.kind].tokens(self.get_submodule(name), pixels, spec)

    def encode(self, pixels: Mapping[str, torch.Tensor]) -> VisualFeatures:
        missing = [expert.name for expert in self.specs if expert.name not in pixels]
        if missing:
            raise ValueError(
                f"no pixel_values for the visual experts {', '.join(missing)}; the model takes "
                + ", ".join(f"pixel_values_{expert.name}" for expert in self.specs)
            )
        grids = [self.expert_tokens(e.name, pixels[e.name]) for e in self.specs if not e.is_query]
        queries = {e.name: self.expert_tokens(e.name, pixels[e.name]) for e in self.specs if e.is_query}
        return VisualFeatures(fused=torch.cat(grids, dim=-1), queries=queries)

    @torch.no_grad()
    def forward(self, pixels: Mapping[str, torch.Tensor]) -> VisualFeatures:
        """`pixels[name]`: `[N, 3, V, V]` CLIP-normalised views of every expert (see the docstring)."""
        return self.encode(pixels)
