"""The README's code blocks never rot: every Python block runs (against the shipped model), and every shell line is
checked against what it names -- make targets, `adiff` subcommands and their options, modules, scripts and the torch
pin -- and the first-screen demo command runs for real."""

import contextlib
import importlib.util
import io
import os
import re
import shlex
from pathlib import Path

import pytest

from adiff.default_model import is_default_model_installed

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```", README, flags=re.MULTILINE | re.DOTALL)
PYTHON_BLOCKS = [code for lang, code in BLOCKS if lang == "python"]
SHELL_LINES = [line for lang, code in BLOCKS if lang in ("bash", "sh", "shell") for line in code.splitlines()]
TORCH_PIN = re.search(r"torch==[\d.]+", (REPO / ".ci" / "run").read_text()).group(0)

needs_model = pytest.mark.skipif(not is_default_model_installed(), reason="adiff/default_model is not installed")


def test_readme_has_code_blocks():
    assert len(PYTHON_BLOCKS) >= 2 and len(SHELL_LINES) >= 10
    unfilled = re.findall(r"^[A-Z_]+_SECTION$", README, flags=re.MULTILINE)
    assert not unfilled, f"README sections never filled in: {unfilled}"


@needs_model
@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_python_block_runs(index, monkeypatch, tmp_path):
    # Blocks run from the repository root (they name bundled files) and write only below tmp_path or runs/.
    monkeypatch.chdir(REPO)
    from adiff_testing import FakeHfApi

    monkeypatch.setattr("huggingface_hub.HfApi", FakeHfApi)
    namespace = {"__name__": f"readme_block_{index}", "TMP": tmp_path}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(PYTHON_BLOCKS[index], f"README.md python block {index}", "exec"), namespace)


def _help_text(argv: list[str]) -> str:
    """`--help` of an `adiff` subcommand or a module's `main`, captured in-process (no interpreter start-up)."""
    from adiff.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main([*argv, "--help"])
    return out.getvalue()


def _check_options(words: list[str], help_text: str, line: str) -> None:
    for word in words:
        if word.startswith("--"):
            option = word.split("=")[0]
            assert option in help_text, f"README line {line!r}: {option} is not an option ({help_text[:200]}...)"


def _check_shell_line(line: str) -> None:
    words = shlex.split(line, comments=True)
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # environment assignments
        words = words[1:]
    if not words:
        return
    program, args = words[0], words[1:]
    if program == "make":
        targets = re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), flags=re.MULTILINE)
        assert args and args[0] in targets, f"README line {line!r}: no make target {args}"
    elif program in ("pip", "python") and "install" in args:
        assert all(w == TORCH_PIN for w in args if w.startswith("torch==")), f"{line!r} differs from {TORCH_PIN}"
    elif program == "adiff":
        command = [w for w in args if not w.startswith("-")][:1]
        _check_options(args, _help_text(command), line)
    elif program == "python" and args[:1] == ["-m"]:
        assert importlib.util.find_spec(args[1]) is not None, f"README line {line!r}: no module {args[1]}"
    elif program == "accelerate":
        script = next(w for w in args if w.endswith(".py"))
        assert (REPO / script).is_file(), f"README line {line!r}: no {script}"
        after = args[args.index(script) + 1:]
        _check_options(after, _help_text(["train"]), line)
        if "--config" in after and after[after.index("--config") + 1] != "...":
            assert (REPO / after[after.index("--config") + 1]).is_file(), f"README line {line!r}: recipe missing"
    elif program == "python" and args and args[0].endswith(".py") or program.endswith(".sh"):
        script = REPO / (args[0] if program == "python" else program)
        assert script.is_file(), f"README line {line!r}: no {script}"
        if program.endswith(".sh"):
            assert os.access(script, os.X_OK), f"{script} is not executable"
    else:
        raise AssertionError(f"README line {line!r}: teach tests/test_readme.py how to check {program!r}")


@pytest.mark.parametrize("line", [line for line in SHELL_LINES if shlex.split(line, comments=True)])
def test_shell_line_names_real_things(line):
    _check_shell_line(line)


@needs_model
def test_demo_command_runs(tmp_path, monkeypatch, capsys):
    demo = re.search(r"^demo:\n\t(.+)$", (REPO / "Makefile").read_text(), flags=re.MULTILINE).group(1)
    words = shlex.split(demo)
    assert words[0] == "adiff"
    words[words.index("--plot") + 1] = str(tmp_path / "demo.png")
    monkeypatch.chdir(REPO)
    from adiff.cli import main

    assert main(words[1:]) in (0, None)
    out = capsys.readouterr().out
    assert out.count("Tier") >= 3 or out.count("tier") >= 3, out
    assert (tmp_path / "demo.png").stat().st_size > 10_000
