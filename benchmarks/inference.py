"""Inference throughput of ADIFF: the official decoding path against this implementation, side by side.

Builds a model with seeded random weights (`--size base`: HTSAT with transformers' default `ClapAudioConfig`,
GPT-2 124M and the official ADIFF sizes, 295 M parameters; `--size tiny` or `--smoke`: a few-MB model for tests),
then explains the same 10 s audio pairs several ways and checks they produce the same greedy tokens:

- reference: `OfficialGreedyReference` (official_reference.py), one pair at a time, no KV cache;
- this implementation (`AdiffProcessor` + `AdiffForConditionalGeneration.generate`) at each `--batch-sizes` entry.

Every run makes exactly `--max-new-tokens` tokens (the stop token is disabled), so all paths do the same work.
The audio is seeded synthetic sound (tones in noise, 32 kHz, 10 s) and goes through the real feature extractor; the
prompt is the canonical tier-2 prompt encoded by the processor with the GPT-2 tokenizer in `--tokenizer`.
Timings are wall-clock with a fixed thread count; a busy machine slows every path, so compare numbers of one run.
Process CPU seconds per pair are reported next to them (`cpu_s_per_pair`): on a shared machine they show how much
of the wall time was waiting for a core.

Memory: `peak_rss_mb` (MiB) is measured in a separate inference process (`--inference-rss`, on by default): the
model and processor are saved, loaded back with `from_pretrained` in a fresh interpreter, and one batch of the largest
size is explained; its tokens must equal this process's. This process's own peak (random-weight construction, the
reference, every batch size) is `benchmark_peak_rss_mb`.

`--compile` uses a static KV cache and lets `generate()` compile the decoding step with `torch.compile` (on CUDA
this is transformers' automatic compilation; the warm-up run pays the compilation time).

    python benchmarks/inference.py                      # base size, 2 threads, batch sizes 1 and 8
    python benchmarks/inference.py --smoke --json       # seconds; the last line is a JSON object
    python benchmarks/inference.py --device cuda --dtype bf16 --batch-sizes 1,8,32   # also: bf16 tokens == fp32?
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DTYPES = ("fp32", "bf16", "fp16")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=("base", "tiny"), default="base", help="model size (default: base)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny model, 4 new tokens, batch sizes 1,2: checks that everything runs and agrees")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--dtype", choices=DTYPES, default="fp32",
                        help="dtype of this implementation's runs; the reference always runs in fp32 (default: fp32)")
    parser.add_argument("--batch-sizes", default="1,8", help="comma-separated batch sizes (default: 1,8)")
    parser.add_argument("--batches", type=int, default=1,
                        help="every batch size explains batches x the largest batch size pairs (default: 1)")
    parser.add_argument("--reference-pairs", type=int, default=2, help="pairs the reference explains (default: 2)")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="new tokens per pair (default: 64)")
    parser.add_argument("--attn-implementation", choices=("sdpa", "eager"), default="sdpa",
                        help="GPT-2 attention kernel (HTSAT always runs eager attention)")
    parser.add_argument("--tokenizer", default=str(REPO_ROOT / "tests" / "fixtures" / "gpt2_tokenizer"),
                        help="folder of a GPT-2 tokenizer (default: the repository's offline copy)")
    parser.add_argument("--tier", type=int, default=2, help="prompt tier (default: 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compile", action="store_true",
                        help="static KV cache and torch.compile of the decoding step (on CUDA through transformers' "
                             "automatic compilation); the warm-up run pays the compilation")
    parser.add_argument("--inference-rss", action=argparse.BooleanOptionalAction, default=None,
                        help="also measure the peak RSS of a separate inference process that loads the saved model "
                             "with from_pretrained and explains one batch of the largest size (default: on, except "
                             "with --smoke)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object on the last line")
    parser.add_argument("--inference-process", help=argparse.SUPPRESS)  # internal: the child of --inference-rss
    args = parser.parse_args(argv)
    if args.smoke:
        args.size, args.max_new_tokens, args.batch_sizes, args.reference_pairs = "tiny", 4, "1,2", 2
    if args.inference_rss is None:
        args.inference_rss = not args.smoke
    try:
        args.batch_sizes = sorted({int(size) for size in args.batch_sizes.split(",")})
    except ValueError:
        parser.error(f"--batch-sizes must be comma-separated integers such as 1,8, got {args.batch_sizes!r}")
    if min(args.batch_sizes) < 1 or args.batches < 1 or args.reference_pairs < 1 or args.max_new_tokens < 1:
        parser.error("--batch-sizes, --batches, --reference-pairs and --max-new-tokens must be >= 1")
    if args.device.startswith("cuda") and args.dtype == "fp16":
        print("note: fp16 GPT-2 can overflow on long inputs; bf16 is the safer half precision", file=sys.stderr)
    return args


def _status_mb(field: str) -> float:
    """A memory field of /proc/self/status (Linux) in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"/proc/self/status has no {field} line; this benchmark measures memory on Linux only.")


