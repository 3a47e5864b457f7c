"""One markdown table of dense, lexical and hybrid nDCG@10 over many judged sets, from `quarry eval` JSON.

    for d in DATASET_DIR...; do quarry eval --compare dense,lexical,hybrid --json $d > OUT/$(basename $d).json; done
    python -m benchmarks.quality_table OUT [--before BEFORE_OUT]

With --before (the same runs made by an earlier build) each row shows the earlier hybrid beside today's.
The last column is the default mode's margin over the better of its two halves: the issue-13 bar is >= -0.01.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def read_runs(folder: Path) -> dict[str, dict[str, float]]:
    """set name -> {mode: nDCG@10} for every `quarry eval --compare ... --json` output in the folder."""
    runs = {}
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if "runs" in data:
            runs[path.stem] = {mode: r["ndcg@10"] for mode, r in data["runs"].items()}
    return runs


def table(after: dict, before: dict | None = None) -> str:
    head = "| set | dense | lexical | " + ("hybrid before | " if before else "") + "hybrid | hybrid - best half |"
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for name, r in after.items():
        best = max(r["dense"], r["lexical"])
        cells = [name, f"{r['dense']:.4f}", f"{r['lexical']:.4f}"]
        if before:
            cells.append(f"{before[name]['hybrid']:.4f}" if name in before else "-")
        cells += [f"**{r['hybrid']:.4f}**", f"{r['hybrid'] - best:+.4f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, help="folder of `quarry eval --compare dense,lexical,hybrid --json` outputs")
    parser.add_argument("--before", type=Path, help="the same runs from an earlier build")
    args = parser.parse_args()
    print(table(read_runs(args.runs), read_runs(args.before) if args.before else None))


if __name__ == "__main__":
    main()
