"""The real-benchmark burn-in study (paper Section 5.2), from a configuration to its outcome.

The way down, one job per module:

* :class:`StudyConfig` (what the user asked for) -> :func:`configure` validates it once, reads
  the data (:mod:`~verification.experiment.study_data`) and plans the models
  (:mod:`~verification.experiment.study_plan`): a :class:`StudyPlan`, nothing written yet;
* :func:`open_executor` (local worker processes or a Dask cluster,
  :mod:`~verification.experiment.executors`) and :func:`execute`: every unfinished model is
  trained or read and evaluated (:mod:`~verification.experiment.study_run`,
  :mod:`~verification.experiment.study_train`) and written the moment it finishes;
* :func:`summarize`: the paper's table (:mod:`~verification.experiment.study_table`), the
  theory's view (:mod:`~verification.experiment.study_theory`) and the arrays the figures show,
  as one :class:`StudyOutcome` that :mod:`verification.presentation.study_files` writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from systems.batched_lstm_numba import check_kernel
from systems.benchmarks import SPLITS
from verification.experiment.study_data import DataOptions, Splits, StudyError, load_splits
from verification.experiment.study_plan import (
    BUDGETS,
    CELLS,
    DEFAULT_KINDS,
    DTYPES,
    KINDS,
    Budget,
    Task,
    authors_grid,
    budget_for,
    check_sources,
    check_windows,
    file_sha256,
    model_hash,
    plan,
    quick_grid,
    settings,
    tasks_from_models,
    training_hashes,
)
from verification.experiment.study_run import (
    Job,
    ModelRecord,
    Store,
    TaskResult,
    evaluate,
    failed,
    run_study,
    window_error,
)
from verification.experiment.study_table import TABLE_COLUMNS, TABLE_SCALE, PaperRow, paper_table

__all__ = [
    "BUDGETS", "CELLS", "DTYPES", "KINDS", "SPLITS", "TABLE_COLUMNS", "TABLE_SCALE", "Budget",
    "Job", "ModelRecord", "PaperRow", "Predictions", "Splits", "Store", "StudyConfig",
    "StudyError", "StudyOutcome", "StudyPlan", "Task", "TaskResult", "authors_grid",
    "budget_for", "configure", "evaluate", "execute", "load_splits", "open_executor",
    "paper_table", "plan", "quick_grid", "run_study", "summarize", "training_hashes",
    "window_error",
]

#: Default number of training windows certified per model (``--certify-windows``).
DEFAULT_CERTIFY_WINDOWS = 200
#: Test steps shown in the prediction figure.
STRETCH = 400


@dataclass(frozen=True)
class StudyConfig(DataOptions):
    """What the user asked for (the options of ``burnin study``), before any check.

    ``Ns=None``: 100 (or every ``N`` of ``from_models``); ``ms=None``: the budget's grid;
    ``kinds=None``: stateless and stateful when training (full BPTT takes hours), every kind of
    ``from_models``;
    ``out=None``: ``study_<dataset>``; ``workers=None``: one per CPU.
    """

    Ns: tuple[int, ...] | None = None
    ms: tuple[int, ...] | None = None
    kinds: tuple[str, ...] | None = None
    seeds: tuple[int, ...] = (0,)
    budget: str = "quick"
    epochs: int | None = None
    lr: float | None = None
    dtype: str = "float32"
    kernel: str = "numpy"
    from_models: str | None = None
    out: str | None = None
    workers: int | None = None
    scheduler: str | None = None
    scheduler_timeout: float = 10.0
    progress_seconds: float = 10.0
    certify_windows: int = DEFAULT_CERTIFY_WINDOWS
    resume: bool = True


@dataclass(frozen=True, eq=False)
class StudyPlan:
    """A validated study: the data and budget (:class:`Job`), the models (:class:`Task`), the
    settings every result is keyed by and each model's hash, the output folder."""

    config: StudyConfig
    job: Job
    tasks: list[Task]
    settings: dict[str, Any]
    hashes: dict[str, str]
    out: Path

    @property
    def trains(self) -> bool:
        return self.config.from_models is None


def configure(config: StudyConfig) -> StudyPlan:
    """Check every option of ``config``, read the data, plan the models; raise a
    :class:`StudyError` naming the option before anything is written or started."""
    c = config
    _check_running(c)
    files = {k: getattr(c, k) for k in ("train", "val", "test") if getattr(c, k)}
    splits = load_splits(c.dataset, c.data_root, files=files or None, inputs=c.inputs,
                         outputs=c.outputs)
    T = splits.train.T
    budget = budget_for(c.budget, c.dataset, epochs=c.epochs, lr=c.lr, dtype=c.dtype,
                        kernel=c.kernel)
    if c.from_models is None:
        try:
            check_kernel(c.kernel, c.cell, c.dtype)
        except ValueError as exc:
            raise StudyError(f"--kernel: {exc}") from exc
    kinds = c.kinds or (KINDS if c.from_models else DEFAULT_KINDS)
    Ns = list(c.Ns) if c.Ns else ([] if c.from_models else [100])
    if c.from_models:
        if Ns:
            check_windows(Ns, c.ms, T)
        tasks = tasks_from_models(c.from_models, c.dataset, Ns=Ns or None, kinds=kinds,
                                  T_train=T)
        if c.ms:
            tasks = [t for t in tasks if t.kind != "stateless" or t.m in c.ms]
        tasks = check_sources(tasks, splits)
        study = settings(splits, None, tasks[0].cell, tasks[0].n_h)
        hashes = {t.key: model_hash(study, t, file_sha256(t.source)) for t in tasks}
    else:
        tasks = plan(c.dataset, T_train=T, cell=c.cell, n_h=c.n_h, Ns=Ns, ms=c.ms, kinds=kinds,
                     seeds=c.seeds, budget=c.budget)
        study = settings(splits, budget, c.cell, c.n_h)
        hashes = training_hashes(tasks, splits, budget)
    out = Path(c.out or f"study_{c.dataset}")
    Store(out).check_layout()
    return StudyPlan(c, Job(splits, budget), tasks, study, hashes, out)


