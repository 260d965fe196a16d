"""Peak memory of `adiff explain` on a long file against a short one: only the crop window is decoded.

Writes two 48 kHz stereo 16-bit WAVs (a `--short-s` one and a `--long-s` one, by default 10 s and 1 hour: 0.69 GB on
disk, 1.4 GB as float32 samples) into a temporary folder, then runs `adiff explain LONG SHORT` and
`adiff explain SHORT SHORT` (with `--plot`, so every decode of the CLI is measured), each in a fresh process, and
prints both peak RSS figures and their difference. For scale it also measures a process that decodes the long file
whole (`load_audio(path)`, what the CLI did before). The model is the shipped default (or `--model`).

    python benchmarks/long_file_memory.py              # 10 s vs 1 hour
    python benchmarks/long_file_memory.py --long-s 600 --json
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 48_000
BLOCK_S = 60  # the long file is written a minute at a time, so this process stays small too


def write_stereo_wav(path: Path, seconds: float, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    with sf.SoundFile(path, "w", samplerate=RATE, channels=2, subtype="PCM_16") as handle:
        left = int(seconds * RATE)
        while left > 0:
            frames = min(left, BLOCK_S * RATE)
            handle.write((0.1 * rng.standard_normal((frames, 2))).astype(np.float32))  # (frames, channels)
            left -= frames
    return path


def child(argv: list[str]) -> None:
    """Runs one measured command in this (fresh) process and prints its peak RSS in MiB as the last line."""
    if argv[0] == "decode-whole":
        from processing_adiff import load_audio
        load_audio(argv[1])
    else:
        from adiff.cli import main
        code = main(argv)
        if code:
            raise SystemExit(f"adiff {' '.join(argv)} exited with {code}")
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # Linux reports KiB


def peak_rss_mb(argv: list[str]) -> float:
    result = subprocess.run([sys.executable, __file__, "--child", *argv], capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{argv} failed:\n{result.stderr[-2000:]}")
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short-s", type=float, default=10.0)
    parser.add_argument("--long-s", type=float, default=3600.0)
    parser.add_argument("--model", help="model folder (default: the shipped model)")
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        short = write_stereo_wav(Path(folder) / "short.wav", args.short_s, seed=0)
        long = write_stereo_wav(Path(folder) / "long.wav", args.long_s, seed=1)
        common = ["--tier", "1", "3", "--max-new-tokens", str(args.max_new_tokens), "--plot",
                  str(Path(folder) / "plot.png")] + (["--model", args.model] if args.model else [])
        figures = {
            "short_file_mb": peak_rss_mb(["explain", str(short), str(short), *common]),
            "long_file_mb": peak_rss_mb(["explain", str(long), str(short), *common]),
            "decode_long_whole_mb": peak_rss_mb(["decode-whole", str(long)]),
        }
    figures["long_minus_short_mb"] = figures["long_file_mb"] - figures["short_file_mb"]
    print(f"peak RSS of `adiff explain` (48 kHz stereo, tiers 1 and 3, --plot): {args.short_s:g} s file "
          f"{figures['short_file_mb']:.0f} MiB | {args.long_s:g} s file {figures['long_file_mb']:.0f} MiB | "
          f"difference {figures['long_minus_short_mb']:+.0f} MiB (target: within 150)")
    print(f"for scale, a process that decodes the {args.long_s:g} s file whole: "
          f"{figures['decode_long_whole_mb']:.0f} MiB")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
    else:
        main()
