"""Rule-based extraction of checkable claims from a difference explanation.

The parser knows SynthDiff's vocabulary -- the sound names of `EVENT_SYNONYMS`, the background names of
`BACKGROUND_SYNONYMS` and the property words of `PROPERTY_WORDS`, the real-world ones of a source corpus included
(brighter / darker, higher- / lower-pitched, starts later, hum, clicks, compression artefacts) -- plus the names of
the sound classes a corpus adds (`sound_classes`: a source corpus's labels and generic classes, named by
`catalogue.sound_names`), and how texts name the two clips ("Audio 1",
"the second recording", "both", "neither"). It reads any English explanation: on SynthDiff grammar output it recovers
every stated fact, on free text (ACD/CLD answers, a model's output) it returns the claims it can recognise and
ignores the rest, so it returns fewer claims rather than wrong ones.

How a text is read:

1. Lower-case it; replace every vocabulary phrase (longest first) by a placeholder, so that e.g. "almost no background
   sound" names the silent background and is not a negation; replace clip references by `@1`, `@2`, `@b` (both) and
   `@n` (neither).
2. Split it into sentences and clauses at sentence punctuation, at contrast words ("while", "whereas", "where", "but")
   and at a comma or "and" followed by a clip reference ("Audio 2 is louder, Audio 1 is muffled").
3. In each clause the first clip reference is the subject (a clause without one inherits the previous clause's subject
   in the same sentence). Every vocabulary mention is a claim about the subject; a negation word between the subject
   and a mention ("no", "not", "lacks", "missing", "without", ...) negates it. Relative tails name the other clip:
   "... that Audio 1 lacks" / "..., absent from Audio 1" (the clause's sounds are absent there), "... heard in
   Audio 1" (present there), and "the X of Audio 1 is replaced by Y in Audio 2".
4. Comparatives ("louder", "quieter", "more reverberant", "noisier", "faster", "slower", "brighter", "duller",
   "pitched up", "starts later", and the forms derived from `PROPERTY_WORDS`) become pair claims naming the clip that
   has more of the property; a clip said to have hum, clicks or compression artefacts (the grammar adds "that Audio N
   does not") is the one with more of them. When a text states a per-clip
   level for both clips (reverberation, noisy / clean) and the levels differ, the comparative claim is derived too.

Claims on a clip's mood ("feels calm") and on the order of events are not extracted: the facts do not judge them.
"""

import logging
import re
from dataclasses import dataclass
from functools import lru_cache

from ..synthdiff.interface import BACKGROUND_SYNONYMS, EVENT_SYNONYMS, PROPERTY_WORDS, REVERBS, sound_names

logger = logging.getLogger(__name__)

# Claim kinds, grouped by the fact type that judges them.
FACT_TYPES = {
    "loudness": ("louder",),
    "reverb": ("more_reverberant", "reverb"),
    "noise": ("noisier", "noisy"),
    "timbre": ("timbre",),
    "clipping": ("clipped",),
    "speed": ("faster",),
    "events": ("has_event", "lacks_event", "no_events"),
    "background": ("background",),
    "identity": ("identical",),
    # real-world edits of a source corpus (`adiff synth --sources`), judged by the pair facts of the same name
    "brightness": ("brighter",),
    "pitch": ("higher_pitched",),
    "timing": ("starts_later",),
    "hum": ("hummier",),
    "clicks": ("clickier",),
    "codec": ("more_compressed",),
}
REALWORLD_FACT_TYPES = ("brightness", "pitch", "timing", "hum", "clicks", "codec")
FACT_TYPE_OF_KIND = {kind: fact_type for fact_type, kinds in FACT_TYPES.items() for kind in kinds}


@dataclass(frozen=True, order=True)
class Claim:
    """One checkable statement of an explanation.

    Args:
        kind (`str`): what is claimed (see `FACT_TYPES`):
            - pair comparatives, `audio` being the clip with more of the property: `"louder"`, `"more_reverberant"`,
              `"noisier"`, `"faster"`, and a source corpus's `"brighter"`, `"higher_pitched"`, `"starts_later"`,
              `"hummier"`, `"clickier"`, `"more_compressed"` (`value` is `None`);
            - per-clip properties of clip `audio`: `"reverb"` (`value` one of `REVERBS`), `"timbre"` (`"muffled"` or
              `"thin"`), `"noisy"` and `"clipped"` (`value` `True` / `False`), `"background"` (a background name),
              `"has_event"` / `"lacks_event"` (a sound class name), `"no_events"` (no foreground sound; `None`);
            - `"identical"`: the two clips sound the same (`audio` and `value` are `None`).
        audio (`int`, *optional*): 1 or 2, the clip the claim is about.
        value (`str`, `bool` or `None`): the claimed value.
    """

    kind: str
    audio: int | None = None
    value: str | bool | None = None

    def swapped(self) -> "Claim":
        """The same claim with Audio 1 and Audio 2 exchanged."""
        return Claim(self.kind, None if self.audio is None else 3 - self.audio, self.value)

    def __str__(self) -> str:
        who = f"audio {self.audio}" if self.audio is not None else "pair"
        return f"{self.kind}({who}{'' if self.value is None else ', ' + str(self.value)})"


