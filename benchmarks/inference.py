"""Inference throughput of ADIFF: the official decoding path against this implementation, side by side.

Builds a model with seeded random weights (`--size base`: HTSAT with transformers' default `ClapAudioConfig`,
GPT-2 124M and the official ADIFF sizes, 295 M parameters; `--size tiny` or `--smoke`: a few-MB model for tests),
saves it and loads it back with `from_pretrained` (weights memory-mapped from the file, as users get them), then
explains the same 10 s audio pairs several ways and checks they produce the same greedy tokens:

- reference: `OfficialGreedyReference` (official_reference.py), one pair at a time, no KV cache;
- this implementation (`AdiffProcessor` + `AdiffForConditionalGeneration.generate`) at each `--batch-sizes` entry.

Every run makes exactly `--max-new-tokens` tokens (the stop token is disabled), so all paths do the same work.
The audio is seeded synthetic sound (tones in noise, 32 kHz, 10 s) and goes through the real feature extractor; the
prompt is the canonical tier-2 prompt encoded by the processor with the GPT-2 tokenizer in `--tokenizer`.
Timings are wall-clock with a fixed thread count, in `--rounds` interleaved rounds (the reference, then every batch
size); each ratio is the median of the per-round ratios, printed with its range, so a machine that gets busier during
the run slows both sides of a ratio. Process CPU seconds per pair are reported next to them (`cpu_s_per_pair`): on a
shared machine they show how much of the wall time was waiting for a core.

Per batch size it prints s/pair, the ratio, the share of time per part (features, HTSAT encoder, prefix, GPT-2
decoding steps, LM head -- the LM head is timed by hooks inside `generate`), the FLOPs per pair (counted by
`torch.utils.flop_counter` on the warm-up batch) and the gap to the compute floor: those FLOPs at the best rate of a
large fp32 matrix product on the same machine.

Memory: `peak_rss_mb` (MiB) is measured in a separate inference process per batch size (`--inference-rss`, on by
default): the saved model and processor are loaded with `from_pretrained` in a fresh interpreter, and one batch is
explained; its tokens must equal this process's (with `--dtype bf16`, from a checkpoint saved in bf16).
`--no-release-weight-memory` keeps every weight page resident (`generate(release_weight_memory=False)`), to see what
giving them back between phases saves and costs. This process's own peak (random-weight construction, the
reference, every batch size) is `benchmark_peak_rss_mb`.

`--compile` uses a static KV cache and lets `generate()` compile the decoding step with `torch.compile` (on CUDA
this is transformers' automatic compilation; the warm-up run pays the compilation time).

    python benchmarks/inference.py                      # base size, 2 threads, batch sizes 1 and 8, 3 rounds
    python benchmarks/inference.py --smoke --json       # seconds; the last line is a JSON object
    python benchmarks/inference.py --device cuda --dtype bf16 --batch-sizes 1,8,32   # also: bf16 tokens == fp32?
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DTYPES = ("fp32", "bf16", "fp16")
# Seconds per batch of each stage; the LM head runs inside decode_s and is timed separately.
STAGES = ("features_s", "audio_encoder_s", "prefix_s", "decode_s", "lm_head_s")


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
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds (reference, then every batch size); ratios are the median over "
                             "rounds, so a machine that gets busier during the run affects both sides (default: 3)")
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
    parser.add_argument("--release-weight-memory", action=argparse.BooleanOptionalAction, default=True,
                        help="generate's release_weight_memory: give back each phase's memory-mapped weight pages "
                             "when it is done (default: on, as in generate)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object on the last line")
    parser.add_argument("--inference-process", help=argparse.SUPPRESS)  # internal: the child of --inference-rss
    args = parser.parse_args(argv)
    if args.smoke:
        args.size, args.max_new_tokens, args.batch_sizes, args.reference_pairs = "tiny", 4, "1,2", 2
        args.rounds = min(args.rounds, 2)
    if args.inference_rss is None:
        args.inference_rss = not args.smoke
    try:
        args.batch_sizes = sorted({int(size) for size in args.batch_sizes.split(",")})
    except ValueError:
        parser.error(f"--batch-sizes must be comma-separated integers such as 1,8, got {args.batch_sizes!r}")
    if min(args.batch_sizes) < 1 or min(args.batches, args.reference_pairs, args.max_new_tokens, args.rounds) < 1:
        parser.error("--batch-sizes, --batches, --reference-pairs, --max-new-tokens and --rounds must be >= 1")
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
        ids = model.generate(**inputs, max_new_tokens=args.max_new_tokens, eos_token_id=None,
                             release_weight_memory=args.release_weight_memory)
    result = {"peak_rss_mb": peak_rss_mb(), "tokens": ids.tolist()}
    print(json.dumps(result))
    return result


def measure_inference_process(folder: str, pairs, args) -> dict:
    """Runs `inference_process` in a fresh interpreter on the model and processor saved in `folder`, on `pairs`."""
    import numpy as np

    np.save(Path(folder) / "pairs.npy", np.stack([np.stack(pair) for pair in pairs]))
    command = [sys.executable, str(Path(__file__).resolve()), "--inference-process", folder, "--threads",
               str(args.threads), "--device", args.device, "--dtype", args.dtype, "--max-new-tokens",
               str(args.max_new_tokens), "--tier", str(args.tier),
               "--release-weight-memory" if args.release_weight_memory else "--no-release-weight-memory"]
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


class ModuleTimer:
    """Seconds spent inside one module's forward calls, summed (hooks around the module; reset `seconds` freely)."""

    def __init__(self, module, clock):
        self.clock, self.seconds, self._entered = clock, 0.0, 0.0
        module.register_forward_pre_hook(self._enter)
        module.register_forward_hook(self._exit)

    def _enter(self, module, args):
        self._entered = self.clock()

    def _exit(self, module, args, output):
        self.seconds += self.clock() - self._entered


