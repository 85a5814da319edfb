"""Figures of a burn-in study (``burnin study``): MSE over ``m``, ``e_j``, predictions.

* ``study_mse_over_m``: one panel per ``N``; scaled train/validation/test MSE over ``m``
  (mean over seeds, bars from the lowest to the highest seed), the stateful-TBPTT and
  full-BPTT levels as horizontal lines, ``m*`` marked.
* ``study_window_error``: the mean squared output error ``e_j`` at window position ``j`` from the
  zero state, for a few ``m`` (as the synthetic experiment's ``e_j`` figure).
* ``study_predictions``: data and the free-run predictions of ``m = 0`` and ``m*`` on a stretch of
  the test split, one panel per output, in the data's units.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from verification.presentation.figures import DOUBLE, RC, styled  # noqa: E402

SPLIT_COLORS = {"train": "tab:blue", "val": "tab:orange", "test": "tab:green"}
KIND_STYLES = {"stateful": "--", "bptt": ":"}
STRETCH = 400  # test steps shown in the prediction figure
MAX_CURVES = 5  # burn-ins shown in the e_j figure


def _by_m(rows: list[dict[str, Any]], N: int, key: str) -> tuple[np.ndarray, ...]:
    ms = sorted({r["m"] for r in rows if r["kind"] == "stateless" and r["N"] == N})
    vals = [[r[key] for r in rows if r["kind"] == "stateless" and r["N"] == N and r["m"] == m]
            for m in ms]
    v = [np.array(x, dtype=float) for x in vals]
    return (np.array(ms), np.array([x.mean() for x in v]), np.array([x.min() for x in v]),
            np.array([x.max() for x in v]))


@styled
def mse_over_m(rows: list[dict[str, Any]], table: list[dict[str, Any]]) -> Figure:
    """Scaled MSE over ``m`` per ``N`` with stateful / full-BPTT levels and ``m*``."""
    Ns = [t["N"] for t in table]
    fig, axes = plt.subplots(1, max(1, len(Ns)), figsize=(DOUBLE, 2.6), squeeze=False,
                             layout="constrained")
    for ax, t in zip(axes[0], table, strict=False):
        N = t["N"]
        for split, color in SPLIT_COLORS.items():
            ms, mean, lo, hi = _by_m(rows, N, f"mse_{split}_scaled")
            ax.errorbar(ms, mean, yerr=[mean - lo, hi - mean], color=color, marker="o",
                        ms=2.5, capsize=1.5, label=f"TBPTT {split}")
            for kind, ls in KIND_STYLES.items():
                lv = [r[f"mse_{split}_scaled"] for r in rows if r["kind"] == kind
                      and (kind == "bptt" or r["N"] == N)]
                if lv:
                    ax.axhline(float(np.mean(lv)), color=color, ls=ls, lw=0.8,
                               label=f"{kind} {split}")
        ax.axvline(t["m_star"], color="0.5", lw=0.6)
        ax.annotate(r"$m^\star$" + f" = {t['m_star']}", (t["m_star"], 1.0),
                    xycoords=("data", "axes fraction"), ha="center", va="bottom", fontsize=7)
        ax.set_yscale("log")
        ax.set_xlabel("burn-in $m$")
        ax.set_title(f"N = {N}", pad=10)
    axes[0][0].set_ylabel("MSE (scaled units)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=6)
    return fig


@styled
def window_error(rows: list[dict[str, Any]], table: list[dict[str, Any]]) -> Figure:
    """``e_j`` over the window position ``j`` for a few ``m`` (first seed), one panel per N."""
    fig, axes = plt.subplots(1, max(1, len(table)), figsize=(DOUBLE, 2.4), squeeze=False,
                             layout="constrained")
    for ax, t in zip(axes[0], table, strict=False):
        N = t["N"]
        rs = [r for r in rows if r["kind"] == "stateless" and r["N"] == N and r.get("e_j")]
        seed = min((r["seed"] for r in rs), default=0)
        rs = sorted((r for r in rs if r["seed"] == seed), key=lambda r: r["m"])
        ms = [r["m"] for r in rs]
        pick = sorted({ms[int(i)] for i in np.linspace(0, len(ms) - 1, min(MAX_CURVES, len(ms)))}
                      | ({t["m_star"]} & set(ms))) if ms else []
        cmap = plt.get_cmap("viridis")
        for k, r in enumerate(r for r in rs if r["m"] in pick):
            e = np.array(r["e_j"], dtype=float)
            style = {"lw": 1.6} if r["m"] == t["m_star"] else {"lw": 0.9}
            ax.plot(np.arange(1, len(e) + 1), e, color=cmap(k / max(1, len(pick) - 1)),
                    label=f"m = {r['m']}" + (r" ($m^\star$)" if r["m"] == t["m_star"] else ""),
                    **style)
        ax.set_yscale("log")
        ax.set_xlabel("window position $j$")
        ax.set_title(f"N = {N}, training windows, seed {seed}")
        if pick:
            ax.legend(fontsize=6)
    axes[0][0].set_ylabel("$e_j$ (scaled MSE at $j$)")
    return fig


@styled
def predictions(rows: list[dict[str, Any]], table: list[dict[str, Any]], store: Any,
                splits: Any) -> Figure:
    """Test data and free-run predictions of ``m = 0`` and ``m*`` (first N, first seed)."""
    from systems import load_model

    test = splits.series("test")
    n_y = test.n_y
    fig, axes = plt.subplots(n_y, 1, figsize=(DOUBLE, 1.8 * n_y + 0.4), squeeze=False,
                             layout="constrained", sharex=True)
    if not table:
        return fig
    t = table[0]
    start = max(0, test.T // 2 - STRETCH // 2)
    span = np.arange(start, min(test.T, start + STRETCH))
    for k in range(n_y):
        axes[k][0].plot(span, test.y[span, k], color="0.2", lw=1.4, label="data")
    for m, color in ((0, "tab:red"), (t["m_star"], "tab:blue")):
        cand = sorted((r for r in rows if r["kind"] == "stateless" and r["N"] == t["N"]
                       and r["m"] == m), key=lambda r: r["seed"])
        if not cand:
            continue
        r = cand[0]
        path = store.out / "models" / f"{r['key']}.npz"
        model = load_model(path)
        _, y = model.simulate(splits.scaled("test").x)
        y = splits.scaler.y.inverse(y)
        for k in range(n_y):
            axes[k][0].plot(span, y[span, k], color=color, lw=0.9,
                            label=f"m = {m}" + (r" ($m^\star$)" if m == t["m_star"] else "")
                            + f", test MSE {r['mse_test']:.3g} (data units)")
    for k in range(n_y):
        name = splits.outputs[k] if k < len(splits.outputs) else f"y{k}"
        axes[k][0].set_ylabel(name)
        axes[k][0].legend(fontsize=6, loc="upper right")
    axes[-1][0].set_xlabel(f"test step (free run from the zero state at step 0; N = {t['N']})")
    return fig


def save_all(rows: list[dict[str, Any]], table: list[dict[str, Any]], store: Any, splits: Any,
             out: str | Path, formats: Sequence[str] = ("png",), dpi: int = 150) -> list[Path]:
    """Write the three figures to ``out`` (atomically: temporary name, then ``os.replace``)."""
    out = Path(out)
    builds = {
        "study_mse_over_m": lambda: mse_over_m(rows, table),
        "study_window_error": lambda: window_error(rows, table),
        "study_predictions": lambda: predictions(rows, table, store, splits),
    }
    paths = []
    for name, build in builds.items():
        fig = build()
        try:
            for fmt in formats:
                path, tmp = out / f"{name}.{fmt}", out / f".{name}.{fmt}.partial"
                with matplotlib.rc_context(RC):
                    fig.savefig(tmp, format=fmt, dpi=dpi)
                os.replace(tmp, path)
                paths.append(path)
        finally:
            plt.close(fig)
    return paths
