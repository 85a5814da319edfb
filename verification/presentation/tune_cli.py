"""``burnin tune DATASET``: choose the burn-in ``m`` at a small share of the full grid's cost.

A thin layer over :mod:`verification.experiment.tune_run`: the options become one
:class:`~verification.experiment.tune_run.TuneConfig`, checked once by
:func:`~verification.experiment.tune_run.configure` (one-line error, exit code 2, before any
work); the run's report, JSON and figure are written by
:mod:`verification.presentation.tune_report`. ``add_parser(subparsers)`` and ``run(args)`` plug
it into ``burnin``; ``python -m verification.presentation.tune_cli ...`` runs it alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

EXAMPLE = """examples:
  burnin tune silverbox --N 100                      # the chosen m, report in tune_silverbox_N100/
  burnin tune rlc --N 200 --share 0.05 --json        # half the default budget
  burnin tune mydata --train a.csv --test b.csv --inputs u --outputs y --N 50
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``tune`` subcommand to ``burnin``'s subparsers; returns its parser."""

    p = subparsers.add_parser(
        "tune", help="choose the burn-in m at a small share of the full grid's cost",
        description="Trains its own models: the theory's candidate burn-ins searched at one "
        "fidelity (a coarse rung, then a bisection towards the best), the finalists and m = 0 "
        "continued with three seeds; selected by 0.7 train + 0.3 validation free-run MSE; "
        "resumable.", epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    _arguments(p)
    return p


def _arguments(p: argparse.ArgumentParser) -> None:
    from systems.batched_lstm_numba import KERNELS
    from verification.experiment.study_plan import CELLS
    from verification.experiment.tune import REFERENCES, SHARE
    from verification.experiment.tune_run import LR, LR_MIN
    from verification.experiment.tune_schedule import FINALISTS, SEEDS
    from verification.presentation.study_cli import data_arguments

    data_arguments(p)
    m = p.add_argument_group("model and strategy")
    m.add_argument("--cell", default="lstm", choices=CELLS, help="model cell (default lstm)")
    m.add_argument("--n-h", type=int, default=8, help="hidden units (default 8)")
    m.add_argument("--N", type=int, default=100, help="window length (default 100)")
    m.add_argument("--m", type=int, nargs="+", default=None,
                   help="burn-ins to choose from (default: the authors' grid for N)")
    m.add_argument("--share", type=float, default=SHARE,
                   help="budget: this share of the full grid's model-epochs at the paper's "
                   f"budget (default {SHARE:g})")
    m.add_argument("--paper-epochs", type=int, default=None,
                   help="epochs of one grid model at the paper's budget (default: the "
                   "dataset's, 400 for your own data)")
    m.add_argument("--seeds", type=int, default=SEEDS,
                   help=f"seeds per finalist at the last rung (default {SEEDS})")
    m.add_argument("--finalists", type=int, default=FINALISTS,
                   help=f"burn-ins besides m = 0 at the last rung (default {FINALISTS})")
    m.add_argument("--tuner-seed", type=int, default=0,
                   help="which model seeds the tuner trains (default 0: seeds 0, 1, ...)")
    m.add_argument("--lr", type=float, default=LR,
                   help=f"Adam's learning rate at the start of each rung (default {LR:g})")
    m.add_argument("--lr-min", type=float, default=LR_MIN,
                   help=f"learning rate at the end of each rung's cosine (default {LR_MIN:g})")
    m.add_argument("--reference-lr", type=float, default=LR,
                   help="learning rate at the start of the theory's 4-epoch m = 0 reference "
                   f"models (default {LR:g}, whatever --lr: their forgetting constants were "
                   "measured to match the trained model's at that rate)")
    m.add_argument("--batch-size", type=int, default=100, help="windows per minibatch")
    m.add_argument("--dtype", default="float32", choices=("float32", "float64"),
                   help="training precision (default float32)")
    m.add_argument("--kernel", default="numpy", choices=KERNELS,
                   help="numba: the LSTM's float32 training passes compiled, about 1.5x "
                   'faster (pip install "burnin[fast]"); a run keeps to one kernel '
                   "(default numpy)")
    m.add_argument("--no-theory", action="store_true",
                   help="search the whole grid (no candidates from the forgetting constants)")
    m.add_argument("--windows", type=int, default=100,
                   help="training windows whose pairs the theory certifies (default 100)")
    m.add_argument("--references", type=int, default=REFERENCES,
                   help="m = 0 models (seeds) whose forgetting constants the theory examines; "
                   f"the slowest to forget sets the cap (default {REFERENCES})")
    r = p.add_argument_group("running")
    r.add_argument("--out", default=None, help="output folder (default tune_<DATASET>_N<N>)")
    r.add_argument("--no-resume", action="store_true",
                   help="drop an earlier run in --out and start afresh")
    r.add_argument("--workers", type=int, default=None,
                   help="local worker processes (default: one per CPU; 0 = in this process)")
    r.add_argument("--progress-seconds", type=float, default=10.0,
                   help="at most one progress line per unit of work this often (default 10)")
    r.add_argument("--json", action="store_true",
                   help="print m, criterion, improvement_over_m0, model_epochs, share_of_grid, "
                   "seconds as JSON (progress goes to stderr)")


def build_parser() -> argparse.ArgumentParser:
    """A standalone parser (``prog='burnin tune'``)."""
    p = argparse.ArgumentParser(prog="burnin tune", epilog=EXAMPLE,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    _arguments(p)
    return p


def config_from_args(args: argparse.Namespace) -> Any:
    """The options as one :class:`~verification.experiment.tune_run.TuneConfig` (no checks)."""
    from verification.experiment.tune_run import TuneConfig
    from verification.presentation.study_cli import data_options

    def tup(v: Any) -> tuple | None:
        return None if v is None else tuple(v)

    return TuneConfig(
        **data_options(args), N=args.N, ms=tup(args.m), paper_epochs=args.paper_epochs,
        share=args.share, seeds=args.seeds, finalists=args.finalists,
        tuner_seed=args.tuner_seed, lr=args.lr, lr_min=args.lr_min,
        reference_lr=args.reference_lr, batch_size=args.batch_size,
        dtype=args.dtype, kernel=args.kernel, theory=not args.no_theory, windows=args.windows,
        references=args.references, out=args.out,
        workers=args.workers, progress_seconds=args.progress_seconds,
        resume=not args.no_resume)


def run(args: argparse.Namespace) -> int:
    """Run ``burnin tune``: 0 done, 2 an input error (raised to the caller's guard), 130
    interrupted (finished rungs kept)."""
    from verification.experiment import tune_run
    from verification.presentation.tune_report import write_all

    out = sys.stderr if args.json else sys.stdout

    def log(s: str) -> None:
        print(s, file=out, flush=True)

    plan = tune_run.configure(config_from_args(args))
    t0 = time.perf_counter()
    log(f"burnin tune {args.dataset}: N = {plan.settings.N}, {len(plan.settings.grid)} burn-ins,"
        f" budget {100 * plan.settings.share:g} % of the grid -> {plan.out}")
    result = tune_run.execute(plan, log=log)
    paths = write_all(result, plan)
    log(f"chosen m = {result.m}: criterion {result.criterion:.4g} (sd {result.criterion_sd:.2g}"
        f" over {plan.settings.seeds} seeds), {result.improvement_over_m0:+.1f} % against "
        f"m = 0 (sd {result.improvement_sd:.2g}); {result.model_epochs} model-epochs = "
        f"{100 * result.share_of_grid:.1f} % of the grid; {time.perf_counter() - t0:.0f} s")
    for p in paths:
        log(f"  {p}")
    if args.json:
        print(json.dumps(result.summary()))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``burnin tune`` alone (``python -m verification.presentation.tune_cli``)."""
    from verification.presentation.exits import guarded

    args = build_parser().parse_args(argv)
    return guarded("tune", lambda: run(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
