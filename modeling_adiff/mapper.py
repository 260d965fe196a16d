"""The transformer blocks of ADIFF's decoder side: the per-audio mappers, the prompt mapper and the
cross-projection. All are pre-LN, unmasked, position-free transformers with a ReLU MLP (ClipCap's design)."""

import torch
from torch import nn
from torch.nn import functional as F
from transformers.modeling_layers import GradientCheckpointingLayer


class AdiffAttention(nn.Module):
    """Multi-head self-attention with a fused key/value projection and no mask.

    Shapes: `(B, N, E)` -> `(B, N, E)`.
    """

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.to_queries = nn.Linear(dim, dim, bias=False)
        # One projection gives keys then values: output features [0, E) are keys, [E, 2E) values.
        self.to_keys_values = nn.Linear(dim, 2 * dim, bias=False)
        self.project = nn.Linear(dim, dim)
        self.dropout = dropout

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        batch, length, dim = hidden.shape
        queries = self.to_queries(hidden).view(batch, length, self.num_heads, self.head_dim)  # (B, N, H, D)
        keys_values = self.to_keys_values(hidden).view(
            batch, length, 2, self.num_heads, self.head_dim)  # (B, N, 2, H, D)
        keys, values = keys_values.unbind(dim=2)  # each (B, N, H, D)
        attended = F.scaled_dot_product_attention(
            queries.transpose(1, 2), keys.transpose(1, 2), values.transpose(1, 2),  # (B, H, N, D)
            dropout_p=self.dropout if self.training else 0.0,
        )
        attended = attended.transpose(1, 2).reshape(batch, length, dim)  # (B, N, E)
        return self.project(attended)


class AdiffMLP(nn.Module):
    def __init__(self, dim: int, hidden_dim: int, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.fc2(self.dropout(F.relu(self.fc1(hidden)))))


class AdiffTransformerLayer(GradientCheckpointingLayer):
    """Pre-LN block: `x + attn(LN(x))`, then `x + mlp(LN(x))`; checkpointed when gradient checkpointing is on."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = AdiffAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = AdiffMLP(dim, int(dim * mlp_ratio))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = hidden + self.attn(self.norm1(hidden))
        return hidden + self.mlp(self.norm2(hidden))


class AdiffTransformer(nn.Module):
    """A stack of `AdiffTransformerLayer`s; the cross-projection is one of these over the whole prefix.

    Args:
        dim (`int`): token width (GPT-2's `n_embd`).
        num_heads (`int`): attention heads.
        num_layers (`int`): layers.
        mlp_ratio (`float`): MLP hidden width / `dim`.

    Shapes: `(B, N, dim)` -> `(B, N, dim)`.
    """

    def __init__(self, dim: int, num_heads: int, num_layers: int, mlp_ratio: float):
        super().__init__()
        self.layers = nn.ModuleList(AdiffTransformerLayer(dim, num_heads, mlp_ratio) for _ in range(num_layers))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            hidden = layer(hidden)
        return hidden


class AdiffPrefixMapper(nn.Module):
    """Appends `prefix_length` learned constants to an input sequence, runs a transformer and keeps the outputs at
    the constants' positions (ClipCap's "clip the constant").

    Shapes: `(B, clip_length, E)` -> `(B, prefix_length, E)`.
    """

    def __init__(self, dim: int, prefix_length: int, num_heads: int, num_layers: int, mlp_ratio: float):
        super().__init__()
        self.prefix_const = nn.Parameter(torch.randn(prefix_length, dim))
        self.transformer = AdiffTransformer(dim, num_heads, num_layers, mlp_ratio)

    def forward(self, sequence: torch.Tensor) -> torch.Tensor:
        constants = self.prefix_const.unsqueeze(0).expand(sequence.shape[0], -1, -1)  # (B, P, E)
        hidden = self.transformer(torch.cat((sequence, constants), dim=1))  # (B, clip_length + P, E)
        return hidden[:, sequence.shape[1]:]  # (B, P, E)


class AdiffAudioMapper(AdiffPrefixMapper):
    """Maps one projected clip embedding to `prefix_length` GPT-2 embeddings.

    A linear layer first expands the embedding into `clip_length` tokens.

    Shapes: `(B, projection_dim)` -> `(B, prefix_length, E)`.
    """

    def __init__(self, in_dim: int, dim: int, clip_length: int, prefix_length: int, num_heads: int,
                 num_layers: int, mlp_ratio: float):
        super().__init__(dim, prefix_length, num_heads, num_layers, mlp_ratio)
        self.clip_length = clip_length
        self.linear = nn.Linear(in_dim, clip_length * dim)

    def forward(self, audio_embeds: torch.Tensor) -> torch.Tensor:
        sequence = self.linear(audio_embeds).view(audio_embeds.shape[0], self.clip_length, -1)  # (B, clip_length, E)
        return super().forward(sequence)


class AdiffAudioSegmentEmbedding(nn.Module):
    """One learned vector per audio slot, added to every token of that audio's prefix block before the
    cross-projection, so that the (position-free) cross-projection can tell audio 1 from audio 2. Zero at
    initialisation: the model starts exactly as one without it.

    Shapes: `(B, P, E)`, `(B, P, E)` -> the same two, shifted by `weight[0]` and `weight[1]`.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(2, dim))

    def forward(self, audio_prefix_1: torch.Tensor, audio_prefix_2: torch.Tensor):
        return audio_prefix_1 + self.weight[0], audio_prefix_2 + self.weight[1]


__all__ = ["AdiffAttention", "AdiffTransformer", "AdiffPrefixMapper", "AdiffAudioMapper",
           "AdiffAudioSegmentEmbedding"]