# ----------------------------------------------------------------------------------------------- vocabulary
def _flat(words) -> tuple:
    return (words,) if isinstance(words, str) else tuple(words)


def _comparative(word: str) -> str | None:
    """'noisy' -> 'noisier' (adjectives ending in -y); other words have none."""
    return word[:-1] + "ier" if word.endswith("y") and " " not in word else None


# Real-world property words (`PROPERTY_WORDS` key) and the placeholder they become; `_MORE` / `_LESS` below say which
# comparative claim each placeholder makes.
_REALWORLD_WORDS = {"brighter": "brighter", "darker": "darker", "higher_pitched": "higher_pitched",
                    "lower_pitched": "lower_pitched", "starts_later": "starts_later", "hum": "hummier",
                    "clicks": "clickier", "compressed": "more_compressed"}
GENERIC_SOUND = "sound"  # the class of recordings without a usable label; its bare name "sound" is also a verb


def _property_lexicon(add) -> None:
    """Background and signal-property phrases (the same for every corpus)."""
    for background, names in BACKGROUND_SYNONYMS.items():
        for name in names:
            add(name, f"g:{background}")
    for level, words in PROPERTY_WORDS["reverb"].items():
        for word in words:
            add(word, f"p:reverb:{level}")
    for timbre, words in PROPERTY_WORDS["timbre"].items():
        for word in words:
            add(word, f"p:timbre:{timbre}")
    for key in ("louder", "quieter", "faster", "slower", "clean", "clipped"):
        for word in PROPERTY_WORDS[key]:
            add(word, f"p:{key}")
    for word in PROPERTY_WORDS["more_reverberant"]:
        add(word, "p:more_reverberant")
        if word.startswith("more "):
            add("less " + word[len("more "):], "p:less_reverberant")
    for word in PROPERTY_WORDS["noisy"]:
        add(word, "p:noisy")
        add("more " + word, "p:noisier")
        add("less " + word, "p:less_noisy")
        if _comparative(word):
            add(_comparative(word), "p:noisier")
    for key in ("identical", "near_identical"):
        for word in PROPERTY_WORDS[key]:
            add(word, "p:identical")
    for key, tag in _REALWORLD_WORDS.items():
        for word in PROPERTY_WORDS[key]:
            add(word, f"p:{tag}")
            if key == "starts_later" and "later" in word:
                add(word.replace("later", "earlier"), "p:starts_earlier")
            if tag in ("hummier", "clickier", "more_compressed"):  # things a clip has: "less hum", "a click"
                add(("fewer " if word.endswith("s") else "less ") + word, f"p:less_{key}")
                if word.endswith("s"):
                    add(word[:-1], f"p:{tag}")


def _build_lexicon(sound_classes: frozenset = frozenset()) -> tuple:
    """`(phrase -> placeholder tag, shadowed)`. Tags: `e:<class>`, `g:<background>`, `p:<property>[:<value>]`.

    The names of `sound_classes` (`catalogue.sound_names`: a source label such as "alarm clock", a generic name)
    come before the catalogue's synonyms, so a corpus with a class "chime" reads "chime" as that class, not as the
    catalogue's bell; `shadowed` lists the class names that are already background or property words (those keep
    their meaning). The generic class's bare name "sound" is read by `_GENERIC_SOUND_RE`, not the lexicon."""
    lexicon, shadowed = {}, []

    def add(phrase: str, tag: str, clash: str = "raise"):
        phrase = phrase.lower()
        taken = lexicon.setdefault(phrase, tag)
        if taken == tag or clash == "catalogue" and taken.startswith("e:"):
            return
        if clash == "report":
            shadowed.append(f"{phrase!r} ({tag} read as {taken})")
            return
        raise RuntimeError(f"Vocabulary phrase {phrase!r} names both {taken} and {tag}; the SynthDiff tables must "
                           "keep their phrases disjoint.")

    _property_lexicon(add)
    for cls in sorted(set(sound_classes) - set(EVENT_SYNONYMS)):  # the catalogue's classes come next, in any corpus
        for name in sound_names(cls):
            if not (cls == GENERIC_SOUND and name == GENERIC_SOUND):
                add(name, f"e:{cls}", clash="report")
    for cls, names in EVENT_SYNONYMS.items():
        for name in names:
            add(name, f"e:{cls}", clash="catalogue")
    return lexicon, shadowed


