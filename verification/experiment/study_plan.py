"""What a study trains or evaluates: burn-in grids, budgets, the models (tasks), the units of work
(groups of tasks trained together), and the hash that keys every result.

A :class:`Task` is one model, ``(dataset, cell, n_h, N, m, kind, seed, budget)``, trained or read
from ``source``. A :class:`Group` is the unit of work an executor runs: tasks of one ``(N, kind)``
trained together (one batched computation) or, for ``--from-models``, one model file evaluated.
Every result is keyed by :func:`model_hash`: a hash of everything that determines the model (the
study's :func:`settings`, the data's fingerprint, the task, the source file's content), so a rerun
never reuses a result computed under other settings or data.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from systems.batched_lstm_numba import KERNELS
from systems.benchmarks import DATASETS
from systems.errors import InputError
from verification.experiment.study_data import Splits, StudyError

KINDS = ("stateless", "stateful", "bptt")
CELLS = ("lstm", "gru", "elman")
BUDGETS = ("quick", "paper")
DTYPES = ("float32", "float64")
#: Bump when a stored result changes meaning (its fields, the training or the evaluation).
FORMAT_VERSION = 3
#: ``--budget quick``: the learning rate (30x the paper's on Silverbox, 10x on RLC).
QUICK_LR = 3e-3
#: Kinds trained by default: full BPTT (one Adam step per epoch over the whole split, as many
#: steps as a stateless model: 79,600 at the paper's budget on Silverbox) is sequential over
#: every time step and takes hours; ask for it with ``--kinds stateless stateful bptt``.
DEFAULT_KINDS = ("stateless", "stateful")


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
    """``k`` burn-ins of the authors' grid, always with ``m = 0``: ``0``, then ``k - 1`` grid
    points at evenly spaced positions of the grid between its third and its second-to-last
    value (``--budget quick``).

    >>> quick_grid(100)
    [0, 10, 36, 68, 94]
    """
    grid = authors_grid(N)
    if len(grid) <= k:
        return grid
    picks = [0, *(grid[int(round(i))] for i in np.linspace(2, len(grid) - 2, k - 1))]
    return sorted(set(picks))


@dataclass(frozen=True)
class Budget:
    """How one model is trained: Adam, ``epochs`` passes over the windows, minibatch size,
    window stride (1: every window, the authors' choice), the training precision (float32,
    as the authors and torch train; the trained weights are then used in float64) and the
    kernel that runs it (``numpy``, or ``numba``: the LSTM's float32 passes compiled)."""

    name: str
    epochs: int
    lr: float
    batch_size: int = 100
    stride: int = 1
    dtype: str = "float32"
    kernel: str = "numpy"

    def __str__(self) -> str:
        kernel = "" if self.kernel == "numpy" else f", {self.kernel} kernel"
        return (f"{self.name}: Adam, lr {self.lr:g}, {self.epochs} epochs, batch "
                f"{self.batch_size}, window stride {self.stride}, {self.dtype}{kernel}")

    def check(self) -> Budget:
        """This budget if every field is in range, else a :class:`StudyError` naming it."""
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, (int, np.integer)) \
                or self.epochs < 1:
            raise StudyError(f"--epochs {self.epochs!r} must be an integer >= 1")
        if not (np.isfinite(self.lr) and self.lr > 0):
            raise StudyError(f"--lr {self.lr!r} must be a finite number > 0")
        if self.batch_size < 1 or self.stride < 1:
            raise StudyError(f"batch size {self.batch_size} and stride {self.stride} must be >= 1")
        if self.dtype not in DTYPES:
            raise StudyError(f"--dtype {self.dtype!r} must be one of {list(DTYPES)}")
        if self.kernel not in KERNELS:
            raise StudyError(f"--kernel {self.kernel!r} must be one of {list(KERNELS)}")
        return self


