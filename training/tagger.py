"""Stage 1a model: the HTSAT encoder (`ClapAudioModel`) with its TSCAM event head, trained as a multi-label sound-event
tagger. Its `save_pretrained` folder is a plain `ClapAudioModel` folder (so stage 2 loads the encoder with
`ClapAudioModel.from_pretrained`, exactly like a Hub CLAP/HTSAT checkpoint) plus the head and its class names."""

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F
from transformers import ClapAudioConfig, ClapAudioModel
from transformers.modeling_outputs import ModelOutput

from modeling_adiff.event_head import AdiffEventHead

from .clip_properties import ClipPropertyHead

HEAD_WEIGHTS = "event_head.safetensors"
LABELS_FILE = "event_labels.json"


@dataclass
class TaggerOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor`, *optional*): mean binary cross-entropy over classes and clips.
        logits (`torch.FloatTensor` of shape `(batch_size, num_classes)`): clip-level event logits.
        property_outputs (`torch.FloatTensor`, *optional*): the property head's outputs `(batch_size, widths)`, when
            the tagger has one.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    property_outputs: torch.FloatTensor | None = None


class AdiffAudioTagger(nn.Module):
    """HTSAT + TSCAM head for multi-label tagging.

    Args:
        config (`ClapAudioConfig`): the encoder.
        labels (`list[str]`): class names; the head has one output per name.
        encoder (`ClapAudioModel`, *optional*): an existing encoder (e.g. from `from_pretrained`); built from `config`
            when omitted.
        frame_positive_weight (`float`, *optional*, defaults to 1): weight of the positive cells (a class sounding at
            that time step) in the frame-level loss (`pos_weight` of `binary_cross_entropy_with_logits`). Short
            sounds fill few cells of the (classes x time steps) grid, so at 1 the loss is dominated by "nothing here".
        properties (`tuple[ClipProperty]`, *optional*): clip properties (`training.clip_properties`) a linear head
            predicts from the pooled clip embedding -- the embedding stages 2-3 read -- so that the encoder learns
            level, reverberation, timbre, speed, noise and distortion, not only events. Training only: the head is not
            saved with the encoder.
        property_loss_weight (`float`, *optional*, defaults to 1): weight of the property loss in the total loss.

    Loss: binary cross-entropy of the clip logits (HTSAT's time-averaged TSCAM logits) against `labels`, plus, when
    `frame_labels` are given, binary cross-entropy of the per-step TSCAM logits against them (over the clips
    `frame_mask` marks), which tells the encoder *where* each event is and trains a from-scratch HTSAT far faster
    than clip labels alone.

    Shapes: `input_features` `(B, frames, mels)` or `(B, 1, frames, mels)`, `labels` `(B, num_classes)` in {0, 1},
    `frame_labels` `(B, num_classes, num_time_steps)` in {0, 1}, `frame_mask` `(B,)` bool, `property_targets` and
    `property_known` `(B, len(properties))` (`training.clip_properties.property_targets`).
    """

    def __init__(self, config: ClapAudioConfig, labels: list[str], encoder: ClapAudioModel | None = None,
                 frame_positive_weight: float = 1.0, properties: tuple | None = None,
                 property_loss_weight: float = 1.0):
        super().__init__()
        if not labels:
            raise ValueError("AdiffAudioTagger needs at least one class name in `labels`.")
        if isinstance(frame_positive_weight, bool) or not isinstance(frame_positive_weight, (int, float)) \
                or not frame_positive_weight > 0:
            raise ValueError(f"frame_positive_weight must be a number > 0 (1 weighs positive and negative frame cells "
                             f"alike), got {frame_positive_weight!r}.")
        self.frame_positive_weight = float(frame_positive_weight)
        self.config = config
        self.labels = list(labels)
        self.encoder = encoder if encoder is not None else ClapAudioModel(config)
        self.event_head = AdiffEventHead(config, len(self.labels))
        if isinstance(property_loss_weight, bool) or not isinstance(property_loss_weight, (int, float)) \
                or not property_loss_weight >= 0:
            raise ValueError(f"property_loss_weight must be a number >= 0, got {property_loss_weight!r}.")
        self.property_loss_weight = float(property_loss_weight)
        self.property_head = ClipPropertyHead(config.hidden_size, properties) if properties else None

    @property
    def num_time_steps(self) -> int:
        """Time steps of the TSCAM logits over one clip: the resolution of `frame_labels`."""
        return self.event_head.num_time_steps

    def forward(self, input_features: torch.Tensor, labels: torch.Tensor | None = None,
                frame_labels: torch.Tensor | None = None, frame_mask: torch.Tensor | None = None,
                property_targets: torch.Tensor | None = None,
                property_known: torch.Tensor | None = None) -> TaggerOutput:
        if input_features.dim() == 3:
            input_features = input_features.unsqueeze(1)  # (B, 1, frames, mels)
        encoded = self.encoder(input_features=input_features)
        events = self.event_head(encoded.last_hidden_state)  # (B, C, F', T') -> clip and step logits
        # the pooled clip embedding (B, D), the one stages 2-3 read -> (B, property outputs)
        properties = None if self.property_head is None else self.property_head(encoded.pooler_output)
        loss = None
        if labels is not None:
            loss = F.binary_cross_entropy_with_logits(events.logits.float(), labels.float())
        if frame_labels is not None:
            if frame_labels.shape != events.step_logits.shape:
                raise ValueError(f"frame_labels must have shape (batch, classes, time steps) = "
                                 f"{tuple(events.step_logits.shape)}, got {tuple(frame_labels.shape)}; build them "
                                 f"with {self.num_time_steps} steps per clip (ClipTaggingData(frame_steps=...)).")
            step_logits = events.step_logits
            pos_weight = None
            if self.frame_positive_weight != 1.0:  # one weight per class, broadcast over the time steps
                pos_weight = step_logits.new_full((step_logits.shape[1], 1), self.frame_positive_weight).float()
            cells = F.binary_cross_entropy_with_logits(step_logits.float(), frame_labels.float(),
                                                       pos_weight=pos_weight, reduction="none")  # (B, C, T)
            # The mean over the clips in frame_mask, as weights: selecting them (cells[mask]) would make the host wait
            # for the GPU every step to learn how many there are. No clip in the mask: a frame loss of 0.
            weights = (torch.ones(cells.shape[0], device=cells.device) if frame_mask is None
                       else frame_mask.float())[:, None, None].expand_as(cells)  # (B, C, T)
            frame_loss = (cells * weights).sum() / weights.sum().clamp_min(1.0)
            loss = frame_loss if loss is None else loss + frame_loss
        if property_targets is not None:
            if properties is None:
                raise ValueError("property_targets were given but this tagger has no property head; build it with "
                                 "properties=... (recipe: model.property_loss_weight > 0).")
            property_loss = self.property_loss_weight * self.property_head.loss(properties, property_targets,
                                                                                property_known)
            loss = property_loss if loss is None else loss + property_loss
        return TaggerOutput(loss=loss, logits=events.logits, property_outputs=properties)

    def save_pretrained(self, folder: str | Path, **kwargs) -> None:
        folder = Path(folder)
        self.encoder.save_pretrained(folder, **kwargs)
        if kwargs.get("is_main_process", True):
            save_file({k: v.contiguous() for k, v in self.event_head.state_dict().items()}, str(folder / HEAD_WEIGHTS))
            (folder / LABELS_FILE).write_text(json.dumps(self.labels, indent=1), encoding="utf-8")

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "AdiffAudioTagger":
        """Loads a tagger folder written by `save_pretrained` (encoder, head and class names)."""
        folder = Path(folder)
        if not (folder / LABELS_FILE).is_file():
            raise FileNotFoundError(f"{folder} has no {LABELS_FILE}; it is not a tagger folder from stage 1a. A plain "
                                    "encoder folder loads with ClapAudioModel.from_pretrained.")
        encoder = ClapAudioModel.from_pretrained(folder)
        tagger = cls(encoder.config, json.loads((folder / LABELS_FILE).read_text(encoding="utf-8")), encoder=encoder)
        tagger.event_head.load_state_dict(load_file(str(folder / HEAD_WEIGHTS)))
        return tagger


def read_event_head(folder: str | Path) -> tuple[list[str], dict] | None:
    """`(class names, head state dict)` of a tagger folder, or None for a plain encoder folder."""
    folder = Path(folder)
    if not (folder / LABELS_FILE).is_file():
        return None
    return json.loads((folder / LABELS_FILE).read_text(encoding="utf-8")), load_file(str(folder / HEAD_WEIGHTS))


__all__ = ["AdiffAudioTagger", "TaggerOutput", "read_event_head", "HEAD_WEIGHTS", "LABELS_FILE"]
