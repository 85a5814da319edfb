"""The bound-vs-gap table: one row of scalars per burn-in ``m`` plus per-``m`` traces.

``rows`` are flat dicts (what CSV holds, fields documented in :class:`~.rows.GapRow`);
``traces[m]`` are the arrays the figures need (the average output error ``e_j``, window
outputs and free runs). The JSON file holds both, so a table written after each finished
``m`` can be read back and resumed (:func:`open_for_resume`):

* the resume key is every setting that changes a row (:data:`RESUME_KEYS`); a file made with
  other settings raises :class:`ResumeMismatch` listing the differences;
* a damaged file (not JSON, wrong format, rows that are not a list) raises
  :class:`DamagedTable` naming the file and the way out (``--no-resume``);
* a row without every field, or without its trace, is not finished: it is computed again;
* a rerun keeps the finished rows of every ``m`` (the union), and rewrites both files.

Every file is written by :func:`atomic_write` (a uniquely named partial file, then a rename).
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np

from systems.errors import InputError

#: Version of the JSON layout and of the row fields; files of another version are not resumed.
FORMAT_VERSION = 2
#: The settings that change a row: a table is resumed only if all of them agree.
RESUME_KEYS = ("N", "stride", "T", "model", "n_h", "bias", "w_hh_max", "eps", "seed",
               "fit_options", "candidates", "curve_points", "x_train", "y_train", "x_test",
               "y_test")
NO_RESUME = "rerun with --no-resume (resume=False) to recompute it, or use another output folder"


class DamagedTable(InputError):
    """A gap-table file that cannot be read back; the message names the file and the way out."""

    def __init__(self, path: Path, detail: str) -> None:
        self.path = path
        super().__init__(f"{path} is damaged ({detail}); {NO_RESUME}")


class ResumeMismatch(InputError):
    """A gap table made with other settings than the current run.

    Attributes
    ----------
    path : the file
    differences : list of ``(setting, value in the file, value now)``
    """

    def __init__(self, path: Path, differences: list[tuple[str, Any, Any]]) -> None:
        self.path, self.differences = path, differences
        what = "; ".join(_difference(k, a, b) for k, a, b in differences)
        super().__init__(f"{path} was made with other settings ({what}); {NO_RESUME}")


def _short(v: Any) -> str:
    if isinstance(v, (list, np.ndarray)) and np.asarray(v).size > 4:
        return f"an array of shape {np.asarray(v).shape}"
    return repr(v)


def _difference(key: str, a: Any, b: Any) -> str:
    """``key: <in the file>, <now>``; two arrays of one shape are told apart by where they
    first differ (their shapes alone would read the same)."""
    try:
        x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    except (TypeError, ValueError):
        x = y = None
    if x is not None and x.shape == y.shape and x.size > 4:
        diff = np.flatnonzero(~((x == y) | (np.isnan(x) & np.isnan(y))).ravel())
        if diff.size:
            i = int(diff[0])
            return (f"{key}: {diff.size} of {x.size} values differ (first at index {i}: "
                    f"{x.ravel()[i]!r} in the file, {y.ravel()[i]!r} now)")
    return f"{key}: {_short(a)} in the file, {_short(b)} now"


def plain(v: Any) -> Any:
    """JSON-ready value: numpy scalars/arrays to Python, non-finite floats to strings."""
    if isinstance(v, np.ndarray):
        return [plain(x) for x in v.tolist()] if v.ndim else plain(v.item())
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else str(f)  # "nan", "inf": valid JSON, read back below
    return v


def unplain(v: Any) -> Any:
    """The inverse of :func:`plain` on read-back JSON: ``"nan"``/``"inf"``/``"-inf"`` to floats,
    recursively through lists and dicts."""
    if isinstance(v, str) and v in ("nan", "inf", "-inf"):
        return float(v)
    if isinstance(v, list):
        return [unplain(x) for x in v]
    if isinstance(v, dict):
        return {k: unplain(x) for k, x in v.items()}
    return v


def atomic_write(path: str | Path, content: str | bytes) -> Path:
    """Write ``content`` to ``path`` atomically: no reader ever sees a half-written file.

    The content goes to a uniquely named partial file in the same folder (so two runs writing
    into one folder never share it), which then replaces ``path`` in one rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb" if isinstance(content, bytes) else "w") as f:
            f.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path



