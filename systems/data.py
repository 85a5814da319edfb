"""Data: the ``Sequence`` type, the paper's synthetic LTI system, CSV loading and scaling.

``paper_lti`` rebuilds the synthetic experiment of the paper's Section 5.1 (DESIGN.md):
system ``G(z) = (5z + 1) / (-2z^2 + z)``, i.e. ``y_t = (y_{t-1} - 5 x_{t-1} - x_{t-2}) / 2``
from rest, inputs and noise as below, every signal min–max scaled to ``[-1, 1]``.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from .errors import InputError

#: Largest accepted data magnitude: squared errors and their sums over windows stay far below
#: float64's 1.8e308. Larger values are almost surely a unit or format error.
MAX_ABS = 1e100


@dataclass(frozen=True, eq=False)
class Sequence:
    """One input/output time series.

    Parameters
    ----------
    x : (T, n_x) inputs (a 1-D array is read as ``n_x = 1``)
    y : (T, n_y) outputs (a 1-D array is read as ``n_y = 1``)
    name : label used in reports
    """

    x: np.ndarray
    y: np.ndarray
    name: str = ""

    def __post_init__(self) -> None:
        x, y = _as_2d("x", self.x), _as_2d("y", self.y)
        if x.shape[0] != y.shape[0]:
            raise ValueError(
                f"x and y must have the same length T, got x: {x.shape} and y: {y.shape}"
            )
        if x.shape[0] < 1:
            raise ValueError("a Sequence needs at least one time step (T >= 1)")
        for name, a in (("x", x), ("y", y)):
            big = np.abs(a) > MAX_ABS
            if big.any():
                t, k = np.argwhere(big)[0]
                raise ValueError(
                    f"{name} has entries up to {np.abs(a).max():.3g} in magnitude (first at "
                    f"t={t + 1}, column {k}); data must satisfy |{name}| <= {MAX_ABS:g} so that "
                    "squared errors stay finite in float64: scale the data"
                )
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)

    @property
    def T(self) -> int:
        return self.x.shape[0]

    @property
    def n_x(self) -> int:
        return self.x.shape[1]

    @property
    def n_y(self) -> int:
        return self.y.shape[1]

    def __repr__(self) -> str:
        return f"Sequence({self.name!r}, T={self.T}, n_x={self.n_x}, n_y={self.n_y})"


def _as_2d(name: str, a: object) -> np.ndarray:
    arr = np.array(a, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (T, n_{name}), got {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        t, k = np.argwhere(bad)[0]
        raise ValueError(
            f"{name} contains NaN or inf ({int(bad.sum())} entries, first at t={t + 1}, "
            f"column {k}); data must be finite"
        )
    return arr


# --------------------------------------------------------------------------- scaling
@dataclass(frozen=True)
class Scaler:
    """An affine per-column map ``a -> (a - shift) / scale`` that remembers its parameters.

    Fit it on training data (:meth:`minmax` or :meth:`standard`) and apply the same map to
    test data, so both live in the training data's coordinates.
    """

    shift: np.ndarray
    scale: np.ndarray
    kind: str = "minmax"

    @classmethod
    def minmax(cls, a: np.ndarray) -> Scaler:
        """Map each column's ``[min, max]`` to ``[-1, 1]`` (the paper's scaling)."""
        a = _as_2d("a", a)
        lo, hi = a.min(axis=0), a.max(axis=0)
        half = (hi - lo) / 2.0
        return cls(shift=(hi + lo) / 2.0, scale=np.where(half > 0, half, 1.0), kind="minmax")

    @classmethod
    def standard(cls, a: np.ndarray) -> Scaler:
        """Zero mean, unit standard deviation per column."""
        a = _as_2d("a", a)
        sd = a.std(axis=0)
        return cls(shift=a.mean(axis=0), scale=np.where(sd > 0, sd, 1.0), kind="standard")

    def transform(self, a: np.ndarray) -> np.ndarray:
        return (_as_2d("a", a) - self.shift) / self.scale

    def inverse(self, a: np.ndarray) -> np.ndarray:
        return _as_2d("a", a) * self.scale + self.shift


@dataclass(frozen=True)
class SequenceScaler:
    """Input and output scalers fitted on one (training) sequence."""

    x: Scaler
    y: Scaler

    @classmethod
    def fit(cls, seq: Sequence, kind: str = "minmax") -> SequenceScaler:
        if kind not in ("minmax", "standard"):
            raise ValueError(f"kind must be 'minmax' or 'standard', got {kind!r}")
        make = Scaler.minmax if kind == "minmax" else Scaler.standard
        return cls(x=make(seq.x), y=make(seq.y))

    def transform(self, seq: Sequence) -> Sequence:
        return Sequence(self.x.transform(seq.x), self.y.transform(seq.y), seq.name)


def scale_pair(
    train: Sequence, test: Sequence, kind: str = "minmax"
) -> tuple[Sequence, Sequence, SequenceScaler]:
    """Scale ``train`` and ``test`` with a scaler fitted on ``train`` only."""
    sc = SequenceScaler.fit(train, kind)
    return sc.transform(train), sc.transform(test), sc


# --------------------------------------------------------------------------- paper data
PAPER_NOISE = {"train": 0.2, "test": 1.0}


def paper_input(split: str, T: int = 100) -> np.ndarray:
    """Unscaled input of the paper's synthetic experiment at ``t = 1..T``, shape ``(T,)``."""
    t = np.arange(1, T + 1, dtype=np.float64)
    if split == "train":
        return np.sin(0.1 * t) + np.sin(0.05 * t + 2.0)
    if split == "test":
        return -1.4 * np.cos(0.1 * t) + 0.5 * np.cos(0.5 * t + 1.0)
    raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def lti_response(u: np.ndarray) -> np.ndarray:
    """Noise-free output of ``G(z) = (5z + 1)/(-2z^2 + z)`` from rest, shape ``(T,)``.

    ``y_t = (y_{t-1} - 5 u_{t-1} - u_{t-2}) / 2`` with ``y``, ``u`` zero before ``t = 1``.
    """
    u = np.asarray(u, dtype=np.float64)
    y = np.zeros_like(u)
    for t in range(len(u)):
        y_prev = y[t - 1] if t >= 1 else 0.0
        u1 = u[t - 1] if t >= 1 else 0.0
        u2 = u[t - 2] if t >= 2 else 0.0
        y[t] = (y_prev - 5.0 * u1 - u2) / 2.0
    return y


