"""The acoustic summary: what a clip's log-mel says about level, spectrum and timing, next to HTSAT's clip embedding.

HTSAT's pooled clip embedding is trained to say which sounds a clip holds; averaged over time and frequency it keeps
little of a clip's spectral balance (EQ tilt, pitch, band limits) or of when its sounds happen (time shifts, speed).
The summary keeps both, measured straight from the log-mel the encoder reads: the mean level of every mel band and
the loudness envelope (mean over the bands) averaged over `segments` equal stretches of the clip. Both are in dB,
divided by `SUMMARY_DB_SCALE` so that they sit in the range of the embedding's features. It has no weights: it depends
only on the log-mel, so an embedding cache can store it beside the pooled embedding.
"""

import torch
from torch.nn import functional as F

SUMMARY_DB_SCALE = 20.0  # dB per unit: a clip's mel levels (-100 to about +30 dB) become about -5 to 1.5


def acoustic_summary(input_features: torch.Tensor, segments: int) -> torch.Tensor:
    """Band levels and loudness envelope of log-mel clips.

    Args:
        input_features (`torch.FloatTensor` of shape `(clips, frames, mel_bins)` or `(clips, 1, frames, mel_bins)`):
            log-mels in dB, as `AdiffFeatureExtractor` writes them.
        segments (`int`): stretches of the clip the envelope is averaged over (at most the clip's frames).

    Returns: `torch.FloatTensor` of shape `(clips, mel_bins + segments)` (`AdiffConfig.acoustic_summary_dim`): the
    mean of each mel band over the clip, then the mean over the bands of each of `segments` consecutive stretches of
    frames, in units of `SUMMARY_DB_SCALE` dB.
    """
    if input_features.dim() == 4 and input_features.shape[1] == 1:
        input_features = input_features[:, 0]  # (N, 1, T, M) -> (N, T, M)
    if input_features.dim() != 3:
        raise ValueError(f"acoustic_summary expects log-mels of shape (clips, frames, mel_bins), got "
                         f"{tuple(input_features.shape)}.")
    frames = input_features.shape[1]
    if not 0 < segments <= frames:
        raise ValueError(f"acoustic_summary needs 1 <= segments <= frames ({frames}), got segments={segments}.")
    features = input_features.float()
    bands = features.mean(dim=1)  # (N, T, M) -> (N, M)
    envelope = F.adaptive_avg_pool1d(features.mean(dim=2).unsqueeze(1), segments).squeeze(1)  # (N, 1, T) -> (N, S)
    return torch.cat([bands, envelope], dim=1) / SUMMARY_DB_SCALE  # (N, M + S)


def append_acoustic_summary(embeddings: torch.Tensor, input_features: torch.Tensor, segments: int) -> torch.Tensor:
    """`(clips, D)` clip embeddings followed by the clips' summaries: `(clips, D + mel_bins + segments)`, in the
    embeddings' dtype. What a model with `config.acoustic_summary` projects, and what its embedding cache stores."""
    summary = acoustic_summary(input_features, segments)  # (N, S)
    return torch.cat([embeddings, summary.to(embeddings.dtype)], dim=-1)  # (N, D + S)


__all__ = ["SUMMARY_DB_SCALE", "acoustic_summary", "append_acoustic_summary"]
