"""Checks of the GPU data path (issue 21) on a CUDA device, one JSON line on stdout (a summary line on stderr):

- `log_mel_max_abs_db`: the largest difference between the log-mels `AdiffFeatureExtractor.batched_log_mel` computes
  for a batch on the device (`data.features_on_device`) and the per-clip CPU features of `__call__`, over clips of
  every kind (cropped, tiled, resampled, stereo, silent, louder than `LOUD_PEAK`);
- `host_syncs`: per stage, the synchronising CUDA calls the training loop's hot path makes (the micro-batches'
  forward / backward and the optimizer step: `training.loop._accumulate_gradients` and `_optimizer_step`), counted
  with `torch.cuda.set_sync_debug_mode("warn")` over a short tiny run, by source line. The goal is none: logging,
  checkpoints and evaluation sync on purpose and are not counted.

    python benchmarks/device_path_check.py --corpus CORPUS [--device cuda] [--steps 12]

On the CPU (`--device cpu`) the sync counter sees nothing; the script then checks only that everything runs.
"""

import argparse
import collections
import json
import sys
import tempfile
import warnings
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this file's folder comes first on sys.path and its name would shadow the `training` package.
sys.path[:] = [str(REPO_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
TINY_AUDIO = {"patch_embeds_hidden_size": 8, "hidden_size": 64, "depths": [1, 1, 1, 1],
              "num_attention_heads": [1, 1, 2, 2]}


def log_mel_difference(device) -> float:
    """Max |batched on `device` - per clip on the CPU| in dB over clips of every kind."""
    import numpy as np

    from processing_adiff import AdiffFeatureExtractor

    rng = np.random.default_rng(0)
    clips = [rng.uniform(-1, 1, 400000).astype(np.float32), rng.normal(0, 0.1, 16000).astype(np.float32),
             rng.normal(0, 0.3, (2, 50000)).astype(np.float32), np.zeros(1000, np.float32),
             rng.normal(0, 1e20, 60000), 1e-4 * rng.standard_normal(320000).astype(np.float32)]
    rates = [32000, 16000, 44100, 32000, 32000, 32000]
    extractor = AdiffFeatureExtractor()
    expected = extractor(clips, sampling_rate=rates, truncation="random", seed=0)["input_features"]
    waveforms, gains = extractor.prepare_waveforms(clips, rates, truncation="random", seed=0)
    batched = extractor.batched_log_mel(waveforms.to(device), gains.to(device)).cpu()
    return float((batched - expected).abs().max())


def count_host_syncs(stage: str, corpus: Path, device, steps: int) -> dict:
    """`{"source:line": count}` of the synchronising CUDA calls in the hot path of a tiny `stage` run."""
    import torch

    from training import loop
    from training.recipe import recipe_from_dict

    counts = collections.Counter()
    real = {name: getattr(loop, name) for name in ("_accumulate_gradients", "_optimizer_step")}

    def counted(function):
        if device.type != "cuda":
            return function

        def wrapper(*args, **kwargs):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                torch.cuda.set_sync_debug_mode("warn")
                try:
                    return function(*args, **kwargs)
                finally:
                    torch.cuda.set_sync_debug_mode("default")
                    counts.update(f"{Path(w.filename).name}:{w.lineno}" for w in caught
                                  if "synchronizing" in str(w.message))
        return wrapper

    recipe = {"stage": stage, "output_dir": tempfile.mkdtemp(prefix=f"sync_{stage}_"),
              "data": {"corpus": str(corpus), "eval_split": None},
              "train": {"max_steps": steps, "batch_size": 8, "log_every": steps, "tensorboard": False,
                        "mixed_precision": "bf16" if device.type == "cuda" else "no"},
              "optim": {"lr": 1e-4}, "eval": {"max_batches": 1, "num_samples": 0}}
    if stage == "tagger":
        recipe["model"] = {"audio_config": TINY_AUDIO}
        recipe["data"]["features_on_device"] = True
    else:
        recipe["model"] = {"text_config": {"n_embd": 32, "n_layer": 1, "n_head": 2}}
        recipe["init"] = {"tokenizer": str(REPO_ROOT / "tests" / "fixtures" / "gpt2_tokenizer")}
    for name, function in real.items():
        setattr(loop, name, counted(function))
    try:
        loop.train(recipe_from_dict(recipe))
    finally:
        for name, function in real.items():
            setattr(loop, name, function)
    return dict(counts.most_common())


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", required=True, type=Path, help="a SynthDiff corpus folder")
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--steps", type=int, default=12, help="optimizer steps per stage (default: 12)")
    args = parser.parse_args(argv)
    import torch

    device = torch.device(args.device)
    result = {"device": str(device), "log_mel_max_abs_db": log_mel_difference(device),
              "host_syncs": {stage: count_host_syncs(stage, args.corpus, device, args.steps)
                             for stage in ("tagger", "lm")}}
    syncs = "; ".join(f"{stage} {sum(found.values())} {found or ''}" for stage, found in result["host_syncs"].items())
    print(f"device path: log-mels batched on {device} vs per clip on the CPU: max {result['log_mel_max_abs_db']:.2e} "
          f"dB; host syncs in the hot loop over {args.steps} steps: {syncs}", file=sys.stderr)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
