"""A picture of an audio difference: both log-mel spectrograms on one time axis, where the clips differ most, the
sound events over time (when the model has an event head), and the explanation as caption."""

import textwrap
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure

FIGSIZE = (12.0, 9.0)  # inches
DPI = 100  # FIGSIZE * DPI = 1200 x 900 pixels
TOP_EVENTS = 5
CAPTION_WIDTH = 150  # characters per caption line
_LINESTYLES = ("-", "--")


@dataclass
class DifferenceView:
    """What the figure shows, as numpy arrays.

    Args:
        log_mels (`np.ndarray` of shape `(2, frames, mel_bins)`): the model's log-mel input (dB) for both audios.
        seconds (`float`): the duration the frames span (clips are tiled or centre-cropped to this length).
        distance (`np.ndarray` of shape `(steps,)`): cosine distance between the two clips' encoder features per
            time step of HTSAT's final token grid.
        event_probs (`np.ndarray` of shape `(2, event_frames, classes)`, *optional*): event probabilities over time.
        event_labels (`list[str]`, *optional*): class names for `event_probs`.
    """

    log_mels: np.ndarray
    seconds: float
    distance: np.ndarray
    event_probs: np.ndarray | None = None
    event_labels: list[str] | None = None

    def most_different(self) -> tuple[float, float]:
        """`(start, end)` in seconds of the stretch around the largest distance where it stays above half of it."""
        step = self.seconds / len(self.distance)
        peak = int(np.argmax(self.distance))
        above = self.distance >= 0.5 * self.distance[peak]
        first, last = peak, peak
        while first > 0 and above[first - 1]:
            first -= 1
        while last < len(above) - 1 and above[last + 1]:
            last += 1
        return first * step, (last + 1) * step


@torch.no_grad()
def compute_difference_view(model, input_features: torch.Tensor, seconds: float) -> DifferenceView:
    """Runs the audio encoder (and the event head, if any) on one pair.

    Args:
        model (`AdiffForConditionalGeneration`): the model whose encoder compares the clips.
        input_features (`torch.FloatTensor` of shape `(1, 2, frames, mel_bins)`): the processor's features of the pair.
        seconds (`float`): the duration the features span (`feature_extractor.max_length_s`).
    """
    if input_features.dim() != 4 or input_features.shape[:2] != (1, 2):
        raise ValueError(f"compute_difference_view takes the features of one pair, shape (1, 2, frames, mel_bins); got "
                         f"{tuple(input_features.shape)}.")
    adiff = model.model
    features = input_features.to(adiff.audio_encoder.device)
    clips = features.reshape(2, 1, *features.shape[2:])  # (2, 1, frames, mels)
    grid = adiff.audio_encoder(input_features=clips.to(adiff.audio_encoder.dtype)).last_hidden_state  # (2, C, F', T')
    steps = grid.mean(dim=2).transpose(1, 2).float()  # (2, T', C): one feature vector per time step
    distance = 1.0 - torch.nn.functional.cosine_similarity(steps[0], steps[1], dim=-1)  # (T',)
    view = DifferenceView(log_mels=input_features[0].float().cpu().numpy(), seconds=float(seconds),
                          distance=distance.cpu().numpy())
    if getattr(adiff, "event_head", None) is not None:
        view.event_probs = adiff.get_audio_events(features).frame_probs[0].float().cpu().numpy()  # (2, frames, C)
        classes = view.event_probs.shape[-1]
        labels = model.config.event_labels
        view.event_labels = list(labels) if labels else [f"class {index}" for index in range(classes)]
    return view


def _caption(explanations) -> str:
    explanations = [explanations] if isinstance(explanations, str) else list(explanations)
    return "\n".join(textwrap.fill(text, CAPTION_WIDTH) for text in explanations)


def plot_difference(view: DifferenceView, explanations, names: tuple[str, str] = ("Audio 1", "Audio 2"),
                    top_events: int = TOP_EVENTS) -> Figure:
    """Draws the figure (`FIGSIZE` at `DPI`: 1200 x 900 pixels); save it with `figure.savefig("out.png", dpi=DPI)`.

    Args:
        view (`DifferenceView`): from `compute_difference_view`.
        explanations (`str` or list of `str`): the caption, one paragraph per item (e.g. `"Tier 1: ..."`).
        names (`tuple[str, str]`): titles of the two spectrograms (e.g. the file names).
        top_events (`int`): event classes shown, those with the highest probability in either clip.
    """
    has_events = view.event_probs is not None
    ratios = [3, 3, 1.4] + ([2.4] if has_events else []) + [2.2]
    figure = Figure(figsize=FIGSIZE, dpi=DPI)
    figure.subplots_adjust(left=0.08, right=0.9, top=0.96, bottom=0.02)
    axes = figure.subplots(len(ratios), 1, gridspec_kw={"height_ratios": ratios, "hspace": 0.55})
    start, end = view.most_different()
    low, high = np.percentile(view.log_mels, [1, 99.5])  # one colour scale for both clips
    for axis, mels, name in zip(axes[:2], view.log_mels, names):
        image = axis.imshow(mels.T, origin="lower", aspect="auto", cmap="magma", vmin=low, vmax=high,
                            extent=(0.0, view.seconds, 0, mels.shape[1]))
        axis.set_title(name, fontsize=10, loc="left")
        axis.set_ylabel("mel bin")
        axis.axvspan(start, end, fill=False, edgecolor="cyan", lw=1.5)
    figure.colorbar(image, ax=list(axes[:-1]), pad=0.01, fraction=0.03, label="log-mel (dB)")

    strip = axes[2]
    times = (np.arange(len(view.distance)) + 0.5) * view.seconds / len(view.distance)
    strip.fill_between(times, view.distance, color="tab:red", alpha=0.35, step="mid")
    strip.plot(times, view.distance, color="tab:red", drawstyle="steps-mid")
    strip.axvspan(start, end, fill=False, edgecolor="cyan", lw=1.5)
    strip.set_ylabel("encoder\ndistance")
    strip.set_title(f"Where the clips differ (cosine distance of encoder features); most at {start:.1f}-{end:.1f} s",
                    fontsize=10, loc="left")

    if has_events:
        events = axes[3]
        peak = view.event_probs.max(axis=(0, 1))  # (classes,)
        shown = np.argsort(-peak)[: min(top_events, len(peak))]
        event_times = (np.arange(view.event_probs.shape[1]) + 0.5) * view.seconds / view.event_probs.shape[1]
        for rank, cls in enumerate(shown):
            color = f"C{rank % 10}"
            for clip, style in enumerate(_LINESTYLES):
                label = view.event_labels[cls] if clip == 0 else None
                events.plot(event_times, view.event_probs[clip, :, cls], style, color=color, label=label, lw=1.2)
        events.set_ylim(0.0, 1.0)
        events.set_ylabel("event\nprobability")
        events.set_title(f"Sound events (solid: {names[0]}, dashed: {names[1]})", fontsize=10, loc="left")
        events.legend(loc="upper right", fontsize=8, ncol=min(len(shown), 5), framealpha=0.7)

    for axis in axes[:-1]:
        axis.set_xlim(0.0, view.seconds)
    axes[-2].set_xlabel(f"time (s); each clip is tiled or centre-cropped to {view.seconds:g} s as the model hears it")
    caption = axes[-1]
    caption.axis("off")
    caption.text(0.0, 1.0, _caption(explanations), va="top", ha="left", fontsize=9,
                 transform=caption.transAxes)
    return figure


__all__ = ["DifferenceView", "compute_difference_view", "plot_difference", "FIGSIZE", "DPI"]