def paper_lti(split: str = "train", T: int = 100, seed: int = 0) -> Sequence:
    """The paper's synthetic data (Section 5.1), built here, shape ``x, y : (T, 1)``.

    Train input ``sin(0.1 t) + sin(0.05 t + 2)``, test input
    ``-1.4 cos(0.1 t) + 0.5 cos(0.5 t + 1)``, output of ``(5z + 1)/(-2z^2 + z)`` from rest plus
    uniform noise on ``[-a, a]`` with ``a = 0.2`` (train) or ``1.0`` (test); each signal is then
    min–max scaled to ``[-1, 1]``. The inputs equal the authors' to rounding; the noise is
    drawn here (``seed``), so outputs differ from the authors' series by the noise draw only.
    """
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 3:
        raise ValueError(f"T must be an integer >= 3, got {T!r}")
    u = paper_input(split, T)
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    a = PAPER_NOISE[split]
    y = lti_response(u) + rng.uniform(-a, a, size=T)
    x_s, y_s = Scaler.minmax(u).transform(u), Scaler.minmax(y).transform(y)
    return Sequence(x_s, y_s, name=f"paper_lti/{split}")


# --------------------------------------------------------------------------- CSV
def _csv_file(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        raise InputError(
            f"data file {str(path)!r} is a directory; give a CSV file with a header row"
        )
    if not path.is_file():
        raise InputError(f"data file {str(path)!r} does not exist")
    return path


def _open_csv(path: Path) -> TextIO:
    """``path`` opened as text for :mod:`csv`; a ``.gz`` file is decompressed on the fly."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", newline="", encoding="utf-8")
    return open(path, newline="", encoding="utf-8")


def _rows(path: Path) -> list[list[str]]:
    """Every row of the CSV file ``path``; an unreadable file is an :class:`InputError`."""
    try:
        with _open_csv(path) as f:
            return list(csv.reader(f))
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{str(path)!r} is not a readable CSV file: {exc}") from None


def _header(path: Path, row: list[str] | None) -> list[str]:
    if not row or not any(h.strip() for h in row):
        raise InputError(f"{str(path)!r} is empty; expected a header row")
    header = [h.strip() for h in row]
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise InputError(
            f"{str(path)!r} has duplicate column name(s) {dup}; names must be unique"
        )
    return header


def read_columns(path: str | Path) -> list[str]:
    """The header row of a CSV file (names stripped; empty or duplicate names raise)."""
    path = _csv_file(path)
    rows = _rows(path)
    return _header(path, rows[0] if rows else None)


def load_csv(
    path: str | Path,
    inputs: Seq[str],
    outputs: Seq[str],
    name: str | None = None,
) -> Sequence:
    """Read a CSV with a header row and one time step per row (``.csv`` or ``.csv.gz``).

    Every problem is a one-line :class:`~systems.errors.InputError` (a ``ValueError``) naming
    the file and what is wrong: a missing or unreadable
    file or a directory, no header, duplicate column names, unknown columns, no data rows, a
    row with the wrong number of values, a non-number (with its line and column), NaN/inf.
    Blank lines are skipped.

    Parameters
    ----------
    path : the file
    inputs, outputs : column names for ``x : (T, len(inputs))`` and ``y : (T, len(outputs))``

    Examples
    --------
    ``load_csv("train.csv", inputs=["x"], outputs=["y"])``
    """
    path = _csv_file(path)
    inputs, outputs = list(_names("inputs", inputs)), list(_names("outputs", outputs))
    lines = _rows(path)
    header = _header(path, lines[0] if lines else None)
    missing = [c for c in inputs + outputs if c not in header]
    if missing:
        raise InputError(f"{str(path)!r} has no column(s) {missing}; its columns are {header}")
    col = {c: i for i, c in enumerate(header)}
    rows = []
    for line, row in enumerate(lines[1:], start=2):
        if not any(v.strip() for v in row):
            continue
        if len(row) != len(header):
            raise InputError(
                f"{str(path)!r} line {line} has {len(row)} values but the header "
                f"names {len(header)} columns"
            )
        rows.append((line, row))
    if not rows:
        raise InputError(f"{str(path)!r} has a header row ({', '.join(header)}) but no data rows")
    table = np.empty((len(rows), len(header)))
    for t, (line, row) in enumerate(rows):
        try:
            table[t] = [float(v) for v in row]
        except ValueError:
            k = next(k for k, v in enumerate(row) if not _is_number(v))
            raise InputError(
                f"{str(path)!r} line {line}, column {header[k]!r}: {row[k].strip()!r} is "
                "not a number"
            ) from None
    x = table[:, [col[c] for c in inputs]]
    y = table[:, [col[c] for c in outputs]]
    try:
        return Sequence(x, y, name=name if name is not None else path.stem)
    except ValueError as exc:  # NaN/inf or out-of-range values: say which file
        raise InputError(f"{str(path)!r}: {exc}") from None


def _is_number(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def _names(arg: str, names: object) -> tuple[str, ...]:
    if isinstance(names, str):
        names = [n for n in names.split(",") if n]
    out = tuple(str(n).strip() for n in names)  # type: ignore[union-attr]
    if not out:
        raise InputError(f"{arg} must name at least one column")
    return out
