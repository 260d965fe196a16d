"""adiff.plot: the difference view points at where two clips differ, and the figure has the promised panels."""

import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from adiff_testing import png_size, save_tiny_model, tone_and_burst
from transformers import pipeline

import adiff  # noqa: F401  (registers the task)
from adiff.plot import DPI, FIGSIZE, DifferenceView, compute_difference_view, plot_difference


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    return pipeline("audio-difference", model=str(save_tiny_model(tmp_path_factory.mktemp("tiny"))), device="cpu")


@pytest.fixture(scope="module")
def pipe_without_events(tmp_path_factory):
    folder = save_tiny_model(tmp_path_factory.mktemp("tiny_no_events"), num_event_classes=0)
    return pipeline("audio-difference", model=str(folder), device="cpu")


def view_of(pipe, first, second):
    features = pipe.preprocess((first, second))["input_features"]
    return compute_difference_view(pipe.model, features, pipe.processor.feature_extractor.max_length_s)


def test_distance_peaks_where_the_clips_differ(pipe):
    tone, burst = tone_and_burst(burst=(4.0, 6.0))
    view = view_of(pipe, tone, burst)
    assert view.log_mels.shape == (2, 1001, 64) and view.seconds == 10.0
    assert view.distance.shape == (32,)  # HTSAT's final token grid: 32 time steps over 10 s
    start, end = view.most_different()
    assert 3.5 <= start and end <= 6.5, (start, end)
    times = (np.arange(32) + 0.5) * 10.0 / 32
    inside = (times > 4.0) & (times < 6.0)
    assert view.distance[inside].min() > 10 * view.distance[~inside & ((times < 3.5) | (times > 6.5))].max()
    same = view_of(pipe, tone, tone)
    assert np.abs(same.distance).max() < 1e-5


def test_event_probabilities_only_with_an_event_head(pipe, pipe_without_events):
    tone, burst = tone_and_burst()
    view = view_of(pipe, tone, burst)
    features = pipe.preprocess((tone, burst))["input_features"]
    expected = pipe.model.model.get_audio_events(features).frame_probs[0]
    np.testing.assert_allclose(view.event_probs, expected.detach().numpy(), atol=1e-6)
    assert view.event_labels == [f"class {index}" for index in range(5)]
    assert view_of(pipe_without_events, tone, burst).event_probs is None


def test_figure_has_spectrograms_strip_events_and_caption(pipe, pipe_without_events, tmp_path):
    tone, burst = tone_and_burst()
    captions = ["Tier 1: Audio 2 has a burst of noise.", "Tier 2: " + "A long explanation. " * 20]
    figure = plot_difference(view_of(pipe, tone, burst), captions, names=("tone.wav", "burst.wav"))
    titles = [axis.get_title(loc="left") for axis in figure.axes]
    assert titles[:2] == ["tone.wav", "burst.wav"]
    assert titles[2].startswith("Where the clips differ") and titles[3].startswith("Sound events")
    texts = " ".join(text.get_text() for text in figure.texts)
    assert "Tier 1: Audio 2 has a burst of noise." in texts and "Tier 2: A long explanation." in texts
    path = tmp_path / "figure.png"
    figure.savefig(path, dpi=DPI)
    assert png_size(path) == (int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI))

    plain = plot_difference(view_of(pipe_without_events, tone, burst), "One explanation.")
    assert not any(axis.get_title(loc="left").startswith("Sound events") for axis in plain.axes)


def test_view_of_a_batch_is_refused(pipe):
    tone, burst = tone_and_burst(seconds=1.0, burst=(0.2, 0.4))
    features = pipe.processor(audio=[(tone, burst), (burst, tone)], tier=1, sampling_rate=32000)["input_features"]
    with pytest.raises(ValueError, match=r"one pair, shape \(1, 2, frames, mel_bins\); got \(2, 2, 1001, 64\)"):
        compute_difference_view(pipe.model, features, 10.0)
    with torch.no_grad():
        assert compute_difference_view(pipe.model, features[:1], 10.0).distance.shape == (32,)


def _inside(box, outer) -> bool:
    return box.x0 >= outer.x0 and box.y0 >= outer.y0 and box.x1 <= outer.x1 and box.y1 <= outer.y1


def test_a_long_tier_3_text_and_the_legend_fit_in_the_figure(pipe):
    tone, burst = tone_and_burst()
    view = view_of(pipe, tone, burst)
    view.event_labels = [f"Siren (civil defense) number {index}" for index in range(5)]  # longer than the legend
    detail = "Tier 3: " + " ".join(f"Sentence {index} says what differs in the second clip." for index in range(40))
    figure = plot_difference(view, ["Tier 1: A burst.", "Tier 2: Audio 2 has a burst.", detail])
    renderer = FigureCanvasAgg(figure).get_renderer()
    page = figure.bbox
    assert figure.get_figheight() > FIGSIZE[1]  # grown for the caption, not cut
    [caption] = figure.texts
    assert " ".join(caption.get_text().split()).endswith("Sentence 39 says what differs in the second clip.")
    assert _inside(caption.get_window_extent(renderer), page)
    events = next(axis for axis in figure.axes if axis.get_title(loc="left").startswith("Sound events"))
    legend = events.get_legend().get_window_extent(renderer)
    assert legend.x0 >= events.get_window_extent(renderer).x1 and _inside(legend, page)  # beside the curves


def test_the_distance_title_names_the_stretch_or_says_why_there_is_none():
    def view(distance):
        return DifferenceView(log_mels=np.zeros((2, 1001, 64)), seconds=10.0, distance=np.asarray(distance, float))

    # Different everywhere, most in the middle: half of the peak would mark all 10 s; halfway from the floor does not.
    bump = view([0.6] * 4 + [0.9, 1.0, 0.95] + [0.6] * 3)
    assert bump.most_different() == (4.0, 7.0) and bump.difference_title().endswith("most at 4.0-7.0 s")
    assert view([0.5, 0.5, 0.5, 0.5]).difference_title().endswith("throughout, no stretch stands out")
    same = view([2e-7, -1e-7, 0.0, 1e-7])
    assert same.most_different() is None
    assert same.difference_title().endswith("nowhere: the encoder hears the same sound")
    plot_difference(same, "Both audios are the same.")  # no stretch to mark: draws without one
