"""The files a study writes into ``--out``, from its computed outcome: ``results.csv``/``.json``,
``table.csv``, ``theory.csv``/``.json``, the figures and ``report.md``. Every file is written
atomically (temporary name, then rename); nothing here computes.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Sequence
from io import StringIO
from pathlib import Path
from typing import Any

from verification.experiment.study import StudyOutcome
from verification.experiment.study_run import ModelRecord
from verification.experiment.study_table import TABLE_COLUMNS, PaperRow
from verification.experiment.study_theory import THEORY_COLUMNS
from verification.experiment.table import atomic_write, plain

#: ``results.csv``: one row per model.
RESULT_COLUMNS = (
    "key", "dataset", "cell", "n_h", "N", "m", "kind", "seed", "budget", "epochs", "seconds",
    "cpu_seconds",
    "mse_train_scaled", "mse_val_scaled", "mse_test_scaled", "mse_train", "mse_val", "mse_test",
    "source", "diverged",
)


def csv_value(v: Any) -> Any:
    """A value as a CSV cell: floats with 6 significant digits, NaN and ``None`` empty."""
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return v


def _csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    buf = StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: csv_value(r.get(k)) for k in columns})
    return buf.getvalue()


def write_results(records: Sequence[ModelRecord], out: str | Path) -> list[Path]:
    """``results.csv`` (one row per model, :data:`RESULT_COLUMNS`) and ``results.json`` (every
    field of every record)."""
    out = Path(out)
    docs = [r.to_dict() for r in records]
    atomic_write(out / "results.csv", _csv(docs, RESULT_COLUMNS))
    atomic_write(out / "results.json", json.dumps(docs, indent=1))
    return [out / "results.csv", out / "results.json"]


def write_table(table: Sequence[PaperRow], out: str | Path) -> Path:
    """``table.csv`` in the paper's layout (:data:`TABLE_COLUMNS` first, the spread after)."""
    docs = [r.to_dict() for r in table]
    cols = list(docs[0]) if docs else list(TABLE_COLUMNS)
    path = Path(out) / "table.csv"
    atomic_write(path, _csv(docs, cols))
    return path


def write_theory(theory: dict[str, Any], out: str | Path) -> list[Path]:
    """``theory.csv`` (one row per ``(N, seed)``, :data:`THEORY_COLUMNS`) and ``theory.json``
    (those rows and every examined model's record, with its certified envelope ``G_j`` and the
    windows it covers)."""
    out = Path(out)
    atomic_write(out / "theory.csv", _csv(theory["recommend"], THEORY_COLUMNS))
    atomic_write(out / "theory.json", json.dumps(plain(theory), indent=1))
    return [out / "theory.csv", out / "theory.json"]


def write_all(outcome: StudyOutcome, log: Callable[[str], None] = print) -> list[Path]:
    """Every file of ``outcome`` into its study folder; returns their paths. Without the
    theory's view (``--certify-windows 0``) an earlier run's ``theory.csv``/``.json`` are
    removed (the per-model cache in ``theory/`` is kept)."""
    from verification.presentation import study_figures, study_report

    out = outcome.plan.out
    paths = write_results(outcome.records, out)
    paths.append(write_table(outcome.table, out))
    figures = study_figures.save_all(outcome, out)
    paths += figures
    if outcome.theory is not None:
        paths += write_theory(outcome.theory, out)
    else:
        for name in ("theory.csv", "theory.json"):
            (out / name).unlink(missing_ok=True)
    paths.append(study_report.write_report(outcome, figures))
    return paths
