"""Training throughput of ADIFF per stage and size: samples/s, the share of wall time the device was busy, model
FLOPs utilisation and peak memory, at tiny, small (adiff-synth-small, from training/recipes/synth_small) and base
(the official sizes: HTSAT-tiny, GPT-2 124M, 121-token prefix; training/recipes/paper_base) size.

Each (size, mode) runs in its own process so its peak memory is its own (peak RSS on CPU, peak allocated on CUDA).
Modes, all with the freezing of the real stages (`training.stages.set_trainable`) and AdamW steps:

- `stage1a_tagger`: 10 s waveforms -> log-mels -> HTSAT tagger (`training.tagger.AdiffAudioTagger`) -> loss;
- `stage1a_on_device`: the same step with the log-mels of the whole batch computed on the device
  (`data.features_on_device`: `prepare_waveforms` on the CPU, `batched_log_mel` on the device); both stage-1a modes
  together print their ratio;
- `stage1b_lm`: GPT-2 as a language model on `--answer-tokens` tokens per row;
- `stage2_recompute`: every step loads nothing from the cache: 10 s waveforms -> log-mels (`AdiffFeatureExtractor`)
  -> frozen HTSAT -> prefix modules (trained) -> frozen GPT-2 -> loss;
- `stage2_cached`: the same step from cached clip embeddings (`audio_embeds`), what `training/train.py` does;
- `stage3_cached`: the LM trained too, from cached embeddings.

Figures per run: `samples_per_s`; `busy_share`, the share of the timed wall time the device computed (CUDA: kernel
time from the PyTorch profiler over extra steps; CPU: process CPU time / (wall time x threads)); `model_tflops` (the
FLOPs of one step, forward and backward, counted by `torch.utils.flop_counter`, times steps/s) and `mfu` = that over
the device's peak (`--peak-tflops`, or the dense bf16/fp32 peak of a known GPU; none on CPU unless given);
`peak_memory_mb`. `--dtype bf16` runs the steps under bf16 autocast, as `train.mixed_precision: bf16` does.

`cache_fill_s_per_clip` is the one-time cost of caching a clip. Per-epoch speed-up of the cache =
`stage2_cached` samples/s / `stage2_recompute` samples/s; `embedding_speedup` compares only the time spent obtaining
the clip embeddings (`embeddings_s_per_sample`: log-mels + encoder vs a cache lookup). On CPU the peak is the
process's peak RSS, libraries included (`baseline_rss_mb` is that RSS before the model is built). Synthetic data
(noise waveforms, random token ids) keeps the numbers independent of any corpus. Timings are wall-clock with a fixed
thread count; on a shared machine compare numbers of one run only.

    python benchmarks/training.py                                   # small and base, 2 threads, every mode
    python benchmarks/training.py --device cuda --dtype bf16 --batch-size 32 --sizes small,base
    python benchmarks/training.py --sizes small --modes stage2_cached --json  # the last line is one JSON object
    python benchmarks/training.py --smoke --json                    # tiny model, seconds (tests)
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
MODES = ("stage1a_tagger", "stage1a_on_device", "stage1b_lm", "stage2_recompute", "stage2_cached", "stage3_cached")
# Dense peak TFLOP/s (no sparsity) by GPU name fragment, for model FLOPs utilisation: (bf16, fp32 without TF32).
PEAK_TFLOPS = {"H200": (989.0, 67.0), "H100": (989.0, 67.0), "A100": (312.0, 19.5), "L40S": (362.0, 91.6),
               "A10G": (70.0, 35.0)}
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
    parser.add_argument("--dtype", default="fp32", choices=("fp32", "bf16"), help="bf16: autocast (default: fp32)")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated modes (default: all: {MODES})")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the device's peak TFLOP/s for the MFU (default: known GPUs' dense peak; none on CPU)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object on the last line")
    parser.add_argument("--worker", nargs=2, metavar=("SIZE", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.sizes, args.batch_size, args.steps, args.answer_tokens = "tiny", 2, 2, 16
    args.sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = sorted(set(args.sizes) - set(SIZES))
    if unknown:
        parser.error(f"unknown size(s) {unknown}; choose from {SIZES}")
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(args.modes) - set(MODES))
    if unknown or not args.modes:
        parser.error(f"unknown mode(s) {unknown or args.modes}; choose from {MODES}")
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


def peak_tflops(device, dtype: str, given: float | None) -> float | None:
    """The device's dense peak TFLOP/s in `dtype`: `--peak-tflops`, else a known GPU's, else None."""
    import torch

    if given is not None or device.type != "cuda":
        return given
    name = torch.cuda.get_device_name(device)
    peaks = next((value for key, value in PEAK_TFLOPS.items() if key in name), None)
    return None if peaks is None else peaks[0 if dtype == "bf16" else 1]


def busy_seconds(step, device, steps: int) -> float | None:
    """Seconds the GPU spent in kernels over `steps` extra steps (PyTorch profiler); None off CUDA."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    if device.type != "cuda":
        return None
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            step()
        torch.cuda.synchronize(device)
    return sum(event.self_device_time_total for event in prof.key_averages()) / 1e6


