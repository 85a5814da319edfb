"""Our paper-budget study beside the authors' published results: per burn-in, and the paper's claim.

Reads a finished ``burnin study DATASET --budget paper --seeds ...`` folder (its
``results.json``) and the authors' per-model results (``results_<dataset>_h8.csv`` in
``02_public_datasets/code/results`` of github.com/jdschille/rnn-training: a folder holding the
CSV, or a clone of the repository, read with ``git show``), and prints Markdown for
``docs/study.md``:

* per burn-in ``m`` at one ``N``: our scaled MSE on train and test (mean ± sd over seeds) beside
  the authors' (one training each), and their ratio;
* the best burn-in ``m*`` (0.7 train + 0.3 validation, unconstrained) of both, and the change of
  ``m*`` against ``m = 0`` in % (ours per seed: mean ± sd, lowest and highest; the authors' one
  value), stateful TBPTT beside it;
* the verdict: the paper's effect (``m*`` improves on ``m = 0``) holds beyond the seed spread
  when every seed improves, i.e. the worst seed's change is negative.

Usage (from the project root)::

    python benchmarks/study_vs_authors.py sb_paper --dataset silverbox --authors PATH [--N 100]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from systems.benchmarks import criterion  # noqa: E402
from verification.experiment.study_run import ModelRecord  # noqa: E402
from verification.experiment.study_table import paper_table, stats  # noqa: E402

#: The authors' file names of the datasets.
AUTHORS_NAME = {"wiener_hammerstein": "wienerhammerstein"}
SPLITS = ("train", "val", "test")


def authors_rows(src: Path, dataset: str, N: int) -> dict[tuple[str, int], dict[str, float]]:
    """The authors' scaled MSE per ``(kind, m)`` at ``N``: ``{"train", "val", "test"}``."""
    name = f"results_{AUTHORS_NAME.get(dataset, dataset)}_h8.csv"
    if (src / name).is_file():
        text = (src / name).read_text()
    else:
        r = subprocess.run(["git", "-C", str(src), "show",
                            f"HEAD:02_public_datasets/code/results/{name}"],
                           capture_output=True, text=True, check=False)
        if r.returncode:
            raise SystemExit(f"{src}: neither {name} nor a clone of the authors' repository")
        text = r.stdout
    out = {}
    for row in csv.DictReader(io.StringIO(text)):
        if int(row["timesteps_per_sequence_N"]) == N:
            out[(row["training_type"], int(row["m"]))] = {
                s: float(row[f"mse_{s}_scaled"]) for s in SPLITS}
    return out


def ours(folder: Path, N: int) -> list[ModelRecord]:
    """Our study's records at ``N``."""
    doc = json.loads((folder / "results.json").read_text())
    rows = doc["models"] if isinstance(doc, dict) else doc
    return [r for r in (ModelRecord.from_dict(d) for d in rows) if r.N == N]


def _pm(values: list[float]) -> str:
    mean, sd = stats(values)
    return f"{mean:.3g} ± {sd:.2g}"


def per_m_table(records: list[ModelRecord], authors: dict, N: int) -> list[str]:
    """Markdown rows: per ``m``, ours (mean ± sd, x 100) beside the authors' (x 100)."""
    lines = ["| m | ours train | authors train | ours test | authors test | "
             "ours / authors (test) |", "|---:|---:|---:|---:|---:|---:|"]
    ms = sorted({r.m for r in records if r.kind == "stateless"})
    for m in ms:
        rs = [r for r in records if r.kind == "stateless" and r.m == m]
        a = authors.get(("stateless", m), {})
        tr = [100 * r.scaled("train") for r in rs]
        te = [100 * r.scaled("test") for r in rs]
        at, ae = 100 * a.get("train", float("nan")), 100 * a.get("test", float("nan"))
        lines.append(f"| {m} | {_pm(tr)} | {at:.3g} | {_pm(te)} | {ae:.3g} | "
                     f"{stats(te)[0] / ae:.2f} |")
    return lines


def authors_claim(authors: dict) -> tuple[int, dict[str, float]]:
    """The authors' unconstrained ``m*`` and its change against ``m = 0`` in % per split."""
    ms = [m for (k, m) in authors if k == "stateless"]
    m_star = min(ms, key=lambda m: (criterion(authors[("stateless", m)]["train"],
                                              authors[("stateless", m)]["val"]), m))
    zero, best = authors[("stateless", 0)], authors[("stateless", m_star)]
    return m_star, {s: 100 * (best[s] / zero[s] - 1) for s in ("train", "test")}


def claim_lines(records: list[ModelRecord], authors: dict, N: int) -> list[str]:
    """The paper's table row, ours beside the authors', and the verdict."""
    row = paper_table(records)[0]
    a_star, a_change = authors_claim(authors)
    a0 = authors[("stateless", 0)]
    a_sf = authors.get(("stateful", 0), {})
    lines = ["| | m* | m = 0 train | m* train | stateful train | m = 0 test | m* test | "
             "stateful test | change train % | change test % |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def cell(name: str) -> str:
        if row[name] != row[name]:  # NaN: that kind was not trained
            return "not run"
        return f"{row[name]:.3g} ± {row.get(name + '_sd'):.2g}"

    def change(split: str) -> str:
        k = f"change_m0_{split}_pct"
        return (f"{row[k]:+.0f} ± {row.get(k + '_sd'):.0f} "
                f"({row.get(k + '_min'):+.0f} .. {row.get(k + '_max'):+.0f})")

    lines.append(f"| ours ({row.seeds} seeds) | {row.m_star} | {cell('m0_train')} | "
                 f"{cell('m_star_train')} | {cell('stateful_train')} | {cell('m0_test')} | "
                 f"{cell('m_star_test')} | {cell('stateful_test')} | {change('train')} | "
                 f"{change('test')} |")
    best = authors[("stateless", a_star)]
    lines.append(f"| authors (1 training) | {a_star} | {100 * a0['train']:.3g} | "
                 f"{100 * best['train']:.3g} | {100 * a_sf.get('train', float('nan')):.3g} | "
                 f"{100 * a0['test']:.3g} | {100 * best['test']:.3g} | "
                 f"{100 * a_sf.get('test', float('nan')):.3g} | {a_change['train']:+.0f} | "
                 f"{a_change['test']:+.0f} |")
    lines.append("")
    for split in ("train", "test"):
        worst = row.get(f"change_m0_{split}_pct_max")
        verdict = ("holds beyond the seed spread (every seed improves)" if worst < 0
                   else "shows no improvement (m* = 0)" if row.m_star == 0
                   else "does not hold beyond the seed spread (a seed does not improve)")
        lines.append(f"* {split}: the effect {verdict}; mean change "
                     f"{row[f'change_m0_{split}_pct']:+.0f} % (authors "
                     f"{a_change[split]:+.0f} %, the paper's claim: below -60 %).")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("study", type=Path, help="a finished burnin study folder")
    p.add_argument("--dataset", required=True)
    p.add_argument("--authors", type=Path, required=True,
                   help="folder with results_<dataset>_h8.csv, or a clone of the authors' repo")
    p.add_argument("--N", type=int, default=100)
    args = p.parse_args()
    records = ours(args.study, args.N)
    authors = authors_rows(args.authors, args.dataset, args.N)
    print(f"### {args.dataset}, N = {args.N} (scaled MSE x 100)\n")
    print("\n".join(claim_lines(records, authors, args.N)))
    print()
    print("\n".join(per_m_table(records, authors, args.N)))


if __name__ == "__main__":
    main()
