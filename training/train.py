"""Train one ADIFF stage from a recipe.

    accelerate launch training/train.py --config training/recipes/synth_small/stage2.yaml [--resume] [--lora]
        [--set section.key=value ...]

Also runs as `python -m training.train ...` or `python training/train.py ...` (one process). The recipe's
`output_dir` receives `metrics.jsonl`, `checkpoints/step-*` and the final `save_pretrained` folder `final/`.
Exit status: 0 done, 1 a clear error (bad recipe, NaN loss, checkpoint write failure), with the message on stderr.
"""

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file (accelerate launch training/train.py): import it as `training.train`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "training"  # noqa: A001  (PEP 366; installed, the package is `adiff_training`)

from .checkpointing import CheckpointError  # noqa: E402
from .loop import NonFiniteLossError, train  # noqa: E402
from .recipe import load_recipe  # noqa: E402


def build_parser(prog: str = "training/train.py") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="recipe file (.yaml / .json)")
    parser.add_argument("--resume", nargs="?", const=True, default=None,
                        help="continue from the newest complete checkpoint in output_dir (fresh start if none), or "
                             "from the checkpoint folder given")
    parser.add_argument("--lora", action="store_true", help="train LoRA adapters on GPT-2 (sets lora.enabled=true)")
    parser.add_argument("--output_dir", default=None, help="override the recipe's output_dir")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a recipe value (YAML syntax), e.g. --set train.epochs=2; repeatable")
    return parser


def main(argv=None, prog: str = "training/train.py") -> Path:
    """`prog` is the command name the usage lines show (`adiff train` when the CLI forwards here)."""
    args = build_parser(prog).parse_args(argv)
    overrides = list(args.overrides)
    if args.lora:
        overrides.append("lora.enabled=true")
    if args.output_dir:
        overrides.append(f"output_dir={args.output_dir}")
    recipe = load_recipe(args.config, overrides)
    return train(recipe, resume=args.resume)


if __name__ == "__main__":
    try:
        main()
    except (NonFiniteLossError, CheckpointError, ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt as error:  # TrainingInterrupted says where to resume from
        print(f"interrupted: {error}" if str(error) else "interrupted", file=sys.stderr)
        sys.exit(130)
