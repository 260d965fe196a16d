"""Claim extraction: hand-written sentences, free text, and the SynthDiff grammar's own explanations."""

import pytest

from training.evaluation.claims import Claim, difference_claims, extract_claims, swap_claims
from training.evaluation.facts import fact_accuracy
from training.synthdiff import EVENT_SYNONYMS, generate_pair


def names(text):
    return sorted(map(str, extract_claims(text)))


@pytest.mark.parametrize("text, expected", [
    ("Audio 1 is louder than Audio 2.", {Claim("louder", 1)}),
    ("Audio 2 is quieter than Audio 1.", {Claim("louder", 1)}),
    ("The second recording is softer.", {Claim("louder", 1)}),
    ("Audio 2 is more reverberant than Audio 1.", {Claim("more_reverberant", 2)}),
    ("Audio 1 is noisier than Audio 2.", {Claim("noisier", 1)}),
    ("Audio 2 plays faster than Audio 1.", {Claim("faster", 2)}),
    ("Audio 1 is slower than Audio 2.", {Claim("faster", 2)}),
    ("Audio 2 sounds muffled.", {Claim("timbre", 2, "muffled")}),
    ("Audio 1 is distorted by clipping.", {Claim("clipped", 1, True)}),
    ("Audio 1 and Audio 2 are identical.", {Claim("identical")}),
    ("There is no audible difference between Audio 1 and Audio 2.", {Claim("identical")}),
    # the real-world property words of a source corpus, and their inverse forms
    ("Audio 1 sounds brighter than Audio 2.", {Claim("brighter", 1)}),
    ("Audio 2 sounds duller than Audio 1.", {Claim("brighter", 1)}),
    ("Audio 1 sounds darker than Audio 2.", {Claim("brighter", 2)}),
    ("Audio 2 is higher-pitched compared with Audio 1.", {Claim("higher_pitched", 2)}),
    ("Audio 2 is pitched down compared with Audio 1.", {Claim("higher_pitched", 1)}),
    ("Audio 1 starts later than Audio 2.", {Claim("starts_later", 1)}),
    ("The sounds of Audio 2 are delayed relative to Audio 1.", {Claim("starts_later", 2)}),
    ("Audio 2 starts earlier than Audio 1.", {Claim("starts_later", 1)}),
    ("Audio 1 carries a low mains hum that Audio 2 does not.", {Claim("hummier", 1)}),
    ("Audio 1 has less hum than Audio 2.", {Claim("hummier", 2)}),
    ("Audio 2 has crackles that Audio 1 does not.", {Claim("clickier", 2)}),
    ("Audio 2 has a click.", {Claim("clickier", 2)}),
    ("Audio 1 has compression artefacts that Audio 2 lacks.", {Claim("more_compressed", 1)}),
    ("Audio 2 sounds lossy-coded, Audio 1 does not.", {Claim("more_compressed", 2)}),
    ("Audio 1 has no hum and is not brighter.", set()),
    ("Audio 1 has a siren over road traffic hum.",
     {Claim("has_event", 1, "siren"), Claim("background", 1, "traffic")}),
])
def test_single_claims(text, expected):
    assert extract_claims(text) == frozenset(expected)


def test_events_backgrounds_and_absence():
    text = ("Audio 1 has a siren over rain, while Audio 2 has only wind. "
            "Audio 2 adds an electronic beep that Audio 1 lacks. Audio 2 is missing the bell heard in Audio 1.")
    assert extract_claims(text) == {
        Claim("has_event", 1, "siren"), Claim("background", 1, "rain"), Claim("background", 2, "wind"),
        Claim("no_events", 2), Claim("has_event", 2, "beep"), Claim("lacks_event", 1, "beep"),
        Claim("lacks_event", 2, "bell"), Claim("has_event", 1, "bell")}


def test_replacement_and_both():
    claims = extract_claims("The knocking of Audio 1 is replaced by a chime in Audio 2, and both share footsteps.")
    assert claims == {Claim("has_event", 1, "knocking"), Claim("lacks_event", 2, "knocking"),
                      Claim("has_event", 2, "bell"), Claim("lacks_event", 1, "bell"),
                      Claim("has_event", 1, "footsteps"), Claim("has_event", 2, "footsteps")}


