"""A picture of an audio difference: both log-mel spectrograms on one time axis, where the clips differ most, the
sound events over time (when the model has an event head), and the explanation as caption."""

import textwrap
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure

FIGSIZE = (12.0, 9.0)  # inches, the size when the caption fits in CAPTION_LINES lines; longer captions add height
DPI = 100  # FIGSIZE * DPI = 1200 x 900 pixels
TOP_EVENTS = 5
CAPTION_WIDTH = 150  # characters per caption line
CAPTION_LINES = 8  # caption lines the base figure holds
_CAPTION_FONT = 9  # points
_LINE_INCHES = _CAPTION_FONT * 1.25 / 72  # a caption line's height (matplotlib's line spacing is 1.2)
_CAPTION_PAD = 0.25  # inches below the caption
_XLABEL_INCHES = 0.55  # room between the last panel and the caption, for its tick labels and axis label
_TOP_INCHES = 0.35  # room above the first panel for its title
_LEFT, _RIGHT = 0.08, 0.82  # panel edges (figure fraction); the colour bar and the event legend sit right of them
_LEGEND_WIDTH = 22  # characters of an event name in the legend beside the panel
_SAME = 1e-4  # encoder distances below this everywhere: the encoder hears the same clip twice
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

    def most_different(self) -> tuple[float, float] | None:
        """`(start, end)` in seconds of the stretch around the largest distance where it stays above halfway between
        the smallest and the largest distance; `None` when no stretch stands out: the clips sound the same to the
        encoder (distance below `_SAME` everywhere) or the stretch would span the whole clip."""
        step = self.seconds / len(self.distance)
        peak = int(np.argmax(self.distance))
        low, high = float(self.distance.min()), float(self.distance[peak])
        if high < _SAME:
            return None
        above = self.distance >= low + 0.5 * (high - low)
        first, last = peak, peak
        while first > 0 and above[first - 1]:
            first -= 1
        while last < len(above) - 1 and above[last + 1]:
            last += 1
        if first == 0 and last == len(above) - 1:
            return None
        return first * step, (last + 1) * step

    def difference_title(self) -> str:
        """The distance panel's title: where the clips differ most, or why no stretch is marked."""
        stretch = self.most_different()
        if stretch is not None:
            where = f"most at {stretch[0]:.1f}-{stretch[1]:.1f} s"
        elif float(self.distance.max()) < _SAME:
            where = "nowhere: the encoder hears the same sound"
        else:
            where = "throughout, no stretch stands out"
        return f"Where the clips differ (cosine distance of encoder features): {where}"


@torch.no_grad()
def compute_difference_view(model, input_features: torch.Tensor, seconds: float) -> DifferenceView:
    """Runs the audio encoder (and the event head, if any) on one pair.

    Args:
        model (`AdiffForConditionalGeneration`): the model whose encoder compares the clips.
        input_features (`torch.FloatTensor` of shape `(1, 2, frames, mel_bins)`): the processor's features of the pair.
        seconds (`float`): the duration the features span (`feature_extractor.max_length_s`).
    """
    if input_features.dim() != 4 or input_features.shape[:2] != (1, 2):
        raise ValueError(f"compute_difference_view takes the features of one pair, shape (1, 2, frames, mel_bins); "
                         f"got {tuple(input_features.shape)}.")
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


def _legend_label(name: str) -> str:
    """An event name cut to `_LEGEND_WIDTH` characters, so the legend beside the panel stays inside the figure."""
    return name if len(name) <= _LEGEND_WIDTH else name[: _LEGEND_WIDTH - 1] + "…"


def _layout(caption_lines: int) -> tuple[float, float, float]:
    """`(height, caption_top, panels_bottom)`: the figure height in inches (`FIGSIZE`'s, plus one line height per
    caption line beyond `CAPTION_LINES`), and where the caption starts and the panels end (figure fractions)."""
    caption = _CAPTION_PAD + max(caption_lines, 1) * _LINE_INCHES
    height = FIGSIZE[1] + max(0, caption_lines - CAPTION_LINES) * _LINE_INCHES
    return height, caption / height, (caption + _XLABEL_INCHES) / height