def matmul_peak_gflops(device, size: int = 1024, repeats: int = 8) -> float:
    """The best fp32 GFLOP/s of a large square matrix product here, by PyTorch's own kernel and (on CPU) by the oneDNN
    product the model's linear layers use: the rate the compute floor assumes."""
    import torch

    from modeling_adiff.onednn_linear import onednn_linear_available

    first, second = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    products = [lambda: torch.mm(first, second)]
    if device.type == "cpu" and onednn_linear_available():
        products.append(lambda: torch.ops.mkldnn._linear_pointwise(first, second, None, "none", [], ""))
    clock, best = Stopwatch(device), 0.0
    for product in products:
        for _ in range(repeats):
            start = clock()
            product()
            best = max(best, 2 * size**3 / (clock() - start))
    return best / 1e9


def onednn_linear_flops(input_shape, weight_shape, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of `torch.ops.mkldnn._linear_pointwise` ((..., in) x (out, in)), unknown to `FlopCounterMode`."""
    return 2 * math.prod(input_shape[:-1]) * weight_shape[0] * weight_shape[1]


def main(argv=None) -> dict:
    args = parse_args(argv)
    # Thread pools are sized when torch loads: pin them first.
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.path.insert(0, str(REPO_ROOT))

    import torch
    from torch.utils.flop_counter import FlopCounterMode
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
    processor = AdiffProcessor(AdiffFeatureExtractor(), tokenizer, prompt_length=config.prompt_length)
    # Timed is the model users get: saved, then loaded back by from_pretrained, which memory-maps the weights file
    # (4 KiB pages, given back between phases by `release_weight_memory`). The inference process loads it too.
    folder = tempfile.TemporaryDirectory()
    AdiffForConditionalGeneration(config).save_pretrained(folder.name)
    processor.save_pretrained(folder.name)
    model = AdiffForConditionalGeneration.from_pretrained(folder.name).eval().to(device)
    model.set_attn_implementation({"text_config": args.attn_implementation})  # HTSAT has eager attention only
    rss_model = rss_mb()
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

    lm_head_timer = ModuleTimer(model.lm_head, clock)

    @torch.inference_mode()
    def run_batch(indices: list[int], tokens: int):
        """This implementation on one batch, timed in stages: front end, HTSAT, prefix, GPT-2 decoding (of which the
        LM head). `generate(**inputs)` runs exactly these stages; they are called one by one only to time them."""
        t0 = clock()
        inputs = processor(audio=[pairs[i] for i in indices], text=prompt, sampling_rate=sampling_rate).to(device)
        t1 = clock()
        audio_embeds = model.model.encode_audio(inputs["input_features"])  # (B, 2, D), a few clips per call
        t2 = clock()
        prefix = model.get_prefix_embeddings(audio_embeds=audio_embeds, prompt_input_ids=inputs["prompt_input_ids"])
        if args.release_weight_memory:
            model.release_weight_pages("prefix")  # what generate(**inputs) does before decoding
        t3 = clock()
        lm_head_timer.seconds = 0.0
        ids = model.generate(inputs_embeds=prefix, max_new_tokens=tokens, eos_token_id=None, do_sample=False,
                             num_beams=1, release_weight_memory=args.release_weight_memory, **compile_kwargs)
        t4 = clock()
        return ids.cpu(), {"features_s": t1 - t0, "audio_encoder_s": t2 - t1, "prefix_s": t3 - t2,
                           "decode_s": t4 - t3, "lm_head_s": lm_head_timer.seconds}

    compile_kwargs = {}
    if args.compile:
        # A static cache keeps decoding shapes fixed; generate() then compiles the decoding step itself. transformers
        # does that only on accelerators unless told otherwise (`_compile_all_devices`, its switch for CPU).
        compile_config = CompileConfig()
        if device.type != "cuda":
            compile_config._compile_all_devices = True
        compile_kwargs = {"cache_implementation": "static", "compile_config": compile_config}

    flops_per_pair = {}

    def run_ours(tokens_by_pair: dict, batch_size: int, warm_up: bool) -> dict:
        """Explains pairs 0 .. n_timed - 1 in batches of `batch_size`; stage times are per batch."""
        if warm_up:  # first-call allocations, kernel selection, (--compile) compilation; counts the FLOPs too
            custom = {torch.ops.mkldnn._linear_pointwise: onednn_linear_flops} if hasattr(
                torch.ops.mkldnn, "_linear_pointwise") else {}
            with FlopCounterMode(display=False, custom_mapping=custom) as counter:
                run_batch(list(range(batch_size)), new_tokens)
            flops_per_pair[batch_size] = counter.get_total_flops() / batch_size
        stages = dict.fromkeys(STAGES, 0.0)
        batches = [list(range(start, min(start + batch_size, n_timed))) for start in range(0, n_timed, batch_size)]
        cpu_start = time.process_time()
        for indices in batches:
            ids, times = run_batch(indices, new_tokens)
            tokens_by_pair.update(zip(indices, ids))
            stages = {key: stages[key] + times[key] for key in stages}
        total = sum(stages[key] for key in STAGES if key != "lm_head_s")  # the LM head is part of decode_s
        return {"s_per_pair": total / n_timed, "cpu_s_per_pair": (time.process_time() - cpu_start) / n_timed,
                **{key: value / len(batches) for key, value in stages.items()}}

    def run_reference_round(warm_up: bool) -> dict:
        with torch.inference_mode():
            if warm_up:
                run_reference(0, 2)
            tokens, encode, decode = [], 0.0, 0.0
            cpu_start = time.process_time()
            for index in range(args.reference_pairs):
                ids, encode_s, decode_s = run_reference(index, new_tokens)
                tokens.append(ids)
                encode, decode = encode + encode_s, decode + decode_s
        pairs_done = args.reference_pairs
        return {"tokens": tokens, "s_per_pair": (encode + decode) / pairs_done,
                "encode_s_per_pair": encode / pairs_done, "decode_s_per_pair": decode / pairs_done,
                "cpu_s_per_pair": (time.process_time() - cpu_start) / pairs_done}

    results = {"size": args.size, "device": str(device), "dtype": args.dtype, "threads": args.threads,
               "compile": args.compile, "rounds": args.rounds,
               "max_new_tokens": new_tokens, "attn_implementation": model.config.text_config._attn_implementation,
               "parameters_m": sum(p.numel() for p in model.parameters()) / 1e6}
    peak_gflops = matmul_peak_gflops(device)  # measured again every round; the best one is the floor's rate

    # 1. The reference runs in fp32, as the official code does. With a lower --dtype its rounds all run first (before
    # the cast), together with this implementation's fp32 tokens for the comparison; otherwise rounds interleave.
    reference_rounds, fp32_tokens = [], {}
    if args.dtype != "fp32":
        log(f"--dtype {args.dtype}: the fp32 reference rounds run before the cast, not interleaved")
        reference_rounds = [run_reference_round(warm_up=r == 0) for r in range(args.rounds)]
        with torch.inference_mode():
            for start in range(0, n_pairs, max(args.batch_sizes)):
                indices = list(range(start, min(start + max(args.batch_sizes), n_pairs)))
                fp32_tokens.update(zip(indices, run_batch(indices, new_tokens)[0]))
        model.to({"bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype])

    # 2. Interleaved rounds: the reference, then this implementation at each batch size.
    tokens_by_size = {size: {} for size in args.batch_sizes}
    rounds_by_size = {size: [] for size in args.batch_sizes}
    for round_index in range(args.rounds):
        if args.dtype == "fp32":
            reference_rounds.append(run_reference_round(warm_up=round_index == 0))
        for batch_size in args.batch_sizes:
            rounds_by_size[batch_size].append(run_ours(tokens_by_size[batch_size], batch_size, round_index == 0))
        peak_gflops = max(peak_gflops, matmul_peak_gflops(device))
        reference_s = reference_rounds[round_index]["s_per_pair"]
        log(f"round {round_index + 1}/{args.rounds}: reference {reference_s:.2f} s/pair; " + "; ".join(
            f"batch {size} {rounds[-1]['s_per_pair']:.3f} s/pair ({reference_s / rounds[-1]['s_per_pair']:.1f}x)"
            for size, rounds in rounds_by_size.items()))

    results["matmul_peak_gflops"] = peak_gflops
    reference_s = statistics.median(r["s_per_pair"] for r in reference_rounds)
    results.update(
        reference_pairs=args.reference_pairs, reference_s_per_pair=reference_s, reference_pairs_per_s=1 / reference_s,
        reference_cpu_s_per_pair=statistics.median(r["cpu_s_per_pair"] for r in reference_rounds),
        reference_encode_s_per_pair=statistics.median(r["encode_s_per_pair"] for r in reference_rounds),
        reference_decode_s_per_pair=statistics.median(r["decode_s_per_pair"] for r in reference_rounds))
    reference_tokens = reference_rounds[0]["tokens"]
    log(f"reference  : {reference_s:.2f} s/pair median of {args.rounds} rounds "
        f"({results['reference_encode_s_per_pair']:.2f} s audio + prefix, "
        f"{results['reference_decode_s_per_pair']:.2f} s decoding; "
        f"{results['reference_cpu_s_per_pair']:.2f} CPU s/pair)")
    runs = []
    for batch_size, rounds in rounds_by_size.items():
        ratios = [ref["s_per_pair"] / ours["s_per_pair"] for ref, ours in zip(reference_rounds, rounds)]
        run = {"batch_size": batch_size, "pairs": n_timed,
               **{key: statistics.median(r[key] for r in rounds) for key in rounds[0]}}
        run.update(pairs_per_s=1 / run["s_per_pair"], speedup_vs_reference=statistics.median(ratios),
                   speedup_min=min(ratios), speedup_max=max(ratios),
                   cpu_speedup_vs_reference=results["reference_cpu_s_per_pair"] / run["cpu_s_per_pair"],
                   encode_s=run["features_s"] + run["audio_encoder_s"] + run["prefix_s"],
                   gflop_per_pair=flops_per_pair[batch_size] / 1e9)
        parts = {"features": run["features_s"], "encoder": run["audio_encoder_s"], "prefix": run["prefix_s"],
                 "decode steps": run["decode_s"] - run["lm_head_s"], "LM head": run["lm_head_s"]}
        run["time_shares"] = {name: seconds / sum(parts.values()) for name, seconds in parts.items()}
        run["compute_floor_s_per_pair"] = run["gflop_per_pair"] / peak_gflops
        run["floor_gap"] = run["s_per_pair"] / run["compute_floor_s_per_pair"]
        runs.append(run)
        shares = ", ".join(f"{name} {100 * share:.0f} %" for name, share in run["time_shares"].items())
        log(f"batch {batch_size:>4} : {run['s_per_pair']:.3f} s/pair = {run['speedup_vs_reference']:.1f}x reference "
            f"(median of {args.rounds}; {run['speedup_min']:.1f}-{run['speedup_max']:.1f}x; "
            f"{run['cpu_speedup_vs_reference']:.1f}x in CPU seconds)\n             time: {shares}\n"
            f"             {run['gflop_per_pair']:.1f} GFLOP/pair; compute floor "
            f"{run['compute_floor_s_per_pair']:.3f} "
            f"s/pair at {peak_gflops:.0f} GFLOP/s (a large fp32 matmul here): {run['floor_gap']:.1f}x above it")
    results["runs"] = runs
    for run in runs:
        results[f"batch{run['batch_size']}_pairs_per_s"] = run["pairs_per_s"]
        results[f"batch{run['batch_size']}_speedup"] = run["speedup_vs_reference"]
    largest = runs[-1]
    results["encode_s"], results["decode_s"] = largest["encode_s"], largest["decode_s"]
    results["encode_share_at_largest_batch"] = largest["encode_s"] / (largest["encode_s"] + largest["decode_s"])

    # 3. Agreement: greedy tokens of every path on the pairs they share.
    def same(first, second) -> bool:
        return first.shape == second.shape and bool(torch.equal(first, second))

    checks = []
    for batch_size, tokens in tokens_by_size.items():
        compared = fp32_tokens if args.dtype != "fp32" else tokens
        checks += [same(reference_tokens[i], compared[i]) for i in range(args.reference_pairs) if i in compared]
    checks += [same(r["tokens"][i], reference_tokens[i])  # the reference agrees with itself across rounds
               for r in reference_rounds for i in range(args.reference_pairs)]
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

    # 4. Memory: a separate inference process per batch size.
    results.update(rss_after_import_mb=rss_import, rss_after_build_mb=rss_model, benchmark_peak_rss_mb=peak_rss_mb(),
                   peak_rss_mb=peak_rss_mb(), peak_rss_source="benchmark_process")
    if args.inference_rss:
        children_equal, checkpoint = [], folder.name
        if args.dtype != "fp32":  # a checkpoint saved in that dtype: loading the fp32 one would map and cast it
            checkpoint = str(Path(folder.name) / args.dtype)
            model.save_pretrained(checkpoint)
            processor.save_pretrained(checkpoint)
        for run in runs:
            indices = list(range(run["batch_size"]))
            child = measure_inference_process(checkpoint, [pairs[i] for i in indices], args)
            child_tokens = torch.tensor(child["tokens"])
            run["peak_rss_mb"] = child["peak_rss_mb"]
            children_equal += [same(child_tokens[row], tokens_by_size[run["batch_size"]][i])
                               for row, i in enumerate(indices)]
            log(f"inference process at batch {run['batch_size']} (from_pretrained, processor, generate): peak RSS "
                f"{run['peak_rss_mb']:.0f} MiB")
        results.update(peak_rss_mb=largest["peak_rss_mb"], peak_rss_source="inference_process",
                       inference_process_batch_size=largest["batch_size"],
                       inference_process_tokens_equal=all(children_equal))
        if args.dtype == "fp32":  # from_pretrained must give back exactly this model
            results["tokens_equal"] = results["tokens_equal"] and results["inference_process_tokens_equal"]
    if device.type == "cuda":
        results["peak_gpu_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    log(f"greedy tokens identical across paths and rounds: {results['tokens_equal']}; benchmark process peak RSS "
        f"{results['benchmark_peak_rss_mb']:.0f} MiB (after imports {rss_import:.0f} MiB, after building the model "
        f"{rss_model:.0f} MiB)")
    if args.json:
        print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
