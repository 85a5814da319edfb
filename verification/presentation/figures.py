"""Figures of the bound-vs-gap table (docs/theory.md §8; the paper's Section 5.1 plus our own).

Every function takes a :class:`~verification.experiment.table.GapTable` and returns a
:class:`matplotlib.figure.Figure` built without pyplot (no global figure state, no backend
selection); :func:`save_all` writes them all.

=========================  ==================================================================
:func:`output_error`       average output error ``e_j`` over the window position ``j``, one
                           line per burn-in ``m`` (the paper's turnpike picture)
:func:`performance`        performance ``P`` over ``m`` on the training and the test sequence,
                           TBPTT (``o``) vs benchmark (``x``)
:func:`predictions`        the data, and for chosen ``m`` the TBPTT window outputs
                           ``y*_{j|i}`` and the free-run TBPTT and benchmark predictions
:func:`bounds_vs_gaps`     measured gaps and their bounds over ``m``: T1 and T2
:func:`lam_C_curve`        the certified ``(lam, C(lam))`` trade-off of A1 and the empirical
                           constants
=========================  ==================================================================

What could not be drawn (a missing trace, no certificate, a non-positive gap on a log axis)
is written on the figure as a note; :func:`notes` lists the notes of a figure. Sizes are for
print: single panels 3.4 in wide, multi-panel figures 7 in wide, no text below 7 pt.

Examples
--------
>>> from verification.experiment.table import GapTable
>>> fig = output_error(GapTable())           # an empty table still gives a figure
>>> notes(fig)
['no rows in the table: nothing to draw']
"""

from __future__ import annotations

import functools
import io
import math
import textwrap
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import LogFormatter, MaxNLocator

from verification.experiment.table import GapTable, atomic_write
from verification.presentation.text import fmt

__all__ = [
    "FIGURES",
    "FigureSpec",
    "bounds_vs_gaps",
    "lam_C_curve",
    "notes",
    "output_error",
    "performance",
    "predictions",
    "save_all",
]

SINGLE = 3.4  # column width, inches
DOUBLE = 7.0  # page width, inches
MAX_LEGEND_M = 8  # more burn-ins than this get a colorbar instead of a legend

RC = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.title_fontsize": 7,
    "figure.titlesize": 8,
    "lines.linewidth": 1.0,
    "lines.markersize": 4,
    "axes.linewidth": 0.6,
    "mathtext.fontset": "stixsans",  # a visible \star; DejaVu's is a dot at 8 pt
    "pdf.fonttype": 42,  # TrueType in PDF: editable text
}
TBPTT_COLOR, BENCH_COLOR, DATA_COLOR, INPUT_COLOR = "tab:blue", "tab:red", "0.35", "tab:green"
NOTE_GID = "burnin-note"


def styled(build: Callable[..., Figure]) -> Callable[..., Figure]:
    """Build the figure under the print style (scoped: rcParams are restored afterwards)."""

    @functools.wraps(build)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with matplotlib.rc_context(RC):
            return build(*args, **kwargs)

    return wrapper


