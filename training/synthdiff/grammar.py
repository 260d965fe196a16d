"""The explanation grammar: three tiers of difference explanations and clip captions, written from a pair's facts.

Every claim is derived from the facts (never from the random choices of phrasing), and every word naming a sound or a
signal property comes from `catalogue.EVENT_SYNONYMS`, `BACKGROUND_SYNONYMS` and `PROPERTY_WORDS`. The clips are
always called "Audio 1" and "Audio 2".
"""

import numpy as np

from .catalogue import BACKGROUND_MOODS, BACKGROUND_SYNONYMS, CLASS_BY_NAME, PROPERTY_WORDS, sound_names
from .realworld_grammar import realworld_caption_notes, realworld_clauses

_NO_ARTICLE = {"footsteps", "steps", "walking", "speech", "talking", "birdsong", "bird chirping", "bird calls",
               "knocking", "knocks on a door", "rapping", "drum hits", "percussion", "clapping", "applause",
               "hand claps", "music"}
_COUNTS = {1: "once", 2: "twice", 3: "three times", 4: "four times", 5: "five times", 6: "six times"}
_ONSET_WORDS = {"beginning": ("at the beginning", "at the start", "early on"),
                "middle": ("in the middle", "midway through", "halfway through"),
                "end": ("near the end", "towards the end", "late in the clip")}
_REGISTER_WORDS = {"low": ("low-pitched", "deep"), "mid": ("mid-pitched",), "high": ("high-pitched", "shrill")}
_REVERB_PHRASES = {"dry": ("dry and close", "dry, with no echo"),
                   "room": ("slightly reverberant, as in a small room", "roomy, with a short reflection tail"),
                   "hall": ("very reverberant, as in a large hall", "echoing, with a long decaying tail")}
_TIMBRE_PHRASES = {"muffled": ("muffled, as if heard through a wall", "muffled, with the highs rolled off"),
                   "thin": ("thin and tinny, lacking bass", "thin, as if played through a small speaker")}


