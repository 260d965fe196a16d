"""SynthDiff as the training engine and the evaluator see it: the one module outside `training/synthdiff/` imports.

The rest of the package (scene rendering, edits, grammar, corpus writing, real-recording sources) is the generator,
used through `python -m training.synthdiff` or `training.synthdiff.generate_corpus`; the engine never reaches into it.
What crosses the wall:

- the vocabulary the explanations use, for the evaluator's claim reader and the stage-1 property targets:
  `CLASS_NAMES`, `EVENT_SYNONYMS`, `BACKGROUND_SYNONYMS`, `PROPERTY_WORDS`, `REVERBS`, `TIMBRES`,
  `sound_names`;
- the corpus layout: `REVERSED_SUFFIX` (a split's pairs the other way round), `FACTS_SUFFIX` (its facts file);
- the pair records: `check_facts` (the keys a `<split>_facts.jsonl` record must have), `clip_sound_names` (what a
  clip's sounds may truly be called: classes and source categories);
- the auxiliary pair-fact loss of stages 2-3 (`pair_facts.py`): `PairFactHead`, `fact_targets`, `pair_fact_loss`,
  `FACT_GROUPS`, `NUM_TARGETS`.
"""

from .catalogue import BACKGROUND_SYNONYMS, CLASS_NAMES, EVENT_SYNONYMS, PROPERTY_WORDS, REVERBS, TIMBRES, sound_names
from .fact_records import FACTS_SUFFIX, check_facts, clip_sound_names
from .pair_facts import FACT_GROUPS, NUM_TARGETS, PairFactHead, fact_targets, pair_fact_loss
from .reversal import REVERSED_SUFFIX

__all__ = [
    "CLASS_NAMES", "EVENT_SYNONYMS", "BACKGROUND_SYNONYMS", "PROPERTY_WORDS", "REVERBS", "TIMBRES", "sound_names",
    "REVERSED_SUFFIX", "FACTS_SUFFIX", "check_facts", "clip_sound_names",
    "PairFactHead", "fact_targets", "pair_fact_loss", "FACT_GROUPS", "NUM_TARGETS",
]
