"""Regression floor of the shipped default model on a small fixed subset of its held-out SynthDiff test split.

SynthDiff is procedural (pair i of a split depends only on the corpus seed, the split and i), so the first test pairs
of the shipped model's corpus (seed 0) are regenerated here (the audio bit for bit) instead of being stored. The floors
sit below what the shipped model measured on exactly these pairs (see FLOORS), so a regression in the model, the
processor, generation or the evaluator shows up as a failure, while the model card holds the full-split numbers.
"""

import pytest
import torch

from adiff.default_model import DEFAULT_MODEL_DIR, is_default_model_installed
from training.evaluation import evaluate_model
from training.synthdiff import generate_corpus

torch.set_num_threads(1)

PAIRS = 16  # test pairs 0-15 of the shipped model's corpus (seed 0, 32 kHz, 10 s)
# Measured on these 16 pairs with the shipped model at ship time (greedy, tier 1): fact precision 0.757 (56 of 74
# judged claims), identity 1.000, swap consistency 0.312 (5 of 16), CIDEr-D 1.331. The floors sit a few claims / two
# pairs below (a pair moves identity and swap by 0.0625), for platform-level numeric drift in greedy decoding; a
# broken or degenerate model falls below them (release 2 scored fact precision 0.429 here, release 1, which called
# nearly every pair identical, CIDEr-D 0.0). These 16 pairs are a small sample: swap consistency here and on the
# whole split was 0.562 / 0.436 (release 5), 0.438 / 0.483 (release 6), 0.312 / 0.494 (this release, 7), so its floor
# is loose; CIDEr-D on 16 short texts is noisier still (release 6: 0.911 here, 1.341 there; release 7: 1.331 here,
# 1.494 there), so its floor only catches degenerate output.
# Release 8 (SynthDiff + real recordings) on the same 16 pairs: fact precision 0.712 (42 of 59), identity 1.000, swap
# consistency 0.625, CIDEr-D 0.630 (its texts also named the sound library's instruments, which SynthDiff's references
# never do). Release 10 (real-source instruments are "music"): fact precision 0.841 (58 of 69), identity
# 1.000, swap consistency 0.875, CIDEr-D 1.938; the floors moved up with it, still a few claims / pairs below.
# Release 11 (shipped): fact precision 0.803 (49 of 61), identity 1.000, swap consistency 0.875, CIDEr-D 1.369.
FLOORS = {"tier-1 fact accuracy": 0.75, "identity": 0.87, "swap consistency": 0.5, "tier-1 CIDEr-D": 1.0}

pytestmark = pytest.mark.skipif(not is_default_model_installed(),
                                reason=f"the default model is not installed ({DEFAULT_MODEL_DIR}/config.json missing)")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    corpus = tmp_path_factory.mktemp("synthdiff_test_subset")
    generate_corpus(corpus, splits={"test": PAIRS}, seed=0, caption_rows=0)
    return evaluate_model(DEFAULT_MODEL_DIR, corpus, split="test", tiers=(1,), batch_size=8, metrics=("cider",),
                          behaviour_checks=("swap", "identity"), progress=False)  # the checks FLOORS uses


def test_subset_is_the_shipped_test_split(report):
    assert report.counts["rows_per_tier"] == {"1": PAIRS}
    assert report.behaviour["all"]["identity"]["total"] == PAIRS


@pytest.mark.parametrize("target", sorted(FLOORS))
def test_shipped_model_stays_above_its_floor(report, target):
    values = {name: target["value"] for name, target in report.targets().items()}
    values["tier-1 CIDEr-D"] = report.captioning["1"]["scores"]["CIDEr-D"]
    value = values[target]
    assert value is not None and value >= FLOORS[target], (
        f"{target} of the shipped model on test pairs 0-{PAIRS - 1} fell to {value} (floor {FLOORS[target]}); "
        "see the model card for the full-split value")