def test_negation_neither_and_derived_comparatives():
    assert extract_claims("Neither recording is noisy.") == {Claim("noisy", 1, False), Claim("noisy", 2, False)}
    assert extract_claims("Audio 1 is not louder than Audio 2.") == frozenset()
    claims = extract_claims("Audio 1 is echoing while Audio 2 is dry. Audio 2 carries a layer of hiss that Audio 1 "
                            "does not, Audio 1 being clean.")
    assert Claim("more_reverberant", 1) in claims and Claim("noisier", 2) in claims
    assert {Claim("noisy", 2, True), Claim("noisy", 1, False)} <= claims


def test_synonyms_and_clip_references():
    """Every synonym names its class, plurals too, and clip references come in several forms."""
    for cls, synonyms in EVENT_SYNONYMS.items():
        for synonym in synonyms:
            assert Claim("has_event", 2, cls) in extract_claims(f"The second audio features {synonym}.")
    assert extract_claims("Audio (1) features sirens.") == {Claim("has_event", 1, "siren")}
    assert extract_claims("In the first clip an engine idles.") == {Claim("has_event", 1, "engine")}
    # Synonyms are read with any article: "a voice speaking" and "the voice speaking".
    assert extract_claims("Audio 1 plays the siren first, Audio 2 the voice speaking first.") >= {
        Claim("has_event", 1, "siren"), Claim("has_event", 2, "speech")}


def test_free_text_gives_fewer_claims_not_wrong_ones():
    acd = ("Audio 1 features a constant, high-frequency rattling noise with sharp vibrations, while Audio 2 combines "
           "a mid-frequency sawing sound with a distant, low-frequency music accompaniment.")
    assert extract_claims(acd) == frozenset()
    assert extract_claims("") == frozenset()
    with pytest.raises(TypeError, match="as a str"):
        extract_claims(None)


def test_swapped_text_gives_swapped_claims():
    text = "Audio 1 has a siren over rain, while Audio 2 has only wind; Audio 2 is louder and Audio 1 sounds thin."
    swapped = text.replace("Audio 1", "@").replace("Audio 2", "Audio 1").replace("@", "Audio 2")
    assert extract_claims(swapped) == swap_claims(extract_claims(text))
    assert extract_claims(swapped) != extract_claims(text)


def test_difference_claims():
    assert difference_claims(extract_claims("Audio 1 and Audio 2 are identical; both contain rain.")) == frozenset()
    assert difference_claims(extract_claims("Audio 1 is dry while Audio 2 is dry.")) == frozenset()
    assert difference_claims(extract_claims("Audio 1 is dry while Audio 2 is echoing.")) >= {Claim("reverb", 1, "dry")}
    assert difference_claims(extract_claims("Audio 1 has a beep, while Audio 2 has only rain.")) == {
        Claim("no_events", 2)}


def test_grammar_explanations_are_read_exactly():
    """On the generator's own explanations, no claim is contradicted, and tiers 2 and 3 state every difference."""
    records = [generate_pair(11, "test", index, sample_rate=8000, seconds=2.0)[2] for index in range(60)]
    for tier in ("1", "2", "3"):
        texts = [r["explanations"][tier] for r in records]
        scores = fact_accuracy([extract_claims(t) for t in texts], records)
        assert scores["all"].contradicted == 0 and scores["all"].unjudged == 0, tier
        assert scores["all"].claims > 3 * len(records), tier
        if tier != "1":
            assert scores["all"].recall == 1.0, tier
        swapped = [t.replace("Audio 1", "@").replace("Audio 2", "Audio 1").replace("@", "Audio 2") for t in texts]
        assert [extract_claims(s) for s in swapped] == [swap_claims(extract_claims(t)) for t in texts]


SOURCE_CLASSES = ("alarm_clock", "french_horn", "chime", "music", "sound", "speech")


