"""Stage-3 training speed with and without `train.group_by_length`, measured side by side in one process.

Answers differ a lot in length (a tier-1 explanation is ~20 tokens, a tier-3 one ~110 on SynthDiff), and a batch is
padded to its longest answer, so random batches compute mostly on padding. Grouping puts answers of similar length in
one batch (`training.sampler.ResumableBatchSampler(lengths=...)`). This script reports, for the rows of a real CSV:

- `padded_tokens_per_row`: answer positions computed per row over one whole epoch (exact, no timing), plain vs grouped;
- `samples_per_s`: timed stage-3 steps (prefix modules and LM trained, AdamW, from random clip embeddings, as with the
  embedding cache) on `--batches` batches taken evenly from one epoch of each sampler, with a model folder's sizes;
- the ratios grouped / plain.

    python benchmarks/length_grouping.py --csv runs/adiff-synth-small/corpus/train.csv
    python benchmarks/length_grouping.py --csv my_acd_train.csv --model adiff/default_model --batches 20 --json

Timings are wall-clock with a fixed thread count; compare the numbers of one run only.
"""

import argparse
import json
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this file's folder comes first on sys.path and its name would shadow the `training` package.
sys.path[:] = [str(REPO_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", required=True, nargs="+", help="ACD/CLD-format CSV(s) whose answers are trained on")
    parser.add_argument("--model", default=str(REPO_ROOT / "adiff" / "default_model"),
                        help="model folder whose sizes and tokenizer are used (default: the shipped model)")
    parser.add_argument("--batch-size", type=int, default=16, help="rows per step (default: 16, the recipes')")
    parser.add_argument("--batches", type=int, default=12, help="timed steps per sampler (default: 12)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object on the last line")
    return parser.parse_args(argv)


def read_rows(paths: list[str]) -> list[dict]:
    from training.data import load_csv

    rows = load_csv(paths, check_audio=False).to_list()  # only the texts are used
    if not rows:
        raise ValueError(f"{paths} hold no rows; give an ACD/CLD-format CSV with an `answer` column.")
    return rows


def epoch_batches(num_rows: int, batch_size: int, lengths=None) -> list[list[int]]:
    from training.sampler import ResumableBatchSampler

    sampler = ResumableBatchSampler(num_rows, batch_size, seed=0, lengths=lengths)
    return [[index for index, _ in batch] for batch in sampler]


def time_steps(model, processor, rows: list[dict], batches: list[list[int]], embed_dim: int) -> float:
    """Samples/s of stage-3 steps on `batches` (one untimed warm-up step first)."""
    import torch

    from training.loss import adiff_loss

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    generator = torch.Generator().manual_seed(0)

    def step(batch):
        prompt_ids, _ = processor.encode_prompts([rows[i]["input"] for i in batch])
        inputs = {"audio_embeds": torch.randn(len(batch), 2, embed_dim, generator=generator),
                  "prompt_input_ids": prompt_ids,
                  "labels": processor.encode_answers([rows[i]["answer"] for i in batch])}
        loss, _ = adiff_loss(model, inputs)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step(batches[0])
    start = time.perf_counter()
    for batch in batches:
        step(batch)
    return sum(len(b) for b in batches) / (time.perf_counter() - start)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch

    from modeling_adiff import AdiffForConditionalGeneration
    from processing_adiff import AdiffProcessor
    from training.data import AdiffCollator
    from training.freezing import DEFAULT_TRAINABLE, set_trainable
    from training.data.stage_data import PairData

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = read_rows(args.csv)
    processor = AdiffProcessor.from_pretrained(args.model)
    model = AdiffForConditionalGeneration.from_pretrained(args.model)
    set_trainable(model, DEFAULT_TRAINABLE["finetune"])
    model.train()
    model.model.audio_encoder.eval()
    lengths = PairData(rows, AdiffCollator(processor)).lengths()  # what train.group_by_length sorts by
    result = {"rows": len(rows), "batch_size": args.batch_size, "threads": args.threads, "model": args.model,
              "mean_answer_tokens": sum(lengths) / len(lengths)}
    for name, grouped in (("plain", None), ("grouped", lengths)):
        batches = epoch_batches(len(rows), args.batch_size, grouped)
        result[f"{name}_padded_tokens_per_row"] = sum(max(lengths[i] for i in b) for b in batches) / len(batches)
        stride = max(1, len(batches) // args.batches)
        timed = batches[::stride][: args.batches]  # spread over the epoch: every length group is represented
        result[f"{name}_samples_per_s"] = time_steps(model, processor, rows, timed,
                                                     model.model.audio_projection.linear1.in_features)
    result["padding_ratio"] = result["grouped_padded_tokens_per_row"] / result["plain_padded_tokens_per_row"]
    result["speedup"] = result["grouped_samples_per_s"] / result["plain_samples_per_s"]
    for key, value in result.items():
        print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