def plot_difference(view: DifferenceView, explanations, names: tuple[str, str] = ("Audio 1", "Audio 2"),
                    top_events: int = TOP_EVENTS) -> Figure:
    """Draws the figure (`FIGSIZE` at `DPI`: 1200 x 900 pixels, taller when the caption needs more than `CAPTION_LINES`
    lines, so the whole text always shows); save it with `figure.savefig("out.png", dpi=DPI)`.

    Args:
        view (`DifferenceView`): from `compute_difference_view`.
        explanations (`str` or list of `str`): the caption, one paragraph per item (e.g. `"Tier 1: ..."`).
        names (`tuple[str, str]`): titles of the two spectrograms (e.g. the file names).
        top_events (`int`): event classes shown, those with the highest probability in either clip.
    """
    has_events = view.event_probs is not None
    ratios = [3, 3, 1.4] + ([2.4] if has_events else [])
    caption_text = _caption(explanations)
    height, caption_top, panels_bottom = _layout(caption_text.count("\n") + 1)
    figure = Figure(figsize=(FIGSIZE[0], height), dpi=DPI)
    figure.subplots_adjust(left=_LEFT, right=_RIGHT, top=1 - _TOP_INCHES / height, bottom=panels_bottom)
    axes = figure.subplots(len(ratios), 1, gridspec_kw={"height_ratios": ratios, "hspace": 0.55})
    stretch = view.most_different()
    low, high = np.percentile(view.log_mels, [1, 99.5])  # one colour scale for both clips
    for axis, mels, name in zip(axes[:2], view.log_mels, names):
        image = axis.imshow(mels.T, origin="lower", aspect="auto", cmap="magma", vmin=low, vmax=high,
                            extent=(0.0, view.seconds, 0, mels.shape[1]))
        axis.set_title(name, fontsize=10, loc="left")
        axis.set_ylabel("mel bin")
    # The colour bar gets its own axes beside the spectrograms, so every panel keeps the same width and time axis.
    first, second = axes[0].get_position(), axes[1].get_position()
    figure.colorbar(image, cax=figure.add_axes((_RIGHT + 0.01, second.y0, 0.012, first.y1 - second.y0)),
                    label="log-mel (dB)")

    strip = axes[2]
    times = (np.arange(len(view.distance)) + 0.5) * view.seconds / len(view.distance)
    strip.fill_between(times, view.distance, color="tab:red", alpha=0.35, step="mid")
    strip.plot(times, view.distance, color="tab:red", drawstyle="steps-mid")
    if stretch is not None:
        for axis in axes[:3]:
            axis.axvspan(*stretch, fill=False, edgecolor="cyan", lw=1.5)
    # From 0 (float error can dip below it) to at least 0.1, so that equal clips draw a flat line at 0, not noise.
    strip.set_ylim(0.0, max(0.1, 1.05 * float(view.distance.max())))
    strip.set_ylabel("encoder\ndistance")
    strip.set_title(view.difference_title(), fontsize=10, loc="left")

    if has_events:
        events = axes[3]
        peak = view.event_probs.max(axis=(0, 1))  # (classes,)
        shown = np.argsort(-peak)[: min(top_events, len(peak))]
        event_times = (np.arange(view.event_probs.shape[1]) + 0.5) * view.seconds / view.event_probs.shape[1]
        for rank, cls in enumerate(shown):
            color = f"C{rank % 10}"
            for clip, style in enumerate(_LINESTYLES):
                label = _legend_label(view.event_labels[cls]) if clip == 0 else None
                events.plot(event_times, view.event_probs[clip, :, cls], style, color=color, label=label, lw=1.2)
        events.set_ylim(0.0, 1.0)
        events.set_ylabel("event\nprobability")
        events.set_title(f"Sound events (solid: {names[0]}, dashed: {names[1]})", fontsize=10, loc="left")
        # Beside the panel, never over the curves.
        events.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)

    for axis in axes:
        axis.set_xlim(0.0, view.seconds)
    axes[-1].set_xlabel(f"time (s); each clip is tiled or centre-cropped to {view.seconds:g} s as the model hears it")
    figure.text(_LEFT, caption_top, caption_text, va="top", ha="left", fontsize=_CAPTION_FONT, linespacing=1.2)
    return figure


__all__ = ["DifferenceView", "compute_difference_view", "plot_difference", "FIGSIZE", "DPI"]
