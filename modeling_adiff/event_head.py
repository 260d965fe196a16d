"""HTSAT's token-semantic (TSCAM) sound-event head on top of `ClapAudioModel`'s final token grid."""

from dataclasses import dataclass

import torch
from torch import nn
from transformers import ClapAudioConfig
from transformers.modeling_outputs import ModelOutput


@dataclass
class AdiffEventHeadOutput(ModelOutput):
    """
    Args:
        logits (`torch.FloatTensor` of shape `(batch_size, num_classes)`): clip-level logits (time-averaged TSCAM
            logits, before the sigmoid); train with `BCEWithLogitsLoss` on these.
        clip_probs (`torch.FloatTensor` of shape `(batch_size, num_classes)`): `sigmoid(logits)`, HTSAT's
            `clipwise_output`.
        frame_probs (`torch.FloatTensor` of shape `(batch_size, num_frames, num_classes)`): per-frame probabilities,
            HTSAT's `framewise_output`, on the encoder's resampled time grid (`spec_size * freq_ratio` = 1024 frames
            for 10 s by default, i.e. 9.77 ms per frame).
        step_logits (`torch.FloatTensor` of shape `(batch_size, num_classes, num_time_steps)`): the TSCAM logits per
            time step (`num_time_steps` = 32 over the clip by default); `logits` is their mean. Frame-level training
            targets go on these.
    """

    logits: torch.FloatTensor | None = None
    clip_probs: torch.FloatTensor | None = None
    frame_probs: torch.FloatTensor | None = None
    step_logits: torch.FloatTensor | None = None


def tscam_time_steps(config: ClapAudioConfig) -> int:
    """Time steps of the TSCAM logits over one clip (32 for the default geometry): the encoder's
    `spec_size * freq_ratio` input frames over the frames each final token covers."""
    frames_per_step = 2 ** (len(config.depths) - 1) * config.patch_stride[1]
    return config.spec_size * (config.spec_size // config.num_mel_bins) // frames_per_step


class AdiffEventHead(nn.Module):
    """HTSAT's TSCAM head: a `Conv2d` over the (frequency-group, time) token grid gives per-class logits per time step;
    their time average is the clip logit.

    Only the TSCAM convolution has weights. The official HTSAT also builds a `head` Linear(num_classes, num_classes)
    that its TSCAM path never applies; it is not reproduced here (the converter drops it, with that reason).

    Args:
        config (`ClapAudioConfig`): the encoder's configuration (grid geometry and width).
        num_classes (`int`): number of sound-event classes (527 for AudioSet).

    Shapes: `ClapAudioModel(...).last_hidden_state`, `(B, C, F', T')` with `C = hidden_size`, `F'` the frequency
    bins per group (2 by default) and `T'` the time steps (32 by default) -> `AdiffEventHeadOutput`.
    """

    def __init__(self, config: ClapAudioConfig, num_classes: int):
        super().__init__()
        if num_classes <= 0:
            raise ValueError(f"AdiffEventHead needs num_classes > 0, got {num_classes}. Set "
                             "AdiffConfig.num_event_classes=0 to build the model without an event head.")
        downsampling = 2 ** (len(config.depths) - 1)  # patch merges between the first and last stage
        freq_ratio = config.spec_size // config.num_mel_bins
        self.freq_bins = config.spec_size // downsampling // config.patch_stride[0] // freq_ratio
        # Every final time step covers `frames_per_step` frames of the (spec_size * freq_ratio)-frame input.
        self.frames_per_step = downsampling * config.patch_stride[1]
        self.num_time_steps = tscam_time_steps(config)  # T', 32 by default
        self.tscam_conv = nn.Conv2d(config.hidden_size, num_classes, kernel_size=(self.freq_bins, 3), padding=(0, 1))

    def forward(self, last_hidden_state: torch.Tensor) -> AdiffEventHeadOutput:
        if last_hidden_state.dim() != 4 or last_hidden_state.shape[1:3] != (self.tscam_conv.in_channels,
                                                                             self.freq_bins):
            raise ValueError(
                f"AdiffEventHead expects ClapAudioModel's last_hidden_state of shape (batch, "
                f"{self.tscam_conv.in_channels}, {self.freq_bins}, time), got {tuple(last_hidden_state.shape)}.")
        step_logits = self.tscam_conv(last_hidden_state).flatten(2)  # (B, classes, 1, T') -> (B, classes, T')
        logits = step_logits.mean(dim=-1)  # (B, classes)
        step_probs = torch.sigmoid(step_logits).transpose(1, 2)  # (B, T', classes)
        frame_probs = step_probs.repeat_interleave(self.frames_per_step, dim=1)  # (B, T' * frames_per_step, classes)
        return AdiffEventHeadOutput(logits=logits, clip_probs=torch.sigmoid(logits), frame_probs=frame_probs,
                                    step_logits=step_logits)


__all__ = ["AdiffEventHead", "AdiffEventHeadOutput", "tscam_time_steps"]
