"""SynthDiff's vocabulary: sound classes, backgrounds, signal properties and the words that name them.

Every name the explanation grammar may print for a sound lives in `EVENT_SYNONYMS` / `BACKGROUND_SYNONYMS`, and every
word it uses for a signal property lives in `PROPERTY_WORDS`: an evaluator can check a generated explanation's claims
against a pair's JSON facts with these tables alone.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class SoundClass:
    """One synthesised foreground sound class.

    Args:
        name (`str`): identifier used in the facts and clip labels.
        duration_s (`tuple[float, float]`): range of the event's duration in seconds (before playback speed).
        repetitions (`tuple[int, int]`): range of repetitions (hits, strikes, beeps); `(1, 1)` for continuous sounds.
        tonal (`bool`): whether a pitch register is audible (then the grammar may say "high-pitched").
        mood (`str`): impression the sound gives ("urgent", "calm", "busy", "tense", "lively", "mechanical").
    """

    name: str
    duration_s: tuple
    repetitions: tuple
    tonal: bool
    mood: str


SOUND_CLASSES = (
    SoundClass("beep", (0.6, 2.0), (1, 5), True, "urgent"),
    SoundClass("rising_chirp", (0.4, 1.5), (1, 3), True, "lively"),
    SoundClass("falling_chirp", (0.4, 1.5), (1, 3), True, "tense"),
    SoundClass("siren", (1.5, 2.5), (1, 1), True, "urgent"),
    SoundClass("birdsong", (1.0, 2.5), (2, 6), True, "calm"),
    SoundClass("knocking", (0.6, 1.5), (2, 6), False, "tense"),
    SoundClass("footsteps", (1.5, 2.5), (3, 6), False, "busy"),
    SoundClass("engine", (1.5, 2.5), (1, 1), False, "mechanical"),
    SoundClass("bell", (1.0, 2.5), (1, 3), True, "calm"),
    SoundClass("drum", (0.6, 2.0), (2, 6), False, "lively"),
    SoundClass("melody", (1.5, 2.5), (1, 1), True, "calm"),
    SoundClass("speech", (1.5, 2.5), (1, 1), False, "busy"),
    SoundClass("alarm", (1.0, 2.5), (1, 1), True, "urgent"),
    SoundClass("clapping", (1.0, 2.5), (4, 12), False, "lively"),
)
CLASS_NAMES = tuple(c.name for c in SOUND_CLASSES)
CLASS_BY_NAME = {c.name: c for c in SOUND_CLASSES}

# Names the grammar may use for each class (first = canonical). Kept disjoint across classes so a mention names one
# class.
EVENT_SYNONYMS = {
    "beep": ("beep", "electronic beep", "bleep"),
    "rising_chirp": ("rising chirp", "upward sweep", "rising whistle"),
    "falling_chirp": ("falling chirp", "downward sweep", "falling whistle"),
    "siren": ("siren", "wailing siren", "emergency siren"),
    "birdsong": ("birdsong", "bird chirping", "bird calls"),
    "knocking": ("knocking", "knocks on a door", "rapping"),
    "footsteps": ("footsteps", "steps", "walking"),
    "engine": ("engine", "motor", "idling engine"),
    "bell": ("bell", "ringing bell", "chime"),
    "drum": ("drum hits", "drum", "percussion"),
    "melody": ("melody", "short tune", "musical phrase"),
    "speech": ("speech", "talking", "voice speaking"),
    "alarm": ("alarm", "alarm signal", "buzzing alarm"),
    "clapping": ("clapping", "applause", "hand claps"),
}

# Names of the generic classes of source recordings without a specific label (`sources.GENERIC_CLASSES`).
GENERIC_SYNONYMS = {
    "music": ("music", "piece of music", "musical passage"),
    "sound": ("sound", "unidentified sound", "sound of unknown origin"),
}


def sound_names(sound_class: str) -> tuple:
    """The names the grammar may use for a sound class: the catalogue's synonyms, a generic class's names, or a source
    recording's label itself (`"church_bell"` -> `"church bell"`)."""
    if sound_class in EVENT_SYNONYMS:
        return EVENT_SYNONYMS[sound_class]
    return GENERIC_SYNONYMS.get(sound_class, (sound_class.replace("_", " "),))


BACKGROUNDS = ("silence", "wind", "rain", "traffic", "crowd")
BACKGROUND_SYNONYMS = {
    "silence": ("a near-silent room", "a still, empty room", "almost no background sound"),
    "wind": ("wind", "blowing wind", "gusts of wind"),
    "rain": ("rain", "falling rain", "steady rainfall"),
    "traffic": ("traffic", "distant traffic", "road traffic hum"),
    "crowd": ("a crowd", "crowd chatter", "a murmuring crowd"),
}
BACKGROUND_MOODS = {"silence": "calm", "wind": "calm", "rain": "calm", "traffic": "busy", "crowd": "busy"}

ONSETS = ("beginning", "middle", "end")
# Onset window of each slot as fractions of the clip length.
ONSET_WINDOWS = {"beginning": (0.02, 0.15), "middle": (0.38, 0.5), "end": (0.7, 0.74)}
REGISTERS = ("low", "mid", "high")
REVERBS = ("dry", "room", "hall")
TIMBRES = ("normal", "muffled", "thin")
MOODS = ("urgent", "calm", "busy", "tense", "lively", "mechanical")

# The only words the grammar uses to state each signal property (an evaluator can search for them).
PROPERTY_WORDS = {
    "louder": ("louder",),
    "quieter": ("quieter", "softer"),
    "reverb": {"dry": ("dry",), "room": ("roomy", "slightly reverberant"), "hall": ("very reverberant", "echoing")},
    "more_reverberant": ("more reverberant",),
    "timbre": {"muffled": ("muffled",), "thin": ("thin", "tinny")},
    "noisy": ("noisy", "hiss"),
    "clean": ("clean",),
    "clipped": ("distorted", "clipped"),
    "faster": ("faster", "sped up"),
    "slower": ("slower", "slowed down"),
    "identical": ("identical",),
    "mood": {"urgent": ("urgent", "pressing"), "calm": ("calm", "peaceful"), "busy": ("busy", "bustling"),
             "tense": ("tense", "uneasy"), "lively": ("lively", "energetic"),
             "mechanical": ("mechanical", "industrial")},
    "near_identical": ("practically the same", "no audible difference"),
    "brighter": ("brighter",),
    "darker": ("darker", "duller"),
    "higher_pitched": ("higher-pitched", "pitched up"),
    "lower_pitched": ("lower-pitched", "pitched down"),
    "starts_later": ("starts later", "delayed"),
    "hum": ("hum", "mains hum"),
    "clicks": ("clicks", "crackles"),
    "compressed": ("compression artefacts", "lossy-coded"),
}

__all__ = [
    "SoundClass", "SOUND_CLASSES", "CLASS_NAMES", "CLASS_BY_NAME", "EVENT_SYNONYMS", "GENERIC_SYNONYMS",
    "sound_names", "BACKGROUNDS",
    "BACKGROUND_SYNONYMS", "BACKGROUND_MOODS", "ONSETS", "ONSET_WINDOWS", "REGISTERS", "REVERBS", "TIMBRES", "MOODS",
    "PROPERTY_WORDS",
]
