"""The auxiliary pair-fact loss (`data.fact_loss_weight`, `training.synthdiff.pair_facts`): targets read from the
SynthDiff facts, a head that trains with the model and is checkpointed with it, and a saved model without it."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file
from training_testing import save_tiny_towers, stage_recipe, synth_corpus  # noqa: F401

from training.checkpointing import list_checkpoints
from training.loop import train
from training.recipe import recipe_from_dict
from training.stages import AdiffStage
from training.synthdiff.catalogue import CLASS_NAMES
from training.synthdiff.pair_facts import FACT_GROUPS, NUM_TARGETS, fact_targets, pair_fact_loss

torch.set_num_threads(1)
HEAD = "pair_fact_head."


@pytest.fixture(scope="module")
def towers(synth_corpus, tmp_path_factory):  # noqa: F811
    return save_tiny_towers(tmp_path_factory.mktemp("towers"), synth_corpus)


def _grounding(out, corpus, towers, weight=0.5, **data):
    return recipe_from_dict(stage_recipe(
        "grounding", out, corpus, init=dict(towers),
        train={"max_steps": 6, "save_every": 3, "keep_checkpoints": 10},
        data={"fact_loss_weight": weight, "train_split": ["train", "train_reversed"], **data},
        eval={"max_batches": 1, "num_samples": 0}))


def test_targets_of_a_reversed_pair_are_the_swapped_targets(synth_corpus):  # noqa: F811
    pairs = [json.loads(line) for line in open(synth_corpus / "train_facts.jsonl")]
    backs = [json.loads(line) for line in open(synth_corpus / "train_reversed_facts.jsonl")]
    which = [i for i, (name, size, _) in enumerate(FACT_GROUPS) if size == 3 and name != "relation"]
    events = len(FACT_GROUPS)
    for pair, back in zip(pairs, backs):
        forward, backward = fact_targets(pair), fact_targets(back)
        assert len(forward) == NUM_TARGETS
        assert forward[0] == backward[0]  # the relation does not depend on the order
        assert [forward[i] for i in which] == [{0: 0, 1: 2, 2: 1}[backward[i]] for i in which]
        n = len(CLASS_NAMES)
        assert forward[events:events + n] == backward[events + n:]
        assert forward[events + n:] == backward[events:events + n]
        assert sum(forward[events:events + n]) == len(set(pair["clip1"]["labels"]))


def test_fact_loss_rejects_targets_of_the_wrong_width():
    with pytest.raises(ValueError, match=f"must have {NUM_TARGETS} columns"):
        pair_fact_loss(torch.zeros(2, 10), torch.zeros(2, 3, dtype=torch.long))


def test_head_trains_is_checkpointed_resumes_exactly_and_is_not_saved(synth_corpus, towers, tmp_path):  # noqa: F811
    final = train(_grounding(tmp_path / "run", synth_corpus, towers))
    saved = load_file(final / "model.safetensors")
    assert not any(k.startswith(HEAD) for k in saved), "the training-only head leaked into the model folder"
    checkpoints = list_checkpoints(tmp_path / "run")
    first = load_file(checkpoints[0] / "model.safetensors")
    assert any(k.startswith(HEAD) for k in first), "checkpoints must hold the head, or a resumed run loses it"

    # The fact loss changes what the prefix modules learn: same seed and data, weight 0 ends elsewhere.
    plain = load_file(train(_grounding(tmp_path / "plain", synth_corpus, towers, weight=0)) / "model.safetensors")
    assert plain.keys() == saved.keys()
    assert not torch.equal(plain["model.cross_projection.layers.0.mlp.fc1.weight"],
                           saved["model.cross_projection.layers.0.mlp.fc1.weight"])

    # Resuming from the step-3 checkpoint (head and its optimizer state included) gives the uninterrupted weights.
    resumed_dir = tmp_path / "resumed"
    shutil.copytree(checkpoints[0], resumed_dir / "checkpoints" / checkpoints[0].name)
    resumed = load_file(train(_grounding(resumed_dir, synth_corpus, towers), resume=True) / "model.safetensors")
    assert all(torch.equal(resumed[k], saved[k]) for k in saved)


def test_clear_errors_for_mirroring_and_rows_without_facts(synth_corpus, towers, tmp_path):  # noqa: F811
    with pytest.raises(ValueError, match="mirror_ratio swaps"):
        train(_grounding(tmp_path / "mirror", synth_corpus, towers, mirror_ratio=0.5))
    stage = AdiffStage(_grounding(tmp_path / "unit", synth_corpus, towers))
    rows = [{"filepath1": "/nowhere/a.wav", "filepath2": "/nowhere/b.wav"}]
    with pytest.raises(ValueError, match="1 of 1 rows have none"):
        stage.read_fact_targets(synth_corpus, ["train"], rows)
    with pytest.raises(ValueError, match="fact_loss_weight must be a number >= 0"):
        AdiffStage(_grounding(tmp_path / "negative", synth_corpus, towers, weight=-1)).fact_loss_weight
