"""Expert usage per layer, by token type (the paper's A.1.2, Figure 5).

A forward hook on each layer's router counts, per expert, the tokens whose top-k includes it
(`choices`) and the router probability it receives (`mass`, softmax over all experts), separately
for visual tokens (every `<image>` position: view tokens, start/end and skip tokens alike, since
the processor writes one placeholder per visual position) and text tokens; padding is left out.
Only counts are kept, `[token type, layer, expert]`: memory is the same after ten inputs or ten
million.

    choice share  choices / (tokens * k)   sums to 1 over the experts of a layer
    mass share    mass / tokens            sums to 1 over the experts of a layer
    entropy       of a layer's shares, over log(E): 1 = every expert equally used, 0 = one expert
    imbalance     a layer's largest share times E: 1 = balanced, E = one expert takes every token
                  (E / k for choice shares: a token's k choices are distinct experts)
    distance      total variation between two usages of a layer, half the sum of |share differences|:
                  0 = the same experts in the same proportions, 1 = disjoint experts. Visual against
                  text tokens measures modality specialists; a domain against all domains, domain ones.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..data.records import BadRecords
from .inputs import Sample, encoded_batches
from .routers import active_experts, num_experts, routers

ALL_DOMAINS = "all domains"  # the sum over domains, when there are several
TOKEN_TYPES = ("visual", "text")  # counted; "all" is their sum
ALL_TYPES = (*TOKEN_TYPES, "all")
MEASURES = ("choices", "mass")


@dataclass
class RoutingUsage:
    """Counts of one model over some inputs. `tokens [2, L]`, `choices` and `mass` `[2, L, E]`,
    indexed by `TOKEN_TYPES` (float64 on the CPU, so sums of millions of tokens stay exact)."""

    top_k: int
    tokens: torch.Tensor
    choices: torch.Tensor
    mass: torch.Tensor

    @classmethod
    def empty(cls, num_layers: int, num_experts: int, top_k: int) -> RoutingUsage:
        zeros = torch.zeros(len(TOKEN_TYPES), num_layers, num_experts, dtype=torch.float64)
        return cls(top_k, zeros[..., 0].clone(), zeros.clone(), zeros.clone())

    @property
    def num_layers(self) -> int:
        return self.choices.shape[1]

    @property
    def num_experts(self) -> int:
        return self.choices.shape[2]

    def counts(self, token_type: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(tokens [L], choices [L, E], mass [L, E]) of one of `ALL_TYPES`."""
        if token_type == "all":
            return self.tokens.sum(0), self.choices.sum(0), self.mass.sum(0)
        if token_type not in TOKEN_TYPES:
            raise ValueError(f"token type {token_type!r}: expected one of {', '.join(ALL_TYPES)}")
        index = TOKEN_TYPES.index(token_type)
        return self.tokens[index], self.choices[index], self.mass[index]

    def share(self, token_type: str = "all", measure: str = "choices") -> torch.Tensor:
        """`[L, E]`, each row summing to 1; NaN rows where no token of that type was seen."""
        tokens, choices, mass = self.counts(token_type)
        if measure not in MEASURES:
            raise ValueError(f"measure {measure!r}: expected one of {', '.join(MEASURES)}")
        total = choices.sum(-1, keepdim=True) if measure == "choices" else tokens[:, None]
        values = choices if measure == "choices" else mass
        return torch.where(total > 0, values / total.clamp(min=1e-300), torch.nan)

    def entropy(self, token_type: str = "all", measure: str = "choices") -> torch.Tensor:
        """`[L]`: entropy of each layer's shares over log(E) (1 = uniform)."""
        share = self.share(token_type, measure)
        terms = torch.where(share > 0, -share * share.clamp(min=1e-300).log(), 0.0)
        return torch.where(share.isnan().any(-1), torch.nan, terms.sum(-1) / math.log(self.num_experts))

    def imbalance(self, token_type: str = "all", measure: str = "choices") -> torch.Tensor:
        """`[L]`: each layer's largest share times E (1 = balanced)."""
        return self.share(token_type, measure).max(-1).values * self.num_experts

    def distance(self, other: RoutingUsage, token_type: str = "all", measure: str = "choices",
                 other_type: str | None = None) -> torch.Tensor:  # fmt: skip
        """`[L]`: total variation between this usage's and `other`'s shares (NaN where either saw nothing)."""
        mine, theirs = self.share(token_type, measure), other.share(other_type or token_type, measure)
        return 0.5 * (mine - theirs).abs().sum(-1)

    def modality_gap(self, measure: str = "choices") -> torch.Tensor:
        """`[L]`: distance between the visual and the text tokens' shares."""
        return self.distance(self, "visual", measure, other_type="text")

    def add(self, other: RoutingUsage) -> RoutingUsage:
        if (other.num_layers, other.num_experts) != (self.num_layers, self.num_experts):
            raise ValueError("usage of models with different layers or experts cannot be added")
        return RoutingUsage(
            self.top_k, self.tokens + other.tokens, self.choices + other.choices, self.mass + other.mass
        )

    # -- files --------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """Counts (to add runs up) and every share, entropy and imbalance (to read)."""
        summary = {
            token_type: {
                "tokens": int(self.counts(token_type)[0][0]),
                **{
                    measure: {
                        "share": nan_to_none(self.share(token_type, measure)),
                        "entropy": nan_to_none(self.entropy(token_type, measure)),
                        "imbalance": nan_to_none(self.imbalance(token_type, measure)),
                    }
                    for measure in MEASURES
                },
            }
            for token_type in ALL_TYPES
        }
        summary["modality_gap"] = {measure: nan_to_none(self.modality_gap(measure)) for measure in MEASURES}
        counts = {
            "tokens": self.tokens.tolist(),
            "choices": self.choices.tolist(),
            "mass": self.mass.tolist(),
        }
        return {"top_k": self.top_k, "layers": self.num_layers, "experts": self.num_experts,
                "counts": counts, **summary}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict) -> RoutingUsage:
        counts = data["counts"]
        return cls(
            data["top_k"],
            *(torch.tensor(counts[key], dtype=torch.float64) for key in ("tokens", "choices", "mass")),
        )