@dataclass(frozen=True)
class _Vocabulary:
    """The lexicon of one set of sound classes and its compiled phrase pattern."""

    lexicon: dict
    pattern: re.Pattern
    generic_sound: bool


@lru_cache(maxsize=16)
def _vocabulary(sound_classes: frozenset) -> _Vocabulary:
    lexicon, shadowed = _build_lexicon(sound_classes)
    if shadowed:
        logger.warning("Sound class names that are also background or property words keep the latter meaning: %s.",
                       ", ".join(shadowed))
    # Longest phrase first, so "idling engine" wins over "engine"; plural "s"/"es" allowed ("sirens", "beeps").
    pattern = re.compile(
        r"\b(" + "|".join(re.escape(p) for p in sorted(lexicon, key=len, reverse=True)) + r")(?:e?s)?\b")
    return _Vocabulary(lexicon, pattern, GENERIC_SOUND in sound_classes)


_TAG_RE = re.compile(r"<([a-z_]+(?::[a-z0-9_]+)*)>")
# The generic class's bare name, singular, where the grammar uses it for a sound: after an article ("a sound", "the
# sound comes first", "the sound of Audio 1 is replaced by ...", "... by a sound in Audio 2"), or in a list after
# another sound name ("the piano and sound heard in Audio 1"); not "the sound of Audio 1 is louder", "the sound
# sources" or the verb ("sounds").
_GENERIC_SOUND_RE = re.compile(
    r"(\bthe\s+)sound\b(?=\s+of\s+@[12]\s+is\s+replaced\b)"
    r"|(\ban?\s+|>\s*(?:,|and)\s+)sound\b(?!\s+sources?\b)"
    r"|(\bthe\s+)sound\b(?!\s+(?:sources?\b|(?:of|in|from|on)\s+@))")

_CLIP_NOUNS = r"(?:audio|clip|recording|sound|track|sample|file|piece|one)s?"
_REF_PATTERNS = (
    (re.compile(r"\b(?:audio|clip|recording|track|sample)\s*(?:#\s*|\(\s*)?(1|2|one|two)\b(?:\s*\))?"), None),
    (re.compile(rf"\b(?:the\s+)?(first|second)\s+{_CLIP_NOUNS}\b"), None),
    (re.compile(r"\bthe\s+(first|second)\b(?=\s*(?:[.,;:!?]|$))"), None),
    (re.compile(rf"\b(?:both|each)(?:\s+(?:of\s+the\s+)?(?:two\s+)?{_CLIP_NOUNS})?\b"), "@b"),
    (re.compile(rf"\bneither(?:\s+(?:of\s+the\s+)?(?:two\s+)?{_CLIP_NOUNS})?\b"), "@n"),
)
_REF_NUMBER = {"1": "@1", "one": "@1", "first": "@1", "2": "@2", "two": "@2", "second": "@2"}

_SENTENCE_SPLIT = re.compile(r"[.;:!?]+(?:\s+|$)")
_CLAUSE_SPLIT = re.compile(
    r"\s*,?\s*\b(?:whereas|while|where|but|although|though|in contrast|on the other hand)\b\s*,?\s*"
    r"|\s*,\s*(?:and\s+|then\s+)?(?=@[12bn]\b)|\s+and\s+(?=@[12bn]\b)")
_NEGATION = re.compile(r"\b(?:no|not|never|without|lacks?|lacking|missing|absent|none|nor|neither)\b|n't\b")
_REPLACED = re.compile(r"(?:the\s+)?<e:(\w+)>\s+of\s+(@[12])\s+is\s+replaced\s+(?:by|with)\s+(?:an?\s+)?<e:(\w+)>"
                       r"\s+in\s+(@[12])")
_ABSENT_TAIL = re.compile(r"\s*,?\s*(?:(?:that|which)\s+(@[12])\s+(?:lacks|does\s+not|doesn't)(?:\s+(?:have|contain))?"
                          r"|(?:absent|missing)\s+(?:from|in)\s+(@[12]))")
