"""Assemble a freely licensed sound library for `adiff synth --sources` from Debian packages.

    python scripts/build_source_library.py --out /work/sources [--install] [--phrases 24]

Sources (real recordings first; every file's licence is read from /usr/share/doc/<package>/copyright):
- speech: the Asterisk core sound prompts in five languages (en, es, fr, it, ru), recorded by professional voices;
- music: the Asterisk music-on-hold tracks (opsound);
- instruments: short phrases of 24 General-MIDI instruments and a drum kit, rendered by fluidsynth through the
  Fluid R3 soundfont (sampled recordings of real instruments);
- sound effects: the freedesktop sound theme (bells, shutter, phone, alarm clock, ...) and the Oxygen sound theme.

Writes `<out>/<package>/...` (copies or renders), `<out>/sources.csv` (`path,label,license,source`, paths relative to
the CSV) and `<out>/LICENCES.md` (packages, licences, authors). No audio goes into the repository; the licence list
is kept there as `training/synthdiff/SOURCE_LICENCES.md`.
"""

import argparse
import csv
import fnmatch
import hashlib
import logging
import re
import shutil
import struct
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf

logger = logging.getLogger("build_source_library")

SPEECH_PACKAGES = tuple(f"asterisk-core-sounds-{lang}-wav" for lang in ("en", "es", "fr", "it", "ru"))
PACKAGES = SPEECH_PACKAGES + ("asterisk-moh-opsound-wav", "sound-theme-freedesktop", "oxygen-sounds", "fluidsynth",
                              "fluid-soundfont-gm")
ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds")
ASTERISK_MOH = Path("/usr/share/asterisk/moh")
FREEDESKTOP = Path("/usr/share/sounds/freedesktop/stereo")
OXYGEN = Path("/usr/share/sounds")
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
MIN_SECONDS = 0.3
RENDER_RATE = 32000

# Licences stated in prose (copyright files that are not machine-readable), read by hand:
# (licence, phrase that must be in the file, copyright holders).
PROSE_LICENCES = {
    "asterisk-moh-opsound-wav": ("CC-BY-SA-3.0", "Creative Commons Attribution-ShareAlike\n3.0",
                                 "2008-2009 Paul Shuler (Macroform), Manolo Camp, Reno Project"),
    "fluid-soundfont-gm": ("MIT", "MIT license", "2000-2002, 2008 Frank Wen; 2008 Toby Smithe"),
}
# freedesktop sound names -> label ("" = a sound with no usable label; the grammar then says "a sound").
FREEDESKTOP_LABELS = {"alarm-clock-elapsed": "alarm clock", "bell": "bell", "camera-shutter": "camera shutter",
                      "phone-incoming-call": "phone ringing", "phone-outgoing-busy": "busy tone",
                      "phone-outgoing-calling": "ringback tone", "audio-test-signal": "", "screen-capture":
                      "camera shutter", "trash-empty": "paper crumpling"}
# (label, General-MIDI program, lowest note, highest note)
INSTRUMENTS = (("piano", 0, 48, 84), ("electric piano", 4, 48, 84), ("harpsichord", 6, 48, 84),
               ("xylophone", 13, 65, 96), ("organ", 19, 36, 84), ("accordion", 21, 53, 81), ("guitar", 24, 40, 76),
               ("electric guitar", 27, 40, 76), ("bass guitar", 33, 28, 55), ("violin", 40, 55, 96),
               ("cello", 42, 36, 69), ("harp", 46, 36, 91), ("strings", 48, 43, 84), ("choir", 52, 48, 79),
               ("trumpet", 56, 55, 82), ("trombone", 57, 40, 72), ("french horn", 60, 41, 77),
               ("saxophone", 65, 49, 81), ("oboe", 68, 58, 91), ("clarinet", 71, 50, 91), ("flute", 73, 60, 96),
               ("pan flute", 75, 60, 96), ("sitar", 104, 48, 77), ("steel drums", 114, 52, 84))
DRUM_NOTES = (35, 36, 38, 40, 42, 44, 46, 49, 51)  # kick, snare, hi-hats, cymbals of the GM percussion map


