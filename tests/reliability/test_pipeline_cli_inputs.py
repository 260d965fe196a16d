"""The input-handling table through `pipeline("audio-difference")` and the `adiff explain` command: the same bad input
gives the same error as through the processor (the command prints it as one line and exits 1), and unusual but
valid input gives an explanation."""

import re

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import pipeline
from transformers.testing_utils import CaptureLogger

import adiff  # noqa: F401  (registers the pipeline task)
from adiff.cli import main
from processing_adiff import processing_adiff as processing_module

from .conftest import BAD_FILES, SR, tone

NEW_TOKENS = 3
MODEL_RATE = 32000  # what the pipeline assumes for raw arrays: the feature extractor's rate


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_model, processor):
    folder = tmp_path_factory.mktemp("pipeline_model")
    tiny_model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def pipe(model_dir):
    return pipeline("audio-difference", model=str(model_dir), device="cpu")


def explain(pipe, *args, **kwargs):
    return pipe(*args, max_new_tokens=NEW_TOKENS, **kwargs)


def is_explanation(result) -> bool:
    return isinstance(result, dict) and set(result) == {"generated_text"} and isinstance(result["generated_text"], str)


def run_cli(model_dir, *args) -> int:
    return main(["explain", *map(str, args), "--model", str(model_dir), "--max-new-tokens", str(NEW_TOKENS)])


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


# --------------------------------------------------------------------------------------------------- pipeline
@pytest.mark.parametrize("name, error, message", BAD_FILES)
def test_pipeline_raises_the_processors_error_for_bad_files(pipe, files, name, error, message):
    with pytest.raises(error, match=message):
        explain(pipe, str(files / "good.wav"), str(files / name))


@pytest.mark.parametrize("second, error, message", [
    (np.zeros(0, np.float32), ValueError, r"the second audio of pair 0 is empty \(shape \(0,\)\)"),
    (np.array([0.1, np.nan], np.float32), ValueError, r"the second audio of pair 0 contains 1 NaN or infinite"),
    (np.zeros(100, np.int64), TypeError, r"has dtype int64; expected floating point samples or integer PCM"),
    (np.zeros((2, 3, 100), np.float32), ValueError, r"has shape \(2, 3, 100\); expected \(samples,\)"),
    ({"array": np.zeros(100, np.float32), "sampling_rate": 0}, ValueError,
     r"sampling_rate=0 Hz for the audio dict is outside the accepted range \[1000, 768000\] Hz"),
    ({"array": np.zeros(100, np.float32), "sampling_rate": 1_000_000}, ValueError,
     r"sampling_rate=1000000 Hz for the audio dict is outside the accepted range"),
    ({"array": np.zeros(100, np.float32)}, ValueError,
     r"An audio dict needs exactly one of 'array' / 'raw' and a 'sampling_rate', got keys \['array'\]"),
])
def test_pipeline_raises_the_processors_error_for_bad_arrays(pipe, clips, second, error, message):
    with pytest.raises(error, match=message):
        explain(pipe, clips[0], second)


def test_pipeline_errors_name_the_pair_by_its_index_in_the_list(pipe, clips):
    """The pipeline preprocesses one pair at a time; an error still names the pair's place in the user's list."""
    empty, with_nan = np.zeros(0, np.float32), np.array([0.1, np.nan], np.float32)
    pairs = [(clips[0], clips[1]), (clips[2], clips[3]), (clips[4], empty)]
    for batch_size in (1, 2):
        with pytest.raises(ValueError, match=r"^the second audio of pair 2 is empty \(shape \(0,\)\)"):
            explain(pipe, pairs, batch_size=batch_size)
    with pytest.raises(ValueError, match=r"^the first audio of pair 1 contains 1 NaN or infinite"):
        list(explain(pipe, (pair for pair in [(clips[0], clips[1]), (with_nan, clips[2])])))  # a generator
    with pytest.raises(TypeError, match=r"^The second audio of pair 1 is a float; expected a numpy array"):
        explain(pipe, [(clips[0], clips[1]), {"audio1": clips[2], "audio2": 0.5}])
    with pytest.raises(ValueError, match=r"must be a pair of audios, got a str \(item 1 of the list\)\. Call"):
        explain(pipe, [(clips[0], clips[1]), "b.wav"])
    with pytest.raises(ValueError, match=r"^the second audio of pair 0 is empty"):  # one pair: pair 0
        explain(pipe, clips[0], empty)


