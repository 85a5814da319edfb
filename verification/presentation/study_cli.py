"""``burnin study DATASET``: the paper's real-benchmark burn-in experiment (Section 5.2).

A thin layer over :mod:`verification.experiment.study`: the options become one
:class:`~verification.experiment.study.StudyConfig`, checked once by
:func:`~verification.experiment.study.configure` (one-line error, exit code 2, before any
work); the unfinished models run on local worker processes or a Dask cluster; the outcome is
written by :mod:`verification.presentation.study_files`. ``add_parser(subparsers)`` and
``run(args)`` plug it into ``burnin``; ``python -m verification.presentation.study_cli ...`` runs
it alone.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from systems.batched_lstm_numba import KERNELS
from verification.experiment.executors import Terminated

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


def data_arguments(p: argparse.ArgumentParser) -> None:
    """The positional DATASET and the data options (a benchmark, or your own CSVs), shared by
    the commands that train on a dataset."""
    from systems.benchmarks import DATASETS

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


def _arguments(p: argparse.ArgumentParser) -> None:
    from verification.experiment.study import BUDGETS, CELLS, DEFAULT_CERTIFY_WINDOWS, KINDS

    data_arguments(p)
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
                   "stateless and stateful when training, all with --from-models; full BPTT "
                   "runs as many Adam steps as a stateless model, each over the whole split)")
    s.add_argument("--seeds", type=int, nargs="+", default=[0],
                   help="initialisation/shuffling seeds; several give the spread (default 0)")
    s.add_argument("--budget", default="quick", choices=BUDGETS,
                   help="paper: the authors' Adam protocol; quick: shortened, see README "
                   "(default quick)")
    s.add_argument("--epochs", type=int, default=None, help="override the budget's epochs")
    s.add_argument("--lr", type=float, default=None, help="override the budget's learning rate")
    s.add_argument("--dtype", default="float32", choices=("float32", "float64"),
                   help="training precision (default float32, as torch; certificates and "
                   "bounds always use the trained weights in float64)")
    s.add_argument("--kernel", default="numpy", choices=KERNELS,
                   help="numba: the LSTM's float32 training passes compiled, about 1.5x "
                   'faster (pip install "burnin[fast]"); results are kept apart from NumPy\'s '
                   "(default numpy)")
    s.add_argument("--from-models", metavar="DIR", default=None,
                   help="evaluate the models in DIR (model_[h8_]N<N>_m<m>_<kind>.pt or a "
                   "study's models/) instead of training")
    r = p.add_argument_group("running")
    r.add_argument("--out", default=None, help="output folder (default study_<DATASET>)")
    r.add_argument("--no-resume", action="store_true",
                   help="drop the results of an earlier run in --out and start afresh (a rerun "
                   "resumes by default, and refuses a folder made under other settings)")
    r.add_argument("--workers", type=int, default=None,
                   help="local worker processes (default: one per CPU; 0 = in this process)")
    r.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run the tasks on the Dask cluster whose scheduler is at ADDRESS")
    r.add_argument("--scheduler-timeout", type=float, default=10.0,
                   help="seconds to wait for the scheduler before giving up (default 10)")
    r.add_argument("--progress-seconds", type=float, default=10.0,
                   help="at most one progress line per task this often (default 10)")
    t = p.add_argument_group("the theory's view")
    t.add_argument("--certify-windows", type=int, default=DEFAULT_CERTIFY_WINDOWS, metavar="K",
                   help="certify A1 for the m = 0 and m* models on the pairs (z_i, 0) of K "
                   "training windows spread evenly over the split, and recommend a burn-in "
                   f"from the m = 0 model (default {DEFAULT_CERTIFY_WINDOWS}; 0: skip)")


def build_parser() -> argparse.ArgumentParser:
    """A standalone parser (``prog='burnin study'``)."""
    p = argparse.ArgumentParser(prog="burnin study", epilog=EXAMPLE,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    _arguments(p)
    return p


def data_options(args: argparse.Namespace) -> dict[str, Any]:
    """The fields of :class:`~verification.experiment.study_data.DataOptions` from the options
    :func:`data_arguments` and the cell options define (shared with ``burnin tune``)."""
    def tup(v: Any) -> tuple | None:
        return None if v is None else tuple(v)

    return dict(dataset=args.dataset, data_root=args.data_root, train=args.train, val=args.val,
                test=args.test, inputs=tup(args.inputs), outputs=tup(args.outputs),
                cell=args.cell, n_h=args.n_h)


def config_from_args(args: argparse.Namespace) -> Any:
    """The options as one :class:`~verification.experiment.study.StudyConfig` (no checks)."""
    from verification.experiment.study import StudyConfig

    def tup(v: Any) -> tuple | None:
        return None if v is None else tuple(v)

    return StudyConfig(
        **data_options(args), Ns=tup(args.N), ms=tup(args.m), kinds=tup(args.kinds),
        seeds=tuple(args.seeds), budget=args.budget, epochs=args.epochs, lr=args.lr,
        dtype=args.dtype, kernel=args.kernel,
        from_models=args.from_models, out=args.out, workers=args.workers,
        scheduler=args.scheduler, scheduler_timeout=args.scheduler_timeout,
        progress_seconds=args.progress_seconds, certify_windows=args.certify_windows,
        resume=not args.no_resume)


def _error(msg: object) -> int:
    text = str(msg).splitlines()[0] if str(msg) else type(msg).__name__
    print(f"burnin study: error: {text}", file=sys.stderr)
    return 2


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP stop the summary as they stop the training (the executor handles
    them there): as an interruption, finished work kept."""
    def stop(signum: int, _frame: Any) -> None:
        raise Terminated(signum)

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def run(args: argparse.Namespace) -> int:
    """Run ``burnin study``: 0 done, 1 stopped by the cluster, 2 an input error (one line on
    stderr), 130 interrupted (128 + the signal for SIGTERM, SIGHUP); any other exception is a
    bug and propagates."""
    from systems.errors import InputError
    from verification.experiment import study
    from verification.experiment.executors import ExecutorError
    from verification.presentation.study_files import write_all

    def log(s: str) -> None:
        print(s, flush=True)

    try:
        plan = study.configure(config_from_args(args))
        executor = study.open_executor(plan)
    except (InputError, ExecutorError) as exc:
        return _error(exc)
    what = "evaluating" if not plan.trains else f"training ({plan.job.budget})"
    t0 = time.perf_counter()
    try:
        print(f"burnin study {args.dataset}: {what}, {len(plan.tasks)} models -> {plan.out}",
              flush=True)
        study.execute(plan, executor, log=log)
        with _stop_on_signals():
            outcome = study.summarize(plan, log=log, seconds_run=time.perf_counter() - t0)
            paths = write_all(outcome, log=log)
    except InputError as exc:
        return _error(exc)
    except Terminated as exc:
        print(f"burnin study: stopped by {signal.Signals(exc.signum).name}; finished models are "
              "kept (rerun to resume)", file=sys.stderr)
        return 128 + exc.signum
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
    print(f"done in {time.perf_counter() - t0:.1f} s. Wrote:")
    for p in paths:
        print(f"  {p}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``burnin study`` alone (``python -m verification.presentation.study_cli``)."""
    from verification.presentation.exits import guarded

    args = build_parser().parse_args(argv)
    return guarded("study", lambda: run(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
