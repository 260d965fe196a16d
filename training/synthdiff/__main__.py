"""Command line: `python -m training.synthdiff --out DIR --pairs N --seed S
[--splits train=0.8,validation=0.1,test=0.1] [--reverse train] [--sources LIBRARY]`;
`--out DIR --reverse train` alone adds `train_reversed` to the existing corpus in DIR."""

import argparse
import json
import logging

from .corpus import DEFAULT_SAMPLE_RATE, DEFAULT_SECONDS, add_reversed_splits, generate_corpus
from .sources import SOURCE_NAMES


def parse_splits(text: str) -> dict:
    """`"train=0.8,validation=0.1,test=0.1"` (fractions of --pairs) or `"train=800,test=100"` (pair counts)."""
    splits = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise argparse.ArgumentTypeError(f"Bad split {item!r} in --splits {text!r}; write name=value pairs such "
                                             "as train=0.8,validation=0.1,test=0.1 or train=800,test=100.")
        try:
            splits[name.strip()] = int(value) if value.strip().isdigit() else float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"Split {name!r} has value {value!r}; expected a count or a fraction.")
    return splits


def build_parser(prog: str = "python -m training.synthdiff") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--pairs", type=int, default=None, help="total number of pairs (divided by --splits)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--splits", type=parse_splits, default=None,
                        help="split sizes: fractions of --pairs (default train=0.8,validation=0.1,test=0.1) or counts")
    parser.add_argument("--sample-rate", type=int, default=DEFAULT_SAMPLE_RATE)
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS)
    parser.add_argument("--caption-rows", type=int, default=1, help="position-captioning rows per pair (0-3)")
    parser.add_argument("--workers", type=int, default=1, help="processes (output is identical for any value)")
    parser.add_argument("--sources", default=None, metavar="PATH",
                        help="build the scenes from a sound library: a folder of recordings (sub-folder names are the "
                             "labels) or a CSV path,label[,license,source]; split by recording, with real-world "
                             "edits and identity pairs; every split is also written reversed unless --reverse is "
                             "given")
    parser.add_argument("--source-names", choices=SOURCE_NAMES, default="label",
                        help="with --sources: name each recording's sound by its label ('a clarinet') or its category "
                             "('music' for every instrument; a CSV may give a category column)")
    parser.add_argument("--reverse", nargs="+", default=None, metavar="SPLIT",
                        help="also write <SPLIT>_reversed: each pair with its clips swapped and its texts rewritten "
                             "(same wav files); without --pairs/--splits, adds them to the existing corpus in --out")
    return parser


def main(argv=None, prog: str = "python -m training.synthdiff") -> dict:
    """`prog` is the command name the usage lines show (`adiff synth` when the CLI forwards here)."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.reverse is None:  # a source corpus has both orders of every pair; a synthesised one only when asked
        args.reverse = [] if args.sources is None else None
    if args.reverse and args.pairs is None and args.splits is None:
        info = add_reversed_splits(args.out, args.reverse)
        logging.getLogger(__name__).info("%s", json.dumps(info["counts"], indent=1))
        return info
    if args.pairs is None and (args.splits is None or not all(isinstance(v, int) for v in args.splits.values())):
        parser.error("give --pairs N, or --splits with pair counts (e.g. train=800,test=100)")
    info = generate_corpus(args.out, pairs=args.pairs, seed=args.seed, splits=args.splits,
                           sample_rate=args.sample_rate, seconds=args.seconds, caption_rows=args.caption_rows,
                           workers=args.workers, reversed_splits=args.reverse, sources=args.sources,
                           source_names=args.source_names)
    total = sum(info["parameters"]["splits"].values())  # rendered pairs (reversed ones reuse their audio)
    logging.getLogger(__name__).info("%s", json.dumps(info["counts"], indent=1))
    logging.getLogger(__name__).info("%d pairs in %.1f s (%.0f pairs/minute)", total, info["seconds_elapsed"],
                                     60.0 * total / max(info["seconds_elapsed"], 1e-9))
    return info


if __name__ == "__main__":
    main()
