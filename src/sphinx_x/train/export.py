"""The trained model, consolidated once into a Hugging Face folder: what `sphinx_x.load_model`,
`from_pretrained`, chat, eval and serve read (config, generation config, processor, safetensors).

Streamed tensor by tensor: every process takes part in gathering one sharded parameter at a time
(`DTensor.full_tensor`), process 0 hands it to the converter's `ShardedSafetensorsWriter`, which
holds at most one safetensors shard in memory. No process ever holds the whole model twice.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch
from torch.distributed.tensor import DTensor

from ..convert.writer import ShardedSafetensorsWriter
from ..model.sphinx import SphinxXForConditionalGeneration
from .checkpoint import barrier, is_main_process


def export_model(model, processor, folder: Path, max_shard_bytes: int = 2 * 1024**3) -> Path:
    """Collective. Written into `FOLDER.partial` and renamed when complete."""
    partial = folder.with_name(folder.name + ".partial")
    writer = None
    if is_main_process():
        shutil.rmtree(partial, ignore_errors=True)
        writer = ShardedSafetensorsWriter(partial, max_shard_bytes=max_shard_bytes)
    for name, tensor in model.state_dict().items():
        whole = gathered(tensor)
        if writer is not None:
            writer.add(name, whole.cpu())
        del whole
    if writer is not None:
        writer.close()
        model.config.architectures = [SphinxXForConditionalGeneration.__name__]
        model.config.save_pretrained(partial)
        model.generation_config.save_pretrained(partial)
        processor.save_pretrained(partial)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(partial, folder)
    barrier()
    return folder


def gathered(tensor: torch.Tensor) -> torch.Tensor:
    """The whole tensor of a (possibly) sharded one: a collective for a `DTensor`."""
    if not isinstance(tensor, DTensor):
        return tensor.detach()
    local = tensor.to_local()
    device = tensor.device_mesh.device_type
    if local.device.type != device:  # CPU-offloaded shards gather on the mesh's device
        local = local.to(device)
        tensor = DTensor.from_local(local, tensor.device_mesh, tensor.placements, shape=tensor.shape,
                                    stride=tensor.stride())  # fmt: skip
    return tensor.full_tensor().detach()
