"""The `adiff` command: explain audio differences, and thin front-ends over the library and `training/`.

    adiff explain A.wav B.wav --tier 1 2 3 --plot diff.png
    adiff explain --pairs pairs.csv --out results.csv
    adiff synth | train | evaluate ...          (the training/ command lines)
    adiff convert-official CKPT OUT_DIR --tokenizer GPT2_DIR
    adiff push MODEL_DIR user/name

User mistakes end as one line on stderr (`adiff <command>: error: ...`) and a non-zero exit code; `--debug` shows the
traceback instead.
"""

import argparse
import contextlib
import csv
import difflib
import importlib
import json
import os
import re
import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import pipeline, set_seed
from transformers.utils import logging as hf_logging

from modeling_adiff.convert_official import convert_official_checkpoint
from processing_adiff import load_audio
from processing_adiff.prompts import TASK_PROMPTS, TIER_PROMPTS, resolve_prompt, task_from_prompt, tier_from_prompt

from .default_model import default_model_dir
from .hub import export_for_hub, push_model
from .pipeline import DEFAULT_TIER, TASK
from .plot import DPI, compute_difference_view, plot_difference
from .training_package import TRAINING_PACKAGE

EXIT_ERROR = 1
# Errors a user can cause (bad paths, bad values, missing optional parts): reported in one line.
USER_ERRORS = (ValueError, TypeError, OSError, ImportError, KeyError)
# `adiff <name> ...` runs `main(argv)` of these modules with the rest of the command line.
FORWARDED = {
    "synth": (f"{TRAINING_PACKAGE}.synthdiff.__main__", "generate a SynthDiff corpus (audio pairs + explanations)"),
    "train": (f"{TRAINING_PACKAGE}.train", "train an ADIFF model"),
    "evaluate": (f"{TRAINING_PACKAGE}.evaluation.__main__", "score a model on a test CSV (captioning metrics)"),
}
PAIR_COLUMNS = (("audio1", "audio2"), ("filepath1", "filepath2"))  # ours, and the ACD/CLD CSV columns
RESULT_COLUMNS = ("audio1", "audio2", "tier", "task", "prompt", "generated_text")


class UsageError(ValueError):
    """A wrong combination of command-line options."""


class _Parser(argparse.ArgumentParser):
    """Reports a bad command line in one line (and where to read the usage) instead of the whole usage block; an
    unknown option is reported by the command it was given to, with the closest option of that command."""

    commands = None  # the subcommands' action, once added

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def add_subparsers(self, **kwargs):
        self.commands = super().add_subparsers(**kwargs)
        return self.commands

    def parse_args(self, args=None, namespace=None):
        namespace, unknown = self.parse_known_args(args, namespace)
        if unknown:
            name = getattr(namespace, self.commands.dest, None) if self.commands is not None else None
            parser = self.commands.choices[name] if name is not None else self
            parser.error(f"unrecognized arguments: {' '.join(unknown)}{parser._suggestion(unknown)}")
        return namespace

    def _suggestion(self, unknown: list[str]) -> str:
        """`"; did you mean --tier?"` for `["--tiers", "1"]` (options only, and only close ones), else `""`."""
        options = [option for action in self._actions for option in action.option_strings]
        hints = []
        for argument in unknown:
            option = argument.split("=", 1)[0]
            close = difflib.get_close_matches(option, options, n=1) if option.startswith("-") else []
            if close:
                hints.append((option, close[0]))
        if not hints:
            return ""
        if len(hints) == 1:
            return f"; did you mean {hints[0][1]}?"
        return "; did you mean " + ", ".join(f"{close} for {option}" for option, close in hints) + "?"


# ----------------------------------------------------------------------------------------------- explain
def _prompts(args) -> list[dict]:
    """The prompts asked for on the command line, as pipeline pair keys (`[]` when none was given)."""
    if args.tier:
        return [{"tier": tier} for tier in dict.fromkeys(args.tier)]
    if args.task:
        return [{"task": args.task}]
    if args.prompt:
        return [{"prompt": args.prompt}]
    return []