def install(packages) -> None:
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *packages], check=True)


def licence_of(package: str, upstream_name: str) -> tuple | None:
    """`(licence, copyright holders)` of `upstream_name` from the package's copyright file (machine-readable: the
    last matching `Files:` stanza wins; prose: `PROSE_LICENCES`, checked against the text); None if it names none."""
    text = Path(f"/usr/share/doc/{package}/copyright").read_text(encoding="utf-8", errors="replace")
    if package in PROSE_LICENCES:
        licence, phrase, holders = PROSE_LICENCES[package]
        if phrase not in text:
            raise ValueError(f"/usr/share/doc/{package}/copyright no longer says {phrase!r}; read it and update "
                             "PROSE_LICENCES.")
        return licence, holders
    found = None
    for stanza in re.split(r"\n\s*\n", text):
        files = re.search(r"^Files:(.*(?:\n[ \t].*)*)", stanza, re.M)
        licence = re.search(r"^License:\s*(\S+)", stanza, re.M)
        holders = re.search(r"^Copyright:(.*(?:\n[ \t].*)*)", stanza, re.M)
        if files and licence and any(fnmatch.fnmatch(upstream_name, p) for p in files.group(1).split()):
            found = (licence.group(1), " ".join(holders.group(1).split()) if holders else "")
    return found


def asterisk_speech() -> list:
    """`(source path, label, package, upstream name)` of the prompts (no silence files; tones and beeps by name)."""
    items = []
    for voice in sorted(p for p in ASTERISK_SOUNDS.iterdir() if p.is_dir()):
        package = f"asterisk-core-sounds-{voice.name[:2]}-wav"
        for path in sorted(voice.rglob("*.wav")):
            rel = path.relative_to(voice)
            if rel.parts[0] == "silence":
                continue
            label = "beep" if "beep" in path.stem else ("tone" if "tone" in path.stem else "speech")
            items.append((path, label, package, f"{voice.name[:2]}-{rel.as_posix()}"))
    return items


def packaged_effects() -> list:
    items = [(p, "music", "asterisk-moh-opsound-wav", p.name) for p in sorted(ASTERISK_MOH.glob("*.wav"))]
    for path in sorted(FREEDESKTOP.glob("*.oga")):
        label = "speech" if path.stem.startswith("audio-channel-") else FREEDESKTOP_LABELS.get(path.stem, "")
        items.append((path, label, "sound-theme-freedesktop", f"stereo/{path.name}"))
    items += [(p, "", "oxygen-sounds", p.name) for p in sorted(OXYGEN.glob("Oxygen-*.ogg"))]
    return items


def _var_len(value: int) -> bytes:
    out = [value & 0x7F]
    while value > 0x7F:
        value >>= 7
        out.insert(0, (value & 0x7F) | 0x80)
    return bytes(out)


def midi_phrase(rng: np.random.Generator, program: int, low: int, high: int, drums: bool) -> bytes:
    """A one-track MIDI file: 4-8 notes (or drum hits) at 480 ticks per quarter, 120 bpm."""
    channel = 9 if drums else 0
    events = [] if drums else [(0, bytes([0xC0 | channel, program]))]
    note = int(rng.integers(low, high + 1))
    for _ in range(int(rng.integers(4, 9))):
        note = int(rng.choice(DRUM_NOTES)) if drums else int(np.clip(note + rng.integers(-5, 6), low, high))
        length = int(rng.choice((240, 480, 720)))
        velocity = int(rng.integers(70, 111))
        events.append((0, bytes([0x90 | channel, note, velocity])))
        events.append((length, bytes([0x80 | channel, note, 0])))
    events.append((480, b"\xff\x2f\x00"))  # end of track after a beat of release
    track = b"".join(_var_len(delta) + data for delta, data in events)
    return (b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(track)) + track)