def budget_for(name: str, dataset: str, *, epochs: int | None = None, lr: float | None = None,
               dtype: str = "float32", kernel: str = "numpy") -> Budget:
    """``paper``: the authors' protocol; ``quick``: the shortened one (docs/study.md).

    ``paper``: Adam, batch 100, every window, lr 1e-4 for 400 epochs (silverbox,
    wiener_hammerstein; also a user's data) or 3e-4 for 1500 epochs (rlc). ``quick``: the same
    but lr :data:`QUICK_LR` for the dataset's ``quick_epochs`` (about 4000 Adam steps at
    ``N = 100``; a user's data as silverbox). ``epochs`` and ``lr`` override either.
    """
    if name not in BUDGETS:
        raise StudyError(f"--budget {name!r} must be one of {list(BUDGETS)}")
    spec = DATASETS.get(dataset, DATASETS["silverbox"])
    if name == "paper":
        b = Budget("paper", spec.paper_epochs, spec.paper_lr, dtype=dtype)
    else:
        b = Budget("quick", spec.quick_epochs, QUICK_LR, dtype=dtype)
    b = replace(b, epochs=b.epochs if epochs is None else epochs, lr=b.lr if lr is None else lr,
                kernel=kernel)
    return b.check()


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
    check_windows(Ns, ms, T_train)
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
    return sorted(set(tasks), key=order)


def check_windows(Ns: Sequence[int], ms: Sequence[int] | None, T_train: int) -> None:
    """Window lengths ``2 <= N <= T`` and burn-ins ``0 <= m < min(N)``, else a StudyError."""
    if not Ns:
        raise StudyError("--N needs at least one window length")
    for N in Ns:
        if not 2 <= N <= T_train:
            raise StudyError(f"--N {N} must satisfy 2 <= N <= T = {T_train} (training steps)")
    for m in ms or ():
        if not 0 <= m < min(Ns):
            raise StudyError(f"--m {m} must satisfy 0 <= m < N = {min(Ns)} (every burn-in is "
                             "used with every window length)")


def order(t: Task) -> tuple:
    """Long tasks first (bptt, stateful), then stateless by N, m: a better schedule on few
    workers."""
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
    a ``.pt`` suffix) and this study's ``models/<key>.npz``. ``Ns`` keeps only those window
    lengths (``bptt`` models are kept whatever their ``N``). The cell and ``n_h`` named here are
    checked against the files' contents by :func:`check_sources`.
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
                         "model_[h8_]N<N>_m<m>_<kind>[.pt] or <study key>.npz")
    keys = [t.key for t in tasks]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        names = [Path(t.source).name for t in tasks if t.key in twice]
        raise StudyError(f"--from-models: the files {names} are the same model of the study "
                         "(same N, m, kind and seed); keep one")
    if T_train is not None:
        big = [t.N for t in tasks if t.kind != "bptt" and t.N > T_train]
        if big:
            raise StudyError(f"--from-models: N = {max(big)} exceeds the {T_train} training steps")
    return sorted(tasks, key=order)


def check_sources(tasks: Sequence[Task], splits: Splits) -> list[Task]:
    """Read every source file once and check that they form one study: one cell and one
    ``n_h`` (a folder mixing Elman, GRU and LSTM, or sizes, would pool them into one table
    row), and inputs/outputs matching the data. Returns the tasks with the cell and ``n_h``
    read from the files; every problem is a :class:`StudyError` naming the files."""
    from systems import load_model

    kinds: dict[tuple[str, int], list[str]] = {}
    out = []
    for t in tasks:
        try:
            model = load_model(t.source)
        except (InputError, OSError) as exc:
            raise StudyError(f"--from-models: {exc}") from exc
        name = Path(t.source).name
        if (model.n_x, model.n_y) != (splits.train.n_x, splits.train.n_y):
            raise StudyError(f"--from-models: {name} has n_x = {model.n_x}, n_y = {model.n_y}"
                             f" but {splits.name} has {splits.train.n_x} inputs and "
                             f"{splits.train.n_y} outputs")
        kinds.setdefault((model.cell, int(model.n_h)), []).append(name)
        out.append(replace(t, cell=model.cell, n_h=int(model.n_h)))
    if len(kinds) > 1:
        parts = "; ".join(f"{c} n_h = {h}: {names[:2]}{' ...' if len(names) > 2 else ''}"
                          for (c, h), names in sorted(kinds.items()))
        raise StudyError(f"--from-models: the folder mixes cells or sizes ({parts}); one "
                         "study compares burn-ins of one cell and size")
    return out