def _describe_prompt(prompt: dict) -> dict:
    """`{"tier": 1}` -> `{"tier": 1, "task": None, "prompt": "explain the difference in few words"}`; a free prompt
    that is a known tier or task prompt (e.g. the ACD/CLD `input` column) is reported with its tier or task."""
    text = resolve_prompt(**prompt)
    return {"tier": prompt.get("tier", tier_from_prompt(text) if "prompt" in prompt else None),
            "task": prompt.get("task", task_from_prompt(text) if "prompt" in prompt else None), "prompt": text}


def _row_prompt(row: dict, line: int) -> dict:
    """A CSV row's own prompt: a `tier`, `task` or `prompt` column, or the ACD/CLD `input` column."""
    prompt = {key: row[key].strip() for key in ("tier", "task", "prompt") if (row.get(key) or "").strip()}
    if not prompt and (row.get("input") or "").strip():
        prompt = {"prompt": row["input"].strip()}
    if "tier" in prompt:
        if prompt["tier"] not in ("1", "2", "3"):
            raise ValueError(f"Row {line}: tier must be 1, 2 or 3, got {prompt['tier']!r}.")
        prompt["tier"] = int(prompt["tier"])
    return prompt


def _read_pairs(csv_path: Path, audio_dir: Path | None) -> list[dict]:
    """Rows of a pairs CSV as `{"audio1", "audio2", "prompt"}` with resolved paths, checked to exist."""
    if csv_path.is_dir():
        raise IsADirectoryError(f"--pairs {csv_path} is a folder; give the CSV file inside it (columns audio1,audio2 "
                                "or filepath1,filepath2).")
    if not csv_path.is_file():
        raise FileNotFoundError(f"Pairs CSV not found: {csv_path}.")
    with csv_path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        columns = next((pair for pair in PAIR_COLUMNS if set(pair) <= set(header)), None)
        if columns is None:
            raise ValueError(f"{csv_path} needs the columns audio1,audio2 (or filepath1,filepath2 as in the ACD/CLD "
                             f"CSVs); its header is {header}.")
        rows = list(reader)
    if not rows:
        raise ValueError(f"{csv_path} has a header but no pairs.")
    base = audio_dir if audio_dir is not None else csv_path.parent
    pairs, missing = [], []
    for line, row in enumerate(rows, start=2):
        paths = []
        for column in columns:
            value = (row.get(column) or "").strip()
            if not value:
                raise ValueError(f"Row {line} of {csv_path} has an empty {column}.")
            path = Path(value) if Path(value).is_absolute() else base / value
            if path.is_dir():
                raise IsADirectoryError(f"Row {line} of {csv_path}: {column} {path} is a folder, not an audio file.")
            if not path.is_file():
                missing.append(str(path))
            paths.append(path)
        pairs.append({"audio1": str(paths[0]), "audio2": str(paths[1]), "prompt": _row_prompt(row, line),
                      "names": (row[columns[0]], row[columns[1]])})
    if missing:
        raise FileNotFoundError(f"{len(missing)} audio file(s) listed in {csv_path} do not exist (first: "
                                f"{missing[0]}); relative paths are read from --audio-dir, or else from the CSV's "
                                "folder.")
    return pairs


def _load_pipeline(args):
    model = args.model if args.model is not None else str(default_model_dir())
    if not Path(model).exists() and not re.fullmatch(r"[\w.-]+/[\w.-]+", model):
        raise FileNotFoundError(f"--model {model}: no such folder. Give the folder of a saved ADIFF model (or a Hub "
                                "repository id, user/name).")
    _check_device(args.device)
    return pipeline(TASK, model=model, device=args.device), model


