"""``burnin study DATASET``: the paper's real-benchmark burn-in experiment (Section 5.2).

A thin layer over :mod:`verification.experiment.study`: check every input (one-line error, exit
code 2, before any work), run the tasks that are not done yet on local worker processes or a Dask
cluster, then write ``results.csv/json``, ``table.csv``, the figures and ``report.md`` to
``--out``. ``add_parser(subparsers)`` and ``run(args)`` plug it into ``burnin``;
``python -m verification.presentation.study_cli ...`` runs it alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXAMPLE = """examples:
  burnin study rlc --budget quick --N 100 --out rlc_quick
  burnin study silverbox --from-models authors_lstm/silverbox --N 100 --out sb
  burnin study silverbox --budget paper --N 100 --seeds 0 1 2 --scheduler tcp://HOST:8786
  burnin study mydata --train a.csv --test b.csv --inputs u --outputs y --N 50 --m 0 10 25
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``study`` subcommand to ``burnin``'s subparsers; returns its parser."""
    p = subparsers.add_parser(
        "study", help="burn-in study on a real benchmark (train or --from-models)",
        description="Train (or evaluate already trained) models for each window length N, "
        "burn-in m, kind and seed; resumable; local processes or a Dask cluster.",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    _arguments(p)
    return p


def _arguments(p: argparse.ArgumentParser) -> None:
    from verification.experiment.study import BUDGETS, CELLS, DATASETS, KINDS
    from verification.experiment.study_theory import DEFAULT_WINDOWS

    p.add_argument("dataset", metavar="DATASET",
                   help=f"one of {', '.join(DATASETS)}, or a name for your own --train/--test")
    d = p.add_argument_group("data")
    d.add_argument("--data-root", default=None,
                   help="folder with DATASET_{train,val,test}.csv[.gz] (default: "
                   "$BURNIN_DATA_ROOT, else the copy shipped with the package)")
    d.add_argument("--train", help="your own training CSV (header row, one step per row)")
    d.add_argument("--val", help="your own validation CSV (default: last 30%% of --train)")
    d.add_argument("--test", help="your own test CSV")
    d.add_argument("--inputs", nargs="+", help="input column names of your CSVs")
    d.add_argument("--outputs", nargs="+", help="output column names of your CSVs")
    s = p.add_argument_group("study")
    s.add_argument("--cell", default="lstm", choices=CELLS, help="model cell (default lstm)")
    s.add_argument("--n-h", type=int, default=8, help="hidden units (default 8, the authors')")
    s.add_argument("--N", type=int, nargs="+", default=None,
                   help="window lengths (default 100; with --from-models: every N there)")
    s.add_argument("--m", type=int, nargs="+", default=None,
                   help="burn-ins (default: the authors' grid per N; 5 of them with "
                   "--budget quick)")
    s.add_argument("--kinds", nargs="+", default=None, choices=KINDS,
                   help="stateless TBPTT per m, stateful TBPTT, full-sequence BPTT (default: "
                   "all; stateless and stateful with --budget quick, see README)")
    s.add_argument("--seeds", type=int, nargs="+", default=[0],
                   help="initialisation/shuffling seeds; several give the spread (default 0)")
    s.add_argument("--budget", default="quick", choices=BUDGETS,
                   help="paper: the authors' Adam protocol; quick: shortened, see README "
                   "(default quick)")
    s.add_argument("--epochs", type=int, default=None, help="override the budget's epochs")
    s.add_argument("--lr", type=float, default=None, help="override the budget's learning rate")
    s.add_argument("--from-models", metavar="DIR", default=None,
                   help="evaluate the models in DIR (model_[h8_]N<N>_m<m>_<kind>.pt or a "
                   "study's models/) instead of training")
    r = p.add_argument_group("running")
    r.add_argument("--out", default=None, help="output folder (default study_<DATASET>)")
    r.add_argument("--workers", type=int, default=None,
                   help="local worker processes (default: one per CPU; 0 = in this process)")
    r.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run the tasks on the Dask cluster whose scheduler is at ADDRESS")
    r.add_argument("--scheduler-timeout", type=float, default=10.0,
                   help="seconds to wait for the scheduler before giving up (default 10)")
    r.add_argument("--progress-seconds", type=float, default=10.0,
                   help="at most one progress line per task this often (default 10)")
    t = p.add_argument_group("the theory's view")
    t.add_argument("--certify-windows", type=int, default=DEFAULT_WINDOWS, metavar="K",
                   help="certify A1 for the m = 0 and m* models on the pairs (z_i, 0) of K "
                   "training windows spread evenly over the split, and recommend a burn-in "
                   f"from the m = 0 model (default {DEFAULT_WINDOWS}; 0: skip)")


def build_parser() -> argparse.ArgumentParser:
    """A standalone parser (``prog='burnin study'``)."""
    p = argparse.ArgumentParser(prog="burnin study", epilog=EXAMPLE,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    _arguments(p)
    return p


def prepare(args: argparse.Namespace) -> tuple[Any, list[Any], Any]:
    """Check everything and build ``(job, tasks, executor)``; raises before any work."""
    from dataclasses import replace

    from verification.experiment import study as st
    from verification.experiment.executors import DaskExecutor, LocalExecutor

    files = {k: getattr(args, k) for k in ("train", "val", "test") if getattr(args, k)}
    if files and args.dataset in st.DATASETS:
        raise st.StudyError(f"DATASET {args.dataset!r} is a built-in benchmark; give your own "
                            "data another name")
    splits = st.load_splits(args.dataset, args.data_root, files=files or None,
                            inputs=args.inputs, outputs=args.outputs)
    T = splits.train.T
    budget = st.budget_for(args.budget, args.dataset)
    if args.epochs is not None:
        if args.epochs < 1:
            raise st.StudyError(f"--epochs {args.epochs} must be >= 1")
        budget = replace(budget, epochs=args.epochs)
    if args.lr is not None:
        if not args.lr > 0:
            raise st.StudyError(f"--lr {args.lr} must be > 0")
        budget = replace(budget, lr=args.lr)
    if args.kinds is None:
        quick = args.budget == "quick" and not args.from_models
        args.kinds = list(st.QUICK_KINDS if quick else st.KINDS)
    Ns = args.N if args.N else ([] if args.from_models else [100])
    for N in Ns:
        if not 2 <= N <= T:
            raise st.StudyError(f"--N {N} must satisfy 2 <= N <= T = {T} (training steps)")
    for m in args.m or ():
        if Ns and not 0 <= m < min(Ns):
            raise st.StudyError(f"--m {m} must satisfy 0 <= m < N = {min(Ns)}")
    if args.from_models:
        tasks = st.tasks_from_models(args.from_models, args.dataset, Ns=Ns or None,
                                     kinds=args.kinds, T_train=T)
        if args.m:
            tasks = [t for t in tasks if t.kind != "stateless" or t.m in args.m]
    else:
        tasks = st.plan(args.dataset, T_train=T, cell=args.cell, n_h=args.n_h, Ns=Ns,
                        ms=args.m, kinds=args.kinds, seeds=args.seeds, budget=args.budget)
    if args.workers is not None and args.workers < 0:
        raise st.StudyError(f"--workers {args.workers} must be >= 0")
    if args.progress_seconds < 0:
        raise st.StudyError(f"--progress-seconds {args.progress_seconds} must be >= 0")
    if args.certify_windows < 0:
        raise st.StudyError(f"--certify-windows {args.certify_windows} must be >= 0 "
                            "(0 skips the certificates)")
    if not args.scheduler_timeout > 0:
        raise st.StudyError(f"--scheduler-timeout {args.scheduler_timeout} must be > 0")
    executor = (DaskExecutor(args.scheduler, timeout=args.scheduler_timeout) if args.scheduler
                else LocalExecutor(args.workers))
    out = Path(args.out or f"study_{args.dataset}")
    try:
        out.mkdir(parents=True, exist_ok=True)
        if not os.access(out, os.W_OK):
            raise OSError("not writable")
    except OSError as exc:
        executor.close()
        raise st.StudyError(f"--out {str(out)!r}: cannot write there ({exc})") from None
    args.out = str(out)
    return st.Job(splits, budget), tasks, executor


def run(args: argparse.Namespace) -> int:
    """Run ``burnin study``; 0 on success, 2 on a user error (one line on stderr)."""
    from verification.experiment import study as st
    from verification.experiment.executors import ExecutorError

    try:
        job, tasks, executor = prepare(args)
    except (st.StudyError, ExecutorError, ValueError, OSError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"burnin study: error: {msg}", file=sys.stderr)
        return 2
    out = Path(args.out)
    store = st.Store(out)
    what = "evaluating" if args.from_models else f"training ({job.budget})"
    print(f"burnin study {args.dataset}: {what}, {len(tasks)} models -> {out}", flush=True)
    t0 = time.perf_counter()
    try:
        st.run_study(tasks, job, store, executor,
                     log=lambda s: print(s, flush=True), progress_seconds=args.progress_seconds)
    except KeyboardInterrupt:
        print("burnin study: interrupted; finished models are kept (rerun to resume)",
              file=sys.stderr)
        return 130
    except ExecutorError as exc:
        print(f"burnin study: error: {exc}; finished models are kept (rerun to resume)",
              file=sys.stderr)
        return 1
    finally:
        executor.close()
    t_run = time.perf_counter() - t0
    paths = write_outputs(out, tasks, job, seconds_run=t_run,
                          certify_windows=args.certify_windows,
                          log=lambda s: print(s, flush=True))
    print(f"done in {time.perf_counter() - t0:.1f} s. Wrote:")
    for p in paths:
        print(f"  {p}")
    return 0


def write_outputs(out: Path, tasks: Sequence[Any], job: Any, *, seconds_run: float,
                  certify_windows: int = 0, log: Any = print) -> list[Path]:
    """results, table, figures, the theory's view and report for the finished ``tasks``.

    ``certify_windows = K > 0`` certifies the ``m = 0`` and ``m*`` models on ``K`` training
    windows (:mod:`verification.experiment.study_theory`; cached in ``out/theory/``) and writes
    ``theory.csv``/``.json``; ``0`` skips that and removes an earlier run's theory files.
    """
    from verification.experiment import study as st
    from verification.experiment import study_theory
    from verification.presentation import study_figures, study_report

    store = st.Store(out)
    keys = {t.key for t in tasks}
    rows = [r for r in store.rows() if r["key"] in keys]
    paths = st.write_results(rows, out)
    table = st.paper_table(rows)
    paths.append(st.write_table(table, out))
    figs = study_figures.save_all(rows, table, store, job.splits, out)
    paths += figs
    theory = None
    if certify_windows > 0:
        theory = study_theory.study_theory(rows, table, out, job.splits.scaled("train").x,
                                           certify_windows, log=log)
        paths += study_theory.write_theory(theory, out)
    else:
        study_theory.remove_theory(out)
    paths.append(study_report.write_report(rows, table, job, out, figures=figs,
                                           seconds_run=seconds_run, theory=theory))
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """``burnin study`` alone (``python -m verification.presentation.study_cli``)."""
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
