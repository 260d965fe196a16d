"""The guides' code blocks never rot: every Python block of the README, `training/README.md` and `docs/*.md` runs
(against the shipped model), every shell line is checked against what it names -- make targets, `adiff` subcommands
and their options, modules, scripts and the torch pin --, every relative link resolves, and the first-screen demo
command runs for real."""

import contextlib
import importlib.util
import io
import os
import re
import shlex
from pathlib import Path

import pytest

from adiff.default_model import DEFAULT_MODEL_DIR, is_default_model_installed

REPO = Path(__file__).resolve().parents[1]
GUIDES = [REPO / "README.md", REPO / "training" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TEXTS = {path.relative_to(REPO).as_posix(): path.read_text(encoding="utf-8") for path in GUIDES}
BLOCKS = {name: re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
          for name, text in TEXTS.items()}
PYTHON_BLOCKS = [(f"{name} python block {index}", code) for name, blocks in BLOCKS.items()
                 for index, code in enumerate(code for lang, code in blocks if lang == "python")]
SHELL_LINES = [(name, line) for name, blocks in BLOCKS.items() for lang, code in blocks
               if lang in ("bash", "sh", "shell") for line in code.splitlines() if shlex.split(line, comments=True)]
TORCH_PIN = re.search(r"torch==[\d.]+", (REPO / ".ci" / "run").read_text()).group(0)

needs_model = pytest.mark.skipif(not is_default_model_installed(), reason="adiff/default_model is not installed")


def test_readme_has_code_blocks():
    readme_python = [label for label, _ in PYTHON_BLOCKS if label.startswith("README.md ")]
    readme_shell = [line for name, line in SHELL_LINES if name == "README.md"]
    assert len(readme_python) >= 2 and len(readme_shell) >= 10
    assert len(PYTHON_BLOCKS) >= 4, "the Trainer and peft examples of training/README.md are gone"
    for name, text in TEXTS.items():
        unfilled = re.findall(r"^[A-Z_]+_SECTION$", text, flags=re.MULTILINE)
        assert not unfilled, f"{name}: sections never filled in: {unfilled}"


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("name", TEXTS)
def test_relative_links_resolve(name):
    """A guide's links to another file, or to a heading, point at something that exists (pages move; links rot)."""
    text = re.sub(r"^```.*?^```", "", TEXTS[name], flags=re.MULTILINE | re.DOTALL)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        path_part, _, anchor = target.partition("#")
        path = (REPO / name).parent / path_part if path_part else REPO / name
        assert path.exists(), f"{name}: the link ({target}) names {path}, which does not exist"
        if anchor and path.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
            assert anchor in {_anchor(h) for h in headings}, f"{name}: no heading for #{anchor} in {path.name}"


def test_model_card_keeps_the_release_history():
    """The shipped model's measurements and release history live in docs/default_model.md, and the card that
    scripts/ship_default_model.py writes carries them: the card in the package holds what a re-ship would write."""
    spec = importlib.util.spec_from_file_location("ship_default_model", REPO / "scripts" / "ship_default_model.py")
    ship = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship)
    section = ship.release_notes()
    assert section.startswith("## ") and "| 11 (shipped) |" in section
    assert section in (DEFAULT_MODEL_DIR / "README.md").read_text(encoding="utf-8")


@needs_model
@pytest.mark.parametrize("label, code", PYTHON_BLOCKS, ids=[label for label, _ in PYTHON_BLOCKS])
def test_python_block_runs(label, code, monkeypatch, tmp_path):
    # Blocks run from the repository root (they name bundled files) and write only below tmp_path or runs/.
    monkeypatch.chdir(REPO)
    from adiff_testing import FakeHfApi

    # No upload ever leaves the machine: adiff.hub holds its own reference, bound when something first imported it.
    monkeypatch.setattr("huggingface_hub.HfApi", FakeHfApi)
    monkeypatch.setattr("adiff.hub.HfApi", FakeHfApi)
    namespace = {"__name__": re.sub(r"\W", "_", label), "TMP": tmp_path}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, label, "exec"), namespace)


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
            assert option in help_text, f"line {line!r}: {option} is not an option ({help_text[:200]}...)"


def _check_shell_line(line: str) -> None:
    words = shlex.split(line, comments=True)
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # environment assignments
        words = words[1:]
    if not words:
        return
    program, args = words[0], words[1:]
    if program == "make":
        targets = re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), flags=re.MULTILINE)
        assert args and args[0] in targets, f"line {line!r}: no make target {args}"
    elif program in ("pip", "python") and "install" in args:
        assert all(w == TORCH_PIN for w in args if w.startswith("torch==")), f"{line!r} differs from {TORCH_PIN}"
    elif program == "adiff":
        command = [w for w in args if not w.startswith("-")][:1]
        _check_options(args, _help_text(command), line)
    elif program == "python" and args[:1] == ["-m"]:
        assert importlib.util.find_spec(args[1]) is not None, f"line {line!r}: no module {args[1]}"
    elif program == "accelerate":
        script = next(w for w in args if w.endswith(".py"))
        assert (REPO / script).is_file(), f"line {line!r}: no {script}"
        after = args[args.index(script) + 1:]
        _check_options(after, _help_text(["train"]), line)
        if "--config" in after and after[after.index("--config") + 1] != "...":
            assert (REPO / after[after.index("--config") + 1]).is_file(), f"line {line!r}: recipe missing"
    elif program == "python" and args and args[0].endswith(".py") or program.endswith(".sh"):
        script = REPO / (args[0] if program == "python" else program)
        assert script.is_file(), f"line {line!r}: no {script}"
        if program.endswith(".sh"):
            assert os.access(script, os.X_OK), f"{script} is not executable"
    else:
        raise AssertionError(f"line {line!r}: teach tests/test_readme.py how to check {program!r}")


@pytest.mark.parametrize("name, line", SHELL_LINES, ids=[f"{name}: {line}" for name, line in SHELL_LINES])
def test_shell_line_names_real_things(name, line):
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