def test_pipeline_takes_a_dataset_and_its_errors_name_the_item(pipe, clips):
    """`pipe(KeyDataset(ds, "pair"))` (any torch `Dataset` of pairs) streams what the same list gives, and an error
    names the bad item's index in the dataset, not "pair 0" for every item."""
    from transformers.pipelines.pt_utils import KeyDataset

    good = [(clips[0], clips[1]), (clips[2], clips[3])]
    rows = [{"pair": pair} for pair in good]
    assert list(explain(pipe, KeyDataset(rows, "pair"), batch_size=2)) == explain(pipe, good, batch_size=2)
    bad = rows + [{"pair": (clips[4], np.zeros(0, np.float32))}]
    with pytest.raises(ValueError, match=r"^the second audio of pair 2 is empty \(shape \(0,\)\)"):
        list(explain(pipe, KeyDataset(bad, "pair")))
    with pytest.raises(ValueError, match=r"must be a pair of audios, got a str \(item 1 of the dataset\)\. Call"):
        list(explain(pipe, KeyDataset([rows[0], {"pair": "b.wav"}], "pair")))


def test_pipeline_takes_raw_arrays_at_the_models_rate(pipe, clips):
    """A raw array carries no rate: the pipeline reads it at the model's 32 kHz (audio at another rate goes in a
    `{"array", "sampling_rate"}` dict), and a `sampling_rate=` keyword is refused with that advice, not ignored."""
    assert pipe.processor.feature_extractor.sampling_rate == MODEL_RATE
    raw = explain(pipe, clips[0], clips[1])
    as_dicts = explain(pipe, {"array": clips[0], "sampling_rate": MODEL_RATE},
                       {"array": clips[1], "sampling_rate": MODEL_RATE})
    assert is_explanation(raw) and raw == as_dicts
    advice = (r"^The audio-difference pipeline takes no sampling_rate= \(got 16000\): raw arrays are taken at the "
              r"model's rate \(32 kHz\)\. For audio at another rate pass \{\"array\": a, \"sampling_rate\": 16000\} "
              r"for each audio \(or file paths, which carry their rate\); it is resampled\.$")
    with pytest.raises(TypeError, match=advice):
        explain(pipe, clips[0], clips[1], sampling_rate=SR)
    with pytest.raises(TypeError, match=advice):  # also when the pipeline is built
        pipeline("audio-difference", model=pipe.model.name_or_path, device="cpu", sampling_rate=SR)


def test_pipeline_explains_unusual_but_valid_audio(pipe, clips):
    silence = np.zeros(SR, np.float32)
    stereo = torch.from_numpy(np.stack([clips[2], clips[3]]))  # (channels, samples)
    cases = [
        (silence, silence),
        ({"array": np.array([0.3], np.float32), "sampling_rate": 96000}, {"array": clips[1][: SR // 100],
                                                                          "sampling_rate": SR}),  # 1 sample, 10 ms
        (stereo, stereo.T.contiguous()),
        ((clips[2] * 32767).astype(np.int16), clips[2].astype(np.float64)),
        ({"array": np.tile(clips[3], 75), "sampling_rate": SR}, clips[0]),  # 75 s: centre-cropped to 10 s
    ]
    for first, second in cases:
        assert is_explanation(explain(pipe, first, second))


def test_pipeline_prompts_and_keywords(pipe, clips):
    with CaptureLogger(processing_module.logger) as captured:
        result = explain(pipe, clips[0], clips[1], prompt="explain the difference in detail, " * 10)
    assert is_explanation(result)
    assert "more than prompt_length=8; it is cut to 8 tokens, keeping the final EOS" in captured.out
    with pytest.raises(ValueError, match=r"Unknown task 'caption_third'; valid tasks are \['caption_both', "
                                         r"'caption_first', 'caption_second'\]"):
        explain(pipe, clips[0], clips[1], task="caption_third")
    with pytest.raises(ValueError, match=r"Unknown tier 0; valid tiers are \[1, 2, 3\]"):
        explain(pipe, clips[0], clips[1], tier=0)
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) prompts= \(did you mean prompt=\?\)"):
        explain(pipe, clips[0], clips[1], prompts="what changed?")
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) max_new_token= \(did you mean "
                                        r"max_new_tokens=\?\)"):
        pipe(clips[0], clips[1], max_new_token=NEW_TOKENS)


