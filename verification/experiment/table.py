"""The bound-vs-gap table: one row of scalars per burn-in ``m`` plus per-``m`` traces.

``rows`` are flat dicts (what CSV holds); ``traces[m]`` are the arrays the figures need
(the average output error ``e_j``, window outputs and free runs). The JSON file holds both,
so a table written after each finished ``m`` can be read back and resumed.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1


def _plain(v: Any) -> Any:
    """JSON-ready value: numpy scalars/arrays to Python, non-finite floats to strings."""
    if isinstance(v, np.ndarray):
        return [_plain(x) for x in v.tolist()] if v.ndim else _plain(v.item())
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else str(f)  # "nan", "inf": valid JSON, read back below
    return v


def _unplain(v: Any) -> Any:
    if isinstance(v, str) and v in ("nan", "inf", "-inf"):
        return float(v)
    if isinstance(v, list):
        return [_unplain(x) for x in v]
    if isinstance(v, dict):
        return {k: _unplain(x) for k, x in v.items()}
    return v


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file so no half-written file remains."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text)
    os.replace(tmp, path)


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
        _atomic_write(path, buf.getvalue())
        return path

    def to_json(self, path: str | Path) -> Path:
        """Write meta, rows and traces as JSON (read back by :meth:`from_json`)."""
        path = Path(path)
        doc = {
            "format": FORMAT_VERSION,
            "meta": _plain(self.meta),
            "rows": _plain(self.rows),
            "traces": {str(m): _plain(t) for m, t in self.traces.items()},
        }
        _atomic_write(path, json.dumps(doc, separators=(",", ":")))
        return path

    @classmethod
    def from_json(cls, path: str | Path) -> GapTable:
        path = Path(path)
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{str(path)!r} is not a readable gap table: {exc}") from exc
        if not isinstance(doc, dict) or doc.get("format") != FORMAT_VERSION:
            raise ValueError(f"{str(path)!r} is not a gap table of format {FORMAT_VERSION}")
        traces = {
            int(m): {k: np.asarray(v, dtype=float) for k, v in _unplain(t).items()}
            for m, t in doc.get("traces", {}).items()
        }
        return cls(rows=_unplain(doc["rows"]), traces=traces, meta=_unplain(doc["meta"]))

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