# ---------------------------------------------------------------------------- helpers
def _num(v: Any) -> float:
    """A table cell as a float; missing, None or unparsable cells are NaN."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _col(table: GapTable, key: str) -> np.ndarray:
    """Column ``key`` over the rows as floats (NaN where missing)."""
    return np.array([_num(r.get(key)) for r in table.rows], dtype=float)


def _ms(table: GapTable) -> np.ndarray:
    return np.array(table.ms, dtype=int)


def _trace(table: GapTable, m: int, key: str) -> np.ndarray | None:
    """``table.traces[m][key]`` as a float array, or None if it is missing or empty."""
    t = table.traces.get(int(m))
    if t is None:  # JSON keys may come back as strings
        t = table.traces.get(str(m))  # type: ignore[call-overload]
    if t is None or key not in t:
        return None
    a = np.asarray(t[key], dtype=float)
    return a if a.size else None


def _meta_array(table: GapTable, key: str) -> np.ndarray | None:
    """``table.meta[key]`` as a ``(T, n)`` float array, or None."""
    v = table.meta.get(key)
    if v is None:
        return None
    a = np.asarray(v, dtype=float)
    if a.size == 0:
        return None
    return a.reshape(-1, 1) if a.ndim == 1 else a


def _as_2d(a: np.ndarray) -> np.ndarray:
    """``(T,)`` -> ``(T, 1)``; ``(T, n_y)`` unchanged."""
    return a.reshape(-1, 1) if a.ndim == 1 else a


def _m_list(ms: Iterable[int]) -> str:
    return ", ".join(str(int(m)) for m in ms)


def _wrap(ax: Axes, text: str) -> str:
    """Wrap ``text`` to the width of ``ax`` (about 20 characters of 7 pt text per inch)."""
    width_in = ax.get_position().width * ax.figure.get_figwidth()
    return "\n".join(textwrap.fill(p, max(20, int(19 * width_in))) for p in text.split("\n"))


def _note(ax: Axes, text: str, *, center: bool = False) -> None:
    """Write ``text`` on ``ax``: centred (nothing to draw) or below the x label (a caveat)."""
    if center:
        t = ax.text(
            0.5, 0.5, _wrap(ax, text), transform=ax.transAxes, ha="center", va="center",
            fontsize=7, color="0.25",
        )
    else:
        t = ax.annotate(
            _wrap(ax, text), xy=(0.0, 0.0), xycoords=("axes fraction", ax.xaxis.label),
            xytext=(0, -3), textcoords="offset points", ha="left", va="top",
            fontsize=7, color="0.25", annotation_clip=False,
        )
    t.set_gid(NOTE_GID)


def _empty(ax: Axes, text: str) -> None:
    """Mark an axes as having nothing to draw."""
    ax.set_xticks([])
    ax.set_yticks([])
    _note(ax, text, center=True)


def notes(fig: Figure) -> list[str]:
    """The notes written on ``fig`` (what could not be drawn, and why), unwrapped."""
    found = fig.findobj(lambda a: getattr(a, "get_gid", lambda: None)() == NOTE_GID)
    return [" ".join(t.get_text().split()) for t in found]


def _m_colors(ms: Sequence[int]) -> dict[int, Any]:
    """One viridis colour per burn-in (the yellow end is cut: it is unreadable on white)."""
    cmap = matplotlib.colormaps["viridis"]
    if len(ms) == 0:
        return {}
    lo, hi = min(ms), max(ms)
    norm = Normalize(lo, hi if hi > lo else lo + 1)
    return {int(m): cmap(0.9 * norm(m) if hi > lo else 0.45) for m in ms}


def _m_legend_or_colorbar(fig: Figure, ax: Axes, ms: Sequence[int]) -> None:
    if len(ms) <= MAX_LEGEND_M:
        ax.legend(ncol=1 if len(ms) <= 4 else 2, frameon=False, handlelength=1.5)
        return
    cmap = matplotlib.colors.ListedColormap(
        matplotlib.colormaps["viridis"](np.linspace(0, 0.9, 256))
    )
    sm = matplotlib.cm.ScalarMappable(norm=Normalize(min(ms), max(ms)), cmap=cmap)
    fig.colorbar(sm, ax=ax, label=r"burn-in $m$", pad=0.02)


# ---------------------------------------------------------------------------- (i)
@styled
def output_error(table: GapTable) -> Figure:
    """Average output error ``e_j`` over the window position ``j``, one line per ``m``.

    ``e_j = (1/S) sum_i ||y*_{j|i} - y^b_{j|i}||**2`` (docs/theory.md §8): TBPTT window outputs
    (zero initial state) against the benchmark's outputs on the same window. The turnpike
    picture: for large enough ``m`` it decays roughly like ``C**2 lam**(2j)``. Log ``y``
    axis; a marker on each line at ``j = m + 1``, the first scored position.
    """
    fig = Figure(figsize=(SINGLE, 2.6), layout="constrained")
    ax = fig.add_subplot()
    ax.set_xlabel(r"position in window $j$")
    ax.set_ylabel(r"average output error $e_j$")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ms = [int(m) for m in _ms(table)]
    if not ms:
        _empty(ax, "no rows in the table: nothing to draw")
        return fig
    colors = _m_colors(ms)
    missing, nonpos, drawn = [], [], []
    for m in ms:
        e = _trace(table, m, "e_j")
        if e is None:
            missing.append(m)
            continue
        e = e.ravel()
        j = np.arange(1, e.size + 1)
        shown = np.where(e > 0, e, np.nan)  # log axis: zeros and NaN leave a gap
        if np.any(~(e > 0)):
            nonpos.append(m)
        mark = [m] if m < e.size else []
        ax.plot(j, shown, color=colors[m], label=f"m = {m}", marker="o", markevery=mark)
        drawn.append(m)
    if not drawn:
        _empty(ax, f"no e_j trace for any m (m = {_m_list(ms)})")
        return fig
    _m_legend_or_colorbar(fig, ax, drawn)
    caveats = []
    if missing:
        caveats.append(f"no e_j trace for m = {_m_list(missing)}")
    if nonpos:
        caveats.append(f"e_j = 0 or NaN left out for m = {_m_list(nonpos)}")
    if caveats:
        _note(ax, "; ".join(caveats))
    return fig


# ---------------------------------------------------------------------------- (ii)
@styled
def performance(table: GapTable) -> Figure:
    """Performance ``P`` over ``m`` on the training and the test sequence (two panels).

    ``P(h_0, theta; D)`` (docs/theory.md §2) of the free run scored after the burn-in: TBPTT
    ``P(0, theta*)`` as circles, benchmark ``P(h_0^b, theta^b)`` as crosses. The ``y`` axis
    is logarithmic when the values are positive and span more than a factor 20.
    """
    fig = Figure(figsize=(DOUBLE, 2.6), layout="constrained")
    axes = fig.subplots(1, 2)
    ms = _ms(table)
    panels = [
        (axes[0], "P_star", "P_b", f"training sequence {_name(table, 'train_name')}"),
        (axes[1], "P_star_test", "P_b_test", f"test sequence {_name(table, 'test_name')}"),
    ]
    for ax, k_star, k_b, title in panels:
        ax.set_title(title.strip())
        ax.set_xlabel(r"burn-in $m$")
        ax.set_ylabel(r"performance $P$")
        if ms.size == 0:
            _empty(ax, "no rows in the table: nothing to draw")
            continue
        P_star, P_b = _col(table, k_star), _col(table, k_b)
        if not np.any(np.isfinite(P_star)) and not np.any(np.isfinite(P_b)):
            _empty(ax, f"no {k_star} or {k_b} in the table")
            continue
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.plot(ms, P_star, marker="o", ls="-", lw=0.8, color=TBPTT_COLOR, mfc="none",
                label=r"TBPTT $P(0, \theta^\star)$")
        ax.plot(ms, P_b, marker="x", ls="--", lw=0.8, color=BENCH_COLOR,
                label=r"benchmark $P(h_0^b, \theta^b)$")
        both = np.concatenate([P_star, P_b])
        both = both[np.isfinite(both)]
        if both.size and np.all(both > 0) and both.max() > 20 * both.min():
            ax.set_yscale("log")
        ax.legend(frameon=False)
        absent = [k for k, v in ((k_star, P_star), (k_b, P_b)) if np.all(np.isnan(v))]
        nan_m = ms[np.isnan(P_star) | np.isnan(P_b)]
        if absent:
            _note(ax, f"no {' or '.join(absent)} in the table")
        elif nan_m.size:
            _note(ax, f"P not available for m = {_m_list(nan_m)}")
    return fig


def _name(table: GapTable, key: str) -> str:
    v = table.meta.get(key)
    return f"({v})" if v else ""


# ---------------------------------------------------------------------------- (iii)
@styled
def predictions(table: GapTable, ms: Iterable[int] | None = None, *, component: int = 0
                ) -> Figure:
    """The data and the predictions for the burn-ins ``ms`` (default: smallest and largest).

    Top row: input ``x_t`` and output ``y_t`` of the training and the test sequence. One row
    per ``m`` below: on the training sequence the TBPTT window outputs ``y*_{j|i}`` (zero
    initial state per window; thin lines, window ``i`` drawn at times ``s_i + j``), the free
    run of ``theta*`` from ``0`` and the benchmark's free run from ``h_0^b``; on the test
    sequence the two free runs. The shaded band ``t <= m`` is the part ``P`` does not score.

    Parameters
    ----------
    ms : burn-ins to show, each a row of the table; default ``[min m, max m]``
    component : which output component to draw when ``n_y > 1``
    """
    if int(component) < 0:
        raise ValueError(f"component = {component} must be >= 0 (an output index)")
    all_ms = [int(m) for m in _ms(table)]
    if ms is None:
        show = sorted({all_ms[0], all_ms[-1]}) if all_ms else []
    else:
        show = [int(m) for m in ms]
        unknown = [m for m in show if m not in all_ms]
        if unknown:
            raise ValueError(
                f"ms contains m = {_m_list(unknown)}, which has no row in the table; "
                f"rows exist for m in {all_ms}"
            )
    rows = 1 + len(show)
    fig = Figure(figsize=(DOUBLE, 1.45 * rows + 0.55), layout="constrained")
    axes = fig.subplots(rows, 2, sharex="col", squeeze=False)
    for ax in axes.ravel():
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    stride = _num(table.meta.get("stride", 1))
    stride = int(stride) if np.isfinite(stride) and stride >= 1 else 1
    for col, split in enumerate(("train", "test")):
        x, y = _meta_array(table, f"x_{split}"), _meta_array(table, f"y_{split}")
        _data_panel(axes[0, col], x, y, split, _name(table, f"{split}_name"), component)
        for r, m in enumerate(show, start=1):
            _prediction_panel(axes[r, col], table, m, split, y, stride, component)
        axes[-1, col].set_xlabel(r"time $t$")
    if not show:
        for ax in axes[0]:
            _note(ax, "no rows in the table: no predictions to draw")
    _figure_legend(fig, axes, ncol=3)
    return fig


def _data_panel(ax: Axes, x: np.ndarray | None, y: np.ndarray | None, split: str,
                name: str, component: int) -> None:
    word = "training" if split == "train" else "test"
    ax.set_title(f"{word} data {name}".strip())
    ax.set_ylabel(r"$x_t$, $y_t$")
    if x is None and y is None:
        _empty(ax, f"no x_{split} or y_{split} in table.meta")
        return
    if x is not None:
        t = np.arange(1, x.shape[0] + 1)
        for c in range(x.shape[1]):
            ax.plot(t, x[:, c], color=INPUT_COLOR, lw=0.9,
                    label=r"input $x_t$" if c == 0 else None)
    if y is not None:
        t = np.arange(1, y.shape[0] + 1)
        ax.plot(t, y[:, min(component, y.shape[1] - 1)], color=DATA_COLOR, lw=0.6,
                marker=".", ms=2.5, label=r"output data $y_t$")
    missing = [k for k, v in ((f"x_{split}", x), (f"y_{split}", y)) if v is None]
    if missing:
        _note(ax, f"no {' or '.join(missing)} in table.meta")
    elif y is not None and y.shape[1] > 1:
        c = min(component, y.shape[1] - 1)
        _note(ax, f"output component {c} of n_y = {y.shape[1]} shown in all panels")


def _prediction_panel(ax: Axes, table: GapTable, m: int, split: str, y: np.ndarray | None,
                      stride: int, component: int) -> None:
    word = "training" if split == "train" else "test"
    key = "" if split == "train" else "_test"
    P_star, P_b = (_num(table.row(m).get(k)) for k in (f"P_star{key}", f"P_b{key}"))
    ax.set_title(
        rf"{word}, $m = {m}$:  $P^\star$ = {fmt(P_star)},  $P^b$ = {fmt(P_b)}", fontsize=7.5
    )
    ax.set_ylabel(r"$y_t$")
    if m > 0:
        ax.axvspan(0.5, m + 0.5, color="0.9", lw=0, zorder=0, label=r"unscored $t \leq m$")
    missing = []
    if y is not None:
        t = np.arange(1, y.shape[0] + 1)
        ax.plot(t, y[:, min(component, y.shape[1] - 1)], color=DATA_COLOR, lw=0, marker=".",
                ms=2.5, label=r"output data $y_t$")
    if split == "train":
        Yw = _trace(table, m, "y_star_windows")
        if Yw is None:
            missing.append("y_star_windows")
        else:
            Yw = Yw[..., None] if Yw.ndim == 2 else Yw  # (S, N) -> (S, N, 1)
            S, N = Yw.shape[:2]
            j = np.arange(1, N + 1)
            c = min(component, Yw.shape[2] - 1)
            segs = [np.column_stack([i * stride + j, Yw[i, :, c]]) for i in range(S)]
            lc = LineCollection(segs, colors=TBPTT_COLOR, linewidths=0.5, alpha=0.3,
                                label=r"TBPTT windows $y^\star_{j|i}$")
            lc.set_gid("windows")
            ax.add_collection(lc, autolim=True)
            ax.autoscale_view()
    for k, color, ls, label in (
        (f"y_star_free_{split}", TBPTT_COLOR, "-", r"TBPTT free run from $0$"),
        (f"y_b_free_{split}", BENCH_COLOR, "--", r"benchmark free run from $h_0^b$"),
    ):
        yf = _trace(table, m, k)
        if yf is None:
            missing.append(k)
            continue
        yf = _as_2d(yf)
        t = np.arange(1, yf.shape[0] + 1)
        ax.plot(t, yf[:, min(component, yf.shape[1] - 1)], color=color, ls=ls, lw=1.1,
                label=label)
    if missing and y is None and len(missing) == (3 if split == "train" else 2):
        _empty(ax, f"no data or predictions for m = {m} ({', '.join(missing)} missing)")
    elif missing:
        _note(ax, f"not drawn (missing trace): {', '.join(missing)}")


# ---------------------------------------------------------------------------- (iv)
# (row key, legend label, line style, colour); the label is shared by T1 and T2 so one
# figure legend explains both panels
_T1_BOUNDS = [
    ("T1_bound", r"bound, certified $(\lambda, C)$", "-", "tab:blue"),
    ("T1_bound_emp", r"bound, empirical $(\lambda, C)$", "--", "tab:orange"),
]
_T2_BOUNDS = [
    ("T2a_bound", r"bound, certified $(\lambda, C)$", "-", "tab:blue"),
    ("T2a_bound_emp", r"bound, empirical $(\lambda, C)$", "--", "tab:orange"),
    ("T2b_bound", "T2b a priori bound", ":", "tab:purple"),
]
GAP_LABEL, FLOOR_LABEL, VIOLATED_LABEL = "measured gap", r"gap $\leq 0$ (at floor)", "violated"


@styled
def bounds_vs_gaps(table: GapTable) -> Figure:
    """Measured gaps and their bounds over ``m`` (log scale): T1 left, T2 right.

    T1 (docs/theory.md §5): ``V* - V^inf`` and the T1 bound (min of T1a and T1b) evaluated with
    certified constants (solid) and with empirical constants (dashed; not a certificate).
    T2 (§6): ``P(0, theta*) - P(h_0^b, theta^b)`` and T2a (a posteriori, certified and
    empirical constants) and T2b (a priori, needs C_eps). Soundness means gap <= certified
    bound; a row with ``sound_T1``/``sound_T2`` false gets a red ring and a note. Gaps
    ``<= 0`` cannot be drawn on a log axis: they are open triangles on the axis floor, and
    a note lists them.
    """
    fig = Figure(figsize=(DOUBLE, 3.0), layout="constrained")
    axes = fig.subplots(1, 2)
    ms = _ms(table)
    panels = [
        (axes[0], r"T1, training regret: $V^\star - V^\infty$", r"$V^\star - V^\infty$",
         "gap_T1", "sound_T1", _T1_BOUNDS),
        (axes[1], r"T2, performance regret: $P^\star - P^b$",
         r"$P(0, \theta^\star) - P(h_0^b, \theta^b)$", "gap_T2", "sound_T2", _T2_BOUNDS),
    ]
    for ax, title, ylabel, gap_key, sound_key, bounds in panels:
        ax.set_title(title)
        ax.set_xlabel(r"burn-in $m$")
        ax.set_ylabel(ylabel)
        ax.set_yscale("log")
        if ms.size == 0:
            _empty(ax, "no rows in the table: nothing to draw")
            continue
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        caveats, anything = [], False
        for key, label, ls, color in bounds:
            b = _col(table, key)
            ok = np.isfinite(b) & (b > 0)
            if not ok.any():
                caveats.append(f"{key} not available")
                continue
            anything = True
            line = ax.plot(ms, np.where(ok, b, np.nan), ls=ls, color=color, marker=".",
                           label=label)[0]
            line.set_gid(key)
            if (~ok).any():
                caveats.append(f"{key} not available for m = {_m_list(ms[~ok])}")
        gap = _col(table, gap_key)
        pos = np.isfinite(gap) & (gap > 0)
        nonpos = np.isfinite(gap) & (gap <= 0)
        if pos.any():
            anything = True
            ax.plot(ms[pos], gap[pos], ls="none", marker="o", color="black",
                    label=GAP_LABEL)[0].set_gid(gap_key)
        if nonpos.any():
            ax.plot(ms[nonpos], np.full(nonpos.sum(), 0.03), ls="none", marker="v",
                    mfc="none", color="black", transform=ax.get_xaxis_transform(),
                    clip_on=False, label=FLOOR_LABEL)[0].set_gid(gap_key + "_floor")
            caveats.append(f"{gap_key} <= 0 at m = {_m_list(ms[nonpos])} (drawn at the floor)")
        if np.isnan(gap).any():
            caveats.append(f"{gap_key} not measured at m = {_m_list(ms[np.isnan(gap)])}")
        bad = np.array([_is_false(r.get(sound_key)) for r in table.rows])
        if bad.any():
            ax.plot(ms[bad], np.where(pos, gap, np.nan)[bad], ls="none", marker="o", ms=9,
                    mfc="none", mew=1.2, color="red", label=VIOLATED_LABEL)
            caveats.append(f"certified bound VIOLATED at m = {_m_list(ms[bad])}")
        if not anything and not nonpos.any():
            _empty(ax, f"no {gap_key} and no bounds in the table")
            continue
        if caveats:
            _note(ax, "; ".join(caveats))
    _figure_legend(fig, axes, ncol=3)
    return fig


def _is_false(v: Any) -> bool:
    """An explicit False flag (missing, NaN or None is 'unknown', not False)."""
    return v is False or v is np.False_ or (isinstance(v, str) and v.strip() == "False")


def _figure_legend(fig: Figure, axes: Iterable[Axes], ncol: int) -> None:
    """One legend above all panels, each label once."""
    handles, labels = [], []
    for ax in np.ravel(axes):
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if handles:
        fig.legend(handles, labels, loc="outside upper center", ncol=min(len(labels), ncol),
                   frameon=False)


# ---------------------------------------------------------------------------- (v)
@styled
def lam_C_curve(table: GapTable, m: int | None = None) -> Figure:
    """The certified ``(lam, C(lam))`` trade-off of A1 for ``theta^inf``, with empirical ``C``.

    Every point of the curve is a valid A1 certificate (docs/theory.md §7): a smaller ``lam``
    costs a larger ``C``. The point the table's bounds used (``lam_cert, C_cert``) is a
    circle, the empirical (sampled, not certified) constants a star. ``m=None`` draws every
    burn-in (coloured as in :func:`output_error`), an int only that ``m``. Log ``C`` axis.
    """
    fig = Figure(figsize=(SINGLE, 2.6), layout="constrained")
    ax = fig.add_subplot()
    ax.set_xlabel(r"contraction rate $\lambda$")
    ax.set_ylabel(r"$C(\lambda)$")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(_PlainLog())
    ax.yaxis.set_minor_formatter(_PlainLog(labelOnlyBase=False))  # labels short ranges
    all_ms = [int(k) for k in _ms(table)]
    if m is None:
        show = all_ms
    else:
        if int(m) not in all_ms:
            raise ValueError(f"m = {m} has no row in the table; rows exist for m in {all_ms}")
        show = [int(m)]
    if not show:
        _empty(ax, "no rows in the table: nothing to draw")
        return fig
    colors = _m_colors(all_ms)
    no_curve, curves, points = [], 0, set()
    for k in show:
        row = table.row(k)
        lam, C = _trace(table, k, "lam_curve"), _trace(table, k, "C_curve")
        ok = (np.isfinite(lam) & np.isfinite(C) & (C > 0)
              if lam is not None and C is not None and lam.shape == C.shape else None)
        if ok is None or not ok.any():
            no_curve.append(k)
        else:
            order = np.argsort(lam[ok])
            ax.plot(lam[ok][order], C[ok][order], color=colors[k],
                    label=f"m = {k}" if len(show) > 1 else "certified curve")
            curves += 1
        lc, Cc = _num(row.get("lam_cert")), _num(row.get("C_cert"))
        if np.isfinite(lc) and np.isfinite(Cc) and Cc > 0:
            ax.plot([lc], [Cc], ls="none", marker="o", mfc="none", color=colors[k])
            points.add("o")
        le = _point(table, k, "lam_emp_point", row.get("lam_emp"))
        Ce = _point(table, k, "C_emp_point", row.get("C_emp"))
        if np.isfinite(le) and np.isfinite(Ce) and Ce > 0:
            ax.plot([le], [Ce], ls="none", marker="*", ms=7, color=colors[k])
            points.add("*")
    if not curves and not points:
        reason = str(table.row(show[0]).get("cert_reason") or "").strip()
        msg = f"no certified (lambda, C) curve and no empirical constants for m = {_m_list(show)}"
        _empty(ax, msg + (f" ({reason})" if reason and reason != "nan" else ""))
        return fig
    handles, labels = ax.get_legend_handles_labels()
    for marker, label in (("o", "certified point used"), ("*", "empirical constants")):
        if marker in points:  # marker legend in grey: the colour says m, the marker what
            handles.append(Line2D([], [], ls="none", marker=marker, color="0.3",
                                  mfc="none" if marker == "o" else "0.3",
                                  ms=7 if marker == "*" else 4))
            labels.append(label)
    ax.legend(handles, labels, frameon=False, fontsize=7, ncol=1 if len(handles) <= 5 else 2)
    if no_curve:
        _note(ax, f"no certified (lambda, C) curve for m = {_m_list(no_curve)}")
    return fig


class _PlainLog(LogFormatter):
    """Log-axis labels as plain numbers (``0.6``, ``2``, ``1e-06``), ticks chosen as usual."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        return f"{x:g}" if super().__call__(x, pos) else ""