_PRESENT_TAIL = re.compile(r"\s*(?:heard|present|found|audible)\s+in\s+(@[12])")
_CAUSE = re.compile(r"\b(?:set by|because of|due to|caused by)\b")
_NO_EVENTS = re.compile(r"\b(?:just|only)\s+<g:\w+>|\bno\s+(?:other|foreground)\s+sounds?\b")
_SUBJECT = re.compile(r"@[12bn]\b")
# Comparative placeholders -> claim kind: the subject has more of the property, or less for the inverse words.
_MORE = {"louder": "louder", "more_reverberant": "more_reverberant", "noisier": "noisier", "faster": "faster",
         "brighter": "brighter", "higher_pitched": "higher_pitched", "starts_later": "starts_later",
         "hummier": "hummier", "clickier": "clickier", "more_compressed": "more_compressed"}
_LESS = {"quieter": "louder", "less_reverberant": "more_reverberant", "less_noisy": "noisier", "slower": "faster",
         "darker": "brighter", "lower_pitched": "higher_pitched", "starts_earlier": "starts_later",
         "less_hum": "hummier", "less_clicks": "clickier", "less_compressed": "more_compressed"}


# ----------------------------------------------------------------------------------------------- parsing


def _normalise(text: str, vocabulary: _Vocabulary) -> str:
    """Lower-case, placeholders for vocabulary phrases and clip references."""
    text = " ".join(text.lower().replace("\u2019", "'").split())
    text = vocabulary.pattern.sub(lambda m: f"<{vocabulary.lexicon[m.group(1)]}>", text)
    for pattern, token in _REF_PATTERNS:
        text = pattern.sub(lambda m, t=token: t or _REF_NUMBER[m.group(1)], text)
    text = re.sub(r"@1\s+and\s+@2|@2\s+and\s+@1", "@b", text)
    if vocabulary.generic_sound:
        text = _GENERIC_SOUND_RE.sub(lambda m: f"{m.group(m.lastindex)}<e:{GENERIC_SOUND}>", text)
    return text


def _audios(subject: str | None) -> tuple:
    return {"@1": (1,), "@2": (2,), "@b": (1, 2), "@n": (1, 2)}.get(subject, ())


class _ClauseReader:
    """Claims of one clause; `subject` is the clip reference it is about (or `None`)."""

    def __init__(self, claims: set):
        self.claims = claims

    def add(self, kind: str, audios, value=None):
        for audio in audios:
            self.claims.add(Claim(kind, audio, value))

    def read(self, clause: str, subject: str | None) -> str | None:
        for old, audio1, new, audio2 in _REPLACED.findall(clause):
            a1, a2 = int(audio1[1]), int(audio2[1])
            self.add("has_event", (a1,), old)
            self.add("lacks_event", (a2,), old)
            self.add("has_event", (a2,), new)
            self.add("lacks_event", (a1,), new)
        clause = _REPLACED.sub(" ", clause)
        absent = [int((m.group(1) or m.group(2))[1]) for m in _ABSENT_TAIL.finditer(clause)]
        present = [int(m.group(1)[1]) for m in _PRESENT_TAIL.finditer(clause)]
        clause = _PRESENT_TAIL.sub(" ", _ABSENT_TAIL.sub(" ", clause))

        first = _SUBJECT.search(clause)
        start = 0
        if first is not None:
            subject, start = first.group(0), first.end()
        audios = _audios(subject)
        neither = subject == "@n"
        cause = _CAUSE.search(clause, start)
        rest = clause[start:]
        if _NO_EVENTS.search(rest) and not any(tag.startswith("e:") for tag in _TAG_RE.findall(rest)):
            self.add("no_events", audios)
        for match in _TAG_RE.finditer(clause):
            # A mention before the subject ("there is no audible difference between Audio 1 and Audio 2") is read
            # from the clause start.
            scope = start if match.start() >= start else 0
            negated = neither != bool(_NEGATION.search(clause, scope, match.start()))
            if subject == "@b" and cause is not None and match.start() > cause.start():
                continue  # "both feel calm, set by the birdsong": the cause names one clip's sound, not both
            self._mention(match.group(1).split(":"), audios, subject, negated, absent, present)
        return subject

    def _mention(self, tag: list, audios: tuple, subject: str | None, negated: bool, absent: list, present: list):
        kind, name, value = tag[0], tag[1], tag[2] if len(tag) > 2 else None
        if kind == "e":
            self.add("lacks_event" if negated else "has_event", audios, name)
            if not negated:
                self.add("lacks_event", absent, name)
            self.add("has_event", present, name)
        elif kind == "g":
            if not negated:
                self.add("background", audios, name)
        elif name == "identical":
            if not negated:
                self.claims.add(Claim("identical"))
        elif name in ("reverb", "timbre"):
            if not negated:
                self.add(name, audios, value)
        elif name in ("noisy", "clean"):
            self.add("noisy", audios, negated == (name == "clean"))
            if name == "noisy" and not negated:
                self.add("noisy", absent, False)
        elif name == "clipped":
            self.add("clipped", audios, not negated)
        elif subject in ("@1", "@2") and not negated:
            audio = int(subject[1])
            if name in _MORE:
                self.add(_MORE[name], (audio,))
            elif name in _LESS:
                self.add(_LESS[name], (3 - audio,))