class _Writer:
    """Phrase choices drawn from one seeded generator."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def pick(self, options):
        return options[int(self.rng.integers(0, len(options)))]

    def event(self, cls: str, article: bool = True) -> str:
        """A name of the class, with "a"/"an" when `article` and the name takes one (synonyms are stored bare)."""
        name = self.pick(sound_names(cls))
        if not article or name in _NO_ARTICLE:
            return name
        return ("an " if name[0] in "aeiou" else "a ") + name

    def detailed_event(self, event: dict, tier: int) -> str:
        # A recording's pitch register and repetitions are unknown: only synthesised events get those words.
        cls = None if "recording_id" in event else CLASS_BY_NAME.get(event["class"])
        name = self.event(event["class"], article=False)
        if tier >= 3 and cls is not None and cls.tonal:
            name = f"{self.pick(_REGISTER_WORDS[event['register']])} {name}"
        if name not in _NO_ARTICLE:
            name = ("an " if name[0] in "aeiou" else "a ") + name
        if tier >= 3 and cls is not None and cls.repetitions[1] > 1 and event["repetitions"] in _COUNTS:
            name += f" sounding {_COUNTS[event['repetitions']]}"
        if tier >= 2:
            name += f" {self.pick(_ONSET_WORDS[event['onset']])}"
        return name

    def events(self, facts: dict, tier: int) -> str:
        parts = [self.detailed_event(e, tier) if tier >= 2 else self.event(e["class"]) for e in facts["events"]]
        return join(parts, self.pick((" and ", ", then ")) if tier >= 2 and len(parts) > 1 else " and ")

    def background(self, facts: dict) -> str:
        return self.pick(BACKGROUND_SYNONYMS[facts["background"]])

    def scene(self, facts: dict, tier: int) -> str:
        if not facts["events"]:
            if tier == 1:
                return f"only {self.background(facts)}"
            return self.pick((f"only {self.background(facts)}, with no other sounds",
                              f"just {self.background(facts)} and no foreground sounds"))
        events = self.events(facts, tier)  # drawn before the joiner, as the corpus was generated
        joiner = self.pick(("over", "against", "with a backdrop of"))
        return f"{events} {joiner} {self.background(facts)}"

    def mood(self, mood: str) -> str:
        return self.pick(PROPERTY_WORDS["mood"][mood])


def join(parts: list, last: str = " and ") -> str:
    """'a', 'a and b', 'a, b and c'."""
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + last + parts[-1]


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def _other(audio: int) -> int:
    return 3 - audio


def _property_clauses(w: _Writer, pair: dict, c1: dict, c2: dict) -> list:
    """One clause per signal-property difference (loudness, reverb, timbre, noise, clipping, speed)."""
    clauses = []
    clips = {1: c1, 2: c2}
    if pair["louder"]:
        x, y = pair["louder"], _other(pair["louder"])
        clauses.append(w.pick((f"Audio {x} is louder than Audio {y}", f"Audio {x} is louder",
                               f"Audio {y} is {w.pick(PROPERTY_WORDS['quieter'])} than Audio {x}")))
    if pair["more_reverberant"]:
        x, y = pair["more_reverberant"], _other(pair["more_reverberant"])
        clauses.append(w.pick((f"Audio {x} is more reverberant than Audio {y}",
                               f"Audio {x} is {w.pick(_REVERB_PHRASES[clips[x]['reverb']])} while Audio {y} is "
                               f"{w.pick(_REVERB_PHRASES[clips[y]['reverb']])}")))
    if pair["timbre_differs"]:
        described = [(a, clips[a]["timbre"]) for a in (1, 2) if clips[a]["timbre"] != "normal"]
        clauses.append(" and ".join(f"Audio {a} sounds {w.pick(_TIMBRE_PHRASES[t])}" for a, t in described))
    if pair["noisier"]:
        x, y = pair["noisier"], _other(pair["noisier"])
        if clips[y]["noisy"]:
            clauses.append(w.pick((f"Audio {x} is noisier than Audio {y}", f"Audio {x} has more hiss than Audio {y}")))
        else:
            clauses.append(w.pick((f"Audio {x} is noisy while Audio {y} is clean",
                                   f"Audio {x} carries a layer of hiss that Audio {y} does not, "
                                   f"Audio {y} being clean")))
    if pair["clipped_differs"]:
        x = 1 if c1["clipped"] else 2
        clauses.append(w.pick((f"Audio {x} is distorted by clipping", f"Audio {x} sounds clipped and harsh")))
    if pair["faster"]:
        x, y = pair["faster"], _other(pair["faster"])
        clauses.append(w.pick((f"Audio {x} plays faster than Audio {y}", f"Audio {y} is slower than Audio {x}",
                               f"Audio {x} sounds sped up compared with Audio {y}")))
    return clauses + realworld_clauses(w, pair)


def _content_clause(w: _Writer, pair: dict, c1: dict, c2: dict, tier: int) -> str:
    """What sounds each clip holds: both the same, the event-level edit, or two full scene descriptions."""
    only1, only2 = pair["events_only_in_1"], pair["events_only_in_2"]
    if not only1 and not only2 and not pair["background_differs"]:
        # When the order differs, onsets belong to the order clause, not to a description shared by both clips.
        scene_tier = 1 if pair["order_changed"] else tier
        return w.pick((f"both audios contain {w.scene(c1, scene_tier)}", f"each audio has {w.scene(c1, scene_tier)}"))
    same_backdrop = not pair["background_differs"]
    if same_backdrop and (pair["shared_events"] or len(only1) + len(only2) == 1):
        parts = []
        if len(only1) == 1 and len(only2) == 1:
            parts.append(w.pick((f"the {w.event(only1[0], False)} of Audio 1 is replaced by "
                                 f"{w.event(only2[0])} in Audio 2",
                                 f"Audio 1 has {w.event(only1[0])} where Audio 2 has {w.event(only2[0])}")))
        else:
            if only2:
                parts.append(w.pick((f"Audio 2 adds {join([w.event(c) for c in only2])} that Audio 1 lacks",
                                     f"Audio 2 also contains {join([w.event(c) for c in only2])}, absent from "
                                     "Audio 1")))
            if only1:
                parts.append(w.pick((f"Audio 1 contains {join([w.event(c) for c in only1])} that Audio 2 lacks",
                                     f"Audio 2 is missing the {join([w.event(c, False) for c in only1])} heard in "
                                     "Audio 1")))
        if tier >= 2 and pair["shared_events"]:
            shared = join([w.event(c) for c in pair["shared_events"]])
            parts.append(f"both share {shared} over {w.background(c1)}")
        elif tier >= 2:
            parts.append(f"both share a backdrop of {w.background(c1)}")
        return ", and ".join(parts) if parts else f"both audios contain {w.scene(c1, tier)}"
    return w.pick((f"Audio 1 has {w.scene(c1, tier)}, while Audio 2 has {w.scene(c2, tier)}",
                   f"Audio 1 features {w.scene(c1, tier)}, whereas Audio 2 features {w.scene(c2, tier)}",
                   f"Audio 1 presents {w.scene(c1, tier)}; in contrast, Audio 2 presents {w.scene(c2, tier)}"))


def _order_clause(w: _Writer, c1: dict, c2: dict) -> str:
    shared = set(c1["labels"]) & set(c2["labels"])
    first, second = [c for c in c1["order"] if c in shared][:2]
    a, b = w.event(first, False), w.event(second, False)
    return w.pick((f"in Audio 1 the {a} comes before the {b}, while in Audio 2 the {b} comes first",
                   f"the order is swapped: Audio 1 plays the {a} first, Audio 2 the {b} first"))


def _same_clause(w: _Writer, pair: dict, c1: dict) -> str:
    if pair["identical"]:
        claim = w.pick(("Audio 1 and Audio 2 are identical", "Audio 2 is identical to Audio 1",
                        "there is no difference at all: Audio 1 and Audio 2 are identical"))
    else:
        claim = w.pick(("Audio 1 and Audio 2 are practically the same",
                        "there is no audible difference between Audio 1 and Audio 2",
                        "Audio 1 and Audio 2 sound practically the same"))
    return claim


def _acoustics(w: _Writer, c1: dict, c2: dict) -> list:
    """Tier-3 sentences on reverberation, timbre, noise and loudness that hold for both clips."""
    sentences = []
    if c1["reverb"] == c2["reverb"]:
        sentences.append(f"Acoustically, both are {w.pick(_REVERB_PHRASES[c1['reverb']])}")
    if c1["timbre"] == c2["timbre"] and c1["timbre"] != "normal":
        sentences.append(f"Both sound {w.pick(_TIMBRE_PHRASES[c1['timbre']])}")
    if not c1["noisy"] and not c2["noisy"]:
        sentences.append(w.pick(("Both recordings are clean, with no added hiss", "Neither recording is noisy")))
    return sentences


def _mood_source(w: _Writer, facts: dict) -> str:
    """What sets a clip's mood: its first event of that mood, else its background."""
    for event in facts["events"]:
        if event["class"] in CLASS_BY_NAME and CLASS_BY_NAME[event["class"]].mood == facts["impression"]:
            return f"the {w.event(event['class'], False)}"
    if BACKGROUND_MOODS[facts["background"]] == facts["impression"]:
        return w.background(facts)
    return w.pick(("the number of sounds heard together", "its many overlapping sounds"))


