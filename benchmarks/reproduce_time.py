"""End-to-end time of ``burnin reproduce`` and its split: training, certificates, figures.

Runs the same steps as ``burnin reproduce`` (no resume) and prints the seconds of each step,
once with T1's relaxed candidates (the default) and once without them (T1 at the relaxed
optimum only) as the baseline measured in the same run:

    step                          candidates  baseline
    training (3 problems x m)         ...        ...
    certificates + bounds             ...        ...
    figures (PNG + PDF) + table       ...        ...
    report                            ...        ...
    total                             ...        ...

Usage: ``python benchmarks/reproduce_time.py [--quick] [--data builtin|DIR]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from systems.windows import WindowedData
from verification.experiment.gaps import compare, settings_of
from verification.experiment.protocol import solve_three
from verification.experiment.table import GapTable
from verification.presentation import cli, figures
from verification.presentation.report import write_report

N = 21


def sweep(train, test, ms, fit_options, candidates: bool) -> tuple[dict[str, float], GapTable]:
    """One reproduce run; returns the seconds per step and the table."""
    t_fit = t_bounds = 0.0
    t0 = time.perf_counter()
    table = GapTable(meta=settings_of(train, test, N=N, stride=1, model="linear", n_h=1,
                                      bias=False, w_hh_max=0.999, eps=2.0, seed=0,
                                      fit_options=fit_options, candidates=candidates))
    data = WindowedData(train, N)
    for m in ms:
        t = time.perf_counter()
        solved = solve_three(data.with_m(m), fit_options=fit_options, candidates=candidates)
        t_fit += time.perf_counter() - t
        t = time.perf_counter()
        row, trace = compare(solved, test, data.with_m(m))
        t_bounds += time.perf_counter() - t
        table.add(row.as_dict(), trace)
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        table.write(Path(d) / "gaps.json", Path(d) / "gaps.csv")
        figures.save_all(table, d)
        t_fig = time.perf_counter() - t
        t = time.perf_counter()
        write_report(table, d)
        t_report = time.perf_counter() - t
    return {"training (3 problems x m)": t_fit, "certificates + bounds": t_bounds,
            "figures (PNG + PDF) + table": t_fig, "report": t_report,
            "total": time.perf_counter() - t0}, table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--data", default="builtin")
    args = ap.parse_args()
    train, test = cli.load_pair(args.data)
    ms = cli.QUICK_MS if args.quick else cli.PAPER_MS
    fit_options = {"restarts": 1} if args.quick else None
    runs = {}
    for candidates in (True, False):
        runs[candidates], table = sweep(train, test, ms, fit_options, candidates)
        ratio = table.column("T1_bound") / table.column("gap_T1")
        print(f"candidates={candidates}: T1 bound / gap = {np.round(ratio, 2).tolist()}",
              flush=True)
    print(f"\nburnin reproduce{' --quick' if args.quick else ''} on {train.name}: "
          f"m = {list(ms)}, numpy {np.__version__}")
    print(f"{'step':28s} {'candidates':>10s} {'baseline':>9s} {'ratio':>6s}")
    for name, s in runs[True].items():
        base = runs[False][name]
        print(f"{name:28s} {s:10.2f} {base:9.2f} {s / base:6.2f}")


if __name__ == "__main__":
    main()
