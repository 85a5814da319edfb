"""Running a study: one unit of work (train or load, then evaluate), the study folder (a store
keyed by the result hash), and the driver that writes each result the moment it arrives.

:func:`run_group` is a pure function of a :class:`~verification.experiment.study_plan.Group`
and the shared :class:`Job` (data, budget): it trains or loads the models, evaluates them the
authors' way and returns one :class:`TaskResult` each; it touches no file, so it can run in a local
worker process or on a Dask worker of another machine. The driver (:func:`run_study`) writes each
result atomically (model ``.npz``, then the metrics JSON, whose presence marks the model done), so
a rerun skips finished models and a study killed at any point resumes with nothing lost; a unit
re-run after a worker died is written once.

Evaluation (the authors', read from their code): a standard scaler per signal fitted on the
training split, one free run over each split (train, val, test) from the zero state, every step
counted; MSE in scaled units and, after undoing the output scaling, in the data's units.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from systems.benchmarks import SPLITS, free_run_error
from systems.data import Sequence as Series
from verification.experiment.study_data import Splits, StudyError
from verification.experiment.study_plan import (
    FORMAT_VERSION,
    Budget,
    Group,
    Task,
    differences,
    groups,
)
from verification.experiment.table import atomic_write, plain


@dataclass(frozen=True, eq=False)
class Job:
    """What every unit of work of a study shares: the data and the training budget.

    ``error_windows``: at most this many training windows (evenly spread) give the window
    error ``e_j`` of each stateless model.
    """

    splits: Splits
    budget: Budget
    error_windows: int = 400


# --------------------------------------------------------------------------- one model's record
@dataclass(frozen=True)
class ModelRecord:
    """What a finished model's metrics file holds (``metrics/<key>.json``).

    Attributes
    ----------
    format : :data:`~verification.experiment.study_plan.FORMAT_VERSION` it was written with
    key : the task's file-name key; model_hash : the hash of everything that determines it
    dataset, cell, n_h, N, m, kind, seed, budget, source : the task (``source``: the file read)
    epochs : epochs trained (0: read from a file); budget_lr : learning rate (``None``: read)
    seconds, cpu_seconds : training wall and CPU time (a batch's time shared equally by its
        models); seconds_eval : evaluation wall time
    mse_<split>_scaled, mse_<split> : free-run MSE per split, scaled and data units
    e_j : mean squared error at window position ``j = 1..N`` from the zero state (stateless)
    loss_history : mean minibatch loss per epoch; diverged : first epoch with a non-finite loss
    """

    format: int
    key: str
    model_hash: str
    dataset: str
    cell: str
    n_h: int
    N: int
    m: int
    kind: str
    seed: int
    budget: str
    source: str | None
    epochs: int
    budget_lr: float | None
    seconds: float
    cpu_seconds: float
    seconds_eval: float
    mse_train_scaled: float
    mse_val_scaled: float
    mse_test_scaled: float
    mse_train: float
    mse_val: float
    mse_test: float
    e_j: list[float] | None
    loss_history: list[float] | None
    diverged: int | None

    def scaled(self, split: str) -> float:
        """Free-run MSE of ``split`` in scaled units."""
        return float(getattr(self, f"mse_{split}_scaled"))

    def units(self, split: str) -> float:
        """Free-run MSE of ``split`` in the data's units."""
        return float(getattr(self, f"mse_{split}"))

    def to_dict(self) -> dict[str, Any]:
        return plain(asdict(self))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelRecord:
        """Read back :meth:`to_dict`; a missing field or another format is a ``ValueError``."""
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in d]
        if missing:
            raise ValueError(f"fields {missing} are missing")
        if d["format"] != FORMAT_VERSION:
            raise ValueError(f"format {d['format']!r}, not {FORMAT_VERSION}")
        return cls(**{n: d[n] for n in names})


#: A model whose scaled training MSE exceeds this is reported as failed: ten times the error
#: of predicting the training mean (scaled MSE 1).
FAILED_MSE_SCALED = 10.0


def failed(r: ModelRecord) -> bool:
    """Whether training failed: a non-finite loss in some epoch, or a free-run training MSE
    that is not finite or above :data:`FAILED_MSE_SCALED` (scaled units)."""
    mse = r.mse_train_scaled
    return r.diverged is not None or not (math.isfinite(mse) and mse <= FAILED_MSE_SCALED)


@dataclass(frozen=True, eq=False)
class TaskResult:
    """What a finished task returns to the driver: the model and its record."""

    model: Any
    record: ModelRecord


