"""Figures of a burn-in study (``burnin study``): MSE over ``m``, ``e_j``, predictions.

* ``study_mse_over_m``: one panel per ``N``; scaled train/validation/test MSE over ``m``
  (mean over seeds, bars from the lowest to the highest seed), the stateful-TBPTT and
  full-BPTT levels as horizontal lines, ``m*`` marked.
* ``study_window_error``: the mean squared output error ``e_j`` at window position ``j`` from the
  zero state, for a few ``m`` (as the synthetic experiment's ``e_j`` figure).
* ``study_predictions``: data and the free-run predictions of ``m = 0`` and ``m*`` on a stretch of
  the test split, one panel per output, in the data's units.

Every figure is drawn from numbers computed by the study
(:class:`verification.experiment.study.StudyOutcome`); nothing here loads or runs a model.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from verification.experiment.study import Predictions, StudyOutcome
from verification.experiment.study_run import ModelRecord
from verification.experiment.study_table import PaperRow
from verification.experiment.table import atomic_write
from verification.presentation.figures import DOUBLE, RC, styled

SPLIT_COLORS = {"train": "tab:blue", "val": "tab:orange", "test": "tab:green"}
KIND_STYLES = {"stateful": "--", "bptt": ":"}
MAX_CURVES = 5  # burn-ins shown in the e_j figure


def _by_m(records: Sequence[ModelRecord], N: int, split: str) -> tuple[np.ndarray, ...]:
    ms = sorted({r.m for r in records if r.kind == "stateless" and r.N == N})
    v = [np.array([r.scaled(split) for r in records
                   if r.kind == "stateless" and r.N == N and r.m == m]) for m in ms]
    return (np.array(ms), np.array([x.mean() for x in v]), np.array([x.min() for x in v]),
            np.array([x.max() for x in v]))


@styled
def mse_over_m(records: Sequence[ModelRecord], table: Sequence[PaperRow]) -> Figure:
    """Scaled MSE over ``m`` per ``N`` with stateful / full-BPTT levels and ``m*``."""
    fig = Figure(figsize=(DOUBLE, 2.6), layout="constrained")
    axes = fig.subplots(1, max(1, len(table)), squeeze=False)
    for ax, t in zip(axes[0], table, strict=False):
        for split, color in SPLIT_COLORS.items():
            ms, mean, lo, hi = _by_m(records, t.N, split)
            ax.errorbar(ms, mean, yerr=[mean - lo, hi - mean], color=color, marker="o",
                        ms=2.5, capsize=1.5, label=f"TBPTT {split}")
            for kind, ls in KIND_STYLES.items():
                lv = [r.scaled(split) for r in records if r.kind == kind
                      and (kind == "bptt" or r.N == t.N)]
                if lv:
                    ax.axhline(float(np.mean(lv)), color=color, ls=ls, lw=0.8,
                               label=f"{kind} {split}")
        ax.axvline(t.m_star, color="0.5", lw=0.6)
        ax.annotate(r"$m^\star$" + f" = {t.m_star}", (t.m_star, 1.0),
                    xycoords=("data", "axes fraction"), ha="center", va="bottom", fontsize=7)
        ax.set_yscale("log")
        ax.set_xlabel("burn-in $m$")
        ax.set_title(f"N = {t.N}", pad=10)
    axes[0][0].set_ylabel("MSE (scaled units)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=6)
    return fig


@styled
def window_error(records: Sequence[ModelRecord], table: Sequence[PaperRow]) -> Figure:
    """``e_j`` over the window position ``j`` for a few ``m`` (first seed), one panel per N."""
    fig = Figure(figsize=(DOUBLE, 2.4), layout="constrained")
    axes = fig.subplots(1, max(1, len(table)), squeeze=False)
    cmap = colormaps["viridis"]
    for ax, t in zip(axes[0], table, strict=False):
        rs = [r for r in records if r.kind == "stateless" and r.N == t.N and r.e_j]
        seed = min((r.seed for r in rs), default=0)
        rs = sorted((r for r in rs if r.seed == seed), key=lambda r: r.m)
        ms = [r.m for r in rs]
        pick = sorted({ms[int(i)] for i in np.linspace(0, len(ms) - 1, min(MAX_CURVES, len(ms)))}
                      | ({t.m_star} & set(ms))) if ms else []
        for k, r in enumerate(r for r in rs if r.m in pick):
            e = np.array(r.e_j, dtype=float)
            star = r.m == t.m_star
            ax.plot(np.arange(1, len(e) + 1), e, color=cmap(k / max(1, len(pick) - 1)),
                    label=f"m = {r.m}" + (r" ($m^\star$)" if star else ""),
                    lw=1.6 if star else 0.9)
        ax.set_yscale("log")
        ax.set_xlabel("window position $j$")
        ax.set_title(f"N = {t.N}, training windows, seed {seed}")
        if pick:
            ax.legend(fontsize=6)
    axes[0][0].set_ylabel("$e_j$ (scaled MSE at $j$)")
    return fig


@styled
def predictions(p: Predictions | None) -> Figure:
    """Test data and free-run predictions of ``m = 0`` and ``m*`` (first N, first seed)."""
    n_y = 1 if p is None else p.data.shape[1]
    fig = Figure(figsize=(DOUBLE, 1.8 * n_y + 0.4), layout="constrained")
    axes = fig.subplots(n_y, 1, squeeze=False, sharex=True)
    if p is None:
        return fig
    for k in range(n_y):
        ax = axes[k][0]
        ax.plot(p.steps, p.data[:, k], color="0.2", lw=1.4, label="data")
        for (label, y, mse), color in zip(p.curves, ("tab:red", "tab:blue"), strict=False):
            ax.plot(p.steps, y[:, k], color=color, lw=0.9,
                    label=f"{label}, test MSE {mse:.3g} (data units)")
        ax.set_ylabel(p.outputs[k] if k < len(p.outputs) else f"y{k}")
        ax.legend(fontsize=6, loc="upper right")
    axes[-1][0].set_xlabel(f"test step (free run from the zero state at step 0; N = {p.N})")
    return fig


def save_all(outcome: StudyOutcome, out: str | Path, formats: Sequence[str] = ("png",),
             dpi: int = 150) -> list[Path]:
    """Write the three figures to ``out``, each file atomically."""
    out = Path(out)
    builds = {
        "study_mse_over_m": lambda: mse_over_m(outcome.records, outcome.table),
        "study_window_error": lambda: window_error(outcome.records, outcome.table),
        "study_predictions": lambda: predictions(outcome.predictions),
    }
    paths = []
    for name, build in builds.items():
        fig = build()
        for ext in formats:
            buf = io.BytesIO()
            with matplotlib.rc_context(RC):
                fig.savefig(buf, format=ext, dpi=dpi)
            paths.append(atomic_write(out / f"{name}.{ext}", buf.getvalue()))
    return paths
