"""Read a LLaMA2-Accessory checkpoint folder: `consolidated.XX-of-YY.model.pth`, merged lazily.

Every shard is memory-mapped, and a tensor is only materialised (and concatenated across the
tensor-parallel shards) when asked for, so a 13B-class checkpoint converts on a 24 GB machine.
Split rules of the release (Megatron-style): column-parallel weights (`wq, wk, wv, w1, w3,
output`) are split on dim 0, row-parallel ones (`wo, w2`) on dim 1, the token embedding on dim 1;
everything else is replicated. The sparse MoE experts (`feed_forward.w1/w2/w3`, bare tensors of
`[E * I / mp, D]`) split every expert's hidden rows: a shard holds `[E, I / mp, D]`, and merging
concatenates on the hidden axis of each expert, not on dim 0:

    shard 0: [e0 h0..h3 | e1 h0..h3 | ...]     merged: [e0 h0..h7 | e1 h0..h7 | ...]
    shard 1: [e0 h4..h7 | e1 h4..h7 | ...]
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

SHARD_NAME = re.compile(r"consolidated\.(\d+)-of-(\d+)\.model\.pth")
_COLUMN_PARALLEL = re.compile(
    r"llma\.(layers\.\d+\.(attention\.w[qkv]|feed_forward\.w[13])\.weight|output\.weight)"
)
_ROW_PARALLEL = re.compile(r"llma\.layers\.\d+\.(attention\.wo|feed_forward\.w2)\.weight")
_SPARSE_EXPERTS = re.compile(r"llma\.layers\.(\d+)\.feed_forward\.w[123]")
SPARSE = "sparse experts"  # the split "dimension" of the sparse MoE tensors (see the docstring)


class CheckpointFormatError(ValueError):
    """The folder is not a well-formed release checkpoint; the message names the file or key."""


def split_dim(name: str) -> int | str | None:
    """The dimension a tensor-parallel shard splits `name` on, `SPARSE` for the sparse MoE experts,
    or None when it is replicated."""
    if _SPARSE_EXPERTS.fullmatch(name):
        return SPARSE
    if _COLUMN_PARALLEL.fullmatch(name):
        return 0
    if _ROW_PARALLEL.fullmatch(name) or name == "llma.tok_embeddings.weight":
        return 1
    return None


def shard_files(folder: Path) -> list[Path]:
    found = sorted(
        (int(m.group(1)), int(m.group(2)), p) for p in folder.iterdir() if (m := SHARD_NAME.fullmatch(p.name))
    )
    if not found:
        raise CheckpointFormatError(f"{folder}: no consolidated.XX-of-YY.model.pth files")
    totals = {total for _, total, _ in found}
    indices = [index for index, _, _ in found]
    if len(totals) != 1 or indices != list(range(next(iter(totals)))):
        names = ", ".join(p.name for _, _, p in found)
        raise CheckpointFormatError(f"{folder}: incomplete or mixed tensor-parallel shards: {names}")
    return [path for _, _, path in found]


class AccessoryCheckpoint:
    """The merged state dict of a release folder, without loading it."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.files = shard_files(self.folder)
        self.shards = [load_shard(path) for path in self.files]
        self.check_same_keys()

    def check_same_keys(self) -> None:
        reference = set(self.shards[0])
        for path, shard in zip(self.files[1:], self.shards[1:], strict=True):
            if set(shard) != reference:
                different = sorted(set(shard) ^ reference)[:5]
                raise CheckpointFormatError(
                    f"{path.name}: keys differ from {self.files[0].name}, e.g. {different}"
                )

    def names(self) -> list[str]:
        return list(self.shards[0])

    def shape(self, name: str) -> torch.Size:
        if name not in self.shards[0]:
            raise CheckpointFormatError(f"{self.folder}: no key {name}, which this release's layout has")
        shapes = [shard[name].shape for shard in self.shards]
        dim = split_dim(name)
        if dim is None:
            if len(set(shapes)) != 1:
                raise CheckpointFormatError(
                    f"{name}: replicated tensor has different shapes across shards: {shapes}"
                )
            return shapes[0]
        merged = list(shapes[0])
        axis = 0 if dim == SPARSE else dim  # [E * I / mp, D] pieces -> [E * I, D]
        merged[axis] = sum(shape[axis] for shape in shapes)
        return torch.Size(merged)

    def shapes(self, prefix: str) -> dict[str, torch.Size]:
        """Merged shapes of the keys under `prefix`, with the prefix removed."""
        return {name[len(prefix) :]: self.shape(name) for name in self.names() if name.startswith(prefix)}

    def meta(self, name: str) -> torch.Tensor:
        """A meta tensor of the merged shape and dtype, for dry runs."""
        return torch.empty(self.shape(name), dtype=self.shards[0][name].dtype, device="meta")

    def tensor(self, name: str) -> torch.Tensor:
        dim = split_dim(name)
        if dim is None or len(self.shards) == 1:
            return self.shards[0][name]
        pieces = [shard[name] for shard in self.shards]
        if dim == SPARSE:
            experts = self.num_experts(name)
            merged = torch.cat([piece.view(experts, -1, piece.shape[-1]) for piece in pieces], dim=1)
            return merged.view(-1, merged.shape[-1])
        return torch.cat(pieces, dim=dim)

    def num_experts(self, name: str) -> int:
        """Experts of the sparse MoE layer `name` belongs to: the rows of its router."""
        layer = _SPARSE_EXPERTS.fullmatch(name).group(1)
        router = f"llma.layers.{layer}.feed_forward.gate.weight"
        if router not in self.shards[0]:
            raise CheckpointFormatError(
                f"{self.folder}: {name} is a sparse-expert tensor but {router} is missing"
            )
        return self.shards[0][router].shape[0]


def load_shard(path: Path) -> dict[str, torch.Tensor]:
    try:
        content = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except Exception as error:  # torch raises many kinds for a broken zip / pickle
        raise CheckpointFormatError(f"{path}: cannot read the shard ({error})") from error
    if not isinstance(content, dict) or not isinstance(content.get("model"), dict):
        raise CheckpointFormatError(f"{path}: expected a dict with a 'model' state dict")
    return content["model"]
