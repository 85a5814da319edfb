"""``burnin tune`` from a configuration to its result: a benchmark or a user's CSVs, the batched
trainer, the tuning run in its folder.

:class:`TuneConfig` is what the user asked for; :func:`configure` checks it once (reading the
data) and returns a :class:`TunePlan` before anything is written; :func:`execute` opens the
folder (refusing one made under other settings) and runs
:func:`~verification.experiment.tune.tune`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from systems.batched_lstm_numba import check_kernel
from systems.benchmarks import DATASETS
from verification.experiment.study_data import DataOptions, Splits, load_splits
from verification.experiment.study_plan import CELLS, DTYPES, authors_grid
from verification.experiment.tune import (
    REFERENCES,
    SHARE,
    TuneResult,
    TuneSettings,
    check_integers,
    tune,
)
from verification.experiment.tune_batched import BatchedTuneTrainer, TrainConfig
from verification.experiment.tune_schedule import FINALISTS, SEEDS
from verification.experiment.tune_store import TuneError, TuneStore

#: The tuner's learning rate: each rung is a cosine cycle from ``LR`` down to ``LR_MIN``.
LR, LR_MIN = 3e-3, 1e-4
#: Bump when a tuning run's stored results change meaning.
FORMAT_VERSION = 1


@dataclass(frozen=True)
class TuneConfig(DataOptions):
    """The options of ``burnin tune`` before any check (``None``: the default named there)."""

    N: int = 100
    ms: tuple[int, ...] | None = None
    paper_epochs: int | None = None
    share: float = SHARE
    seeds: int = SEEDS
    finalists: int = FINALISTS
    tuner_seed: int = 0
    lr: float = LR
    lr_min: float = LR_MIN
    reference_lr: float = LR
    batch_size: int = 100
    dtype: str = "float32"
    kernel: str = "numpy"
    theory: bool = True
    windows: int = 100
    references: int = REFERENCES
    out: str | None = None
    workers: int | None = None
    progress_seconds: float = 10.0
    resume: bool = True


@dataclass(frozen=True, eq=False)
class TunePlan:
    """A validated tuning run: data, trainer settings (the search's and the theory's reference
    models'), strategy settings, folder."""

    config: TuneConfig
    splits: Splits
    train: TrainConfig
    settings: TuneSettings
    out: Path
    reference: TrainConfig | None = None  # None: the references train like the search

    def store_settings(self) -> dict[str, Any]:
        """Everything that determines the run's results (what a rerun must match)."""
        s = self.splits
        train = asdict(self.train)
        if train["kernel"] == "numpy":  # runs from before kernels had a name stay resumable
            del train["kernel"]
        doc = {"format": FORMAT_VERSION, "dataset": s.name, "data": s.fingerprint,
               "inputs": list(s.inputs), "outputs": list(s.outputs),
               "train": train, "strategy": asdict(self.settings)}
        if self.reference is not None:  # absent when equal: earlier runs stay resumable
            doc["reference_lr"] = self.reference.lr
        return doc


def configure(c: TuneConfig) -> TunePlan:
    """Check every option, read the data; a :class:`TuneError` naming the option, before
    anything is written."""
    _check_numbers(c)
    files = {k: getattr(c, k) for k in ("train", "val", "test") if getattr(c, k)}
    splits = load_splits(c.dataset, c.data_root, files=files or None, inputs=c.inputs,
                         outputs=c.outputs)
    T = splits.train.T
    if not 2 <= c.N <= T:
        raise TuneError(f"--N {c.N} must satisfy 2 <= N <= T = {T} (training steps)")
    if c.batch_size > T - c.N + 1:
        raise TuneError(f"--batch-size {c.batch_size} must be <= the {T - c.N + 1} training "
                        f"windows of length N = {c.N}")
    grid = tuple(sorted(set(c.ms))) if c.ms else tuple(authors_grid(c.N))
    spec = DATASETS.get(c.dataset, DATASETS["silverbox"])
    settings = TuneSettings(
        N=c.N, grid=grid, paper_epochs=c.paper_epochs or spec.paper_epochs, share=c.share,
        seeds=c.seeds, finalists=c.finalists, tuner_seed=c.tuner_seed, theory=c.theory,
        windows=c.windows, references=c.references).check()
    train = TrainConfig(c.cell, c.n_h, c.N, c.lr, c.lr_min, c.batch_size, c.dtype, c.kernel)
    # the theory's references at their own rate, their cycle ending where the search's does
    reference = (replace(train, lr=c.reference_lr, lr_min=min(c.lr_min, c.reference_lr))
                 if settings.theory and c.reference_lr != c.lr else None)
    out = Path(c.out or f"tune_{c.dataset}_N{c.N}")
    TuneStore(out).check_layout()
    return TunePlan(c, splits, train, settings, out, reference)


def _check_numbers(c: TuneConfig) -> None:
    if c.cell not in CELLS:
        raise TuneError(f"--cell {c.cell!r} must be one of {list(CELLS)}")
    if c.dtype not in DTYPES:
        raise TuneError(f"--dtype {c.dtype!r} must be one of {list(DTYPES)}")
    try:
        check_kernel(c.kernel, c.cell, c.dtype)
    except ValueError as exc:
        raise TuneError(f"--kernel: {exc}") from exc
    check_integers(("--n-h", c.n_h, 1), ("--N", c.N, 2), ("--batch-size", c.batch_size, 1),
                   ("--seeds", c.seeds, 1), ("--finalists", c.finalists, 1),
                   ("--tuner-seed", c.tuner_seed, 0), ("--windows", c.windows, 1),
                   ("--references", c.references, 1),
                   *((("--paper-epochs", c.paper_epochs, 1),) if c.paper_epochs is not None
                     else ()))
    if not (math.isfinite(c.lr) and c.lr > 0 and math.isfinite(c.lr_min) and 0 < c.lr_min
            <= c.lr):
        raise TuneError(f"--lr {c.lr!r} and --lr-min {c.lr_min!r} must be finite with "
                        "0 < lr-min <= lr")
    if not (math.isfinite(c.reference_lr) and c.reference_lr > 0):
        raise TuneError(f"--reference-lr {c.reference_lr!r} must be a finite number > 0")
    if not (math.isfinite(c.share) and 0 < c.share <= 1):
        raise TuneError(f"--share {c.share!r} must be a number in (0, 1]")
    if c.ms is not None and any(not 0 <= m < c.N for m in c.ms):
        raise TuneError(f"--m {list(c.ms)} must be burn-ins 0 <= m < N = {c.N}")
    if c.workers is not None and c.workers < 0:
        raise TuneError(f"--workers {c.workers} must be >= 0")
    if not c.progress_seconds >= 0:
        raise TuneError(f"--progress-seconds {c.progress_seconds} must be >= 0")


def execute(plan: TunePlan, log: Callable[[str], None] = print) -> TuneResult:
    """Open the folder and run the tuner with the batched trainer."""
    store = TuneStore(plan.out, log)
    store.open(plan.store_settings(), resume=plan.config.resume)
    s = plan.splits

    def trainer(config: TrainConfig) -> BatchedTuneTrainer:
        return BatchedTuneTrainer(s.scaled("train"), s.scaled("val"), config,
                                  workers=plan.config.workers, log=log,
                                  progress_seconds=plan.config.progress_seconds)

    return tune(trainer(plan.train), plan.settings, theory_inputs=s.scaled("train").x,
                store=store, log=log,
                reference_trainer=None if plan.reference is None else trainer(plan.reference))