# --------------------------------------------------------------------------- the result key
def settings(splits: Splits, budget: Budget | None, cell: str | None, n_h: int | None
             ) -> dict[str, Any]:
    """Everything shared by a study's models that determines them: the code's format, the
    data (its fingerprint and columns), the cell and size, the budget (``None`` when models
    are read, not trained)."""
    return {
        "format": FORMAT_VERSION, "dataset": splits.name, "data": splits.fingerprint,
        "inputs": list(splits.inputs), "outputs": list(splits.outputs),
        "cell": cell, "n_h": n_h, "budget": None if budget is None else budget_settings(budget),
    }


def budget_settings(budget: Budget) -> dict[str, Any]:
    """The budget's fields as keyed: the kernel only when it is not NumPy's (the keys of
    results trained before kernels had a name stay valid; a numba-trained model never
    matches a NumPy-trained one)."""
    doc = asdict(budget)
    if doc["kernel"] == "numpy":
        del doc["kernel"]
    return doc


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_hash(study_settings: Mapping[str, Any], task: Task, source_sha: str | None = None
               ) -> str:
    """The key of one result: SHA-256 (first 16 hex digits) of the study's settings, the task
    and, for a model read from a file, the file's content."""
    doc = {"settings": study_settings, "task": task.key, "source": source_sha}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def training_hashes(tasks: Sequence[Task], splits: Splits, budget: Budget) -> dict[str, str]:
    """:func:`model_hash` of every trained task (by key) under ``budget`` on ``splits``."""
    return {t.key: model_hash(settings(splits, budget, t.cell, t.n_h), t) for t in tasks}


def differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = ""
                ) -> list[str]:
    """The settings that differ between two :func:`settings` dicts, as ``name: old -> new``."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += differences(a, b, f"{prefix}{k}.")
        elif a != b and k == "data":
            out.append(f"{prefix}data: other data (fingerprint {str(a)[:8]} there, "
                       f"{str(b)[:8]} now)")
        elif a != b:
            out.append(f"{prefix}{k}: {a!r} there, {b!r} now")
    return out


# --------------------------------------------------------------------------- units of work
@dataclass(frozen=True)
class Group:
    """The unit of work an executor runs: models trained together (one ``(N, kind)``, same
    cell, size and budget), or one model file read and evaluated.

    ``hashes`` are the :func:`model_hash` of the tasks, in order; :attr:`key` (unique for
    these tasks under these settings) names the unit to the executor, so two studies never
    share a result.
    """

    tasks: tuple[Task, ...]
    hashes: tuple[str, ...]

    @property
    def key(self) -> str:
        t = self.tasks[0]
        digest = hashlib.sha256("".join(self.hashes).encode()).hexdigest()[:16]
        return f"{t.dataset}_{t.kind}_N{t.N}_{len(self.tasks)}models_{digest}"

    def label(self) -> str:
        t = self.tasks[0]
        if len(self.tasks) == 1:
            return t.label()
        ms = sorted({x.m for x in self.tasks})
        seeds = sorted({x.seed for x in self.tasks})
        return f"N={t.N} {t.kind}, {len(self.tasks)} models (m {ms}, seeds {seeds})"


def groups(tasks: Iterable[Task], hashes: Mapping[str, str], n_units: int) -> list[Group]:
    """Split ``tasks`` into units of work: every ``(N, kind)`` of trained tasks into at most
    ``n_units`` groups of nearly equal size (seeds and burn-ins interleaved, so each group has a
    similar mix), every model file alone."""
    by: dict[tuple, list[Task]] = {}
    out = []
    for t in tasks:
        if t.source is not None:
            out.append(Group((t,), (hashes[t.key],)))
        else:
            by.setdefault((t.kind, t.N, t.cell, t.n_h, t.budget), []).append(t)
    for members in by.values():
        k = max(1, min(int(n_units), len(members)))
        for part in (members[i::k] for i in range(k)):
            out.append(Group(tuple(part), tuple(hashes[t.key] for t in part)))
    return sorted(out, key=lambda g: order(g.tasks[0]))
