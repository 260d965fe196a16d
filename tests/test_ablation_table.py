"""The ablation table reads each run's evaluation report and lays out the paper's per-tier columns."""

import json

from training.evaluation.ablation_table import ablation_markdown, ablation_rows, main


def _write_report(root, name, cider, facts):
    folder = root / name / "eval"
    folder.mkdir(parents=True)
    report = {
        "captioning": {t: {"scores": {"CIDEr-D": cider[i], "BLEU-4": 0.1 * (i + 1)}} for i, t in enumerate("123")},
        "facts": {t: {"all": {"precision": facts[i]}} for i, t in enumerate("123")},
        "behaviour": {"all": {"identity": {"score": 0.5}, "swap_consistency": {"score": 0.75}}},
        "counts": {"pairs": 60},
    }
    (folder / "report.json").write_text(json.dumps(report))


def test_rows_and_markdown(tmp_path, capsys):
    _write_report(tmp_path, "B", [0.2, 0.3, 0.1], [0.5, 0.6, None])
    _write_report(tmp_path, "C", [0.4, 0.5, 0.2], [0.7, 0.8, 0.9])
    rows = ablation_rows(tmp_path)
    assert [r["run"] for r in rows] == ["B", "C"]
    assert rows[1]["cider_2"] == 0.5 and rows[0]["facts_3"] is None and rows[0]["swap"] == 0.75
    table = ablation_markdown(rows)
    assert "| C | B + separator + cross-projection | 0.400 | 0.500 | 0.200 |" in table
    assert "n/a" in table.splitlines()[2]
    assert main([str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == table
