"""Rebuild the real GPT-2 tokenizer (``GPT2TokenizerFast``) offline, without the Hugging Face Hub.

GPT-2's byte-level BPE ranks ship as ``whisper/assets/gpt2.tiktoken`` inside the ``openai-whisper`` source
distribution on PyPI: one line per token, ``base64(token bytes) rank``, ranks 0..50255, plus ``<|endoftext|>`` = 50256.
A token's id is its rank. ``merges.txt`` is recovered from the ranks: the merge that creates the token of rank ``r`` is
the pair of parts that BPE, allowed only merges of rank < ``r``, leaves the token's bytes in. Bytes are written with
GPT-2's byte-to-unicode table, as in the original ``vocab.json``.

Usage::

    python scripts/build_gpt2_tokenizer.py [--source ARCHIVE_OR_TIKTOKEN] [--output tests/fixtures/gpt2_tokenizer]

Without ``--source`` the sdist is fetched with ``pip download openai-whisper==20250625 --no-deps --no-binary :all:``.
The result is checked: ``"Hello world"`` -> ``[15496, 995]``, ``"!"`` -> ``[0]`` and, when the official reference
fixture is present, its prompt encodes to the ids the official code produced.
"""

import argparse
import base64
import json
import logging
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

logger = logging.getLogger("build_gpt2_tokenizer")

WHISPER_SDIST = "openai-whisper==20250625"
TIKTOKEN_MEMBER = "whisper/assets/gpt2.tiktoken"
EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "!"  # the official ADIFF wrapper pads prompts with '!' (GPT-2 id 0)
MODEL_MAX_LENGTH = 1024
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO_ROOT / "tests" / "fixtures" / "gpt2_tokenizer"
REFERENCE_IO = REPO_ROOT / "tests" / "fixtures" / "official" / "official_tiny_io.pt"
KNOWN_ENCODINGS = {"Hello world": [15496, 995], PAD_TOKEN: [0], EOS_TOKEN: [50256]}


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from the 256 byte values to printable unicode characters."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1))
    mapping = {b: chr(b) for b in printable}
    shift = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + shift)
            shift += 1
    return mapping


def read_tiktoken_ranks(text: str) -> dict[bytes, int]:
    """Parse ``base64 rank`` lines into {token bytes: rank}."""
    ranks = {}
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2:
            raise ValueError(f"tiktoken line {line_number}: expected 'base64 rank', got {line!r}.")
        ranks[base64.b64decode(fields[0])] = int(fields[1])
    if sorted(ranks.values()) != list(range(len(ranks))):
        raise ValueError(f"The tiktoken ranks must be 0..{len(ranks) - 1} without gaps; this file is not GPT-2's.")
    return ranks


def _bpe_parts(ranks: dict[bytes, int], token: bytes, max_rank: int) -> list[bytes]:
    """Apply BPE to `token` with only the merges of rank < `max_rank`; return the remaining parts."""
    parts = [bytes([b]) for b in token]
    while True:
        best_index, best_rank = None, None
        for index in range(len(parts) - 1):
            rank = ranks.get(parts[index] + parts[index + 1])
            if rank is not None and rank < max_rank and (best_rank is None or rank < best_rank):
                best_index, best_rank = index, rank
        if best_index is None:
            return parts
        parts[best_index:best_index + 2] = [parts[best_index] + parts[best_index + 1]]


def ranks_to_vocab_and_merges(ranks: dict[bytes, int]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """GPT-2 ``vocab.json`` (unicode-mapped token -> id) and ``merges.txt`` pairs, in rank order, from BPE ranks."""
    byte_encoder = bytes_to_unicode()

    def to_unicode(token: bytes) -> str:
        return "".join(byte_encoder[b] for b in token)

    vocab = {to_unicode(token): rank for token, rank in ranks.items()}
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda item: item[1]):
        if len(token) == 1:
            continue
        parts = _bpe_parts(ranks, token, rank)
        if len(parts) != 2:
            raise ValueError(f"Token of rank {rank} ({token!r}) does not come from a single merge of lower-ranked "
                             f"tokens (parts {parts!r}); the ranks are not a BPE vocabulary.")
        merges.append((to_unicode(parts[0]), to_unicode(parts[1])))
    return vocab, merges