def nan_to_none(values: torch.Tensor) -> list:
    """JSON has no NaN: a share of a token type never seen is null."""
    return [nan_to_none(row) for row in values] if values.dim() > 1 else [
        None if math.isnan(value) else round(value, 6) for value in values.tolist()
    ]  # fmt: skip


class UsageRecorder:
    """Hooks on every router that count where tokens go. Call `observe(input_ids, attention_mask)`
    before each forward pass, so the hooks know which rows are visual, text or padding. The counts
    stay on the model's device (no synchronisation per layer); `usage` copies them out."""

    def __init__(self, model, image_token_id: int | None = None):
        self.routers = routers(model)
        self.image_token_id = model.config.image_token_id if image_token_id is None else image_token_id
        self.top_k = active_experts(model)
        self.counts = RoutingUsage.empty(len(self.routers), num_experts(model), self.top_k)
        self.token_types: torch.Tensor | None = None  # [B * T, 2]: one-hot visual / text, padding all zero
        self.handles = []

    @property
    def usage(self) -> RoutingUsage:
        counts = self.counts
        return RoutingUsage(self.top_k, counts.tokens.cpu(), counts.choices.cpu(), counts.mass.cpu())

    def __enter__(self) -> UsageRecorder:
        self.handles = [
            router.register_forward_hook(self.counter(layer)) for layer, router in enumerate(self.routers)
        ]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def observe(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> None:
        is_visual = (input_ids == self.image_token_id).flatten()
        real = attention_mask.bool().flatten() if attention_mask is not None else torch.ones_like(is_visual)
        self.token_types = torch.stack([is_visual & real, ~is_visual & real], dim=-1).double()

    def counter(self, layer: int):
        def count(router, inputs, output) -> None:
            logits, _, indices = output  # [B * T, E], _, [B * T, k]
            if self.token_types is None or self.token_types.shape[0] != logits.shape[0]:
                raise RuntimeError(
                    f"UsageRecorder: layer {layer} routed {logits.shape[0]} tokens but observe() described "
                    f"{0 if self.token_types is None else self.token_types.shape[0]}: call observe() before each forward"
                )
            counts = self.counts_on(logits.device)
            types = self.token_types.to(logits.device)  # [N, 2]
            picked = F.one_hot(indices, logits.shape[-1]).sum(1).double()  # [N, E]: 1 where chosen
            counts.tokens[:, layer] += types.sum(0)
            counts.choices[:, layer] += types.T @ picked
            counts.mass[:, layer] += types.T @ torch.softmax(logits.double(), dim=-1)

        return count

    def counts_on(self, device: torch.device) -> RoutingUsage:
        if self.counts.tokens.device != device:
            c = self.counts
            self.counts = RoutingUsage(
                self.top_k, c.tokens.to(device), c.choices.to(device), c.mass.to(device)
            )
        return self.counts


@torch.no_grad()
def record_usage(
    model, processor, samples: Iterable[Sample], bad: BadRecords | None = None, batch_size: int = 8
) -> RoutingUsage:
    """Run `model` over `samples` (teacher-forced, one forward pass per batch) and count the routing."""
    bad = bad if bad is not None else BadRecords()
    with UsageRecorder(model) as recorder:
        for batch in encoded_batches(processor, samples, bad, batch_size):
            recorder.observe(batch["input_ids"], batch["attention_mask"])
            batch.pop("labels")
            model(**{key: value.to(model.device) for key, value in batch.items()})
    return recorder.usage


def write_usage(usages: dict[str, RoutingUsage], path: str | Path, model_path: str | None = None) -> Path:
    """`{"model", "domains": {name: usage}}`: counts to add up, shares and balance to read; with an
    "all domains" entry, each domain's distance from it (`domain_gap`, per token type and measure)."""
    domains = {name: usage.to_dict() for name, usage in usages.items()}
    if ALL_DOMAINS in usages:
        total = usages[ALL_DOMAINS]
        for name, usage in usages.items():
            domains[name]["domain_gap"] = {
                token_type: {m: nan_to_none(usage.distance(total, token_type, m)) for m in MEASURES}
                for token_type in ALL_TYPES
            }
    path = Path(path)
    path.write_text(json.dumps({"model": model_path, "domains": domains}, indent=1))
    return path


def read_usage(path: str | Path) -> dict[str, RoutingUsage]:
    """Usage written by `write_usage` (`sphinx-x moe usage`): domain -> counts."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        return {name: RoutingUsage.from_dict(entry) for name, entry in data["domains"].items()}
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a usage file written by `sphinx-x moe usage` ({error})") from None


def total_usage(usages: dict[str, RoutingUsage]) -> RoutingUsage:
    """The sum over domains."""
    values = list(usages.values())
    total = values[0]
    for usage in values[1:]:
        total = total.add(usage)
    return total