def _impression(w: _Writer, c1: dict, c2: dict, reasons: bool = False) -> str:
    """The listener's likely impression; with `reasons`, the sound that causes it."""
    m1, m2 = c1["impression"], c2["impression"]
    if m1 == m2:
        text = w.pick((f"both leave a similarly {w.mood(m1)} impression on the listener",
                       f"to a listener, both feel {w.mood(m1)}"))
        return text + (f", set by {_mood_source(w, c1)}" if reasons else "")
    if reasons:
        return (f"Audio 1 feels {w.mood(m1)} because of {_mood_source(w, c1)}, whereas Audio 2 feels {w.mood(m2)} "
                f"because of {_mood_source(w, c2)}")
    return w.pick((f"Audio 1 feels {w.mood(m1)}, whereas Audio 2 feels {w.mood(m2)}",
                   f"the listener is likely to find Audio 1 {w.mood(m1)} and Audio 2 {w.mood(m2)}"))


def _level(w: _Writer, pair: dict) -> list:
    """Tier 3: a sentence on overall level when neither clip is louder (no louder/quieter words)."""
    if pair["louder"]:
        return []
    return [w.pick(("The two play at a similar overall level", "Their overall levels are about the same"))]


def _closing(w: _Writer, pair: dict) -> str:
    """Tier 3: what kind of difference dominates."""
    content = pair["events_only_in_1"] or pair["events_only_in_2"] or pair["background_differs"]
    if pair["order_changed"] and not content:
        return w.pick(("Overall, the same sounds occur in both, only their timing differs",
                       "In the end, what sets them apart is when each sound happens"))
    if content:
        return w.pick(("Overall, the contrast lies mostly in the sound sources themselves",
                       "In the end, what sets them apart is mainly what can be heard in each"))
    return w.pick(("Overall, the sounds are the same and the contrast lies in how they were recorded and processed",
                   "In the end, the same sounds are heard in both, so the difference is one of signal quality"))