def step_flops(step) -> float:
    """FLOPs of one step (forward and backward), counted by torch.utils.flop_counter."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return float(counter.get_total_flops())


def build_mode(size: str, mode: str, args, device) -> tuple:
    """`(model, step, timers)` of one mode: `step()` runs one training step; `timers` holds the seconds spent getting
    clip embeddings (`embeddings`) and the one-time cache cost per clip (`fill`) of the ADIFF modes."""
    import numpy as np
    import torch

    from modeling_adiff import AdiffForConditionalGeneration
    from processing_adiff import AdiffFeatureExtractor
    from training.freezing import DEFAULT_TRAINABLE, set_trainable
    from training.loss import adiff_loss
    from training.tagger import AdiffAudioTagger

    config = adiff_config(size)
    extractor = AdiffFeatureExtractor()
    rng = np.random.default_rng(0)
    batch = args.batch_size
    vocab = config.text_config.vocab_size
    waves = [rng.uniform(-0.3, 0.3, extractor.num_samples).astype(np.float32) for _ in range(2 * batch)]
    timers = {"embeddings": 0.0, "fill": 0.0}
    frozen = []  # stages 1a and 1b train the whole tower
    autocast = lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.dtype == "bf16")  # noqa: E731

    def synchronize():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    if mode.startswith("stage1a"):
        model = AdiffAudioTagger(config.audio_config, [f"class{k}" for k in range(32)]).to(device)
        labels = torch.randint(0, 2, (batch, 32), device=device).float()

        def features():
            """(B, T, M) log-mels on the device: per clip on the CPU, or batched on the device (features_on_device)."""
            if mode == "stage1a_tagger":
                return extractor(waves[:batch], sampling_rate=extractor.sampling_rate)["input_features"].to(device)
            waveforms, gains = extractor.prepare_waveforms(waves[:batch], extractor.sampling_rate)  # (B, samples)
            with torch.autocast(device.type, enabled=False):  # float32, as the loop computes them before autocast
                return extractor.batched_log_mel(waveforms.to(device), gains.to(device))

        def loss():
            return model(input_features=features(), labels=labels).loss
    elif mode == "stage1b_lm":
        from transformers import GPT2LMHeadModel

        model = GPT2LMHeadModel(config.text_config).to(device)
        tokens = torch.randint(0, vocab, (batch, config.total_prefix_length + args.answer_tokens), device=device)

        def loss():
            return model(input_ids=tokens, labels=tokens).loss
    else:
        model = AdiffForConditionalGeneration(config).to(device)
        frozen = set_trainable(model, DEFAULT_TRAINABLE["finetune" if mode.startswith("stage3") else "grounding"])

        # The one-time cost of the cache: log-mels and a frozen encoder pass per clip.
        start = time.perf_counter()
        with torch.no_grad(), autocast():
            features = extractor(waves, sampling_rate=extractor.sampling_rate)["input_features"]
            cached = model.model.encode_audio(features.view(batch, 2, *features.shape[1:]).to(device))  # (B, 2, D)
        synchronize()
        timers["fill"] = (time.perf_counter() - start) / (2 * batch)
        table = {2 * i + k: cached[i, k].float().cpu() for i in range(batch) for k in range(2)}  # clip -> (D,)

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

        def loss():
            prompt = torch.randint(0, vocab, (batch, config.prompt_length), device=device)
            labels = torch.randint(0, vocab, (batch, args.answer_tokens), device=device)
            return adiff_loss(model, {"audio_embeds": embeddings(), "prompt_input_ids": prompt, "labels": labels})[0]

    model.train()
    for name in frozen:
        model.get_submodule(name).eval()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step() -> None:
        with autocast():
            value = loss()
        value.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return model, step, timers


def run_worker(size: str, mode: str, args) -> dict:
    """One (size, mode) measurement in this process."""
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    baseline = peak_memory_mb(torch.device("cpu"))  # the interpreter and libraries, before any model exists
    device = torch.device(args.device)
    model, step, timers = build_mode(size, mode, args, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    step()  # warm-up
    flops = step_flops(step)  # a second warm-up step, its FLOPs counted
    sync()
    timers["embeddings"] = 0.0
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(args.steps):
        step()
    sync()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    samples = args.batch_size * args.steps
    kernels = busy_seconds(step, device, args.steps)
    # On the CPU, helper threads beyond --threads (inter-op, allocator) can add a little CPU time: a share tops at 1.
    busy = kernels / elapsed if kernels is not None else min(1.0, cpu / (elapsed * args.threads))
    tflops = flops * args.steps / elapsed / 1e12
    peak = peak_tflops(device, args.dtype, args.peak_tflops)
    return {"size": size, "mode": mode, "dtype": args.dtype, "parameters_m": round(model.num_parameters() / 1e6, 2)
            if hasattr(model, "num_parameters") else round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
            "trainable_m": round(sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6, 2),
            "batch_size": args.batch_size, "steps": args.steps, "samples_per_s": samples / elapsed,
            "busy_share": busy, "gflops_per_step": flops / 1e9, "model_tflops": tflops,
            "mfu": tflops / peak if peak else None, "cpu_s_per_sample": cpu / samples,
            "cache_fill_s_per_clip": timers["fill"], "embeddings_s_per_sample": timers["embeddings"] / samples,
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
              str(args.answer_tokens), "--threads", str(args.threads), "--device", args.device, "--dtype", args.dtype]
    if args.peak_tflops is not None:
        common += ["--peak-tflops", str(args.peak_tflops)]
    results = {"threads": args.threads, "device": args.device, "dtype": args.dtype,
               "answer_tokens": args.answer_tokens, "runs": []}
    for size in args.sizes:
        for mode in args.modes:
            completed = subprocess.run([sys.executable, __file__, "--worker", size, mode, *common], env=env,
                                       capture_output=True, text=True)
            if completed.returncode != 0:
                sys.exit(f"{size} {mode} failed:\n{completed.stderr[-3000:]}")
            run = json.loads(completed.stdout.strip().splitlines()[-1])
            results["runs"].append(run)
            mfu = f"{100 * run['mfu']:5.1f} %" if run["mfu"] is not None else "  n/a  "
            print(f"{size:5s} {mode:17s} {run['samples_per_s']:8.2f} samples/s  busy {100 * run['busy_share']:5.1f} % "
                  f"{run['model_tflops']:8.3f} TFLOP/s  MFU {mfu}  peak {run['peak_memory_mb']:8.1f} MB  "
                  f"({run['parameters_m']} M params, {run['trainable_m']} M trained)", file=sys.stderr)
            for key in ("samples_per_s", "peak_memory_mb", "busy_share", "mfu"):
                results[f"{size}_{mode}_{key}"] = run[key]
        by_mode = {r["mode"]: r for r in results["runs"] if r["size"] == size}
        if {"stage1a_tagger", "stage1a_on_device"} <= set(by_mode):
            ratio = by_mode["stage1a_on_device"]["samples_per_s"] / by_mode["stage1a_tagger"]["samples_per_s"]
            results[f"{size}_stage1a_on_device_speedup"] = ratio
            print(f"{size}: stage 1a with log-mels batched on the device runs {ratio:.2f}x the samples/s of per-clip "
                  "CPU log-mels", file=sys.stderr)
        if {"stage2_cached", "stage2_recompute"} <= set(by_mode):
            speedup = by_mode["stage2_cached"]["samples_per_s"] / by_mode["stage2_recompute"]["samples_per_s"]
            results[f"{size}_stage2_cache_speedup"] = speedup
            results[f"{size}_embedding_speedup"] = (by_mode["stage2_recompute"]["embeddings_s_per_sample"]
                                                    / max(by_mode["stage2_cached"]["embeddings_s_per_sample"], 1e-9))
            results[f"{size}_cache_fill_s_per_clip"] = by_mode["stage2_cached"]["cache_fill_s_per_clip"]
            print(f"{size}: the embedding cache makes stage 2 {speedup:.1f}x faster per epoch; getting the "
                  f"embeddings of an epoch is {results[f'{size}_embedding_speedup']:.0f}x faster", file=sys.stderr)
    if args.json:
        print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