def render_instruments(out: Path, phrases: int, seed: int) -> list:
    """Render `phrases` phrases per instrument (and drum kit) with fluidsynth; `(path, label, package, upstream)`."""
    rng = np.random.default_rng(seed)
    folder = out / "fluid-soundfont-gm"
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for label, program, low, high in INSTRUMENTS + (("drum kit", 0, 0, 0),):
        for k in range(phrases):
            stem = f"{label.replace(' ', '_')}_{k:02d}"
            midi, wav = folder / f"{stem}.mid", folder / f"{stem}.wav"
            midi.write_bytes(midi_phrase(rng, program, low, high, drums=label == "drum kit"))
            subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", str(RENDER_RATE), "-F", str(wav),
                            str(SOUNDFONT), str(midi)], check=True, capture_output=True)
            midi.unlink()
            items.append((wav, label, "fluid-soundfont-gm", SOUNDFONT.name))
    return items


def _usable(path: Path) -> str | None:
    """None if the file is long enough and not silent, else why it is left out."""
    audio, _ = sf.read(str(path), dtype="float32", always_2d=True)
    if len(audio) < MIN_SECONDS * sf.info(str(path)).samplerate:
        return "shorter than %.1f s" % MIN_SECONDS
    if float(np.sqrt(np.mean(audio ** 2))) < 1e-4:
        return "silent"
    return None


def build(out: Path, phrases: int, seed: int) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    rows, skipped, seen = [], Counter(), set()
    for source, label, package, upstream in asterisk_speech() + packaged_effects():
        digest = hashlib.sha1(source.read_bytes()).hexdigest()
        licence = licence_of(package, upstream)
        reason = "no licence in its copyright file" if licence is None else (
            "duplicate" if digest in seen else _usable(source))
        if reason:
            skipped[f"{package}: {reason}"] += 1
            continue
        seen.add(digest)
        target = out / package / source.relative_to(source.parents[1] if package in SPEECH_PACKAGES else source.parent)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        rows.append((target.relative_to(out).as_posix(), label, *licence, package))
    for wav, label, package, upstream in render_instruments(out, phrases, seed):
        rows.append((wav.relative_to(out).as_posix(), label, *licence_of(package, upstream), package))
    with open(out / "sources.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(("path", "label", "license", "source"))
        writer.writerows((path, label, licence, package) for path, label, licence, _, package in rows)
    seconds = sum(sf.info(str(out / r[0])).duration for r in rows)
    summary = {"files": len(rows), "hours": round(seconds / 3600.0, 3), "skipped": dict(skipped),
               "labels": dict(Counter(r[1] or "(none: generic)" for r in rows)),
               "licences": dict(Counter(r[2] for r in rows)), "packages": dict(Counter(r[4] for r in rows))}
    write_licences(out / "LICENCES.md", rows)
    return summary


def write_licences(path: Path, rows: list) -> None:
    """Per package: its files' licences with their copyright holders, and where the full text is."""
    lines = ["# Licences of the source library", "",
             "Built by `scripts/build_source_library.py` from Debian packages; per-file licences in "
             "`sources.csv`.", ""]
    for package in sorted({r[4] for r in rows}):
        mine = Counter((r[2], r[3]) for r in rows if r[4] == package)
        lines += [f"## {package}"] + [f"- {licence}: {n} files, copyright {holders or 'not stated'}"
                                      for (licence, holders), n in sorted(mine.items())]
        lines += [f"- full text: /usr/share/doc/{package}/copyright", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path, help="library folder (not inside the repository)")
    parser.add_argument("--install", action="store_true", help=f"apt-get install {' '.join(PACKAGES)} first")
    # Release 8 was trained with 6 phrases (4 training recordings per instrument: it confused the instruments and
    # named ones that were not there), release 9 with 24.
    parser.add_argument("--phrases", type=int, default=24, help="rendered phrases per General-MIDI instrument")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.install:
        install(PACKAGES)
    missing = [p for p in PACKAGES if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    if missing:
        parser.error(f"packages not installed: {missing}; run with --install (as root) or apt-get install them.")
    summary = build(args.out, args.phrases, args.seed)
    for key, value in summary.items():
        logger.info("%s: %s", key, value)
    return summary


if __name__ == "__main__":
    main()