def _check_device(device: str | None) -> None:
    """A GPU device this torch build cannot use is a one-line error here, not an assertion deep in torch."""
    kind = (device or "").split(":")[0]
    if kind == "cuda" and not torch.cuda.is_available():
        build = f"this PyTorch ({torch.__version__}) " + ("has no CUDA support" if torch.version.cuda is None
                                                         else "sees no CUDA GPU")
        raise ValueError(f"--device {device}: {build}. Run with --device cpu (or leave --device out), or install a "
                         "CUDA build of PyTorch on a machine with a GPU.")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device {device}: Apple's MPS backend is not available here. Run with --device cpu.")


def _generation_kwargs(args) -> dict:
    kwargs = {}
    if args.max_new_tokens is not None:
        kwargs["max_new_tokens"] = args.max_new_tokens
    if args.preset is not None:
        kwargs["preset"] = args.preset
    return kwargs


def _explain(pipe, jobs: list[dict], args, progress: bool):
    """Runs the pipeline over `jobs` (pair dicts carrying their prompt); yields one result per job, in order."""
    items = ({"audio1": job["audio1"], "audio2": job["audio2"], **job["prompt"]} for job in jobs)
    results = pipe(items, batch_size=args.batch_size, **_generation_kwargs(args))
    return tqdm(results, total=len(jobs), desc="explaining", unit="pair", disable=not progress, file=sys.stderr)


def _decode_once(pipe, path: str) -> dict:
    """The part of an audio file the model hears (the feature extractor's crop window), decoded once for every tier
    and the plot: a 1-hour file costs what its 10-second window does."""
    array, rate = load_audio(path, crop=pipe.processor.feature_extractor.crop_window)
    return {"array": array, "sampling_rate": rate}


def _run_single(args, pipe, model: str) -> None:
    prompts = _prompts(args) or [{"tier": DEFAULT_TIER}]
    audio = [_decode_once(pipe, path) for path in args.audio]
    jobs = [{"audio1": audio[0], "audio2": audio[1], "prompt": prompt} for prompt in prompts]
    results = []
    for output, prompt in zip(_explain(pipe, jobs, args, progress=False), prompts):
        results.append({**_describe_prompt(prompt), "generated_text": output["generated_text"]})
    labels = [_label(result) for result in results]
    if args.plot:
        _write_plot(args, pipe, audio, [f"{label}: {r['generated_text']}" if len(results) > 1 else r["generated_text"]
                                        for label, r in zip(labels, results)])
    if args.json:
        print(json.dumps({"audio1": args.audio[0], "audio2": args.audio[1], "model": model, "results": results,
                          "plot": args.plot}, indent=2, ensure_ascii=False))
    elif len(results) == 1:
        print(results[0]["generated_text"])
    else:
        for label, result in zip(labels, results):
            print(f"{label}: {result['generated_text']}")


def _label(result: dict) -> str:
    if result["tier"] is not None:
        return f"Tier {result['tier']}"
    return result["task"] or "Answer"


def _write_plot(args, pipe, audio: list[dict], explanations: list[str]) -> None:
    features = pipe.preprocess((audio[0], audio[1]))["input_features"]
    view = compute_difference_view(pipe.model, features, pipe.processor.feature_extractor.max_length_s)
    figure = plot_difference(view, explanations, names=(Path(args.audio[0]).name, Path(args.audio[1]).name))
    Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.plot, dpi=DPI)


def _run_pairs(args, pipe) -> None:
    pairs = _read_pairs(Path(args.pairs), Path(args.audio_dir) if args.audio_dir else None)
    prompts = _prompts(args)
    jobs = [{**pair, "prompt": prompt} for pair in pairs
            for prompt in (prompts or [pair["prompt"] or {"tier": DEFAULT_TIER}])]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=RESULT_COLUMNS)
        writer.writeheader()
        # The results come first in zip: when they run out the progress bar closes (and shows 100%).
        for output, job in zip(_explain(pipe, jobs, args, progress=not args.no_progress), jobs):
            described = _describe_prompt(job["prompt"])
            writer.writerow({"audio1": job["names"][0], "audio2": job["names"][1], **described,
                             "generated_text": output["generated_text"]})
            handle.flush()
    print(f"Wrote {len(jobs)} explanation(s) for {len(pairs)} pair(s) to {out}", file=sys.stderr)


