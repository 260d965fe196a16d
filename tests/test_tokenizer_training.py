"""The offline GPT-2-compatible tokenizer: layout (pad "!" id 0, EOS last), round trip, save/load, corpus reading."""

import csv
import itertools
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from training.tokenizer import corpus_texts, iter_csv_texts, train_tokenizer

REPO = Path(__file__).resolve().parents[1]
SHARED_CSV = REPO.parent / "shared" / "data" / "adiff_explanations" / "ACD" / \
    "acd_val_adiff_fewwords_answer.csv"


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("csvs")
    rows = [["synthdiff", "a_1.wav", "a_2.wav", "A siren over rain.", "Birdsong in a still, empty room.",
             "explain the difference in few words", "Audio 1 has a siren over rain; Audio 2 is calm and dry."]] * 20
    with open(folder / "small.csv", "w", newline="") as f:
        csv.writer(f).writerows([["taskname", "filepath1", "filepath2", "caption1", "caption2", "input", "answer"]]
                                + rows)
    found = list(iter_csv_texts([folder]))
    assert len(found) == 20 * 4 and "A siren over rain." in found
    if SHARED_CSV.is_file():  # a slice of the real ACD texts when the shared data is present
        found += list(itertools.islice(iter_csv_texts([SHARED_CSV]), 400))
    else:  # a clone without ../shared: the repository's own guides are text enough for a 600-token vocabulary
        found += [line for guide in sorted(REPO.glob("*.md")) + sorted((REPO / "docs").glob("*.md"))
                  for line in guide.read_text(encoding="utf-8").splitlines() if len(line.split()) > 5]
    return found


def test_gpt2_layout_and_round_trip(texts, tmp_path):
    tok = train_tokenizer(texts, vocab_size=600)
    assert len(tok) == 600
    assert tok.eos_token == tok.bos_token == "<|endoftext|>" and tok.eos_token_id == 599
    assert tok.pad_token == "!" and tok.pad_token_id == 0  # as in GPT-2, where "!" is id 0
    assert tok.convert_ids_to_tokens(220) == "\u0120"  # GPT-2's space symbol at GPT-2's id
    sample = "Audio 1 has a siren; Audio 2 is calm. Ünïcödé ✓ and emoji 🎧 survive byte-level BPE."
    assert tok.decode(tok(sample)["input_ids"]) == sample
    ids = tok("explain the difference in few words <|endoftext|>")["input_ids"]
    assert ids[-1] == tok.eos_token_id and ids.count(tok.eos_token_id) == 1
    assert len(tok("Audio 1 has a siren over rain")["input_ids"]) < len("Audio 1 has a siren over rain") / 2
    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded(sample)["input_ids"] == tok(sample)["input_ids"]
    assert (loaded.pad_token_id, loaded.eos_token_id) == (0, 599)


def test_tokenizer_drives_the_processor_prompt_encoding(texts):
    from processing_adiff import AdiffFeatureExtractor, AdiffProcessor

    tok = train_tokenizer(texts, vocab_size=400)
    processor = AdiffProcessor(AdiffFeatureExtractor(), tok, prompt_length=16)
    ids, mask = processor.encode_prompts(["explain the difference in detail"])
    length = int(mask.sum())
    assert ids[0, length - 1] == tok.eos_token_id and (ids[0, length:] == tok.pad_token_id).all()


def test_bad_arguments_are_reported(tmp_path):
    with pytest.raises(ValueError, match="vocab_size must be an integer >= 258"):
        train_tokenizer(["a b c"], vocab_size=100)
    with pytest.raises(FileNotFoundError, match="not a SynthDiff corpus"):
        list(corpus_texts(synthdiff_dirs=[tmp_path]))
    with pytest.raises(FileNotFoundError, match="No CSV file"):
        list(iter_csv_texts([tmp_path / "missing.csv"]))


def test_synthdiff_corpus_texts_skip_clip_indexes_and_reversed_splits(tmp_path):
    header = ["taskname", "filepath1", "filepath2", "caption1", "caption2", "input", "answer"]
    for name, answer in (("train", "Audio 1 is louder."), ("train_reversed", "Audio 2 is louder.")):
        with open(tmp_path / f"{name}.csv", "w", newline="") as f:
            csv.writer(f).writerows([header, ["synthdiff", "a.wav", "b.wav", "One.", "Two.", "prompt", answer]])
    (tmp_path / "train_clips.csv").write_text("filepath,labels,background,events\na.wav,siren,rain,\n")
    (tmp_path / "corpus.json").write_text("{}")
    assert sorted(corpus_texts(synthdiff_dirs=[tmp_path])) == ["Audio 1 is louder.", "One.", "Two.", "prompt"]
