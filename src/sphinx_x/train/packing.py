"""Sequence packing: several samples per row, attention never crossing from one to another.

    row 0   [BOS img img .. text EOS][BOS text text EOS][BOS img .. text EOS][pad pad]
    pos      0   1   2  ..        k  0   1    ..    m  0   1  ..          n  0   1
    row 1   [BOS img img img .. text text text text text EOS]
    pos      0   1   2   3  ..                             L-1

Position ids restart at 0 on every sample and the batch has no `attention_mask`: the attention reads
the sample boundaries from the position ids. The trainer runs it sample by sample
(`train/segment_attention.py`), so a row costs what its samples cost and the default is one row
holding the whole micro-batch, with no padding at all; `row_length` bounds the rows instead (first
fit, the padding at a row's end one more segment, whose labels are ignored). Without segment
attention, transformers builds a block-diagonal mask for SDPA / eager / flex attention, or hands the
boundaries to the varlen flash kernels on GPU.

Labels stay those of each sample: a sample's first token (BOS) is never supervised, so the last token
of one sample is never trained to predict the next sample. Each image block still sits right after
its own sample's BOS, and the views are stacked in row order (samples in the order they sit), the
order in which the model fills the placeholders. Skip tokens shorten the samples, so they also fit
more of them in a row.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..model.sphinx import IGNORE_INDEX
from ..processing.processor import EncodedSample, SphinxXProcessor


def pack_rows(lengths: Sequence[int], row_length: int | None = None) -> list[list[int]]:
    """Indices of the samples in each row: None, every sample in one row (in order); otherwise
    first-fit decreasing into rows of `row_length` tokens (at least the longest sample)."""
    if row_length is None:
        return [list(range(len(lengths)))]
    capacity = max([*lengths, row_length])
    rows: list[list[int]] = []
    free: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        row = next((r for r, space in enumerate(free) if space >= lengths[index]), None)
        if row is None:
            rows.append([])
            free.append(capacity)
            row = len(rows) - 1
        rows[row].append(index)
        free[row] -= lengths[index]
    return rows


def collate_packed(
    samples: Sequence[EncodedSample], processor: SphinxXProcessor, row_length: int | None = None
) -> dict[str, torch.Tensor]:
    """Packed model inputs: `input_ids`, `labels`, `position_ids` `[rows, T]` and the views of every
    sample, in row order; no `attention_mask` (see the module docstring)."""
    rows = pack_rows([len(sample.input_ids) for sample in samples], row_length)
    width = max(sum(len(samples[i].input_ids) for i in row) for row in rows)
    ids, labels, positions = [], [], []
    for row in rows:
        row_ids = [token for i in row for token in samples[i].input_ids]
        padding = width - len(row_ids)
        ids.append(row_ids + [processor.pad_token_id] * padding)
        labels.append([label for i in row for label in samples[i].labels] + [IGNORE_INDEX] * padding)
        positions.append([p for i in row for p in range(len(samples[i].input_ids))] + list(range(padding)))
    batch = {
        "input_ids": torch.tensor(ids, dtype=torch.long),
        "labels": torch.tensor(labels, dtype=torch.long),
        "position_ids": torch.tensor(positions, dtype=torch.long),
    }
    return batch | processor.collate_views([samples[i].views for row in rows for i in row])