def rss_mb() -> float:
    """Current resident set size of this process, MiB."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """Peak resident set size of this process, MiB. VmHWM, not getrusage's ru_maxrss: on Linux a child started with
    fork + exec inherits the parent's ru_maxrss, which would charge the benchmark's memory to the inference process."""
    return _status_mb("VmHWM")


def tiny_config_kwargs(vocab_size: int, eos_token_id: int) -> dict:
    """A few-MB ADIFF with GPT-2's vocabulary; a wide GPT-2 init (0.5) so greedy tokens vary from step to step."""
    return dict(
        audio_config=dict(patch_embeds_hidden_size=16, hidden_size=128, depths=[1, 1, 1, 1],
                          num_attention_heads=[1, 2, 4, 8], num_classes=5),
        text_config=dict(vocab_size=vocab_size, n_embd=32, n_layer=2, n_head=2, n_positions=256,
                         initializer_range=0.5, bos_token_id=eos_token_id, eos_token_id=eos_token_id),
        projection_dim=16, prefix_length=4, mapper_num_layers=1, mapper_num_heads=4, cross_projection_num_layers=1,
        cross_projection_num_heads=4, separator_token_id=eos_token_id, num_event_classes=5,
    )


def synthetic_pairs(count: int, sampling_rate: int, seconds: float, seed: int):
    """`count` pairs of seeded 10 s clips: a few tones at random pitches in noise of random level."""
    import numpy as np

    rng = np.random.default_rng(seed)
    time_axis = np.arange(int(seconds * sampling_rate)) / sampling_rate
    pairs = []
    for _ in range(count):
        clips = []
        for _ in range(2):
            tones = sum(rng.uniform(0.05, 0.3) * np.sin(2 * np.pi * rng.uniform(80, 8000) * time_axis)
                        for _ in range(3))
            clips.append((tones + rng.uniform(0.01, 0.2) * rng.standard_normal(time_axis.size)).astype(np.float32))
        pairs.append(tuple(clips))
    return pairs


def inference_process(args) -> dict:
    """The child of `--inference-rss`: a plain inference process (load the saved model and processor, preprocess one
    batch, generate) that prints its peak RSS and tokens as JSON."""
    import numpy as np
    import torch

    from modeling_adiff import AdiffForConditionalGeneration
    from processing_adiff import AdiffProcessor

    torch.set_num_threads(args.threads)
    folder = Path(args.inference_process)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype]
    model = AdiffForConditionalGeneration.from_pretrained(folder, dtype=dtype).eval().to(args.device)
    processor = AdiffProcessor.from_pretrained(folder)
    audio = np.load(folder / "pairs.npy")  # (B, 2, samples)
    inputs = processor(audio=[tuple(pair) for pair in audio], tier=args.tier,
                       sampling_rate=processor.feature_extractor.sampling_rate).to(args.device)
    with torch.inference_mode():
        ids = model.generate(**inputs, max_new_tokens=args.max_new_tokens, eos_token_id=None)
    result = {"peak_rss_mb": peak_rss_mb(), "tokens": ids.tolist()}
    print(json.dumps(result))
    return result


