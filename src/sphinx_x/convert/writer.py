"""Write tensors one by one into transformers-style sharded safetensors, holding one shard in memory."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"


class ShardedSafetensorsWriter:
    """`add` tensors, then `close`: `model.safetensors`, or `model-0000i-of-0000N.safetensors` + index."""

    def __init__(
        self, folder: str | Path, max_shard_bytes: int = 2 * 1024**3, dtype: torch.dtype | None = None
    ):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_shard_bytes = max_shard_bytes
        self.dtype = dtype
        self.pending: dict[str, torch.Tensor] = {}
        self.pending_bytes = 0
        self.written: list[tuple[Path, list[str]]] = []
        self.total_bytes = 0

    def add(self, name: str, tensor: torch.Tensor) -> None:
        if name in self.pending or any(name in names for _, names in self.written):
            raise ValueError(f"{name} written twice")
        if self.dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(self.dtype)
        tensor = tensor.detach().contiguous()
        if not owns_its_storage(tensor):
            tensor = (
                tensor.clone()
            )  # a view into a larger tensor (q, k, v of a packed qkv): a copy of its own
        size = tensor.numel() * tensor.element_size()
        if self.pending and self.pending_bytes + size > self.max_shard_bytes:
            self.flush()
        self.pending[name] = tensor
        self.pending_bytes += size
        self.total_bytes += size

    def flush(self) -> None:
        path = self.folder / f"shard-{len(self.written):05d}.partial"
        save_file(self.pending, path, metadata={"format": "pt"})
        self.written.append((path, list(self.pending)))
        self.pending, self.pending_bytes = {}, 0

    def close(self) -> list[Path]:
        if self.pending or not self.written:
            self.flush()
        if len(self.written) == 1:
            final = self.folder / SINGLE_FILE
            self.written[0][0].rename(final)
            return [final]
        count, weight_map, finals = len(self.written), {}, []
        for index, (path, names) in enumerate(self.written, start=1):
            final = self.folder / f"model-{index:05d}-of-{count:05d}.safetensors"
            path.rename(final)
            finals.append(final)
            weight_map |= dict.fromkeys(names, final.name)
        index_data = {"metadata": {"total_size": self.total_bytes}, "weight_map": weight_map}
        (self.folder / INDEX_FILE).write_text(json.dumps(index_data, indent=2))
        return finals


def owns_its_storage(tensor: torch.Tensor) -> bool:
    """True when `tensor` is all of its storage: safetensors refuses tensors that share memory, and a
    copy of a tensor that owns its storage (a merged or converted one, a memory-mapped shard's)
    would only double the memory it takes."""
    return (
        tensor.storage_offset() == 0
        and tensor.untyped_storage().nbytes() == tensor.numel() * tensor.element_size()
    )
