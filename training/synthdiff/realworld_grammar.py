"""Grammar clauses for the real-world pair facts (`realworld_pairs.realworld_pair_facts`): brighter, pitch, delay,
hum, clicks, lossy coding. Absent facts (synthesised corpora) give no clause, so their texts are unchanged."""

from .catalogue import PROPERTY_WORDS


# fact -> the ways to say it, given the writer `w`, the clip `x` that has more of it and the other clip `y`
_PHRASES = {
    "brighter": lambda w, x, y: (f"Audio {x} sounds {PROPERTY_WORDS['brighter'][0]} than Audio {y}",
                                 f"Audio {y} sounds {w.pick(PROPERTY_WORDS['darker'])} than Audio {x}"),
    "higher_pitched": lambda w, x, y: (
        f"Audio {x} is {w.pick(PROPERTY_WORDS['higher_pitched'])} compared with Audio {y}",
        f"Audio {y} is {w.pick(PROPERTY_WORDS['lower_pitched'])} compared with Audio {x}"),
    "starts_later": lambda w, x, y: (
        f"Audio {x} {PROPERTY_WORDS['starts_later'][0]} than Audio {y}",
        f"the sounds of Audio {x} are {PROPERTY_WORDS['starts_later'][1]} relative to Audio {y}"),
    "hummier": lambda w, x, y: (f"Audio {x} carries a low {w.pick(PROPERTY_WORDS['hum'])} that Audio {y} does not",),
    "clickier": lambda w, x, y: (f"Audio {x} has {w.pick(PROPERTY_WORDS['clicks'])} that Audio {y} does not",),
    "more_compressed": lambda w, x, y: (f"Audio {x} has {PROPERTY_WORDS['compressed'][0]} that Audio {y} lacks",
                                        f"Audio {x} sounds {PROPERTY_WORDS['compressed'][1]}, Audio {y} does not"),
}


def realworld_clauses(w, pair: dict) -> list:
    """One clause per real-world difference of `pair`, phrased with `w` (a `grammar._Writer`)."""
    if "brighter" not in pair:
        return []
    return [w.pick(phrases(w, pair[fact], 3 - pair[fact])) for fact, phrases in _PHRASES.items() if pair[fact]]


def realworld_caption_notes(facts: dict) -> list:
    """Caption notes on a source clip's hum, clicks and lossy coding (none for synthesised clips)."""
    notes = []
    if facts.get("hum_hz"):
        notes.append(f"marred by a {PROPERTY_WORDS['hum'][1]}")
    if facts.get("clicks"):
        notes.append(f"marred by {PROPERTY_WORDS['clicks'][0]}")
    if facts.get("codec"):
        notes.append(PROPERTY_WORDS["compressed"][1])
    return notes


__all__ = ["realworld_clauses", "realworld_caption_notes"]