Report = Callable[[dict[str, Any]], None]


def _silent(_: dict[str, Any]) -> None:
    pass


# --------------------------------------------------------------------------- one unit of work
def run_group(group: Group, job: Job, report: Report = _silent) -> list[TaskResult]:
    """Train (one batched computation) or load the models of ``group`` and evaluate them.
    Pure: no files written, safe to run twice. OpenBLAS is held at one thread: the products
    are tiny, and a study runs one unit per core."""
    from systems import load_model
    from systems.blas import single_thread_blas
    from verification.experiment.study_train import train_group

    report({"key": group.key, "event": "started", "pid": os.getpid()})
    t0, c0 = time.perf_counter(), time.process_time()
    with single_thread_blas():
        if group.tasks[0].source is None:
            trained = train_group(group.tasks, job, lambda msg: report({**msg,
                                                                        "key": group.key}))
        else:
            trained = [(load_model(t.source), {"epochs": 0}) for t in group.tasks]
        seconds = (time.perf_counter() - t0) / len(group.tasks)  # per model: a batch's share
        cpu = (time.process_time() - c0) / len(group.tasks)
        return [_result(t, h, model, history, job, seconds, cpu)
                for t, h, (model, history) in zip(group.tasks, group.hashes, trained,
                                                   strict=True)]


def _result(task: Task, model_hash: str, model: Any, history: dict[str, Any], job: Job,
            seconds: float, cpu: float) -> TaskResult:
    """Evaluate one trained or loaded model the authors' way and make its record."""
    t0 = time.perf_counter()
    ev = evaluate(model, job.splits)
    e_j = (window_error(model, job.splits.scaled("train"), task.N, job.error_windows)
           if task.kind == "stateless" else None)
    record = ModelRecord(
        format=FORMAT_VERSION, key=task.key, model_hash=model_hash, dataset=task.dataset,
        cell=getattr(model, "cell", task.cell), n_h=int(model.n_h), N=task.N, m=task.m,
        kind=task.kind, seed=task.seed, budget=task.budget, source=task.source,
        epochs=int(history.get("epochs", 0)),
        budget_lr=job.budget.lr if task.source is None else None,
        seconds=seconds, cpu_seconds=cpu, seconds_eval=time.perf_counter() - t0,
        **ev, e_j=e_j, loss_history=history.get("loss"), diverged=history.get("diverged"),
    )
    return TaskResult(model=model, record=ModelRecord.from_dict(record.to_dict()))


def evaluate(model: Any, splits: Splits) -> dict[str, float]:
    """The authors' evaluation (:func:`systems.benchmarks.free_run_error`): one free run per
    split from the zero state; ``mse_<split>_scaled`` (scaled units) and ``mse_<split>`` (data
    units), means over all steps and outputs.
    """
    if (model.n_x, model.n_y) != (splits.train.n_x, splits.train.n_y):
        raise StudyError(f"model has n_x = {model.n_x}, n_y = {model.n_y} but {splits.name} has "
                         f"{splits.train.n_x} inputs and {splits.train.n_y} outputs")
    with np.errstate(over="ignore", invalid="ignore"):
        err = free_run_error(model, splits.bench)
    out: dict[str, float] = {}
    for split in SPLITS:
        out[f"mse_{split}_scaled"] = err.scaled[split]
        out[f"mse_{split}"] = err.units[split]
    return out


def window_error(model: Any, seq: Series, N: int, max_windows: int = 400) -> list[float]:
    """Mean squared output error at each window position ``j = 1..N`` from the zero state.

    Windows of length ``N`` at an even spacing over ``seq`` (at most ``max_windows``), each
    simulated from ``z_0 = 0``: ``e_j = mean_i ||y_j(X_i) - Y_ij||^2 / n_y``, shape ``(N,)``.
    """
    if N > seq.T:
        return []
    starts = np.unique(np.linspace(0, seq.T - N, min(max_windows, seq.T - N + 1)).astype(int))
    idx = starts[:, None] + np.arange(N)[None, :]
    X, Y = seq.x[idx], seq.y[idx]  # (S, N, n_x), (S, N, n_y)
    with np.errstate(over="ignore", invalid="ignore"):
        _, y = model.simulate(X)
    return np.mean((y - Y) ** 2, axis=(0, 2)).tolist()


# --------------------------------------------------------------------------- the store
class StudyMismatch(StudyError):
    """A study folder holding results of other settings, data or models: one line naming what
    differs and the way out (``--no-resume`` or another ``--out``)."""


