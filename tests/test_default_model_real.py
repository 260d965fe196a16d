"""Regression floor of the shipped default model on pairs built from real recordings it never heard.

`tests/fixtures/real_sources/` holds sixteen short recordings (speech in five languages, music on hold, eight
sampled instruments, two desktop sounds; licences in its LICENCES.md), all from the test split of the real-source
corpus the shipped model was trained beside. SynthDiff's `--sources` mode builds pairs from them with its real-world
edits (gain, reverberation, filters, speed, codecs, ...), identity pairs and unrelated pairs, with exact facts, so the
floors below check what issue 19 asks of the model on real audio: edit facts, loudness direction, hallucinated sources
and identity. They sit below what the shipped model measured on exactly these pairs (see MEASURED), so a regression
in the model, the front end, generation or the evaluator shows up; the model card holds the full-split numbers.
"""

import pytest
import torch

from adiff.default_model import DEFAULT_MODEL_DIR, is_default_model_installed
from training.evaluation import evaluate_model
from training.synthdiff import generate_corpus

torch.set_num_threads(1)

LIBRARY = "tests/fixtures/real_sources/sources.csv"
PAIRS = 24
# Measured on these 24 pairs, greedy, tier 1, with the shipped release 11 (2026-12-06; it names instruments "music",
# which the facts count as true for an instrument's recording): tier-1 fact accuracy 0.842, tier-1 edit accuracy 0.333,
# loudness direction 1.000, identity 1.000, hallucinated-source rate 0.083 (release 10: 0.813, 0.222, 1.000, 1.000,
# 0.250; release 8: 0.593, 0.111, 1.000, 1.000, 0.458). The floors sit a few claims or pairs below, for platform-level
# drift in greedy decoding; release 8 would fail the fact floor and the hallucination ceiling, release 10 the
# hallucination ceiling, and on the previous fixture recordings release 7 failed all but identity.
MEASURED = {"tier-1 fact accuracy": 0.842, "tier-1 edit accuracy": 0.333, "loudness direction": 1.0, "identity": 1.0,
            "hallucinated-source rate": 0.083}
FLOORS = {"tier-1 fact accuracy": 0.78, "tier-1 edit accuracy": 0.20, "loudness direction": 0.75, "identity": 0.87}
CEILINGS = {"hallucinated-source rate": 0.21}

pytestmark = pytest.mark.skipif(not is_default_model_installed(),
                                reason=f"the default model is not installed ({DEFAULT_MODEL_DIR}/config.json missing)")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from pathlib import Path

    corpus = tmp_path_factory.mktemp("real_source_pairs")
    library = Path(__file__).resolve().parents[1] / LIBRARY
    generate_corpus(corpus, splits={"test": PAIRS}, seed=0, caption_rows=0, sources=library)
    return evaluate_model(DEFAULT_MODEL_DIR, corpus, split="test", tiers=(1,), batch_size=8, metrics=(),
                          behaviour_checks=("identity",), progress=False)


def test_pairs_are_built_from_the_fixture_recordings_only(report):
    assert report.counts["rows_per_tier"] == {"1": PAIRS}


@pytest.mark.parametrize("target", sorted(FLOORS))
def test_shipped_model_stays_above_its_floor_on_real_recordings(report, target):
    value = report.targets()[target]["value"]
    assert value is not None and value >= FLOORS[target], (
        f"{target} of the shipped model on {PAIRS} real-source pairs fell to {value} (floor {FLOORS[target]}, "
        f"measured {MEASURED[target]} at ship time)")


@pytest.mark.parametrize("target", sorted(CEILINGS))
def test_shipped_model_stays_below_its_ceiling_on_real_recordings(report, target):
    value = report.targets()[target]["value"]
    assert value is not None and value <= CEILINGS[target], (
        f"{target} of the shipped model on {PAIRS} real-source pairs rose to {value} (ceiling {CEILINGS[target]}, "
        f"measured {MEASURED[target]} at ship time)")
