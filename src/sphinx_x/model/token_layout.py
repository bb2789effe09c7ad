"""Where visual tokens sit in the LLM's input sequence, and how many there are.

    [BOS] [start v0 ... end] [start v1 ... end] [skip] [skip] [start v4 ... end] text ...
          `-- global view --' `-- sub-image 1 -'  `sub 2, 3 skipped'

Each encoded view is `start_img`, `tokens_per_view` projected tokens (257 in SPHINX-X; 32 Q-Former
tokens + 257 in the four-expert releases), `end_img`;
each skipped sub-image is one `skip_img`. The block sits right after BOS; the processor writes one
placeholder id per visual token and the model fills them. `count_visual_tokens` is the one place
that counts them: the processor and the model both call it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def count_visual_tokens(skipped: Sequence[bool], tokens_per_view: int) -> int:
    """Visual tokens of one image: `tokens_per_view + 2` per encoded view, 1 per skipped one."""
    return sum(1 if is_skipped else tokens_per_view + 2 for is_skipped in skipped)


class VisualTokenEmbeddings(nn.Module):
    """The learned `start_img`, `end_img` (shared by all views) and `skip_img` embeddings."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.start_img = nn.Parameter(torch.zeros(1, hidden_size))
        self.end_img = nn.Parameter(torch.zeros(1, hidden_size))
        self.skip_img = nn.Parameter(torch.zeros(1, hidden_size))

    def image_block(self, view_tokens: torch.Tensor, skipped: Sequence[bool]) -> torch.Tensor:
        """Lay out one image: `view_tokens` is `[num_encoded_views, tokens_per_view, D]`, in view order.

        Returns `[count_visual_tokens(skipped), D]`.
        """
        pieces, encoded = [], iter(view_tokens)
        for is_skipped in skipped:
            if is_skipped:
                pieces.append(self.skip_img)
            else:
                pieces += [self.start_img, next(encoded), self.end_img]
        return torch.cat([piece.to(view_tokens.dtype) for piece in pieces])
