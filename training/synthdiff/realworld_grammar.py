"""Grammar clauses for the real-world pair facts (`realworld_pairs.realworld_pair_facts`): brighter, pitch, delay,
hum, clicks, lossy coding. Absent facts (synthesised corpora) give no clause, so their texts are unchanged."""

from .catalogue import PROPERTY_WORDS


def realworld_clauses(w, pair: dict) -> list:
    """One clause per real-world difference of `pair`, phrased with `w` (a `grammar._Writer`)."""
    if "brighter" not in pair:
        return []
    clauses = []
    if pair["brighter"]:
        x, y = pair["brighter"], 3 - pair["brighter"]
        clauses.append(w.pick((f"Audio {x} sounds {PROPERTY_WORDS['brighter'][0]} than Audio {y}",
                               f"Audio {y} sounds {w.pick(PROPERTY_WORDS['darker'])} than Audio {x}")))
    if pair["higher_pitched"]:
        x, y = pair["higher_pitched"], 3 - pair["higher_pitched"]
        clauses.append(w.pick((f"Audio {x} is {w.pick(PROPERTY_WORDS['higher_pitched'])} compared with Audio {y}",
                               f"Audio {y} is {w.pick(PROPERTY_WORDS['lower_pitched'])} compared with Audio {x}")))
    if pair["starts_later"]:
        x, y = pair["starts_later"], 3 - pair["starts_later"]
        clauses.append(w.pick((f"Audio {x} {PROPERTY_WORDS['starts_later'][0]} than Audio {y}",
                               f"the sounds of Audio {x} are {PROPERTY_WORDS['starts_later'][1]} relative to Audio {y}")))
    if pair["hummier"]:
        x, y = pair["hummier"], 3 - pair["hummier"]
        clauses.append(f"Audio {x} carries a low {w.pick(PROPERTY_WORDS['hum'])} that Audio {y} does not")
    if pair["clickier"]:
        x, y = pair["clickier"], 3 - pair["clickier"]
        clauses.append(f"Audio {x} has {w.pick(PROPERTY_WORDS['clicks'])} that Audio {y} does not")
    if pair["more_compressed"]:
        x, y = pair["more_compressed"], 3 - pair["more_compressed"]
        clauses.append(w.pick((f"Audio {x} has {PROPERTY_WORDS['compressed'][0]} that Audio {y} lacks",
                               f"Audio {x} sounds {PROPERTY_WORDS['compressed'][1]}, Audio {y} does not")))
    return clauses


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