def test_pipeline_mismatched_batch(pipe, clips):
    firsts, seconds = clips[:3], clips[3:5]  # 3 first audios, 2 second audios
    with pytest.raises(ValueError, match=r"audio\[0\] holds 3 audio\(s\); every item of the batch must be a \(first, "
                                         r"second\) pair of audios\. Got 2 items\."):
        explain(pipe, (firsts, seconds))
    with pytest.raises(ValueError, match=r"Each input of the audio-difference pipeline must be a pair of audios, "
                                         r"got a list of 1 items"):
        explain(pipe, [(clips[0], clips[1]), [clips[2]]])


# --------------------------------------------------------------------------------------------------- command line
def test_cli_reports_each_bad_file_in_one_line_with_exit_status_1(model_dir, files, capsys):
    for name, _, message in BAD_FILES:
        code = run_cli(model_dir, files / "good.wav", files / name)
        captured = capsys.readouterr()
        assert code == 1 and captured.out == "", name
        line = one_line(captured.err)
        assert line.startswith("adiff explain: error: ") and re.search(message, line), (name, line)
        if name == "a_folder.wav":  # a folder is not reported as a missing file
            assert line == f"adiff explain: error: {files / name} is a directory; pass the path of one audio file."


def test_cli_checks_both_files_before_loading_the_model(files, tmp_path, capsys):
    """The audio is checked first: a bad file is reported even when the model folder would fail to load."""
    assert run_cli(tmp_path / "no_model_here", files / "a_folder.wav", files / "good.wav") == 1
    assert one_line(capsys.readouterr().err) == (f"adiff explain: error: {files / 'a_folder.wav'} is a directory; "
                                                 "pass the path of one audio file.")
    assert run_cli(tmp_path / "no_model_here", files / "good.wav", files / "truncated.wav") == 1
    assert "truncated.wav is truncated" in one_line(capsys.readouterr().err)


def test_cli_explains_silent_and_very_short_files(model_dir, tmp_path, capsys):
    sf.write(tmp_path / "silence.wav", np.zeros(SR, np.float32), SR, subtype="PCM_16")
    sf.write(tmp_path / "ten_ms.flac", tone(440, 0.01, 48000), 48000)
    sf.write(tmp_path / "one_sample.wav", np.array([0.5], np.float32), 44100, subtype="FLOAT")
    for first, second in (("silence.wav", "silence.wav"), ("ten_ms.flac", "one_sample.wav")):
        assert run_cli(model_dir, tmp_path / first, tmp_path / second) == 0
        captured = capsys.readouterr()
        assert len(captured.out.strip("\n").splitlines()) == 1 and "error" not in captured.err


@pytest.mark.parametrize("options, message", [
    (["--tiers", "1"], r"^adiff explain: error: unrecognized arguments: --tiers 1; did you mean --tier\? \(see adiff "
                       r"explain --help\)$"),
    (["--tiers=1", "--sed", "3"], r"^adiff explain: error: unrecognized arguments: --tiers=1 --sed 3; did you mean "
                                  r"--tier for --tiers, --seed for --sed\? \(see adiff explain --help\)$"),
    (["--zzzz"], r"^adiff explain: error: unrecognized arguments: --zzzz \(see adiff explain --help\)$"),
    (["--task", "caption"], r"^adiff explain: error: argument --task: invalid choice: 'caption' \(choose from "
                            r"'caption_both', 'caption_first', 'caption_second'\) \(see adiff explain --help\)$"),
    (["--tier", "1", "--task", "caption_first"], r"^adiff explain: error: argument --task: not allowed with argument "
                                                 r"--tier"),
])
def test_cli_option_mistakes_exit_2_in_one_line(model_dir, files, capsys, options, message):
    with pytest.raises(SystemExit) as exited:
        run_cli(model_dir, files / "good.wav", files / "good.wav", *options)
    assert exited.value.code == 2
    assert re.search(message, one_line(capsys.readouterr().err))