def _check_running(c: StudyConfig) -> None:
    if c.workers is not None and c.workers < 0:
        raise StudyError(f"--workers {c.workers} must be >= 0")
    if not c.progress_seconds >= 0:
        raise StudyError(f"--progress-seconds {c.progress_seconds} must be >= 0")
    if c.certify_windows < 0:
        raise StudyError(f"--certify-windows {c.certify_windows} must be >= 0 "
                         "(0 skips the certificates)")
    if not (np.isfinite(c.scheduler_timeout) and c.scheduler_timeout > 0):
        raise StudyError(f"--scheduler-timeout {c.scheduler_timeout} must be a finite number "
                         "of seconds > 0")


def open_executor(plan_: StudyPlan) -> Any:
    """The executor of ``plan_``: a Dask client (connected here: an unreachable scheduler fails
    before any work) or local worker processes."""
    from verification.experiment.executors import DaskExecutor, LocalExecutor

    c = plan_.config
    if c.scheduler:
        return DaskExecutor(c.scheduler, timeout=c.scheduler_timeout)
    return LocalExecutor(c.workers)


def execute(plan_: StudyPlan, executor: Any, log: Callable[[str], None] = print,
            observer: Callable[[dict[str, Any]], None] | None = None) -> list[Task]:
    """Open the study folder (refusing one made under other settings) and run every unfinished
    model on ``executor``; returns the tasks that ran."""
    store = Store(plan_.out, log)
    store.open(plan_.settings, resume=plan_.config.resume)
    return run_study(plan_.tasks, plan_.hashes, plan_.job, store, executor, log=log,
                     progress_seconds=plan_.config.progress_seconds, observer=observer)


# --------------------------------------------------------------------------- the outcome
@dataclass(frozen=True)
class Predictions:
    """What the prediction figure shows: a stretch of the test split in data units.

    ``steps : (L,)`` test steps, ``data : (L, n_y)``, and per curve ``(label, y : (L, n_y),
    test MSE in data units)``; ``outputs``: the output names; ``N``: the window length.
    """

    steps: np.ndarray
    data: np.ndarray
    curves: list[tuple[str, np.ndarray, float]]
    outputs: tuple[str, ...]
    N: int


@dataclass(frozen=True, eq=False)
class StudyOutcome:
    """Everything a study's report, files and figures show, computed once."""

    plan: StudyPlan
    records: list[ModelRecord]
    table: list[PaperRow]
    theory: Any | None
    predictions: Predictions | None
    #: trained models whose training failed (:func:`~verification.experiment.study_run.failed`)
    diverged: list[ModelRecord] = field(default_factory=list)
    seconds_run: float = 0.0


def summarize(plan_: StudyPlan, log: Callable[[str], None] = print, seconds_run: float = 0.0
              ) -> StudyOutcome:
    """The table, the theory's view (``certify_windows > 0``; cached per model in
    ``<out>/theory``) and the figures' arrays of the finished models of ``plan_``."""
    from systems import load_model

    store = Store(plan_.out, log)
    records = store.records(plan_.tasks, plan_.hashes)
    table = paper_table(records)
    models: dict[str, Any] = {}

    def model_of(r: ModelRecord) -> Any:  # each examined model read once
        if r.key not in models:
            models[r.key] = load_model(store.out / "models" / f"{r.key}.npz")
        return models[r.key]

    theory = None
    K = plan_.config.certify_windows
    if K > 0 and table:
        from verification.experiment import study_theory

        theory = study_theory.study_theory(records, table, plan_.out,
                                           plan_.job.splits.scaled("train"), K,
                                           log=log, model_of=model_of)
    diverged = [r for r in records if r.source is None and failed(r)]
    return StudyOutcome(plan_, records, table, theory, _predictions(records, table, plan_,
                                                                    model_of),
                        diverged, seconds_run)


def _predictions(records: Sequence[ModelRecord], table: Sequence[PaperRow], plan_: StudyPlan,
                 model_of: Callable[[ModelRecord], Any]) -> Predictions | None:
    """Free runs of the ``m = 0`` and ``m*`` models (first ``N``, first seed) over the test
    split, in data units, on a stretch of :data:`STRETCH` steps."""
    if not table:
        return None
    splits = plan_.job.splits
    t = table[0]
    test = splits.series("test")
    start = max(0, test.T // 2 - STRETCH // 2)
    span = np.arange(start, min(test.T, start + STRETCH))
    curves = []
    for m in dict.fromkeys((0, t.m_star)):
        cand = sorted((r for r in records if r.kind == "stateless" and r.N == t.N and r.m == m),
                      key=lambda r: r.seed)
        if not cand:
            continue
        r = cand[0]
        with np.errstate(over="ignore", invalid="ignore"):
            _, y = model_of(r).simulate(splits.scaled("test").x)
        label = f"m = {m}" + (" (m*)" if m == t.m_star else "")
        curves.append((label, splits.scaler.y.inverse(y)[span], r.mse_test))
    return Predictions(span, test.y[span], curves, tuple(splits.outputs), t.N)