def load_tiktoken_text(source: Path | None) -> str:
    """Text of ``gpt2.tiktoken`` from a ``.tiktoken`` file, an openai-whisper sdist, or a fresh ``pip download``."""
    if source is None:
        with tempfile.TemporaryDirectory() as tmp:
            command = [sys.executable, "-m", "pip", "download", WHISPER_SDIST, "--no-deps", "--no-binary", ":all:",
                       "-d", tmp]
            logger.info("Fetching %s from PyPI: %s", WHISPER_SDIST, " ".join(command))
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            archives = sorted(Path(tmp).glob("openai[_-]whisper-*.tar.gz"))
            if not archives:
                raise FileNotFoundError(f"pip download left no openai-whisper sdist in {tmp}: "
                                        f"{sorted(p.name for p in Path(tmp).iterdir())}")
            return load_tiktoken_text(archives[0])
    source = Path(source)
    if not source.is_file():
        raise FileNotFoundError(f"--source {source} does not exist; give gpt2.tiktoken or the openai-whisper .tar.gz.")
    if source.name.endswith(".tiktoken"):
        return source.read_text(encoding="utf-8")
    if not tarfile.is_tarfile(source):
        raise ValueError(f"--source {source} is neither a .tiktoken file nor a tar archive (the openai-whisper "
                         "sdist).")
    with tarfile.open(source) as archive:
        members = [m for m in archive.getmembers() if m.name.endswith(TIKTOKEN_MEMBER)]
        if not members:
            raise FileNotFoundError(f"{source} holds no {TIKTOKEN_MEMBER}; pass the openai-whisper sdist "
                                    f"({WHISPER_SDIST}).")
        return archive.extractfile(members[0]).read().decode("utf-8")


def write_vocab_and_merges(tiktoken_text: str, output_dir: Path) -> None:
    """Write GPT-2's ``vocab.json`` and ``merges.txt`` (with ``<|endoftext|>`` = 50256) into `output_dir`."""
    ranks = read_tiktoken_ranks(tiktoken_text)
    vocab, merges = ranks_to_vocab_and_merges(ranks)
    vocab[EOS_TOKEN] = len(vocab)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    lines = ["#version: 0.2"] + [f"{left} {right}" for left, right in merges]
    (output_dir / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    logger.info("Rebuilt %d tokens and %d merges", len(vocab), len(merges))


def build_tokenizer(tiktoken_text: str, output_dir: Path):
    """Save GPT-2's tokenizer (``'!'`` as the pad token) to `output_dir` as vocab.json, merges.txt and its config.

    Only these three small files are kept (``AutoTokenizer`` rebuilds the fast tokenizer from them in well under a
    second), not the 3.5 MB ``tokenizer.json``. Returns the tokenizer loaded back from `output_dir`.
    """
    from transformers import AutoTokenizer, GPT2TokenizerFast

    write_vocab_and_merges(tiktoken_text, output_dir)
    tokenizer = GPT2TokenizerFast(vocab=str(output_dir / "vocab.json"), merges=str(output_dir / "merges.txt"),
                                  unk_token=EOS_TOKEN, bos_token=EOS_TOKEN, eos_token=EOS_TOKEN, pad_token=PAD_TOKEN,
                                  add_prefix_space=False, model_max_length=MODEL_MAX_LENGTH)
    with tempfile.TemporaryDirectory() as tmp:
        saved = tokenizer.save_pretrained(tmp)
        config_file = next(Path(path) for path in saved if Path(path).name == "tokenizer_config.json")
        (output_dir / "tokenizer_config.json").write_text(config_file.read_text(encoding="utf-8"), encoding="utf-8")
    return AutoTokenizer.from_pretrained(output_dir)


def check_tokenizer(tokenizer, reference_io: Path | None = REFERENCE_IO) -> None:
    """Raise if the tokenizer does not reproduce GPT-2's known ids (and the official fixture's prompt ids)."""
    expected = dict(KNOWN_ENCODINGS)
    if reference_io is not None and Path(reference_io).is_file():
        import torch

        io = torch.load(reference_io, weights_only=True)
        ids = io["input_ids"][0][io["attention_mask"][0].bool()].tolist()
        expected[io["prompt_text_tokenized"]] = ids
    for text, ids in expected.items():
        got = tokenizer(text)["input_ids"]
        if got != ids:
            raise ValueError(f"The rebuilt tokenizer encodes {text!r} as {got}, expected GPT-2's {ids}.")
    if len(tokenizer) != 50257 or tokenizer.pad_token_id != 0 or tokenizer.eos_token_id != 50256:
        raise ValueError(f"Expected 50257 tokens, pad id 0 and eos id 50256; got {len(tokenizer)}, "
                         f"{tokenizer.pad_token_id}, {tokenizer.eos_token_id}.")
    logger.info("Checked %d known encodings", len(expected))


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=None,
                        help="gpt2.tiktoken or the openai-whisper sdist; default: pip download it")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="folder to save the tokenizer into")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    tokenizer = build_tokenizer(load_tiktoken_text(args.source), args.output)
    check_tokenizer(tokenizer)
    logger.info("Saved GPT-2 tokenizer to %s", args.output)
    return args.output


if __name__ == "__main__":
    main()
