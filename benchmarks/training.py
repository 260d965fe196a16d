"""Training throughput of ADIFF: samples/s and peak memory for stage 2 with and without the embedding cache, and for
stage 3, at small (adiff-synth-small, from training/recipes/synth_small) and base (the official sizes: HTSAT-tiny,
GPT-2 124M, 121-token prefix) size.

Each (size, mode) runs in its own process so its peak memory is its own (peak RSS on CPU, peak allocated on CUDA).
Modes, all with the freezing of the real stages (`training.stages.set_trainable`) and AdamW steps:

- `stage2_recompute`: every step loads nothing from the cache: 10 s waveforms -> log-mels (`AdiffFeatureExtractor`)
  -> frozen HTSAT -> prefix modules (trained) -> frozen GPT-2 -> loss;
- `stage2_cached`: the same step from cached clip embeddings (`audio_embeds`), what `training/train.py` does;
- `stage3_cached`: the LM trained too, from cached embeddings.

`cache_fill_s_per_clip` is the one-time cost of caching a clip. Per-epoch speed-up of the cache =
`stage2_cached` samples/s / `stage2_recompute` samples/s (the target is >= 10x); `embedding_speedup` compares only the
time spent obtaining the clip embeddings (`embeddings_s_per_sample`: log-mels + encoder vs a cache lookup). The step
itself (prefix modules forward/backward through the frozen GPT-2) is the same in both modes, so it bounds the
whole-step speed-up: the cache removes the encoder's share of an epoch, nothing else. On CPU the peak is the process's
peak RSS, libraries included (`baseline_rss_mb` is that RSS before the model is built). Synthetic data (noise
waveforms, random token ids of `--answer-tokens` per answer) keeps the numbers independent of any corpus. Timings are
wall-clock with a fixed thread count; on a shared machine compare numbers of one run only.

    python benchmarks/training.py                       # small and base, 2 threads
    python benchmarks/training.py --sizes small --json  # the last line is one JSON object
    python benchmarks/training.py --smoke --json        # tiny model, seconds (tests)
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this file's folder comes first on sys.path and its name would shadow the `training` package.
sys.path[:] = [str(REPO_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
MODES = ("stage2_recompute", "stage2_cached", "stage3_cached")
SIZES = ("small", "base", "tiny")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="small,base", help="comma-separated sizes: small, base, tiny")
    parser.add_argument("--smoke", action="store_true", help="tiny size, batch 2, 2 steps: checks that it all runs")
    parser.add_argument("--batch-size", type=int, default=8, help="pairs per step (default: 8)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per mode after one warm-up (default: 3)")
    parser.add_argument("--answer-tokens", type=int, default=64, help="answer length in tokens (default: 64)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object on the last line")
    parser.add_argument("--worker", nargs=2, metavar=("SIZE", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.sizes, args.batch_size, args.steps, args.answer_tokens = "tiny", 2, 2, 16
    args.sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = sorted(set(args.sizes) - set(SIZES))
    if unknown:
        parser.error(f"unknown size(s) {unknown}; choose from {SIZES}")
    if min(args.batch_size, args.steps, args.answer_tokens, args.threads) < 1:
        parser.error("--batch-size, --steps, --answer-tokens and --threads must be >= 1")
    return args


def adiff_config(size: str):
    """The model of each size; small reads the shipped recipes so the benchmark follows them."""
    import yaml

    from configuration_adiff import AdiffConfig

    if size == "base":
        return AdiffConfig(num_event_classes=0)
    if size == "tiny":
        return AdiffConfig(
            audio_config={"patch_embeds_hidden_size": 8, "hidden_size": 64, "depths": [1, 1, 1, 1],
                          "num_attention_heads": [1, 1, 2, 2]},
            text_config={"vocab_size": 512, "n_embd": 32, "n_layer": 1, "n_head": 2, "n_positions": 256},
            projection_dim=16, prefix_length=2, clip_length=16, prompt_length=16, mapper_num_layers=1,
            mapper_num_heads=2, cross_projection_num_layers=1, cross_projection_num_heads=2, separator_token_id=511,
            num_event_classes=0)
    recipes = REPO_ROOT / "training" / "recipes" / "synth_small"
    read = lambda name: yaml.safe_load((recipes / name).read_text(encoding="utf-8"))["model"]  # noqa: E731
    stage2 = {k: v for k, v in read("stage2.yaml").items() if k != "trainable"}
    stage2["prompt_length"] = stage2["clip_length"] = 24  # `auto` in the recipe; about the SynthDiff tokenizer's
    vocab = 1024  # the SynthDiff tokenizer's size, about
    return AdiffConfig(audio_config=read("stage1_encoder.yaml")["audio_config"],
                       text_config={**read("stage1_lm.yaml")["text_config"], "vocab_size": vocab},
                       separator_token_id=vocab - 1, num_event_classes=0, **stage2)


def peak_memory_mb(device) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KB


def run_worker(size: str, mode: str, args) -> dict:
    """One (size, mode) measurement in this process."""
    import numpy as np
    import torch

    from modeling_adiff import AdiffForConditionalGeneration
    from processing_adiff import AdiffFeatureExtractor
    from training.freezing import DEFAULT_TRAINABLE, adiff_loss, set_trainable

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    baseline = peak_memory_mb(torch.device("cpu"))  # the interpreter and libraries, before any model exists
    device = torch.device(args.device)
    config = adiff_config(size)
    model = AdiffForConditionalGeneration(config).to(device)
    frozen = set_trainable(model, DEFAULT_TRAINABLE["finetune" if mode.startswith("stage3") else "grounding"])
    model.train()
    for name in frozen:
        model.get_submodule(name).eval()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    extractor = AdiffFeatureExtractor()
    rng = np.random.default_rng(0)
    batch = args.batch_size
    vocab = config.text_config.vocab_size
    waves = [rng.uniform(-0.3, 0.3, extractor.num_samples).astype(np.float32) for _ in range(2 * batch)]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    timers = {"embeddings": 0.0}

    def embeddings():
        """The (B, 2, D) clip embeddings of one batch: recomputed from audio, or looked up in the cache table."""
        synchronize()  # the previous step's queued GPU work must not be billed to this
        start = time.perf_counter()
        if mode == "stage2_recompute":  # what the loop does without a cache (the frozen encoder builds no graph)
            with torch.no_grad():
                features = extractor(waves, sampling_rate=extractor.sampling_rate)["input_features"]  # (2B, T, M)
                embeds = model.model.encode_audio(features.view(batch, 2, *features.shape[1:]).to(device))
        else:
            embeds = torch.stack([torch.stack((table[2 * i], table[2 * i + 1])) for i in range(batch)]).to(device)
        synchronize()
        timers["embeddings"] += time.perf_counter() - start
        return embeds

    def step() -> None:
        prompt = torch.randint(0, vocab, (batch, config.prompt_length), device=device)
        labels = torch.randint(0, vocab, (batch, args.answer_tokens), device=device)
        loss, _ = adiff_loss(model, {"audio_embeds": embeddings(), "prompt_input_ids": prompt, "labels": labels})
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def synchronize():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    # The one-time cost of the cache: log-mels and a frozen encoder pass per clip.
    start = time.perf_counter()
    with torch.no_grad():
        features = extractor(waves, sampling_rate=extractor.sampling_rate)["input_features"]
        cached = model.model.encode_audio(features.view(batch, 2, *features.shape[1:]).to(device))  # (B, 2, D)
    synchronize()
    fill = (time.perf_counter() - start) / (2 * batch)
    table = {2 * i + k: cached[i, k].cpu() for i in range(batch) for k in range(2)}  # clip -> (D,), like the cache
    step()  # warm-up
    synchronize()
    timers["embeddings"] = 0.0
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(args.steps):
        step()
    synchronize()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {"size": size, "mode": mode, "parameters_m": round(model.num_parameters() / 1e6, 2),
            "trainable_m": round(sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6, 2),
            "batch_size": batch, "steps": args.steps, "samples_per_s": batch * args.steps / elapsed,
            "cpu_s_per_sample": cpu / (batch * args.steps), "cache_fill_s_per_clip": fill,
            "embeddings_s_per_sample": timers["embeddings"] / (batch * args.steps),
            "peak_memory_mb": round(peak_memory_mb(device), 1),
            "baseline_rss_mb": round(baseline, 1) if device.type == "cpu" else 0.0}


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(run_worker(args.worker[0], args.worker[1], args)))
        return {}
    python_path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), PYTHONPATH=python_path, TOKENIZERS_PARALLELISM="false")
    common = ["--batch-size", str(args.batch_size), "--steps", str(args.steps), "--answer-tokens",
              str(args.answer_tokens), "--threads", str(args.threads), "--device", args.device]
    results = {"threads": args.threads, "device": args.device, "answer_tokens": args.answer_tokens, "runs": []}
    for size in args.sizes:
        for mode in MODES:
            completed = subprocess.run([sys.executable, __file__, "--worker", size, mode, *common], env=env,
                                       capture_output=True, text=True)
            if completed.returncode != 0:
                sys.exit(f"{size} {mode} failed:\n{completed.stderr[-3000:]}")
            run = json.loads(completed.stdout.strip().splitlines()[-1])
            results["runs"].append(run)
            print(f"{size:5s} {mode:17s} {run['samples_per_s']:8.2f} samples/s  {run['cpu_s_per_sample']:7.3f} CPU "
                  f"s/sample  peak {run['peak_memory_mb']:8.1f} MB  ({run['parameters_m']} M params, "
                  f"{run['trainable_m']} M trained)", file=sys.stderr)
        by_mode = {r["mode"]: r for r in results["runs"] if r["size"] == size}
        speedup = by_mode["stage2_cached"]["samples_per_s"] / by_mode["stage2_recompute"]["samples_per_s"]
        results[f"{size}_stage2_cache_speedup"] = speedup
        results[f"{size}_embedding_speedup"] = (by_mode["stage2_recompute"]["embeddings_s_per_sample"]
                                                / max(by_mode["stage2_cached"]["embeddings_s_per_sample"], 1e-9))
        results[f"{size}_cache_fill_s_per_clip"] = by_mode["stage2_cached"]["cache_fill_s_per_clip"]
        for mode in MODES:
            results[f"{size}_{mode}_samples_per_s"] = by_mode[mode]["samples_per_s"]
            results[f"{size}_{mode}_peak_memory_mb"] = by_mode[mode]["peak_memory_mb"]
        print(f"{size}: the embedding cache makes stage 2 {speedup:.1f}x faster per epoch (target >= 10x); "
              f"getting the embeddings of an epoch is {results[f'{size}_embedding_speedup']:.0f}x faster",
              file=sys.stderr)
    if args.json:
        print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
