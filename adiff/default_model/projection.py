"""The audio projection: HTSAT clip embedding -> ADIFF embedding space."""

import torch
from torch import nn
from torch.nn import functional as F


class AdiffAudioProjection(nn.Module):
    """Two bias-free linear layers with a residual and a LayerNorm (the MS-CLAP projection ADIFF reuses).

    Args:
        in_dim (`int`): width of the HTSAT clip embedding (768 for the base model).
        out_dim (`int`): projection width (1024).
        dropout (`float`): dropout on the second branch.

    Shapes: `(..., in_dim)` -> `(..., out_dim)`.
    """

    def __init__(self, in_dim: int, out_dim: int, dropout: float):
        super().__init__()
        self.linear1 = nn.Linear(in_dim, out_dim, bias=False)
        self.linear2 = nn.Linear(out_dim, out_dim, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.layer_norm = nn.LayerNorm(out_dim)

    def forward(self, clip_embeds: torch.Tensor) -> torch.Tensor:
        embed1 = self.linear1(clip_embeds)
        embed2 = self.dropout(self.linear2(F.gelu(embed1)))
        return self.layer_norm(embed1 + embed2)


__all__ = ["AdiffAudioProjection"]
