"""Train a GPT-2-compatible byte-level BPE tokenizer offline (when GPT-2's own files cannot be downloaded).

The result is a `GPT2TokenizerFast` laid out like GPT-2's: the 256 byte symbols come first in GPT-2's order (so `"!"`
is id 0 and `"Ġ"`, the space, id 220, as in GPT-2), merges follow, and `<|endoftext|>` is the last id. The pad token
is `"!"` (id 0), as in the official ADIFF code. With Hub access, the real `gpt2` tokenizer goes through the same
processor code.

Command line:
    python -m training.tokenizer --out DIR [--synthdiff SYNTH_DIR ...] [--csv FILE_OR_DIR ...] [--vocab-size 8000]
"""

import argparse
import csv
import logging
from pathlib import Path
from typing import Iterable, Iterator

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2TokenizerFast

from .synthdiff.interface import REVERSED_SUFFIX

logger = logging.getLogger(__name__)

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "!"  # the official code's pad token; id 0 in GPT-2 and in tokenizers trained here
DEFAULT_VOCAB_SIZE = 8000
TEXT_COLUMNS = ("caption1", "caption2", "input", "answer")


def iter_csv_texts(paths: Iterable) -> Iterator[str]:
    """Texts of ACD/CLD-format CSVs (`caption1`, `caption2`, `input`, `answer`); a folder means all its `*.csv`
    files, recursively. Other CSVs in a folder (e.g. SynthDiff's `*_clips.csv`) are skipped."""
    for path in map(Path, paths):
        files = sorted(path.rglob("*.csv")) if path.is_dir() else [path]
        if not files or not all(f.is_file() for f in files):
            raise FileNotFoundError(f"No CSV file at {path}; pass ACD/CLD-format CSV files or folders holding them.")
        for file in files:
            with open(file, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                columns = [c for c in TEXT_COLUMNS if c in (reader.fieldnames or ())]
                if not columns:
                    continue
                for row in reader:
                    yield from (row[c] for c in columns if row[c])


def train_tokenizer(texts: Iterable[str], vocab_size: int = DEFAULT_VOCAB_SIZE,
                    min_frequency: int = 2) -> GPT2TokenizerFast:
    """Train a byte-level BPE tokenizer on `texts` and wrap it as a GPT-2 tokenizer.

    Args:
        texts (iterable of `str`): training text.
        vocab_size (`int`, defaults to 8000): final vocabulary size, `<|endoftext|>` included (at least 258: the 256
            byte symbols, one merge and the EOS).
        min_frequency (`int`, defaults to 2): minimum pair count for a merge.

    Returns:
        `GPT2TokenizerFast` with eos/bos/unk `<|endoftext|>` (the last id) and pad `"!"` (id 0).

    Example:

    ```python
    >>> tok = train_tokenizer(["Audio 1 is louder than Audio 2."] * 50, vocab_size=300)
    >>> tok.pad_token_id, tok.eos_token_id == len(tok) - 1
    (0, True)
    ```
    """
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 258:
        raise ValueError(f"vocab_size must be an integer >= 258 (256 bytes + 1 merge + <|endoftext|>), got "
                         f"{vocab_size!r}.")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - 1, min_frequency=min_frequency, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(texts, trainer)
    # Added after training so it takes the last id, as in GPT-2 (50256), leaving "!" at id 0.
    bpe.add_special_tokens([EOS_TOKEN])
    tokenizer = GPT2TokenizerFast(tokenizer_object=bpe, eos_token=EOS_TOKEN, bos_token=EOS_TOKEN, unk_token=EOS_TOKEN,
                                  pad_token=PAD_TOKEN)
    logger.info("Trained a byte-level BPE tokenizer: %d tokens, eos id %d, pad %r id %d", len(tokenizer),
                tokenizer.eos_token_id, PAD_TOKEN, tokenizer.pad_token_id)
    return tokenizer


def corpus_texts(synthdiff_dirs: Iterable = (), csv_paths: Iterable = ()) -> Iterator[str]:
    """The tokenizer corpus: texts of SynthDiff corpora (their split CSVs) and of ACD/CLD CSVs. A SynthDiff corpus's
    reversed splits are left out: their pairs are the source split's, written again by the same grammar, so they
    would only reweight the same phrases (and a corpus gives the same tokenizer whether it was reversed or not)."""
    for folder in map(Path, synthdiff_dirs):
        if not (folder / "corpus.json").is_file():
            raise FileNotFoundError(f"{folder} is not a SynthDiff corpus (no corpus.json); generate one with "
                                    "`python -m training.synthdiff --out DIR --pairs N`.")
        yield from iter_csv_texts(p for p in sorted(folder.glob("*.csv"))
                                  if not p.name.endswith("_clips.csv") and not p.stem.endswith(REVERSED_SUFFIX))
    yield from iter_csv_texts(csv_paths)


def main(argv=None) -> GPT2TokenizerFast:
    parser = argparse.ArgumentParser(prog="python -m training.tokenizer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder to save the GPT2TokenizerFast in")
    parser.add_argument("--synthdiff", nargs="*", default=[], help="SynthDiff corpus folders")
    parser.add_argument("--csv", nargs="*", default=[], help="ACD/CLD-format CSV files or folders")
    parser.add_argument("--vocab-size", type=int, default=DEFAULT_VOCAB_SIZE)
    parser.add_argument("--min-frequency", type=int, default=2)
    args = parser.parse_args(argv)
    if not args.synthdiff and not args.csv:
        parser.error("give at least one of --synthdiff DIR or --csv PATH")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    tokenizer = train_tokenizer(corpus_texts(args.synthdiff, args.csv), args.vocab_size, args.min_frequency)
    tokenizer.save_pretrained(args.out)
    logger.info("Saved to %s", args.out)
    return tokenizer


if __name__ == "__main__":
    main()


__all__ = ["EOS_TOKEN", "PAD_TOKEN", "DEFAULT_VOCAB_SIZE", "iter_csv_texts", "corpus_texts", "train_tokenizer"]
