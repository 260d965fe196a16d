"""Stage 1a's data and loss: clip labels, background labels and frame-level targets from event times."""

import numpy as np
import pytest
import soundfile as sf
import torch
from training_testing import TINY_AUDIO
from transformers import ClapAudioConfig

from processing_adiff import AdiffFeatureExtractor
from training.data.stage_data import ClipTaggingData
from training.synthdiff.corpus import event_times
from training.tagger import AdiffAudioTagger

torch.set_num_threads(1)

RATE = 16000


def _write_clips(folder, rows, seconds=(10.0, 10.0, 4.0)):
    folder.mkdir(parents=True, exist_ok=True)
    for k, length in enumerate(seconds):
        sf.write(str(folder / f"c{k}.wav"), np.zeros(int(length * RATE), dtype=np.float32) + 0.01, RATE)
    path = folder / "clips.csv"
    path.write_text("filepath,labels,background,events\n" + "".join(f"{r}\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def clips_csv(tmp_path):
    return _write_clips(tmp_path, ["c0.wav,beep;drum,rain,beep@0.000-0.625;drum@5.000-5.100",
                                   "c1.wav,,silence,",
                                   "c2.wav,beep,rain,beep@1.000-2.000"])


def test_frame_targets_follow_event_times_and_backgrounds_span_the_clip(clips_csv):
    data = ClipTaggingData(clips_csv, AdiffFeatureExtractor(), training=False, background_labels=True, frame_steps=32)
    assert data.label_names == ["background:rain", "background:silence", "beep", "drum"]
    batch = data.collate([(item, 0) for item in data.items])
    frames, clips = batch["frame_labels"], batch["labels"]
    assert frames.shape == (3, 4, 32) and clips.shape == (3, 4)
    # 10 s over 32 steps = 0.3125 s per step: beep 0-0.625 s -> steps 0-1; drum 5.0-5.1 s -> step 16 only.
    assert frames[0, 2].nonzero().flatten().tolist() == [0, 1]
    assert frames[0, 3].nonzero().flatten().tolist() == [16]
    assert frames[0, 0].all() and not frames[0, 1].any()  # the background is on at every step
    assert frames[1, 1].all() and frames[1, 2:].sum() == 0  # a clip without events: only its background
    # Every frame target agrees with the clip label: on somewhere <=> the class is in the clip.
    assert torch.equal(frames.amax(-1), clips)
    # The 4 s clip is tiled to 10 s, so its event times no longer match its frames: masked out.
    assert batch["frame_mask"].tolist() == [True, True, False]


def test_without_events_column_or_frame_steps_there_are_no_frame_targets(tmp_path, clips_csv):
    data = ClipTaggingData(clips_csv, AdiffFeatureExtractor())
    assert "frame_labels" not in data.collate([(data.items[0], 0)])
    plain = tmp_path / "plain.csv"
    plain.write_text("filepath,labels\nc0.wav,beep\n", encoding="utf-8")
    data = ClipTaggingData(plain, AdiffFeatureExtractor(), frame_steps=32)
    assert data.frame_steps is None and data.items[0]["events"] == []


def test_bad_event_entries_say_where_and_what_is_expected(tmp_path):
    bad = _write_clips(tmp_path / "a", ["c0.wav,beep,rain,beep@1.0"])
    with pytest.raises(ValueError, match=r"line 2: events entry 'beep@1.0' is not `class@start-end`"):
        ClipTaggingData(bad, AdiffFeatureExtractor())
    backwards = _write_clips(tmp_path / "b", ["c0.wav,beep,rain,beep@3.0-1.0"])
    with pytest.raises(ValueError, match="needs 0 <= start <= end"):
        ClipTaggingData(backwards, AdiffFeatureExtractor())
    untagged = _write_clips(tmp_path / "c", ["c0.wav,beep,rain,drum@1.0-2.0"])
    with pytest.raises(ValueError, match=r"events \['drum'\] are not in the clip's labels"):
        ClipTaggingData(untagged, AdiffFeatureExtractor())
    no_background = tmp_path / "nb.csv"
    no_background.write_text("filepath,labels\nc0.wav,beep\n", encoding="utf-8")
    with pytest.raises(ValueError, match="background_labels=True needs a `background` column"):
        ClipTaggingData(no_background, AdiffFeatureExtractor(), background_labels=True)


def test_synthdiff_event_column_round_trips_into_tagging_items():
    clip = {"events": [{"class": "drum", "onset_s": 1.107, "duration_s": 1.674},
                       {"class": "alarm", "onset_s": 7.155, "duration_s": 2.116}]}
    assert event_times(clip) == "drum@1.107-2.781;alarm@7.155-9.271"


def _tiny_tagger(classes=3, **kwargs):
    config = ClapAudioConfig(**TINY_AUDIO, num_mel_bins=64)
    torch.manual_seed(0)
    return AdiffAudioTagger(config, [f"c{k}" for k in range(classes)], **kwargs).eval()


def test_tagger_frame_loss_adds_to_the_clip_loss_and_respects_the_mask():
    tagger = _tiny_tagger()
    features = torch.randn(2, 1001, 64)
    labels = torch.tensor([[1.0, 0, 0], [0, 1, 0]])
    frames = labels.unsqueeze(-1).repeat(1, 1, tagger.num_time_steps)
    with torch.no_grad():
        clip_only = tagger(features, labels=labels).loss
        both = tagger(features, labels=labels, frame_labels=frames).loss
        masked = tagger(features, labels=labels, frame_labels=frames, frame_mask=torch.tensor([False, False])).loss
        events = tagger.event_head(tagger.encoder(input_features=features.unsqueeze(1)).last_hidden_state)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(events.step_logits, frames)
    torch.testing.assert_close(both, clip_only + expected)
    torch.testing.assert_close(masked, clip_only)
    assert torch.isfinite(both)


def test_tagger_frame_loss_over_part_of_the_batch_is_the_mean_over_the_masked_in_clips():
    tagger = _tiny_tagger()
    features = torch.randn(3, 1001, 64)
    labels = torch.tensor([[1.0, 0, 0], [0, 1, 0], [1.0, 1, 0]])
    frames = torch.randint(0, 2, (3, 3, tagger.num_time_steps)).float()
    with torch.no_grad():
        clip_only = tagger(features, labels=labels).loss
        mask = torch.tensor([True, False, True])
        masked = tagger(features, labels=labels, frame_labels=frames, frame_mask=mask).loss
        events = tagger.event_head(tagger.encoder(input_features=features.unsqueeze(1)).last_hidden_state)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(events.step_logits[[0, 2]], frames[[0, 2]])
    torch.testing.assert_close(masked, clip_only + expected)


def test_tagger_rejects_frame_labels_on_another_grid():
    tagger = _tiny_tagger()
    with pytest.raises(ValueError,
                       match=r"frame_labels must have shape \(batch, classes, time steps\) = \(1, 3, 32\)"):
        tagger(torch.randn(1, 1001, 64), labels=torch.zeros(1, 3), frame_labels=torch.zeros(1, 3, 10))


def test_frame_positive_weight_weighs_the_cells_where_a_sound_is():
    plain, weighted = _tiny_tagger(), _tiny_tagger(frame_positive_weight=5.0)
    weighted.load_state_dict(plain.state_dict())
    features = torch.randn(2, 1001, 64)
    labels = torch.tensor([[1.0, 0, 0], [0, 1, 0]])
    frames = torch.zeros(2, 3, plain.num_time_steps)
    frames[0, 0, 3:5] = 1.0  # a short sound: 2 of 32 steps
    with torch.no_grad():
        clip_only = plain(features, labels=labels).loss
        grid = plain.encoder(input_features=features.unsqueeze(1)).last_hidden_state
        step_logits = plain.event_head(grid).step_logits  # (batch, classes, time steps)
        loss = weighted(features, labels=labels, frame_labels=frames).loss
    # Per cell: -(5 * y * log(sigmoid(x)) + (1 - y) * log(1 - sigmoid(x))), averaged over all cells.
    cells = -(5.0 * frames * torch.nn.functional.logsigmoid(step_logits)
              + (1 - frames) * torch.nn.functional.logsigmoid(-step_logits))
    torch.testing.assert_close(loss, clip_only + cells.mean())
    # Without positive cells the weight changes nothing.
    with torch.no_grad():
        empty = torch.zeros_like(frames)
        torch.testing.assert_close(weighted(features, labels=labels, frame_labels=empty).loss,
                                   plain(features, labels=labels, frame_labels=empty).loss)


@pytest.mark.parametrize("weight", [0.0, -1.0, True, "5", float("nan")])
def test_frame_positive_weight_must_be_a_positive_number(weight):
    with pytest.raises(ValueError, match="frame_positive_weight must be a number > 0"):
        _tiny_tagger(frame_positive_weight=weight)
