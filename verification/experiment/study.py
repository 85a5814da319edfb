"""The real-benchmark burn-in study (paper Section 5.2): tasks, resume, results, the table.

One trained (or, with ``--from-models``, one loaded) model is one :class:`Task`, keyed by
``(dataset, cell, n_h, N, m, kind, seed, budget)``. :func:`run_task` is a pure function of the
task and the shared :class:`Job` (data, budget): it trains or loads the model, evaluates it the
authors' way and returns a :class:`TaskResult`; it touches no file, so it can run in a local
worker process or on a Dask worker of another machine. The driver (:func:`run_study`) writes each
result as it arrives, atomically (model ``.npz``, then the metrics JSON, whose presence marks the
task done), so a rerun skips finished tasks and a study killed at any point resumes with nothing
lost; a task re-run after a worker died is written once.

Evaluation (the authors', read from their code): a standard scaler per signal fitted on the training
split, one free run over each split (train, val, test) from the zero state, every step counted;
MSE in scaled units and, after undoing the output scaling, in the data's units. The best burn-in
``m*`` of a row minimises ``0.7 x train + 0.3 x validation`` scaled MSE (:data:`M_STAR_WEIGHTS`).
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np

from systems.benchmarks import BEST_M_WEIGHTS, SPLITS, Benchmark, free_run_error, load_benchmark
from systems.benchmarks import DATASETS as BENCH_COLUMNS
from systems.data import Sequence as Series
from systems.data import SequenceScaler, load_csv, read_columns
from systems.errors import InputError
from verification.experiment.table import atomic_write, plain

KINDS = ("stateless", "stateful", "bptt")
CELLS = ("lstm", "gru", "elman")
BUDGETS = ("quick", "paper")
#: ``m*`` minimises ``w_train * MSE_train + w_val * MSE_val`` (scaled units), as the authors do.
M_STAR_WEIGHTS = BEST_M_WEIGHTS
#: Table values are scaled MSE times this factor (the paper's table layout).
TABLE_SCALE = 100.0
TABLE_COLUMNS = (
    "N", "m_star", "m0_train", "m_star_train", "stateful_train", "bptt_train",
    "m0_test", "m_star_test", "stateful_test", "bptt_test", "change_m0_train_pct",
    "change_m0_test_pct",
)
FORMAT_VERSION = 1


class StudyError(InputError):
    """Input the user can fix (dataset, folders, grids, models); one line, raised before work."""


# --------------------------------------------------------------------------- datasets
@dataclass(frozen=True)
class DatasetSpec:
    """A benchmark's Adam protocol as the authors ran it.

    Columns and model folders come from :mod:`systems.benchmarks` (``DATASETS``,
    ``MODEL_FOLDERS``).
    """

    name: str
    paper_lr: float
    paper_epochs: int


DATASETS = {
    "silverbox": DatasetSpec("silverbox", 1e-4, 400),
    "wiener_hammerstein": DatasetSpec("wiener_hammerstein", 1e-4, 400),
    "rlc": DatasetSpec("rlc", 3e-4, 1500),
}


@dataclass(frozen=True, eq=False)
class Splits:
    """A :class:`systems.benchmarks.Benchmark` (train/val/test, the scaler fitted on train)
    with the names of its input and output columns.
    """

    bench: Benchmark
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.bench.name

    @property
    def scaler(self) -> SequenceScaler:
        return self.bench.scaler

    @property
    def train(self) -> Series:
        return self.bench.raw["train"]

    def series(self, split: str) -> Series:
        """One split in data units, ``x : (T, n_x)``, ``y : (T, n_y)``."""
        return self.bench.raw[split]

    def scaled(self, split: str) -> Series:
        """One split in the scaled units the models work in."""
        return self.bench.scaled[split]


def load_splits(
    dataset: str,
    data_root: str | Path | None = None,
    *,
    files: dict[str, str | Path] | None = None,
    inputs: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
) -> Splits:
    """Read a benchmark (``<dataset>_{train,val,test}.csv[.gz]`` in ``data_root``, default
    ``$BURNIN_DATA_ROOT`` or the packaged data) or a user's CSVs.

    ``files`` maps ``train``/``test`` (and optionally ``val``) to CSV paths with the named
    ``inputs``/``outputs`` columns; without ``val`` the last 30 % of ``train`` is the
    validation split. Errors name the argument and are raised before any work.
    """
    if files:
        if not inputs or not outputs:
            raise StudyError("--inputs and --outputs must name the columns of your CSV files")
        for k in files:
            if not Path(files[k]).is_file():
                raise StudyError(f"--{k} {str(files[k])!r}: no such file")
        if "train" not in files or "test" not in files:
            raise StudyError("a user's dataset needs --train and --test CSV files")
        seqs = {k: _read(files[k], inputs, outputs, f"--{k}") for k in files}
        if "val" not in seqs:
            tr = seqs["train"]
            cut = int(round(0.7 * tr.T))
            if cut < 2 or tr.T - cut < 2:
                raise StudyError(f"--train has T = {tr.T} steps: too short to split off a "
                                 "validation part (give --val)")
            seqs["train"] = Series(tr.x[:cut], tr.y[:cut], tr.name)
            seqs["val"] = Series(tr.x[cut:], tr.y[cut:], tr.name + "/val")
        if any(seqs[k].n_x != len(inputs) or seqs[k].n_y != len(outputs) for k in seqs):
            raise StudyError("--train/--val/--test disagree in their columns")
        scaler = SequenceScaler.fit(seqs["train"], "standard")
        bench = Benchmark(dataset, {k: seqs[k] for k in SPLITS}, scaler,
                          {k: scaler.transform(seqs[k]) for k in SPLITS})
        return Splits(bench, tuple(inputs), tuple(outputs))
    if dataset not in DATASETS:
        raise StudyError(f"DATASET {dataset!r} is not one of {sorted(DATASETS)} "
                         "(or give --train/--test CSV files for your own data)")
    try:
        bench = load_benchmark(dataset, data_root)
    except InputError as exc:
        raise StudyError(f"--data-root: {exc}") from exc
    inputs, outputs = BENCH_COLUMNS[dataset]
    return Splits(bench, tuple(inputs), tuple(outputs))


def _read(path: str | Path, inputs: Sequence[str], outputs: Sequence[str], arg: str) -> Series:
    try:
        read_columns(path)
        return load_csv(path, inputs=list(inputs), outputs=list(outputs))
    except InputError as exc:
        raise StudyError(f"{arg}: {exc}") from exc


# --------------------------------------------------------------------------- grids, budgets
def authors_grid(N: int) -> list[int]:
    """The authors' burn-in grid for window length ``N`` (their model files, all N they used).

    20 values ``round(linspace(0, 99, 20))`` (fewer when ``N <= 100``: ``linspace(0, N - 1)``),
    and for ``N > 100`` another 10 (``N <= 200``) or 20 values ``round(linspace(110, N - 1))``.

    >>> authors_grid(100)[:6], authors_grid(200)[-3:]
    ([0, 5, 10, 16, 21, 26], [179, 189, 199])
    """
    top = min(N, 100) - 1
    grid = set(np.round(np.linspace(0, top, min(20, top + 1))).astype(int).tolist())
    if N > 110:
        grid |= set(np.round(np.linspace(110, N - 1, 10 if N <= 200 else 20)).astype(int).tolist())
    return sorted(grid)


def quick_grid(N: int, k: int = 5) -> list[int]:
    """``k`` burn-ins spread over the authors' grid (always ``m = 0``), for ``--budget quick``.

    >>> quick_grid(100)
    [0, 10, 36, 68, 94]
    """
    grid = authors_grid(N)
    if len(grid) <= k:
        return grid
    # 0, then k - 1 values roughly geometric in m (small burn-ins matter most), below N - 1
    picks = [0, *(grid[int(round(i))] for i in np.linspace(2, len(grid) - 2, k - 1))]
    return sorted(set(picks))


@dataclass(frozen=True)
class Budget:
    """How one model is trained: Adam, ``epochs`` passes over the windows, minibatch size.

    ``stride`` subsamples the training windows (1: every window, the authors' choice).
    """

    name: str
    epochs: int
    lr: float
    batch_size: int = 100
    stride: int = 1

    def __str__(self) -> str:
        return (f"{self.name}: Adam, lr {self.lr:g}, {self.epochs} epochs, batch "
                f"{self.batch_size}, window stride {self.stride}")


def budget_for(name: str, dataset: str) -> Budget:
    """``paper``: the authors' protocol; ``quick``: the shortened protocol of the README.

    ``paper``: Adam, batch 100, every window, lr 1e-4 for 400 epochs (silverbox,
    wiener_hammerstein; also a user's data) or 3e-4 for 1500 epochs (rlc). ``quick``: the same
    but lr :data:`QUICK_LR` for :data:`QUICK_EPOCHS` epochs (20 on silverbox, 1/20 of the
    paper's Adam steps; 60 on rlc, 1/25), by default without full BPTT (:data:`QUICK_KINDS`).
    """
    if name not in BUDGETS:
        raise StudyError(f"--budget {name!r} must be one of {list(BUDGETS)}")
    spec = DATASETS.get(dataset)
    lr, epochs = (spec.paper_lr, spec.paper_epochs) if spec else (1e-4, 400)
    if name == "paper":
        return Budget("paper", epochs, lr)
    return Budget("quick", QUICK_EPOCHS.get(dataset, QUICK_EPOCHS["silverbox"]), QUICK_LR)


#: ``--budget quick``: about 4000 Adam steps at ``N = 100`` on every benchmark (silverbox: 199
#: minibatches per epoch, rlc: 65), at a learning rate 30x (10x for rlc) the paper's.
QUICK_EPOCHS = {"silverbox": 20, "wiener_hammerstein": 20, "rlc": 60}
QUICK_LR = 3e-3
#: Kinds trained by default under ``--budget quick``: full BPTT is one Adam step per epoch over
#: the whole split (~10 s each here) and needs the paper's hundreds of steps to mean anything.
QUICK_KINDS = ("stateless", "stateful")


# --------------------------------------------------------------------------- tasks
@dataclass(frozen=True, order=True)
class Task:
    """One model of the study: trained (``source is None``) or read from ``source``."""

    dataset: str
    cell: str
    n_h: int
    N: int
    m: int
    kind: str
    seed: int
    budget: str
    source: str | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        """File-name key, unique within a study folder."""
        return (f"{self.dataset}_{self.cell}_h{self.n_h}_N{self.N}_m{self.m}_{self.kind}"
                f"_s{self.seed}_{self.budget}")

    def label(self) -> str:
        """Short human label for progress lines."""
        return f"N={self.N} m={self.m} {self.kind} seed={self.seed}"


def plan(
    dataset: str,
    *,
    T_train: int,
    cell: str = "lstm",
    n_h: int = 8,
    Ns: Sequence[int] = (100,),
    ms: Sequence[int] | None = None,
    kinds: Sequence[str] = KINDS,
    seeds: Sequence[int] = (0,),
    budget: str = "quick",
) -> list[Task]:
    """The tasks of a training study; every argument checked before anything runs.

    ``ms=None`` takes :func:`quick_grid` (budget ``quick``) or :func:`authors_grid` per ``N``.
    ``stateful`` has ``m = 0``; ``bptt`` is one window over the training split
    (``N = T_train``, ``m = 0``) and is shared by all ``N``.
    """
    if cell not in CELLS:
        raise StudyError(f"--cell {cell!r} must be one of {list(CELLS)}")
    if budget not in BUDGETS:
        raise StudyError(f"--budget {budget!r} must be one of {list(BUDGETS)}")
    if isinstance(n_h, bool) or not isinstance(n_h, (int, np.integer)) or n_h < 1:
        raise StudyError(f"--n-h {n_h!r} must be an integer >= 1")
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise StudyError(f"--kinds {list(kinds)!r}: each must be one of {list(KINDS)}")
    if not seeds or any(int(s) < 0 for s in seeds):
        raise StudyError(f"--seeds {list(seeds)!r} must be integers >= 0")
    if not Ns:
        raise StudyError("--N needs at least one window length")
    for N in Ns:
        if not 2 <= N <= T_train:
            raise StudyError(f"--N {N} must satisfy 2 <= N <= T = {T_train} (training steps)")
    for m in ms or ():
        if m < 0:
            raise StudyError(f"--m {m} must be >= 0")
        if m >= min(Ns):
            raise StudyError(f"--m {m} must satisfy 0 <= m < N = {min(Ns)} (every burn-in is "
                             "used with every window length)")
    tasks = []
    for seed in seeds:
        for N in Ns:
            if "stateless" in kinds:
                grid = ms if ms else (quick_grid(N) if budget == "quick" else authors_grid(N))
                tasks += [Task(dataset, cell, n_h, N, int(m), "stateless", int(seed), budget)
                          for m in grid]
            if "stateful" in kinds:
                tasks.append(Task(dataset, cell, n_h, N, 0, "stateful", int(seed), budget))
        if "bptt" in kinds:
            tasks.append(Task(dataset, cell, n_h, T_train, 0, "bptt", int(seed), budget))
    return sorted(set(tasks), key=_order)


def _order(t: Task) -> tuple:
    # long tasks first (bptt, stateful), then stateless by N, m: a better schedule on few workers
    return (KINDS.index(t.kind) * -1, t.seed, t.N, t.m)


MODEL_FILE = re.compile(
    r"^model_(?:h(?P<h>\d+)_)?N(?P<N>\d+)_m(?P<m>\d+)_(?P<kind>stateless|stateful|BPTT)"
    r"(?:\.pt|\.npz)?$"
)
STUDY_FILE = re.compile(
    r"^(?P<ds>.+)_(?P<cell>lstm|gru|elman)_h(?P<h>\d+)_N(?P<N>\d+)_m(?P<m>\d+)_"
    r"(?P<kind>stateless|stateful|bptt)_s(?P<seed>\d+)_(?P<budget>[a-z-]+)\.npz$"
)


def tasks_from_models(
    models_dir: str | Path,
    dataset: str,
    *,
    Ns: Sequence[int] | None = None,
    kinds: Sequence[str] = KINDS,
    T_train: int | None = None,
) -> list[Task]:
    """Evaluation tasks for the models in ``models_dir``.

    Two naming schemes: the authors' ``model_[h<n_h>_]N<N>_m<m>_<kind>`` (as published, or with
    a ``.pt`` suffix) and this study's
    ``models/<key>.npz``. ``Ns`` keeps only those window lengths (``bptt`` models are kept
    whatever their ``N``). The cell and ``n_h`` are read from the files when they run.
    """
    d = Path(models_dir)
    if not d.is_dir():
        raise StudyError(f"--from-models {str(d)!r}: no such folder")
    tasks = []
    for p in sorted(d.iterdir()):
        a, b = MODEL_FILE.match(p.name), STUDY_FILE.match(p.name)
        if a:
            kind = "bptt" if a["kind"] == "BPTT" else a["kind"]
            t = Task(dataset, "lstm", int(a["h"] or 8), int(a["N"]), int(a["m"]), kind, 0,
                     "from-models", source=str(p.resolve()))
        elif b:
            t = Task(dataset, b["cell"], int(b["h"]), int(b["N"]), int(b["m"]), b["kind"],
                     int(b["seed"]), b["budget"], source=str(p.resolve()))
        else:
            continue
        if t.kind not in kinds or (Ns and t.kind != "bptt" and t.N not in Ns):
            continue
        if t.m >= t.N:
            raise StudyError(f"--from-models: {p.name} has m = {t.m} >= N = {t.N}")
        tasks.append(t)
    if not tasks:
        want = f" with N in {list(Ns)}" if Ns else ""
        raise StudyError(f"--from-models {str(d)!r} holds no model files{want} named "
                         "model_[h8_]N<N>_m<m>_<kind>.pt or <study key>.npz")
    if T_train is not None:
        big = [t.N for t in tasks if t.kind != "bptt" and t.N > T_train]
        if big:
            raise StudyError(f"--from-models: N = {max(big)} exceeds the {T_train} training steps")
    return sorted(tasks, key=_order)


# --------------------------------------------------------------------------- one task
@dataclass(frozen=True, eq=False)
class Job:
    """What every task of a study shares: the data and the training budget."""

    splits: Splits
    budget: Budget
    #: stride (relative to N) of the windows on which the window error e_j is measured
    error_windows: int = 400


@dataclass(frozen=True, eq=False)
class TaskResult:
    """What a finished task returns to the driver: the model and its metrics (plain dict)."""

    model: Any
    metrics: dict[str, Any]


Report = Callable[[dict[str, Any]], None]


def _silent(_: dict[str, Any]) -> None:
    pass


def run_task(task: Task, job: Job, report: Report = _silent) -> TaskResult:
    """Train (or load) and evaluate one model. Pure: no files written, safe to run twice.

    OpenBLAS is held at one thread: the products are tiny, and a study runs one task per core.
    """
    from systems.blas import single_thread_blas

    with single_thread_blas():
        return _run_task(task, job, report)


def _run_task(task: Task, job: Job, report: Report) -> TaskResult:
    t0, c0 = time.perf_counter(), time.process_time()
    report({"key": task.key, "event": "started", "pid": os.getpid()})
    if task.source is not None:
        from systems import load_model

        model = load_model(task.source)
        history: dict[str, Any] = {"epochs": 0}
    else:
        from verification.experiment.study_train import train

        model, history = train(task, job, report)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    ev = evaluate(model, job.splits)
    e_j = (window_error(model, job.splits.scaled("train"), task.N, job.error_windows)
           if task.kind == "stateless" else None)
    metrics = {
        "format": FORMAT_VERSION, "key": task.key, **_task_fields(task),
        "cell": getattr(model, "cell", task.cell), "n_h": int(model.n_h),
        "epochs": int(history.get("epochs", 0)), "seconds": seconds, "cpu_seconds": cpu,
        "seconds_eval": time.perf_counter() - t0 - seconds, **ev, "e_j": e_j,
        "loss_history": history.get("loss"), "diverged": history.get("diverged"),
        "budget_lr": job.budget.lr if task.source is None else None,
    }
    return TaskResult(model=model, metrics=plain(metrics))


def _task_fields(task: Task) -> dict[str, Any]:
    d = asdict(task)
    d["source"] = task.source
    return d


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
class Store:
    """A study folder: ``models/<key>.npz``, ``metrics/<key>.json``; written atomically.

    A task is done when its metrics file exists (it is written after the model, so a done
    task always has its model too).
    """

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)

    def model_path(self, task: Task) -> Path:
        return self.out / "models" / f"{task.key}.npz"

    def metrics_path(self, task: Task) -> Path:
        return self.out / "metrics" / f"{task.key}.json"

    def done(self, task: Task) -> bool:
        return self.metrics_path(task).is_file() and self.model_path(task).is_file()

    def write(self, task: Task, result: TaskResult) -> bool:
        """Write the model and then the metrics; a task already done is left as it is.

        Returns whether anything was written (``False``: a duplicate result, e.g. of a task
        re-run after its worker died, is dropped).
        """
        if self.done(task):
            return False
        path = self.model_path(task)
        path.parent.mkdir(parents=True, exist_ok=True)
        result.model.save(path)  # atomic: every model's save writes a temporary file, renames
        atomic_write(self.metrics_path(task), json.dumps(result.metrics, indent=1))
        return True

    def rows(self) -> list[dict[str, Any]]:
        """Every finished task's metrics, sorted by (kind, N, m, seed)."""
        rows = []
        for p in sorted((self.out / "metrics").glob("*.json")):
            rows.append(json.loads(p.read_text()))
        return sorted(rows, key=lambda r: (KINDS.index(r["kind"]), r["N"], r["m"], r["seed"]))


# --------------------------------------------------------------------------- the driver
def run_study(
    tasks: Sequence[Task],
    job: Job,
    store: Store,
    executor: Any,
    log: Callable[[str], None] = print,
    progress_seconds: float = 10.0,
    observer: Report | None = None,
) -> list[Task]:
    """Run the tasks not yet done on ``executor``, writing each result as it arrives.

    ``executor.run(fn, tasks, on_progress)`` yields ``(task, TaskResult)`` as tasks finish
    (:mod:`verification.experiment.executors`). Progress lines give the task, its epoch, its
    ETA and the study's ETA; ``observer`` (if given) sees every progress message (``event``
    ``"started"`` with the worker's ``pid``, or ``epoch``/``epochs``/``loss``). Returns the
    tasks that ran in this call.
    """
    todo = [t for t in tasks if not store.done(t)]
    log(f"{len(tasks)} tasks: {len(tasks) - len(todo)} done already, {len(todo)} to run "
        f"on {executor}")
    if not todo:
        return []
    clock = _Clock(len(todo), getattr(executor, "workers", 1), progress_seconds, log)
    from functools import partial

    fn = partial(run_task, job=job)

    def on_progress(msg: dict[str, Any]) -> None:
        if observer is not None:
            observer(msg)
        clock.progress(msg)

    for task, result in executor.run(fn, todo, on_progress):
        wrote = store.write(task, result)
        clock.finished(task, result, wrote)
    return todo


class _Clock:
    """Progress lines: per-task epoch and ETA (throttled), study ETA on each finished task."""

    def __init__(self, n: int, workers: int, every: float, log: Callable[[str], None]):
        self.n, self.workers, self.every, self.log = n, max(1, int(workers)), every, log
        self.t0, self.done, self.last = time.perf_counter(), 0, {}
        self.started: dict[str, float] = {}

    def progress(self, msg: dict[str, Any]) -> None:
        key, now = msg.get("key", "?"), time.perf_counter()
        if msg.get("event") == "started":
            self.started.setdefault(key, now)
            return
        if "epoch" not in msg:
            return
        if msg["epoch"] < msg["epochs"] and now - self.last.get(key, -math.inf) < self.every:
            return
        self.last[key] = now
        e, E, el = msg["epoch"], msg["epochs"], msg.get("elapsed", 0.0)
        eta = el / max(e, 1) * (E - e)
        loss = msg.get("loss")
        loss_s = f", loss {loss:.3g}" if isinstance(loss, (int, float)) else ""
        self.log(f"  {key}: epoch {e}/{E}{loss_s}, task ETA {_dur(eta)}")

    def finished(self, task: Task, result: TaskResult, wrote: bool) -> None:
        self.done += 1
        el = time.perf_counter() - self.t0
        left = self.n - self.done
        eta = el / self.done * left
        r = result.metrics
        tag = "" if wrote else " (duplicate, already written)"
        self.log(f"[{self.done}/{self.n}] {task.key}: train/val/test MSE (scaled) "
                 f"{r['mse_train_scaled']:.3g} / {r['mse_val_scaled']:.3g} / "
                 f"{r['mse_test_scaled']:.3g} in {_dur(r['seconds'])}{tag}; "
                 f"study ETA {_dur(eta) if left else '0 s'}")


def _dur(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


# --------------------------------------------------------------------------- results
RESULT_COLUMNS = (
    "key", "dataset", "cell", "n_h", "N", "m", "kind", "seed", "budget", "epochs", "seconds",
    "cpu_seconds",
    "mse_train_scaled", "mse_val_scaled", "mse_test_scaled", "mse_train", "mse_val", "mse_test",
    "source",
)


def write_results(rows: list[dict[str, Any]], out: str | Path) -> list[Path]:
    """``results.csv`` (one row per model, :data:`RESULT_COLUMNS`) and ``results.json``."""
    out = Path(out)
    buf = StringIO()
    w = csv.DictWriter(buf, fieldnames=RESULT_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k) for k in RESULT_COLUMNS})
    atomic_write(out / "results.csv", buf.getvalue())
    atomic_write(out / "results.json", json.dumps(plain(rows), indent=1))
    return [out / "results.csv", out / "results.json"]


def criterion(r: dict[str, Any]) -> float:
    """``0.7 x train + 0.3 x validation`` scaled MSE: what ``m*`` minimises."""
    a, b = M_STAR_WEIGHTS
    return a * float(r["mse_train_scaled"]) + b * float(r["mse_val_scaled"])


def _stats(values: Iterable[float]) -> tuple[float, float]:
    v = np.array(list(values), dtype=float)
    if v.size == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def paper_table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per ``N``: the paper's layout (:data:`TABLE_COLUMNS`) plus the spread over seeds.

    Values are scaled MSE x 100, means over seeds. ``m*`` minimises the seed-mean of
    :func:`criterion`; ``change_m0_<split>_pct = 100 (MSE(m*) - MSE(m = 0)) / MSE(m = 0)``, the
    paper's change in % (negative = better), is computed per
    seed and averaged; ``<column>_sd`` is the sample standard deviation over seeds (0 for one
    seed), ``seeds`` their number, ``change_m0_<split>_pct_min``/``_max`` the extreme seeds.
    """
    stateless = [r for r in rows if r["kind"] == "stateless"]
    out = []
    for N in sorted({r["N"] for r in stateless}):
        at_N = [r for r in stateless if r["N"] == N]
        by_m: dict[int, list[dict[str, Any]]] = {}
        for r in at_N:
            by_m.setdefault(int(r["m"]), []).append(r)
        m_star = min(by_m, key=lambda m: (_stats(criterion(r) for r in by_m[m])[0], m))
        row: dict[str, Any] = {"N": N, "m_star": m_star}
        seeds = sorted({r["seed"] for r in by_m[m_star]})
        row["seeds"] = len(seeds)
        levels = {
            "m0": by_m.get(0, []), "m_star": by_m[m_star],
            "stateful": [r for r in rows if r["kind"] == "stateful" and r["N"] == N],
            "bptt": [r for r in rows if r["kind"] == "bptt"],
        }
        for split in ("train", "test"):
            for name, rs in levels.items():
                mean, sd = _stats(TABLE_SCALE * r[f"mse_{split}_scaled"] for r in rs)
                row[f"{name}_{split}"], row[f"{name}_{split}_sd"] = mean, sd
            zero = {r["seed"]: r[f"mse_{split}_scaled"] for r in levels["m0"]}
            change = [100.0 * (r[f"mse_{split}_scaled"] / zero[r["seed"]] - 1.0)
                      for r in levels["m_star"] if r["seed"] in zero]
            key = f"change_m0_{split}_pct"
            row[key], row[f"{key}_sd"] = _stats(change)
            row[f"{key}_min"] = min(change) if change else math.nan
            row[f"{key}_max"] = max(change) if change else math.nan
        out.append(row)
    return out


def table_columns(table: list[dict[str, Any]]) -> list[str]:
    """The paper's columns first, then the spread columns."""
    extra = [k for k in (table[0] if table else {}) if k not in TABLE_COLUMNS]
    return [*TABLE_COLUMNS, *extra]


def write_table(table: list[dict[str, Any]], out: str | Path) -> Path:
    """``table.csv`` in the paper's layout (:data:`TABLE_COLUMNS` first, spread after)."""
    cols = table_columns(table)
    buf = StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in table:
        w.writerow({k: csv_value(r.get(k)) for k in cols})
    path = Path(out) / "table.csv"
    atomic_write(path, buf.getvalue())
    return path


def csv_value(v: Any) -> Any:
    """A value as a CSV cell: floats with 6 significant digits, NaN as an empty cell."""
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return v