def _first_frame(frames: int, rate: int) -> tuple[int, int]:
    """A `load_audio` crop that decodes one frame: checks a file (exists, decodes, not truncated) without reading
    it."""
    return 0, min(frames, 1)


def cmd_explain(args) -> None:
    if args.pairs:
        if args.audio:
            raise UsageError("give either two audio files or --pairs CSV, not both")
        if not args.out:
            raise UsageError("--pairs needs --out results.csv")
        if args.plot or args.json:
            raise UsageError("--plot and --json work for one pair (A B); with --pairs the results go to --out")
    elif len(args.audio) != 2:
        raise UsageError(f"explain needs two audio files (A B) or --pairs CSV; got {len(args.audio)} file(s)")
    elif args.out:
        raise UsageError("--out is for --pairs; for one pair use --json")
    else:
        for path in args.audio:  # before the model loads; the library says what is wrong (missing, a directory, ...)
            load_audio(path, crop=_first_frame)
    if args.seed is not None:
        set_seed(args.seed)
    pipe, model = _load_pipeline(args)
    if args.pairs:
        _run_pairs(args, pipe)
    else:
        _run_single(args, pipe, model)


# ----------------------------------------------------------------------------------------------- other commands
def cmd_convert_official(args) -> None:
    report = convert_official_checkpoint(args.ckpt, args.out_dir, config_json=args.config,
                                         tokenizer_dir=args.tokenizer)
    print(report.summary())
    print(f"Saved to {args.out_dir}")


def cmd_push(args) -> None:
    card = dict(results=args.results, datasets=args.dataset, license=args.license)
    if args.out:
        folder = export_for_hub(args.model_dir, args.out, repo_id=args.repo_id, **card)
        print(f"Wrote the Hub-ready folder {folder} (nothing uploaded)")
        return
    try:
        commit = push_model(args.model_dir, args.repo_id, token=args.token, private=args.private,
                            endpoint=args.endpoint, **card)
    except Exception as error:
        if not _is_network_error(error):
            raise
        raise ConnectionError(f"Could not reach the Hub to upload {args.model_dir} to {args.repo_id} ({error}). Check "
                              "the network connection (proxy, --endpoint), or write the folder with --out DIR and "
                              "upload it later.") from error
    print(f"Uploaded {args.model_dir} to {getattr(commit, 'commit_url', None) or args.repo_id}")


def _is_network_error(error: Exception) -> bool:
    """Connection failures of the Hub client (httpx / requests transport errors, or Python's own)."""
    names = {cls.__name__ for cls in type(error).__mro__}
    return isinstance(error, ConnectionError) or bool(names & {"TransportError", "RequestError", "ConnectionError",
                                                                "NetworkError", "TimeoutException"})