class Store:
    """A study folder: ``study.json`` (the settings), ``models/<key>.npz`` and
    ``metrics/<key>.json``, written atomically.

    A model is done when its metrics file is readable, names it (its ``key``) and carries the
    expected ``model_hash``; a damaged file (truncated, empty, missing fields) is reported and
    recomputed; a file that names another model or another hash (a copied file, a model trained
    under other settings) stops the study with one line naming it.
    """

    MANIFEST = "study.json"
    PARTS = ("models", "metrics", "theory")

    def __init__(self, out: str | Path, log: Callable[[str], None] = print) -> None:
        self.out = Path(out)
        self.log = log

    def model_path(self, task: Task) -> Path:
        return self.out / "models" / f"{task.key}.npz"

    def metrics_path(self, task: Task) -> Path:
        return self.out / "metrics" / f"{task.key}.json"

    def check_layout(self) -> None:
        """``--out`` and its parts are folders (or absent) and ``--out`` is writable; else a
        StudyError, before anything is created."""
        if self.out.exists() and not self.out.is_dir():
            raise StudyError(f"--out {str(self.out)!r} is a file, not a folder")
        for part in (*self.PARTS, self.MANIFEST):
            p = self.out / part
            if p.exists() and p.is_dir() != (part != self.MANIFEST):
                raise StudyError(f"--out: {str(p)!r} is in the way (a "
                                 f"{'folder' if p.is_dir() else 'file'}; the study writes its "
                                 f"{'settings' if part == self.MANIFEST else part} there)")
        top = self.out
        while not top.exists():
            top = top.parent
        if not os.access(top, os.W_OK):
            raise StudyError(f"--out {str(self.out)!r}: cannot write there")

    def open(self, study_settings: Mapping[str, Any], resume: bool = True) -> None:
        """Create the folder; compare the settings with those it holds (a mismatch is a
        :class:`StudyMismatch` naming what differs); with
        ``resume=False`` drop the study's earlier results first."""
        self.check_layout()
        manifest = self.out / self.MANIFEST
        if not resume:
            for part in self.PARTS:
                shutil.rmtree(self.out / part, ignore_errors=True)
            manifest.unlink(missing_ok=True)
        if manifest.is_file():
            try:
                old = json.loads(manifest.read_text())["settings"]
            except (OSError, ValueError, KeyError, TypeError):
                raise StudyError(f"{str(manifest)!r} is damaged; rerun with --no-resume to "
                                 "start afresh") from None
            diff = differences(old, plain(dict(study_settings)))
            if diff:
                raise StudyMismatch(f"--out {str(self.out)!r} holds a study with other "
                                     f"settings ({'; '.join(diff)}): rerun with --no-resume to "
                                     "start afresh, or choose another --out")
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write(manifest, json.dumps({"settings": plain(dict(study_settings))}, indent=1))

    def read(self, task: Task, model_hash: str) -> ModelRecord | None:
        """The finished model's record, ``None`` if not done (or damaged: logged, recomputed)."""
        path = self.metrics_path(task)
        if not path.is_file():
            return None
        try:
            rec = ModelRecord.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            self.log(f"{str(path)!r} is damaged ({str(exc).splitlines()[0][:80]}): recomputing")
            return None
        if rec.key != task.key:
            raise StudyMismatch(f"{str(path)!r} holds the metrics of {rec.key!r}, not of "
                                 f"{task.key!r} (a copied file?): remove it, or rerun with "
                                 "--no-resume")
        if rec.model_hash != model_hash:
            raise StudyMismatch(f"{str(path)!r} was computed under other settings or from "
                                 "another model file (its hash differs): remove it, or rerun "
                                 "with --no-resume")
        if not self.model_path(task).is_file():
            return None
        return rec

    def done(self, task: Task, model_hash: str) -> bool:
        """Whether ``task`` finished under ``model_hash`` (:meth:`read` finds its record)."""
        return self.read(task, model_hash) is not None

    def write(self, task: Task, result: TaskResult) -> bool:
        """Write the model and then the metrics; a model already done is left as it is.

        Returns whether anything was written (``False``: a duplicate result, e.g. of a unit
        re-run after its worker died, is dropped).
        """
        path = self.metrics_path(task)
        if path.is_file() and self.model_path(task).is_file():
            try:
                if json.loads(path.read_text()).get("model_hash") == result.record.model_hash:
                    return False
            except (OSError, ValueError, AttributeError):
                pass  # damaged: overwrite
        mpath = self.model_path(task)
        mpath.parent.mkdir(parents=True, exist_ok=True)
        result.model.save(mpath)  # atomic: every model's save writes a temporary file, renames
        atomic_write(path, json.dumps(result.record.to_dict(), indent=1))
        return True

    def records(self, tasks: Sequence[Task], hashes: Mapping[str, str]) -> list[ModelRecord]:
        """The records of the finished ``tasks``, checked, in the order of ``tasks``."""
        out = []
        for t in tasks:
            rec = self.read(t, hashes[t.key])
            if rec is not None:
                out.append(rec)
        return out