def _point(table: GapTable, m: int, key: str, fallback: Any) -> float:
    a = _trace(table, m, key)
    return float(a.ravel()[0]) if a is not None else _num(fallback)


# ---------------------------------------------------------------------------- saving
class FigureSpec(NamedTuple):
    """One figure of :func:`save_all`: how to draw it and its caption in ``report.md``."""

    build: Callable[[GapTable], Figure]
    caption: str


#: Every figure, by file name (the one list of figure names).
FIGURES: dict[str, FigureSpec] = {
    "fig1_output_error": FigureSpec(
        output_error, "Average output error e_j over j for every burn-in m (docs/theory.md §8)."),
    "fig2_performance": FigureSpec(
        performance, "Performance P over m, training and test; TBPTT (o) vs benchmark (x)."),
    "fig3_predictions": FigureSpec(
        predictions, "Data and predictions for the smallest and largest m."),
    "fig4_bounds_vs_gaps": FigureSpec(
        bounds_vs_gaps, "Measured gaps and their bounds over m (T1, T2)."),
    "fig5_lam_C": FigureSpec(
        lam_C_curve, "Certified (lam, C) trade-off of LMI-C with the empirical point."),
}


def save_all(
    table: GapTable,
    out_dir: str | Path,
    formats: Sequence[str] = ("png", "pdf"),
    dpi: int = 150,
) -> list[Path]:
    """Write every figure of :data:`FIGURES` as ``out_dir/<name>.<format>``.

    Each file is written with :func:`verification.experiment.table.atomic_write` (a uniquely
    named partial file renamed into place), so a file with the final name is always complete
    and two runs on one folder never share a partial file. Returns the paths in the order
    figure-major, format-minor.
    """
    formats = [str(f).lower().lstrip(".") for f in formats]
    supported = Figure().canvas.get_supported_filetypes()
    bad = [f for f in formats if f not in supported]
    if bad or not formats:
        raise ValueError(
            f"formats = {formats!r}: each must be one of {sorted(supported)} (at least one)"
        )
    if dpi <= 0:
        raise ValueError(f"dpi = {dpi} must be positive")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, spec in FIGURES.items():
        fig = spec.build(table)
        for k, ext in enumerate(formats):
            if k == 1:  # the layout is done: the other formats reuse it
                fig.set_layout_engine("none")
            meta = {"CreationDate": None} if ext == "pdf" else None  # reproducible PDFs
            buf = io.BytesIO()
            with matplotlib.rc_context(RC):
                fig.savefig(buf, format=ext, dpi=dpi, metadata=meta)
            path = atomic_write(out / f"{name}.{ext}", buf.getvalue())
            paths.append(path)
    return paths