def measure_inference_process(model, processor, pairs, args) -> dict:
    """Saves the model and processor, then runs `inference_process` in a fresh interpreter on `pairs`."""
    import numpy as np

    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
        np.save(Path(folder) / "pairs.npy", np.stack([np.stack(pair) for pair in pairs]))
        command = [sys.executable, str(Path(__file__).resolve()), "--inference-process", folder, "--threads",
                   str(args.threads), "--device", args.device, "--dtype", args.dtype, "--max-new-tokens",
                   str(args.max_new_tokens), "--tier", str(args.tier)]
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"The inference process failed (exit {completed.returncode}):\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


class Stopwatch:
    """Wall-clock seconds that waits for queued GPU work before reading the clock."""

    def __init__(self, device):
        self.device = device

    def __call__(self) -> float:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()


def main(argv=None) -> dict:
    args = parse_args(argv)
    # Thread pools are sized when torch loads: pin them first.
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.path.insert(0, str(REPO_ROOT))

    import torch
    from transformers import AutoTokenizer, CompileConfig
    from transformers.utils import logging as transformers_logging

    from benchmarks.official_reference import OfficialGreedyReference
    from configuration_adiff import AdiffConfig
    from modeling_adiff import AdiffForConditionalGeneration
    from processing_adiff import AdiffFeatureExtractor, AdiffProcessor, resolve_prompt

    transformers_logging.disable_progress_bar()
    if args.inference_process:
        return inference_process(args)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    device = torch.device(args.device)
    clock = Stopwatch(device)
    rss_import = rss_mb()

    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = "!"  # the official padding token
    torch.manual_seed(args.seed)
    if args.size == "base":
        config = AdiffConfig()
    else:
        config = AdiffConfig(**tiny_config_kwargs(len(tokenizer), tokenizer.eos_token_id))
    model = AdiffForConditionalGeneration(config).eval().to(device)
    model.set_attn_implementation({"text_config": args.attn_implementation})  # HTSAT has eager attention only
    rss_model = rss_mb()
    processor = AdiffProcessor(AdiffFeatureExtractor(), tokenizer, prompt_length=config.prompt_length)
    extractor = processor.feature_extractor
    reference = OfficialGreedyReference(model, extractor)
    prompt = resolve_prompt(tier=args.tier)
    sampling_rate = extractor.sampling_rate
    n_timed = max(args.batch_sizes) * args.batches  # every batch size explains these same pairs
    n_pairs = max(args.reference_pairs, n_timed)
    pairs = synthetic_pairs(n_pairs, sampling_rate, extractor.max_length_s, args.seed)
    new_tokens = args.max_new_tokens
    log = print if not args.json else (lambda *a: print(*a, file=sys.stderr))
    log(f"ADIFF {args.size}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters, {args.threads} "
        f"threads, device {device}, GPT-2 attention {model.config.text_config._attn_implementation}, {new_tokens} new "
        f"tokens per pair, {n_pairs} pairs of {extractor.max_length_s:g} s audio")

    def run_reference(index: int, tokens: int):
        start = clock()
        prompt_ids, _ = processor.encode_prompts([prompt])  # (1, prompt_length), per pair as the official code does
        prefix = reference.prefix(*pairs[index], prompt_ids, sampling_rate)
        middle = clock()
        ids = reference.decode(prefix, tokens, stop_token_id=None)
        return ids.cpu(), middle - start, clock() - middle

    @torch.inference_mode()
    def run_batch(indices: list[int], tokens: int):
        """This implementation on one batch, timed in stages: front end, HTSAT, prefix, GPT-2 decoding.
        `generate(**inputs)` runs exactly these stages; they are called one by one only to time them."""
        t0 = clock()
        inputs = processor(audio=[pairs[i] for i in indices], text=prompt, sampling_rate=sampling_rate).to(device)
        t1 = clock()
        audio_embeds = model.model.encode_audio(inputs["input_features"])  # (B, 2, D), one encoder call
        t2 = clock()
        prefix = model.get_prefix_embeddings(audio_embeds=audio_embeds, prompt_input_ids=inputs["prompt_input_ids"])
        t3 = clock()
        ids = model.generate(inputs_embeds=prefix, max_new_tokens=tokens, eos_token_id=None, do_sample=False,
                             num_beams=1, **compile_kwargs)
        t4 = clock()
        return ids.cpu(), {"features_s": t1 - t0, "audio_encoder_s": t2 - t1, "prefix_s": t3 - t2,
                           "decode_s": t4 - t3}

    compile_kwargs = {}
    if args.compile:
        # A static cache keeps decoding shapes fixed; generate() then compiles the decoding step itself. transformers
        # does that only on accelerators unless told otherwise (`_compile_all_devices`, its switch for CPU).
        compile_config = CompileConfig()
        if device.type != "cuda":
            compile_config._compile_all_devices = True
        compile_kwargs = {"cache_implementation": "static", "compile_config": compile_config}

    def run_ours(tokens_by_pair: dict, batch_size: int) -> dict:
        """Explains pairs 0 .. n_timed - 1 in batches of `batch_size`; stage times are per batch."""
        # Warm-up at full length: first-call allocations, kernel selection and (--compile) compilation.
        run_batch(list(range(batch_size)), new_tokens)
        stages = {"features_s": 0.0, "audio_encoder_s": 0.0, "prefix_s": 0.0, "decode_s": 0.0}
        batches = [list(range(start, min(start + batch_size, n_timed))) for start in range(0, n_timed, batch_size)]
        cpu_start = time.process_time()
        for indices in batches:
            ids, times = run_batch(indices, new_tokens)
            tokens_by_pair.update(zip(indices, ids))
            stages = {key: stages[key] + times[key] for key in stages}
        total, cpu = sum(stages.values()), time.process_time() - cpu_start
        per_batch = {key: value / len(batches) for key, value in stages.items()}
        return {"batch_size": batch_size, "pairs": n_timed, "seconds": total, "pairs_per_s": n_timed / total,
                "cpu_s_per_pair": cpu / n_timed,
                "encode_s": per_batch["features_s"] + per_batch["audio_encoder_s"] + per_batch["prefix_s"],
                **per_batch}

    results = {"size": args.size, "device": str(device), "dtype": args.dtype, "threads": args.threads,
               "compile": args.compile,
               "max_new_tokens": new_tokens, "attn_implementation": model.config.text_config._attn_implementation,
               "parameters_m": sum(p.numel() for p in model.parameters()) / 1e6}

    # 1. The reference, in fp32 (as the official code runs).
    with torch.inference_mode():
        run_reference(0, 2)  # warm-up
        reference_tokens, reference_encode, reference_decode = [], 0.0, 0.0
        cpu_start = time.process_time()
        for index in range(args.reference_pairs):
            ids, encode_s, decode_s = run_reference(index, new_tokens)
            reference_tokens.append(ids)
            reference_encode += encode_s
            reference_decode += decode_s
        reference_cpu = time.process_time() - cpu_start
    reference_total = reference_encode + reference_decode
    results.update(reference_pairs=args.reference_pairs, reference_pairs_per_s=args.reference_pairs / reference_total,
                   reference_s_per_pair=reference_total / args.reference_pairs,
                   reference_cpu_s_per_pair=reference_cpu / args.reference_pairs,
                   reference_encode_s_per_pair=reference_encode / args.reference_pairs,
                   reference_decode_s_per_pair=reference_decode / args.reference_pairs)
    log(f"reference  : {results['reference_s_per_pair']:.2f} s/pair ({results['reference_encode_s_per_pair']:.2f} s "
        f"audio + prefix, {results['reference_decode_s_per_pair']:.2f} s decoding; "
        f"{results['reference_cpu_s_per_pair']:.2f} CPU s/pair)")

    # 2. Optional: fp32 tokens of this implementation for the low-precision comparison, then cast.
    fp32_tokens = {}
    if args.dtype != "fp32":
        with torch.inference_mode():
            for start in range(0, n_pairs, max(args.batch_sizes)):
                indices = list(range(start, min(start + max(args.batch_sizes), n_pairs)))
                for index, row in zip(indices, run_batch(indices, new_tokens)[0]):
                    fp32_tokens[index] = row
        model.to({"bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype])

    # 3. This implementation at each batch size.
    tokens_by_size, runs = {}, []
    for batch_size in args.batch_sizes:
        tokens_by_size[batch_size] = {}
        run = run_ours(tokens_by_size[batch_size], batch_size)
        run["speedup_vs_reference"] = run["pairs_per_s"] / results["reference_pairs_per_s"]
        run["cpu_speedup_vs_reference"] = results["reference_cpu_s_per_pair"] / run["cpu_s_per_pair"]
        runs.append(run)
        log(f"batch {batch_size:>4} : {run['pairs_per_s']:.3f} pairs/s = {run['speedup_vs_reference']:.1f}x "
            f"reference; per batch {run['features_s']:.2f} s features, {run['audio_encoder_s']:.2f} s HTSAT, "
            f"{run['prefix_s']:.2f} s prefix, {run['decode_s']:.2f} s decoding; "
            f"{run['cpu_s_per_pair']:.2f} CPU s/pair")
    results["runs"] = runs
    for run in runs:
        results[f"batch{run['batch_size']}_pairs_per_s"] = run["pairs_per_s"]
        results[f"batch{run['batch_size']}_speedup"] = run["speedup_vs_reference"]
    largest = runs[-1]
    results["encode_s"], results["decode_s"] = largest["encode_s"], largest["decode_s"]
    results["encode_share_at_largest_batch"] = largest["encode_s"] / (largest["encode_s"] + largest["decode_s"])

    # 4. Agreement: greedy tokens of every path on the pairs they share.
    def same(first, second) -> bool:
        return first.shape == second.shape and bool(torch.equal(first, second))

    checks = []
    for batch_size, tokens in tokens_by_size.items():
        compared = fp32_tokens if args.dtype != "fp32" else tokens
        checks += [same(reference_tokens[i], compared[i]) for i in range(args.reference_pairs) if i in compared]
    sizes = list(tokens_by_size)
    if args.dtype == "fp32":  # batching must not change fp32 greedy tokens; lower precisions may round differently
        for small, large in zip(sizes, sizes[1:]):
            checks += [same(row, tokens_by_size[large][i]) for i, row in tokens_by_size[small].items()]
    results["tokens_equal"] = bool(checks) and all(checks)
    if args.dtype != "fp32":
        low = tokens_by_size[sizes[-1]]
        matches = [(low[i] == fp32_tokens[i]).float().mean().item() for i in low]
        results[f"{args.dtype}_tokens_equal_fp32"] = all(same(low[i], fp32_tokens[i]) for i in low)
        results[f"{args.dtype}_token_match_rate"] = sum(matches) / len(matches)
        log(f"{args.dtype} greedy tokens equal fp32: {results[f'{args.dtype}_tokens_equal_fp32']} "
            f"(match rate {results[f'{args.dtype}_token_match_rate']:.3f})")

    results.update(rss_after_import_mb=rss_import, rss_after_build_mb=rss_model, benchmark_peak_rss_mb=peak_rss_mb(),
                   peak_rss_mb=peak_rss_mb(), peak_rss_source="benchmark_process")
    if args.inference_rss:
        indices = list(range(max(args.batch_sizes)))
        child = measure_inference_process(model, processor, [pairs[i] for i in indices], args)
        child_tokens = torch.tensor(child["tokens"])
        results.update(peak_rss_mb=child["peak_rss_mb"], peak_rss_source="inference_process",
                       inference_process_batch_size=len(indices),
                       inference_process_tokens_equal=all(same(child_tokens[row], tokens_by_size[sizes[-1]][i])
                                                          for row, i in enumerate(indices)))
        if args.dtype == "fp32":  # from_pretrained must give back exactly this model
            results["tokens_equal"] = results["tokens_equal"] and results["inference_process_tokens_equal"]
    if device.type == "cuda":
        results["peak_gpu_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    log(f"greedy tokens identical across paths: {results['tokens_equal']}; benchmark process peak RSS "
        f"{results['benchmark_peak_rss_mb']:.0f} MB (after imports {rss_import:.0f} MB, after building the model "
        f"{rss_model:.0f} MB)")
    if args.inference_rss:
        log(f"inference process (from_pretrained, processor, generate at batch "
            f"{results['inference_process_batch_size']}): peak RSS {results['peak_rss_mb']:.0f} MB")
    log(f"audio side (features + HTSAT + prefix) at batch {largest['batch_size']}: {largest['encode_s']:.2f} s of "
        f"{largest['encode_s'] + largest['decode_s']:.2f} s ({100 * results['encode_share_at_largest_batch']:.0f} %)")
    if args.json:
        print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