@pytest.mark.parametrize("text, expected", [
    ("Audio 1 has an alarm clock, Audio 2 an alarm.", {Claim("has_event", 1, "alarm_clock"),
                                                         Claim("has_event", 2, "alarm")}),
    ("Audio 2 adds a french horn that Audio 1 lacks.", {Claim("has_event", 2, "french_horn"),
                                                          Claim("lacks_event", 1, "french_horn")}),
    ("Audio 1 has a chime.", {Claim("has_event", 1, "chime")}),  # the corpus's class, not the catalogue's bell
    ("Audio 1 has a piece of music and a voice speaking.", {Claim("has_event", 1, "music"),
                                                             Claim("has_event", 1, "speech")}),
    ("Audio 1 has a sound where Audio 2 has an unidentified sound.", {Claim("has_event", 1, "sound"),
                                                                       Claim("has_event", 2, "sound")}),
    ("The sound of Audio 1 is replaced by a french horn in Audio 2.", {
        Claim("has_event", 1, "sound"), Claim("lacks_event", 2, "sound"), Claim("has_event", 2, "french_horn"),
        Claim("lacks_event", 1, "french_horn")}),
    ("The french horn of Audio 1 is replaced by a sound in Audio 2.", {
        Claim("has_event", 1, "french_horn"), Claim("lacks_event", 2, "french_horn"), Claim("has_event", 2, "sound"),
        Claim("lacks_event", 1, "sound")}),
    ("Audio 2 is missing the chime and sound heard in Audio 1.", {
        Claim("has_event", 1, "chime"), Claim("has_event", 1, "sound"), Claim("lacks_event", 2, "chime"),
        Claim("lacks_event", 2, "sound")}),
    # "sound" as a verb, a plural, the whole clip or "sound sources" names no sound
    ("Audio 1 sounds brighter; both sound muffled. The sound of Audio 2 is louder.", {
        Claim("brighter", 1), Claim("timbre", 1, "muffled"), Claim("timbre", 2, "muffled"), Claim("louder", 2)}),
    ("Audio 1 has only rain, with no other sounds; the contrast lies in the sound sources.", {
        Claim("background", 1, "rain"), Claim("no_events", 1)}),
])
def test_source_corpus_sound_classes(text, expected):
    assert extract_claims(text, SOURCE_CLASSES) == frozenset(expected)


def test_sound_classes_only_change_what_names_them(caplog):
    # without the corpus's classes: the catalogue's readings, and no generic "sound"
    assert extract_claims("Audio 1 has a chime and a sound.") == {Claim("has_event", 1, "bell")}
    assert extract_claims("Audio 1 has an alarm clock.") == {Claim("has_event", 1, "alarm")}
    # a source label wins over a catalogue synonym even when the catalogue's class is in the corpus too
    assert extract_claims("Audio 1 has a chime and a ringing bell.", ("bell", "chime")) == {
        Claim("has_event", 1, "chime"), Claim("has_event", 1, "bell")}
    # a class named like a background keeps the background meaning, and says so
    with caplog.at_level("WARNING"):
        assert extract_claims("Audio 1 has wind.", ("wind", "organ")) == {Claim("background", 1, "wind")}
    assert "'wind' (e:wind read as g:wind)" in caplog.text
    with pytest.raises(TypeError, match="got the str 'organ'; wrap it in a list"):
        extract_claims("Audio 1 has an organ.", "organ")


def test_grammar_texts_of_real_world_edits_swap_and_differ():
    text = ("Audio 1 sounds brighter than Audio 2; Audio 2 is lower-pitched compared with Audio 1; "
            "Audio 2 starts later than Audio 1; Audio 1 carries a low hum that Audio 2 does not; "
            "Audio 2 has clicks that Audio 1 does not; Audio 1 has compression artefacts that Audio 2 lacks.")
    claims = extract_claims(text)
    assert claims == {Claim("brighter", 1), Claim("higher_pitched", 1), Claim("starts_later", 2), Claim("hummier", 1),
                      Claim("clickier", 2), Claim("more_compressed", 1)}
    swapped = text.replace("Audio 1", "@").replace("Audio 2", "Audio 1").replace("@", "Audio 2")
    assert extract_claims(swapped) == swap_claims(claims)
    assert difference_claims(claims) == claims  # every one says the clips differ
