"""Markdown table of an ablation study: one row per run folder holding `eval/report.json` (see
scripts/run_ablations.sh).

    python -m training.evaluation.ablation_table runs/ablations
"""

import argparse
import json
from pathlib import Path

RUN_DESCRIPTIONS = {
    "A": "random frozen encoder, naive prefix",
    "B": "naive baseline (no separator, no cross-projection)",
    "C": "B + separator + cross-projection",
    "D": "C + position captioning",
    "E": "D + stage-3 fine-tuning",
}
TIERS = ("1", "2", "3")


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def ablation_rows(root: Path) -> list[dict]:
    """One dict per run folder under `root` that has `eval/report.json`, in name order."""
    rows = []
    for report_path in sorted(root.glob("*/eval/report.json")):
        report = json.loads(report_path.read_text())
        name = report_path.parent.parent.name
        row = {"run": name, "description": RUN_DESCRIPTIONS.get(name, "")}
        for tier in TIERS:
            scores = (report["captioning"].get(tier) or {}).get("scores", {})
            facts = ((report.get("facts") or {}).get(tier) or {}).get("all", {})
            row[f"cider_{tier}"] = scores.get("CIDEr-D")
            row[f"bleu4_{tier}"] = scores.get("BLEU-4")
            row[f"facts_{tier}"] = facts.get("precision")
        behaviour = (report.get("behaviour") or {}).get("all") or {}
        row["identity"] = (behaviour.get("identity") or {}).get("score")
        row["swap"] = (behaviour.get("swap_consistency") or {}).get("score")
        row["pairs"] = report.get("counts", {}).get("pairs")
        rows.append(row)
    return rows


def ablation_markdown(rows: list[dict]) -> str:
    header = ("| run | what | CIDEr-D T1 | CIDEr-D T2 | CIDEr-D T3 | BLEU-4 T1 | BLEU-4 T2 | BLEU-4 T3 | "
              "fact acc. T1 | fact acc. T2 | fact acc. T3 | identity | swap |")
    lines = [header, "|" + "---|" * 13]
    for row in rows:
        cells = [row["run"], row["description"]]
        cells += [_fmt(row[f"{metric}_{tier}"]) for metric in ("cider", "bleu4", "facts") for tier in TIERS]
        cells += [_fmt(row["identity"]), _fmt(row["swap"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluation.ablation_table", description=__doc__)
    parser.add_argument("root", type=Path, help="folder with one sub-folder per run (A, B, ...) holding eval/")
    args = parser.parse_args(argv)
    rows = ablation_rows(args.root)
    if not rows:
        parser.error(f"no */eval/report.json under {args.root}; run scripts/run_ablations.sh first")
    print(ablation_markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