def run_forwarded(name: str, argv: list[str]):
    module_name, _ = FORWARDED[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is not None and module_name.startswith(error.name):
            raise ImportError(f"`adiff {name}` needs the module {module_name}, which is not part of this "
                              "installation (install the project from its source tree).") from error
        raise
    return module.main(argv, prog=f"adiff {name}")  # usage lines name the command the user typed


# ----------------------------------------------------------------------------------------------- parser
def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="adiff", description="Explain how two audio recordings differ (ADIFF).")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    explain = commands.add_parser("explain", help="explain the difference between two audio files",
                                  description="Explain how audio B differs from audio A, or caption them.")
    explain.add_argument("audio", nargs="*", metavar="AUDIO", help="the two audio files A B")
    which = explain.add_mutually_exclusive_group()
    which.add_argument("--tier", type=int, nargs="+", choices=sorted(TIER_PROMPTS),
                       help="1: a few words, 2: a sentence (default), 3: in detail; several give several answers")
    which.add_argument("--task", choices=sorted(TASK_PROMPTS), help="caption one or both audios instead")
    which.add_argument("--prompt", help="a free-text instruction")
    explain.add_argument("--model", help="folder of a saved ADIFF model (default: the shipped model)")
    explain.add_argument("--json", action="store_true", help="print a JSON object instead of text")
    explain.add_argument("--plot", metavar="PNG", help="also draw spectrograms, differences and events to PNG")
    explain.add_argument("--pairs", metavar="CSV", help="explain many pairs: a CSV with audio1,audio2 columns")
    explain.add_argument("--out", metavar="CSV", help="results CSV for --pairs")
    explain.add_argument("--audio-dir", help="folder that relative paths in --pairs are read from")
    explain.add_argument("--batch-size", type=_positive_int, default=8, help="pairs per model call (default 8)")
    explain.add_argument("--max-new-tokens", type=_positive_int, help="cap on the length of each answer")
    explain.add_argument("--preset", choices=("greedy", "paper", "beam"),
                         help="decoding: greedy (default), paper (top-k 3, top-p 0.8 sampling) or beam")
    explain.add_argument("--seed", type=int, help="random seed for sampled decoding")
    explain.add_argument("--device", help="e.g. cpu, cuda, cuda:1 (default: the first GPU if any, else cpu)")
    explain.add_argument("--no-progress", action="store_true", help="no progress bar for --pairs")
    explain.set_defaults(handler=cmd_explain)

    convert = commands.add_parser("convert-official", help="convert an official ADIFF checkpoint",
                                  description="Convert an official ADIFF checkpoint into a Transformers folder.")
    convert.add_argument("ckpt", metavar="CKPT", help="the official state_dict file")
    convert.add_argument("out_dir", metavar="OUT_DIR", help="folder to save the converted model in")
    convert.add_argument("--config", metavar="JSON", help="the official config as JSON (default: from the weights)")
    convert.add_argument("--tokenizer", metavar="DIR", help="the real GPT-2 tokenizer folder (saves the processor)")
    convert.set_defaults(handler=cmd_convert_official)

    push = commands.add_parser("push", help="upload a model to the Hugging Face Hub",
                               description="Upload a saved model with its code, custom pipeline and a model card.")
    push.add_argument("model_dir", metavar="MODEL_DIR", help="the saved model folder (model + processor)")
    push.add_argument("repo_id", metavar="REPO_ID", help="the Hub repository, user/name")
    push.add_argument("--token", help="Hub token (default: the logged-in user's)")
    push.add_argument("--private", action="store_true", help="create the repository as private")
    push.add_argument("--endpoint", help="another Hub endpoint URL")
    push.add_argument("--results", metavar="REPORT", action="append",
                      help="report.json (or its folder) from `adiff evaluate --output-dir`, for the card (repeatable)")
    push.add_argument("--dataset", action="append", help="a training dataset id for the card (repeatable)")
    push.add_argument("--license", default="mit", help="the card's license (default mit)")
    push.add_argument("--out", metavar="DIR", help="only write the Hub-ready folder to DIR; upload nothing")
    push.set_defaults(handler=cmd_push)

    for name, (module, text) in FORWARDED.items():
        commands.add_parser(name, help=f"{text} (options: adiff {name} --help)", add_help=False)
    return parser


@contextlib.contextmanager
def _quiet_transformers(enabled: bool = True):
    """Only errors from transformers, and no loading bars, while a command runs (restored afterwards)."""
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    if enabled:
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv[:1]
    argv = argv[1:] if debug else argv
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    command = argv[0] if argv else None
    try:
        if command in FORWARDED:
            result = run_forwarded(command, argv[1:])
            return result if isinstance(result, int) else 0
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        try:
            with _quiet_transformers(enabled=not debug):
                args.handler(args)
        except UsageError as error:
            print(f"adiff {args.command}: error: {error} (see adiff {args.command} --help)", file=sys.stderr)
            return 2
    except USER_ERRORS as error:
        if debug:
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"adiff {command}: error: {message}" if command else f"adiff: error: {message}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt as error:  # training says where to resume from
        print(f"adiff: interrupted: {error}" if str(error) else "adiff: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
