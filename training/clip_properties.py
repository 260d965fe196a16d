"""What explanations talk about besides sound events, as per-clip targets for the audio encoder (issue 19): level,
reverberation, timbre (filtering), speed, noise, distortion, and -- where a real-source corpus records them -- spectral
tilt, pitch shift, mains hum, clicks and a lossy codec. Their values are known exactly for every generated or edited
clip: the `clip1` / `clip2` dicts of a corpus's `<split>_facts.jsonl`.

- `CLIP_PROPERTIES`: each property's fact key and kind (a regression on a standardised value, one of a few classes,
  or yes / no). A clip whose facts lack a property's key (SynthDiff clips have no `eq_tilt_db_per_octave`) has that
  target masked, so one table serves SynthDiff and real-source corpora.
- `property_targets`: facts -> `(values, known)` rows; `ClipPropertyHead`: a linear head on the pooled clip embedding
  (the embedding stages 2-3 read) with a masked loss; `property_scores`: accuracy / R^2 of predictions, used by stage
  1a's evaluation and by `scripts/property_probe.py`.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .synthdiff.interface import REVERBS, TIMBRES


@dataclass(frozen=True)
class ClipProperty:
    """One property of a clip.

    Args:
        name (`str`): the property's name in recipes and reports.
        fact (`str`): its key in a clip facts dict.
        kind (`str`): `"regression"` (target `(value - centre) / spread`), `"classes"` (index into `classes`) or
            `"binary"` (a boolean fact).
        classes (`tuple[str]`): the values of a `"classes"` property.
        centre, spread (`float`): the standardisation of a `"regression"` property.
        none_means_no (`bool`): for a `"binary"` property, a fact present with value `None` means "no" (a clip
            without hum has `hum_hz: null`) instead of "unknown".
    """

    name: str
    fact: str
    kind: str
    classes: tuple = ()
    centre: float = 0.0
    spread: float = 1.0
    none_means_no: bool = False

    @property
    def width(self) -> int:
        """Outputs of the head for this property."""
        return len(self.classes) if self.kind == "classes" else 1

    def target(self, clip: dict) -> float | None:
        """The target of a clip facts dict, `None` when the facts do not hold the property."""
        value = clip.get(self.fact)
        if value is None:
            return 0.0 if self.none_means_no and self.fact in clip else None
        if self.kind == "classes":
            if value not in self.classes:
                raise ValueError(f"Clip fact {self.fact}={value!r} is not one of {self.classes}.")
            return float(self.classes.index(value))
        if self.kind == "binary":
            return float(bool(value))
        return (float(value) - self.centre) / self.spread


CLIP_PROPERTIES = (
    ClipProperty("level", "loudness_db", "regression", centre=-30.0, spread=10.0),  # RMS in dBFS
    ClipProperty("reverb", "reverb", "classes", REVERBS),
    ClipProperty("timbre", "timbre", "classes", TIMBRES),
    ClipProperty("speed", "speed", "regression", centre=1.0, spread=0.15),
    ClipProperty("noise", "noisy", "binary"),
    ClipProperty("distortion", "clipped", "binary"),
    # real-source corpora only (s19src's clip facts; 0 / null = not applied):
    ClipProperty("tilt", "eq_tilt_db_per_octave", "regression", spread=6.0),
    ClipProperty("pitch", "pitch_semitones", "regression", spread=3.0),
    ClipProperty("hum", "hum_hz", "binary", none_means_no=True),
    ClipProperty("clicks", "clicks", "binary"),
    ClipProperty("codec", "codec", "binary", none_means_no=True),
)
PROPERTY_NAMES = tuple(p.name for p in CLIP_PROPERTIES)


def select_properties(names=None) -> tuple:
    """The `ClipProperty`s named by `names` (all when `None`), in table order."""
    if names is None:
        return CLIP_PROPERTIES
    names = [names] if isinstance(names, str) else list(names)
    unknown = sorted(set(names) - set(PROPERTY_NAMES))
    if unknown or not names:
        raise ValueError(f"Unknown clip properties {unknown or names}; choose from {list(PROPERTY_NAMES)}.")
    return tuple(p for p in CLIP_PROPERTIES if p.name in names)


def property_targets(clips: list, properties=CLIP_PROPERTIES) -> tuple:
    """`(values, known)`, both `(len(clips), len(properties))`: float targets and a bool mask of the known ones."""
    values = torch.zeros(len(clips), len(properties))
    known = torch.zeros(len(clips), len(properties), dtype=torch.bool)
    for row, clip in enumerate(clips):
        for column, prop in enumerate(properties):
            target = prop.target(clip)
            if target is not None:
                values[row, column], known[row, column] = target, True
    return values, known


def read_clip_facts(facts_jsonl: str | Path) -> dict:
    """`{clip path: clip facts}` of a `<split>_facts.jsonl`, paths resolved as `ClipTaggingData` resolves the
    `filepath`s of `<split>_clips.csv` (against the file's folder)."""
    facts_jsonl = Path(facts_jsonl)
    out = {}
    with open(facts_jsonl, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            record = json.loads(line)
            for k in (1, 2):
                if f"filepath{k}" not in record or f"clip{k}" not in record:
                    raise ValueError(f"{facts_jsonl}, line {number}: a facts record needs filepath{k} and clip{k}.")
                out[str(facts_jsonl.parent / record[f"filepath{k}"])] = record[f"clip{k}"]
    return out


class ClipPropertyHead(nn.Module):
    """A linear read-out of clip properties from the pooled clip embedding.

    Args:
        hidden_size (`int`): width of the clip embedding.
        properties (`tuple[ClipProperty]`): what to predict.

    Shapes: `forward` `(B, hidden_size)` -> `(B, sum of widths)`; `loss` takes those outputs and `values`, `known`
    `(B, len(properties))` (from `property_targets`).
    """

    def __init__(self, hidden_size: int, properties=CLIP_PROPERTIES):
        super().__init__()
        self.properties = tuple(properties)
        self.linear = nn.Linear(hidden_size, sum(p.width for p in self.properties))

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.linear(embeddings)

    def split(self, outputs: torch.Tensor) -> list:
        """Each property's `(B, width)` slice of `outputs`."""
        return list(outputs.split([p.width for p in self.properties], dim=-1))

    def loss(self, outputs: torch.Tensor, values: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """Mean over the properties with a known target in the batch of their masked loss (MSE, binary or softmax
        cross-entropy); 0 when no target is known."""
        if values.shape != known.shape or values.shape[-1] != len(self.properties):
            raise ValueError(f"property targets must have shape (batch, {len(self.properties)}) for the properties "
                             f"{[p.name for p in self.properties]}, got {tuple(values.shape)} and mask "
                             f"{tuple(known.shape)}.")
        losses = []
        for column, (prop, out) in enumerate(zip(self.properties, self.split(outputs.float()))):
            mask = known[:, column]
            if not mask.any():
                continue
            out, target = out[mask], values[mask, column].float()
            if prop.kind == "classes":
                losses.append(F.cross_entropy(out, target.long()))
            elif prop.kind == "binary":
                losses.append(F.binary_cross_entropy_with_logits(out[:, 0], target))
            else:
                losses.append(F.mse_loss(out[:, 0], target))
        return torch.stack(losses).mean() if losses else outputs.sum() * 0.0


def property_scores(head_or_properties, outputs: torch.Tensor, values: torch.Tensor, known: torch.Tensor) -> dict:
    """`{name: score}` of predictions: accuracy for classes and yes / no, R^2 for regressions (1 perfect, 0 no better
    than the mean); properties with fewer than two known targets are left out.

    Args:
        head_or_properties: a `ClipPropertyHead` or its tuple of `ClipProperty`s (which fixes the output layout).
        outputs (`(N, sum of widths)`), values, known (`(N, properties)`): predictions and `property_targets`.
    """
    properties = getattr(head_or_properties, "properties", head_or_properties)
    parts = outputs.float().split([p.width for p in properties], dim=-1)
    scores = {}
    for column, (prop, out) in enumerate(zip(properties, parts)):
        mask = known[:, column]
        if int(mask.sum()) < 2:
            continue
        out, target = out[mask], values[mask, column].float()
        if prop.kind == "classes":
            scores[prop.name] = float((out.argmax(-1) == target.long()).float().mean())
        elif prop.kind == "binary":
            scores[prop.name] = float(((out[:, 0] > 0).float() == target).float().mean())
        else:
            residual = float(((out[:, 0] - target) ** 2).sum())
            total = float(((target - target.mean()) ** 2).sum())
            scores[prop.name] = 1.0 - residual / total if total > 0 else None
    return scores


__all__ = ["ClipProperty", "CLIP_PROPERTIES", "PROPERTY_NAMES", "select_properties", "property_targets",
           "read_clip_facts", "ClipPropertyHead", "property_scores"]
