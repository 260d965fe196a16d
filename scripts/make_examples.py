"""Writes the example clips shipped in `adiff/examples/` (10 s, 16 kHz, mono, 16-bit PCM), rendered with SynthDiff.

    python scripts/make_examples.py [--out adiff/examples]

The output is deterministic: every scene is fully specified below, seeds included.
"""

import argparse
import sys
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a source checkout: `python scripts/make_examples.py`

from training.synthdiff import ClipSpec, EventSpec, render_clip  # noqa: E402
from training.synthdiff.source_scene import RecordingEventSpec  # noqa: E402

SAMPLE_RATE = 16000
SECONDS = 10.0
OUT_DIR = ROOT / "adiff" / "examples"

BIRDS_RAIN = ClipSpec(
    background="rain", background_db=-40.0, background_seed=11,
    events=[EventSpec("birdsong", "beginning", 0.08, 2.4, -18.0, "high", 5, seed=12),
            EventSpec("bell", "end", 0.72, 2.0, -20.0, "mid", 2, seed=13)],
    reverb="room", effect_seed=14)

# A real recording (an Asterisk telephone prompt, CC-BY-SA-3.0, Allison Smith; one of the held-out recordings of
# tests/fixtures/real_sources) in a quiet room, then the same clip edited once.
SPEECH_FILE = "tests/fixtures/real_sources/en_agent_incorrect.flac"
SPEECH = ClipSpec(
    background="silence", background_db=-60.0, background_seed=21,
    events=[RecordingEventSpec("speech", "beginning", 0.1, 5.0, -14.0, "mid", 1, seed=22, recording_id=SPEECH_FILE,
                               path=str(ROOT / SPEECH_FILE), label="speech", generic=False, license="CC-BY-SA-3.0",
                               package="asterisk-core-sounds-en-wav")],
    reverb="dry", effect_seed=23)

EXAMPLES = {
    # A busy street: footsteps, then a siren in the middle, over traffic.
    "siren_street.wav": ClipSpec(
        background="traffic", background_db=-38.0, background_seed=1,
        events=[EventSpec("footsteps", "beginning", 0.05, 2.4, -20.0, "mid", 5, seed=2),
                EventSpec("siren", "middle", 0.42, 2.5, -16.0, "mid", 1, seed=3)],
        reverb="dry", effect_seed=4),
    # Birds in the rain, a bell near the end, in a small room.
    "birds_rain.wav": BIRDS_RAIN,
    # The same scene, heard muffled and in a hall: a difference in acoustics, not in events.
    "birds_rain_muffled.wav": BIRDS_RAIN.replace(reverb="hall", timbre="muffled", gain_db=-4.0),
    # Real speech, and the same speech 12 dB quieter (release 8 names the louder clip at every tier; the same clip in
    # a hall, SPEECH.replace(reverb="hall"), or 1.25x faster, it still gets wrong: docs/default_model.md).
    "speech.wav": SPEECH,
    "speech_quieter.wav": SPEECH.replace(gain_db=-12.0),
}


def main(argv=None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"output folder (default {OUT_DIR})")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, spec in EXAMPLES.items():
        audio, facts = render_clip(spec, SAMPLE_RATE, SECONDS)
        path = args.out / name
        sf.write(path, audio, SAMPLE_RATE, subtype="PCM_16")
        print(f"{path}: {facts['background']} + {', '.join(facts['order']) or 'no events'}, "
              f"{facts['loudness_db']} dB RMS, {facts['reverb']}/{facts['timbre']}")
        written.append(path)
    return written


if __name__ == "__main__":
    main()