@dataclass
class GapTable:
    """Rows (one dict per ``m``), traces (arrays per ``m``) and the settings that made them.

    Attributes
    ----------
    rows : list of dict, sorted by ``m``; at least ``m, V_star, V_b, V_inf, T1_bound,
        T2a_bound, P_star, P_b, P_star_test, P_b_test, sound``
    traces : dict ``m -> dict`` of arrays (``e_j : (N,)``, ``y_star_windows : (S, N)``, ...)
    meta : the settings (``N``, ``stride``, model, seeds, data names) used for every row
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    traces: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ms(self) -> list[int]:
        return [int(r["m"]) for r in self.rows]

    def row(self, m: int) -> dict[str, Any]:
        for r in self.rows:
            if int(r["m"]) == m:
                return r
        raise KeyError(f"no row for m = {m}; rows exist for m in {self.ms}")

    def column(self, key: str) -> np.ndarray:
        """One column over ``m`` as a float array (missing entries are NaN)."""
        return np.array([float(r.get(key, np.nan)) for r in self.rows])

    def add(self, row: dict[str, Any], trace: dict[str, np.ndarray] | None = None) -> None:
        m = int(row["m"])
        self.rows = [r for r in self.rows if int(r["m"]) != m] + [dict(row)]
        self.rows.sort(key=lambda r: int(r["m"]))
        if trace is not None:
            self.traces[m] = {k: np.asarray(v) for k, v in trace.items()}

    # ------------------------------------------------------------------ files
    def to_csv(self, path: str | Path) -> Path:
        """Write the rows (scalars only) as CSV; columns are the union of the row keys."""
        path = Path(path)
        keys: list[str] = []
        for r in self.rows:
            keys += [k for k in r if k not in keys]
        buf = StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        for r in self.rows:
            writer.writerow({k: _csv_cell(r.get(k, "")) for k in keys})
        atomic_write(path, buf.getvalue())
        return path

    def to_json(self, path: str | Path) -> Path:
        """Write meta, rows and traces as JSON (read back by :meth:`from_json`)."""
        path = Path(path)
        doc = {
            "format": FORMAT_VERSION,
            "meta": plain(self.meta),
            "rows": plain(self.rows),
            "traces": {str(m): plain(t) for m, t in self.traces.items()},
        }
        atomic_write(path, json.dumps(doc, separators=(",", ":")))
        return path

    @classmethod
    def from_json(cls, path: str | Path) -> GapTable:
        """Read a table written by :meth:`to_json`; :class:`DamagedTable` if it cannot be."""
        path = Path(path)
        try:
            doc = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DamagedTable(path, f"not a readable JSON file: {exc}") from exc
        if not isinstance(doc, dict) or "format" not in doc:
            raise DamagedTable(path, "not a gap table")
        if doc["format"] != FORMAT_VERSION:
            raise DamagedTable(path, f"format {doc['format']!r}, this version reads format "
                               f"{FORMAT_VERSION}")
        rows, meta, traces = doc.get("rows"), doc.get("meta"), doc.get("traces", {})
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise DamagedTable(path, f'"rows" is {type(rows).__name__}, not a list of rows')
        if not isinstance(meta, dict) or not isinstance(traces, dict):
            raise DamagedTable(path, '"meta" or "traces" is not an object')
        if not all(isinstance(r.get("m"), int) for r in rows):
            raise DamagedTable(path, 'a row has no integer "m"')
        try:
            arrays = {int(m): {k: np.asarray(v, dtype=float) for k, v in unplain(t).items()}
                      for m, t in traces.items()}
        except (TypeError, ValueError, AttributeError) as exc:
            raise DamagedTable(path, f"unreadable traces: {exc}") from exc
        return cls(rows=unplain(rows), traces=arrays, meta=unplain(meta))

    def write(self, json_path: Path | None, csv_path: Path | None) -> None:
        """Write the JSON and the CSV file (each skipped when its path is None)."""
        if json_path is not None:
            self.to_json(json_path)
        if csv_path is not None:
            self.to_csv(csv_path)

    def subset(self, ms: Iterable[int]) -> GapTable:
        keep = set(int(m) for m in ms)
        return GapTable(
            rows=[r for r in self.rows if int(r["m"]) in keep],
            traces={m: t for m, t in self.traces.items() if m in keep},
            meta=dict(self.meta),
        )


def _csv_cell(v: Any) -> Any:
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, (np.bool_, bool)):
        return str(bool(v))
    return v


# --------------------------------------------------------------------------- resume
def differences(old: dict[str, Any], new: dict[str, Any],
                keys: Iterable[str] = RESUME_KEYS) -> list[tuple[str, Any, Any]]:
    """The settings among ``keys`` in which ``old`` (read from a file) and ``new`` differ.

    Arrays (the data) agree when they have one shape and agree to 1e-12 (JSON keeps float64
    exactly; the slack only forgives a file written by another float formatter).
    """
    out = []
    for k in keys:
        a, b = old.get(k), unplain(plain(new.get(k)))
        if k.startswith(("x_", "y_")):
            x, y = np.asarray(a if a is not None else [], float), np.asarray(b, float)
            if x.shape != y.shape or not np.allclose(x, y, rtol=0, atol=1e-12):
                out.append((k, x, y))
        elif a != b:
            out.append((k, a, b))
    return out


def open_for_resume(out_dir: str | Path | None, meta: dict[str, Any], resume: bool,
                    say: Callable[[str], None]) -> tuple[GapTable, tuple[Path | None, Path | None]]:
    """The table to continue and its files ``(gaps.json, gaps.csv)`` in ``out_dir``.

    With ``resume`` and an existing ``gaps.json``: its finished rows (every ``m``) when its
    settings match ``meta`` (else :class:`ResumeMismatch`); rows lacking a field of
    :class:`~.rows.GapRow` or their trace are dropped (computed again). Nothing is written
    here; the folder is created only when the first file is written.
    """
    from .rows import missing_fields

    table = GapTable(meta=meta)
    if out_dir is None:
        return table, (None, None)
    out = Path(out_dir)
    json_path, csv_path = out / "gaps.json", out / "gaps.csv"
    if not (resume and json_path.exists()):
        return table, (json_path, csv_path)
    old = GapTable.from_json(json_path)
    diff = differences(old.meta, meta)
    if diff:
        raise ResumeMismatch(json_path, diff)
    for r in old.rows:
        lost = missing_fields(r) + ([] if int(r["m"]) in old.traces else ["trace"])
        if lost:
            say(f"{json_path}: the row for m = {r['m']} is incomplete (missing "
                f"{', '.join(lost[:4])}{', ...' if len(lost) > 4 else ''}); computing it again")
            continue
        table.add(r, old.traces[int(r["m"])])
    if table.ms:
        say(f"resuming: m = {table.ms} already done in {json_path}")
    return table, (json_path, csv_path)
