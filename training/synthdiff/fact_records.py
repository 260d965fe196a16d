"""The pair records SynthDiff writes (`<split>_facts.jsonl`, one JSON object per pair) and the check that a record has
the keys the engine and the evaluator read."""

FACTS_SUFFIX = "_facts.jsonl"  # <split>_facts.jsonl next to <split>.csv
_PAIR_KEYS = ("identical", "near_identical", "louder", "loudness_diff_db", "more_reverberant", "noisier", "faster",
              "timbre_differs", "clipped_differs", "background_differs", "events_only_in_1", "events_only_in_2",
              "clip1", "clip2")
_CLIP_KEYS = ("labels", "background", "reverb", "timbre", "noisy", "clipped")


def check_facts(facts: dict) -> None:
    """Raise a `ValueError` naming the missing keys when `facts` is not a SynthDiff pair record."""
    if not isinstance(facts, dict):
        raise TypeError(f"Pair facts must be a dict (one line of a SynthDiff <split>_facts.jsonl), got a "
                        f"{type(facts).__name__}.")
    missing = [k for k in _PAIR_KEYS if k not in facts]
    missing += [f"clip{a}.{k}" for a in (1, 2) if isinstance(facts.get(f"clip{a}"), dict)
                for k in _CLIP_KEYS if k not in facts[f"clip{a}"]]
    if missing:
        raise ValueError(f"Pair facts lack {missing}; expected a record of a SynthDiff <split>_facts.jsonl (written "
                         "by training.synthdiff.generate_corpus). Regenerate the corpus with the current generator.")


def clip_sound_names(clip: dict) -> set:
    """What a clip's sounds may truly be called: its classes (`labels`) and, for events made of source recordings,
    their categories (`"music"` for a clarinet: `sources.Recording.category`)."""
    return set(clip["labels"]) | {e["category"] for e in clip.get("events", ()) if e.get("category")}


__all__ = ["FACTS_SUFFIX", "check_facts", "clip_sound_names"]
