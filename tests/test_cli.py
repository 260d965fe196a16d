"""The `adiff` command: explain (text, JSON, plot, CSV batches), the front-ends, and one-line errors.

Two runs go through a subprocess (what a user's shell sees: exit codes, stdout, stderr); the rest call
`adiff.cli.main` in-process, which is the same code without the interpreter start-up.
"""

import csv
import json
import os
import subprocess
import sys

import pytest
import soundfile
import yaml
from adiff_testing import FakeHfApi, png_size, save_tiny_model, tone_and_burst, write_wav
from conftest import FIXTURES, REPO_ROOT

import adiff.hub
from adiff.cli import main
from adiff.plot import DPI, FIGSIZE
from processing_adiff import TIER_PROMPTS


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny_adiff"))


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audio")
    tone, burst = tone_and_burst(seconds=3.0, burst=(1.0, 2.0))
    write_wav(folder / "tone.wav", tone), write_wav(folder / "burst.wav", burst)
    return folder


def run_adiff(*args, cwd=REPO_ROOT):
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO_ROOT))
    return subprocess.run([sys.executable, "-m", "adiff", *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def one_line_error(stderr: str, *fragments: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_explain_json_and_plot(model_dir, audio, tmp_path):
    plot = tmp_path / "figures" / "diff.png"
    result = run_adiff("explain", audio / "tone.wav", audio / "burst.wav", "--model", model_dir, "--tier", "1", "3",
                       "--max-new-tokens", "4", "--json", "--plot", plot)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) == {"audio1", "audio2", "model", "results", "plot"}
    assert (out["audio1"], out["audio2"], out["model"], out["plot"]) == (
        str(audio / "tone.wav"), str(audio / "burst.wav"), str(model_dir), str(plot))
    assert [(r["tier"], r["task"], r["prompt"]) for r in out["results"]] == [(1, None, TIER_PROMPTS[1]),
                                                                           (3, None, TIER_PROMPTS[3])]
    assert all(set(r) == {"tier", "task", "prompt", "generated_text"} and isinstance(r["generated_text"], str)
               for r in out["results"])
    assert png_size(plot) == (int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI))


def test_explain_pairs_csv(model_dir, audio, tmp_path, capsys):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("filepath1,filepath2,input\ntone.wav,burst.wav,explain the difference in few words\n"
                     "burst.wav,tone.wav,caption the first audio\n")
    out = tmp_path / "results" / "explained.csv"
    assert main(["explain", "--pairs", str(pairs), "--audio-dir", str(audio), "--out", str(out), "--model",
                 str(model_dir), "--max-new-tokens", "4", "--batch-size", "2"]) == 0
    stderr = capsys.readouterr().err
    assert "explaining: 100%" in stderr and "Wrote 2 explanation(s) for 2 pair(s)" in stderr
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["audio1"], r["audio2"], r["tier"], r["task"]) for r in rows] == [
        ("tone.wav", "burst.wav", "1", ""), ("burst.wav", "tone.wav", "", "caption_first")]
    assert list(rows[0]) == ["audio1", "audio2", "tier", "task", "prompt", "generated_text"]


def test_user_mistake_is_one_line_and_exit_code_1(model_dir, audio):
    result = run_adiff("explain", audio / "tone.wav", audio / "missing.wav", "--model", model_dir)
    assert result.returncode == 1 and result.stdout == ""
    one_line_error(result.stderr, "adiff explain: error: Audio file not found:", "missing.wav")