def explain(pair: dict, tier: int, rng: np.random.Generator) -> str:
    """The tier-`tier` explanation (1 few words, 2 one sentence, 3 a paragraph) of a pair's facts."""
    if tier not in (1, 2, 3):
        raise ValueError(f"tier must be 1, 2 or 3, got {tier!r}.")
    w = _Writer(rng)
    c1, c2 = pair["clip1"], pair["clip2"]
    if pair["identical"] or pair["near_identical"]:
        same = _same_clause(w, pair, c1)
        if tier == 1:
            return _capitalize(same) + "."
        scene = f"{_capitalize(same)}; both contain {w.scene(c1, tier)}"
        if tier == 2:
            return f"{scene}, and {_impression(w, c1, c2)}."
        return " ".join([scene + "."] + [s + "." for s in _acoustics(w, c1, c2)]
                        + [_capitalize(_impression(w, c1, c2, reasons=True)) + "."])
    content = _content_clause(w, pair, c1, c2, tier)
    properties = _property_clauses(w, pair, c1, c2)
    order = [_order_clause(w, c1, c2)] if pair["order_changed"] else []
    if tier == 1:
        return _capitalize("; ".join([content] + (order + properties)[:1])) + "."
    clauses = [content] + ["moreover " + o for o in order] + properties
    if tier == 2:
        opener = w.pick(("", "The two audios differ: ", "In short, ", "Comparing them, "))
        clauses.append(_impression(w, c1, c2))
        return opener + (clauses[0] if opener else _capitalize(clauses[0])) + "; " + join(clauses[1:]) + "."
    opener = w.pick(("Listening to both recordings, ", "Comparing the two audios, ", "On close listening, "))
    sentences = [opener + content + "."]
    sentences += [_capitalize(c) + "." for c in clauses[1:]]
    sentences += [s + "." for s in _level(w, pair) + _acoustics(w, c1, c2)]
    sentences.append(_capitalize(_impression(w, c1, c2, reasons=True)) + ".")
    sentences.append(_closing(w, pair) + ".")
    return " ".join(sentences)


def caption(facts: dict, rng: np.random.Generator) -> str:
    """A one-sentence caption of one clip: its events in order, background and notable signal properties."""
    w = _Writer(rng)
    text = _capitalize(w.scene(facts, 2))
    notes = []
    if facts["reverb"] != "dry":
        notes.append(w.pick(_REVERB_PHRASES[facts["reverb"]]))
    if facts["timbre"] != "normal":
        notes.append(w.pick(_TIMBRE_PHRASES[facts["timbre"]]))
    if facts["noisy"]:
        notes.append("noisy")
    if facts["clipped"]:
        notes.append("distorted by clipping")
    notes += realworld_caption_notes(facts)
    return text + (f"; the recording is {join(notes)}" if notes else "") + "."


def caption_both(caption1: str, caption2: str) -> str:
    """The answer of a caption-both row."""
    return f"Audio 1: {caption1} Audio 2: {caption2}"


__all__ = ["explain", "caption", "caption_both", "join"]
