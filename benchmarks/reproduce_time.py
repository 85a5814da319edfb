"""End-to-end time of ``burnin reproduce`` and its split: training, certificates, figures.

Runs the same steps as ``burnin reproduce`` (fresh output directory, no resume) and prints

    step                     seconds
    training (3 problems x m)  ...
    certificates + bounds      ...
    figures                    ...
    report                     ...
    total                      ...

Usage: ``python benchmarks/reproduce_time.py [--quick] [--data builtin|DIR]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from verification.experiment.gaps import compare, solve_three
from verification.experiment.table import GapTable
from verification.presentation import cli, figures
from verification.presentation.report import write_report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--data", default="builtin")
    args = ap.parse_args()
    train, test = cli.load_pair(args.data)
    ms = cli.QUICK_MS if args.quick else cli.PAPER_MS
    fit_options = {"restarts": 1} if args.quick else None
    N = 21
    t_fit = t_bounds = 0.0
    t0 = time.perf_counter()
    table = GapTable(meta={"N": N, "stride": 1, "T": train.T, "model": "linear", "n_h": 1,
                           "eps": 2.0, "train_name": train.name, "test_name": test.name,
                           "x_train": train.x, "y_train": train.y, "x_test": test.x,
                           "y_test": test.y})
    for m in ms:
        t = time.perf_counter()
        solved = solve_three(train, N, m, fit_options=fit_options)
        t_fit += time.perf_counter() - t
        t = time.perf_counter()
        row, trace = compare(solved, train, test, N, m)
        t_bounds += time.perf_counter() - t
        table.add(row, trace)
        print(f"m = {m:2d}: done", flush=True)
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        table.to_json(Path(d) / "gaps.json")
        table.to_csv(Path(d) / "gaps.csv")
        figures.save_all(table, d)
        t_fig = time.perf_counter() - t
        t = time.perf_counter()
        write_report(table, d)
        t_report = time.perf_counter() - t
    total = time.perf_counter() - t0
    print(f"\nburnin reproduce{' --quick' if args.quick else ''} on {train.name}: "
          f"m = {list(ms)}, numpy {np.__version__}")
    print(f"{'step':28s} {'seconds':>8s} {'share':>6s}")
    for name, s in [("training (3 problems x m)", t_fit), ("certificates + bounds", t_bounds),
                    ("figures (PNG + PDF) + table", t_fig), ("report", t_report),
                    ("total", total)]:
        print(f"{name:28s} {s:8.2f} {s / total:6.0%}")


if __name__ == "__main__":
    main()