def test_explain_text_output_and_usage_errors(model_dir, audio, capsys):
    pair = [str(audio / "tone.wav"), str(audio / "burst.wav")]
    assert main(["explain", *pair, "--model", str(model_dir), "--max-new-tokens", "3"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1  # one answer, the default tier
    assert main(["explain", *pair, "--model", str(model_dir), "--max-new-tokens", "3", "--tier", "1", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["Tier 1", "Tier 2"]
    for argv, fragments in (
            (["explain", pair[0]], ["explain needs two audio files (A B) or --pairs CSV; got 1 file(s)"]),
            (["explain", "--pairs", "p.csv"], ["--pairs needs --out results.csv"]),
            (["explain", *pair, "--out", "r.csv"], ["--out is for --pairs"])):
        assert main(argv) == 2
        one_line_error(capsys.readouterr().err, *fragments, "(see adiff explain --help)")
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", *pair, "--tier", "4"])
    assert exit_info.value.code == 2
    one_line_error(capsys.readouterr().err, "argument --tier: invalid choice: 4")


@pytest.mark.parametrize("argv, line", [
    (["push", "m", "user/x", "--privte"],
     "adiff push: error: unrecognized arguments: --privte; did you mean --private? (see adiff push --help)"),
    (["convert-official", "a.ckpt", "out", "--tokeniser", "gpt2"], "adiff convert-official: error: unrecognized "
     "arguments: --tokeniser gpt2; did you mean --tokenizer? (see adiff convert-official --help)"),
    (["--debugg"], "adiff: error: unrecognized arguments: --debugg; did you mean --debug? (see adiff --help)"),
])
def test_unknown_options_are_named_by_their_command_with_the_closest_option(argv, line, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == line + "\n"


def test_pairs_csv_errors(model_dir, audio, tmp_path, capsys):
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("first,second\na.wav,b.wav\n")
    missing = tmp_path / "missing.csv"
    missing.write_text("audio1,audio2\nnope1.wav,tone.wav\nnope2.wav,tone.wav\n")
    folder_row = tmp_path / "folder_row.csv"
    folder_row.write_text(f"audio1,audio2\ntone.wav,{tmp_path}\n")
    for csv_path, fragments in ((bad_header, ["needs the columns audio1,audio2"]),
                                (missing, ["2 audio file(s) listed", "do not exist (first:", "nope1.wav"]),
                                (tmp_path, ["is a folder; give the CSV file inside it"]),
                                (folder_row, ["Row 2 of", f"audio2 {tmp_path} is a folder, not an audio file"])):
        code = main(["explain", "--pairs", str(csv_path), "--audio-dir", str(audio), "--out", str(tmp_path / "o.csv"),
                     "--model", str(model_dir)])
        assert code == 1
        one_line_error(capsys.readouterr().err, *fragments)


def test_explain_without_model_says_the_default_is_missing(audio, capsys, monkeypatch, tmp_path):
    # A checkout or wheel without the shipped weights: the default folder holds no config.json.
    from adiff import default_model

    monkeypatch.setattr("adiff.cli.default_model_dir",
                        lambda: default_model.default_model_dir(tmp_path / "not_installed"))
    assert main(["explain", str(audio / "tone.wav"), str(audio / "burst.wav")]) == 1
    one_line_error(capsys.readouterr().err, "The default ADIFF model is not installed", "--model path/to/model")


@pytest.mark.parametrize("argv, usage", [
    (["--help"], "usage: adiff"),
    (["explain", "--help"], "usage: adiff explain"),
    (["push", "--help"], "usage: adiff push"),
    (["convert-official", "--help"], "usage: adiff convert-official"),
    # the training/ command lines name the command the user typed, not the module behind it
    (["synth", "--help"], "usage: adiff synth "),
    (["train", "--help"], "usage: adiff train "),
    (["evaluate", "--help"], "usage: adiff evaluate "),
])
def test_help_everywhere(argv, usage, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(usage)


@pytest.mark.parametrize("command", ["synth", "train", "evaluate"])
def test_forwarded_usage_errors_name_the_adiff_command(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command])  # each misses a required argument
    assert exit_info.value.code == 2
    assert f"adiff {command}: error:" in capsys.readouterr().err


def test_synth_evaluate_push_front_ends(model_dir, tmp_path, monkeypatch, capsys):
    corpus, evaluation = tmp_path / "corpus", tmp_path / "evaluation"
    assert main(["synth", "--out", str(corpus), "--splits", "test=2", "--seconds", "2", "--sample-rate", "16000"]) == 0
    assert (corpus / "test.csv").is_file()
    assert main(["evaluate", str(model_dir), str(corpus), "--metrics", "bleu", "--no-behaviour", "--tiers", "1",
                 "--max-new-tokens", "3", "--no-progress", "--output-dir", str(evaluation)]) == 0
    assert (evaluation / "report.json").is_file()

    exported = tmp_path / "hub"
    assert main(["push", str(model_dir), "someone/adiff-tiny", "--results", str(evaluation), "--out", str(exported),
                 "--dataset", "someone/synthdiff"]) == 0
    assert {"pipeline.py", "README.md", "model.safetensors"} <= {path.name for path in exported.iterdir()}
    header = yaml.safe_load((exported / "README.md").read_text().split("---\n")[1])
    assert header["datasets"] == ["someone/synthdiff"] and header["model-index"][0]["name"] == "adiff-tiny"
    metrics = [m["name"] for r in header["model-index"][0]["results"] for m in r["metrics"]]
    assert any(name.startswith("BLEU") for name in metrics), metrics

    FakeHfApi.calls = []
    monkeypatch.setattr(adiff.hub, "HfApi", FakeHfApi)
    capsys.readouterr()
    assert main(["push", str(model_dir), "someone/adiff-tiny", "--private", "--token", "hf_x"]) == 0
    assert [call[0] for call in FakeHfApi.calls] == ["init", "create_repo", "upload_folder"]
    assert "Uploaded" in capsys.readouterr().out
    assert main(["push", str(tmp_path / "nowhere"), "someone/x"]) == 1
    one_line_error(capsys.readouterr().err, "adiff push: error: Model folder not found")


def test_convert_official_front_end(tmp_path, capsys):
    out = tmp_path / "converted"
    assert main(["convert-official", str(FIXTURES / "official" / "official_tiny.ckpt"), str(out), "--config",
                 str(FIXTURES / "official" / "official_tiny_config.json"), "--tokenizer",
                 str(FIXTURES / "gpt2_tokenizer")]) == 0
    assert {"config.json", "model.safetensors", "processor_config.json"} <= {p.name for p in out.iterdir()}
    assert f"Saved to {out}" in capsys.readouterr().out
    assert main(["convert-official", str(tmp_path / "missing.ckpt"), str(out)]) == 1
    one_line_error(capsys.readouterr().err, "adiff convert-official: error:")


def test_bundled_examples_are_short_mono_16k_clips():
    examples = sorted((REPO_ROOT / "adiff" / "examples").glob("*.wav"))
    # Three SynthDiff scenes and a real prompt at two levels; nothing else bloats the package.
    assert {path.name for path in examples} == {"siren_street.wav", "birds_rain.wav", "birds_rain_muffled.wav",
                                                 "speech.wav", "speech_quieter.wav"}
    for path in examples:
        info = soundfile.info(path)
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (16000, 1, "PCM_16", 160000), path
        assert 0.01 < float(abs(soundfile.read(path)[0]).max()) < 1.0, f"{path} is silent or clipped"