# --------------------------------------------------------------------------- the driver
def run_study(
    tasks: Sequence[Task],
    hashes: Mapping[str, str],
    job: Job,
    store: Store,
    executor: Any,
    log: Callable[[str], None] = print,
    progress_seconds: float = 10.0,
    observer: Report | None = None,
) -> list[Task]:
    """Run the tasks not yet done on ``executor``, writing each result as it arrives.

    The unfinished tasks are grouped (:func:`~verification.experiment.study_plan.groups`, at
    most one group per executor worker and ``(N, kind)``) and ``executor.run`` yields
    ``(group, results)`` as groups finish (:mod:`verification.experiment.executors`). Progress
    lines give the group, its epoch and ETA, and the study's ETA; ``observer`` (if given) sees
    every progress message (``event`` ``"started"`` with the worker's ``pid``, or
    ``epoch``/``epochs``/``loss``). Returns the tasks that ran in this call.
    """
    todo = [t for t in tasks if store.read(t, hashes[t.key]) is None]
    log(f"{len(tasks)} models: {len(tasks) - len(todo)} done already, {len(todo)} to run "
        f"on {executor}")
    if not todo:
        return []
    units = groups(todo, hashes, getattr(executor, "workers", 1) or 1)
    clock = Clock(units, getattr(executor, "workers", 1), progress_seconds, log)

    def on_progress(msg: dict[str, Any]) -> None:
        if observer is not None:
            observer(msg)
        clock.progress(msg)

    for group, results in executor.run(run_group, units, on_progress, shared=job):
        wrote = [store.write(t, r) for t, r in zip(group.tasks, results, strict=True)]
        clock.finished(group, results, wrote)
    return todo


class Clock:
    """Progress lines: per-unit epoch and ETA (throttled), study ETA on each finished unit."""

    def __init__(self, units: Sequence[Group], workers: int, every: float,
                 log: Callable[[str], None]) -> None:
        self.n, self.every, self.log = len(units), every, log
        self.workers = max(1, int(workers))
        self.t0, self.done, self.last = time.perf_counter(), 0, {}
        self.labels = {g.key: g.label() for g in units}

    def progress(self, msg: dict[str, Any]) -> None:
        key, now = msg.get("model", msg.get("key", "?")), time.perf_counter()
        if "epoch" not in msg:
            return
        if msg["epoch"] < msg["epochs"] and now - self.last.get(key, -math.inf) < self.every:
            return
        self.last[key] = now
        e, E, el = msg["epoch"], msg["epochs"], msg.get("elapsed", 0.0)
        eta = el / max(e, 1) * (E - e)
        loss = msg.get("loss")
        loss_s = f", loss {loss:.3g}" if isinstance(loss, (int, float)) else ""
        what = msg.get("model", self.labels.get(key, key))  # a model, or a whole unit
        self.log(f"  {what}: epoch {e}/{E}{loss_s}, ETA {duration(eta)}")

    def finished(self, group: Group, results: Sequence[TaskResult], wrote: Sequence[bool]
                 ) -> None:
        self.done += 1
        el = time.perf_counter() - self.t0
        left = self.n - self.done
        eta = el / self.done * left
        for r, w in zip(results, wrote, strict=True):
            rec = r.record
            tag = "" if w else " (duplicate, already written)"
            self.log(f"  {rec.key}: train/val/test MSE (scaled) {rec.mse_train_scaled:.3g} / "
                     f"{rec.mse_val_scaled:.3g} / {rec.mse_test_scaled:.3g} in "
                     f"{duration(rec.seconds)}{tag}")
        self.log(f"[{self.done}/{self.n}] {group.label()} done; study ETA "
                 f"{duration(eta) if left else '0 s'}")


def duration(s: float) -> str:
    """Seconds as ``12 s``, ``3.4 min`` or ``1.2 h``."""
    if not math.isfinite(s):
        return "?"
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"