def _derive_comparatives(claims: set) -> None:
    """Per-clip levels stated for both clips imply the comparative (dry < room < hall; clean < noisy)."""
    for kind, comparative, rank in (("reverb", "more_reverberant", REVERBS.index), ("noisy", "noisier", int)):
        levels = {a: {c.value for c in claims if c.kind == kind and c.audio == a} for a in (1, 2)}
        if all(len(levels[a]) == 1 for a in (1, 2)):
            r1, r2 = (rank(next(iter(levels[a]))) for a in (1, 2))
            if r1 != r2:
                claims.add(Claim(comparative, 1 if r1 > r2 else 2))


def extract_claims(text: str, sound_classes=()) -> frozenset:
    """The set of `Claim`s an explanation makes (see the module docstring for the rules).

    Args:
        text (`str`): an explanation; any English text is accepted.
        sound_classes (iterable of `str`, *optional*): the sound classes of the corpus beyond the catalogue's (a
            source corpus's labels, e.g. `"french_horn"`, `"alarm_clock"`, the generic `"sound"` and `"music"`):
            their names (`catalogue.sound_names`) are read as sounds of that class, before the catalogue's synonyms
            (longest name first: "alarm clock" is the class `alarm_clock`, not the catalogue's alarm).

    Returns: `frozenset[Claim]`, empty when nothing checkable is stated.

    Example:

    ```python
    >>> sorted(map(str, extract_claims("Audio 2 is louder than Audio 1, and Audio 1 sounds muffled.")))
    ['louder(audio 2)', 'timbre(audio 1, muffled)']
    ```
    """
    if not isinstance(text, str):
        raise TypeError(f"extract_claims expects the explanation as a str, got a {type(text).__name__}.")
    if isinstance(sound_classes, str):
        raise TypeError(f"sound_classes must be an iterable of class names, got the str {sound_classes!r}; wrap it "
                        "in a list.")
    claims = set()
    reader = _ClauseReader(claims)
    for sentence in _SENTENCE_SPLIT.split(_normalise(text, _vocabulary(frozenset(sound_classes)))):
        subject = None
        for clause in _CLAUSE_SPLIT.split(sentence):
            if clause.strip():
                subject = reader.read(clause, subject)
    _derive_comparatives(claims)
    return frozenset(claims)


def swap_claims(claims) -> frozenset:
    """`claims` with Audio 1 and Audio 2 exchanged (what `explain(B, A)` should state if `explain(A, B)` states
    `claims`)."""
    return frozenset(claim.swapped() for claim in claims)


COMPARATIVE_KINDS = tuple(dict.fromkeys(_MORE.values()))  # pair claims: `audio` has more of the property
DIFFERENCE_KINDS = (*COMPARATIVE_KINDS, "lacks_event")


def difference_claims(claims) -> frozenset:
    """The claims that assert the two clips differ: comparatives, a sound absent from one clip, a clip property
    or background stated with different values for the two clips, or a sound stated present in one clip and absent in
    the other."""
    out = {c for c in claims if c.kind in DIFFERENCE_KINDS}
    for kind in ("reverb", "timbre", "noisy", "clipped", "background"):
        values = {a: {c.value for c in claims if c.kind == kind and c.audio == a} for a in (1, 2)}
        if values[1] and values[2] and values[1] != values[2]:
            out |= {c for c in claims if c.kind == kind}
    events = {a: {c.value for c in claims if c.kind == "has_event" and c.audio == a} for a in (1, 2)}
    none = {a for a in (1, 2) if Claim("no_events", a) in claims}
    for a in none:
        if events[3 - a]:
            out.add(Claim("no_events", a))
    return frozenset(out)


__all__ = ["Claim", "FACT_TYPES", "FACT_TYPE_OF_KIND", "REALWORLD_FACT_TYPES", "COMPARATIVE_KINDS", "DIFFERENCE_KINDS",
           "GENERIC_SOUND", "extract_claims", "swap_claims",
           "difference_claims"]
