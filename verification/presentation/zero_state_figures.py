"""Figures of the price of the zero state (arrays in, a Figure out; nothing is computed here).

:func:`price_figure`: over the burn-in ``m`` (log scale), the measured price of the zero
initial state (``V(theta; 0) - V(theta; z*)``, or the theorem's ``V* - V^inf``) beside its T1
bound in both forms: with the certified envelope (T1e) and with the fitted ``(lam, C)``; the
simulated-witness T1e (what a perfect certificate would give) when given. A row whose gap
exceeds a bound gets a red ring and a note; gaps ``<= 0`` sit as open triangles on the axis
floor; missing bounds are noted. The caller supplies the arrays
(:mod:`verification.experiment.zero_state` rows) and the title (dataset, windows).

Example
-------
>>> import numpy as np
>>> from verification.presentation.figures import notes
>>> fig = price_figure([0, 10], [0.1, 0.01], [1.0, 0.1], [2.0, 0.2], title="demo")
>>> notes(fig)
[]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from verification.presentation.figures import SINGLE, _empty, _m_list, _note, styled

__all__ = ["price_figure"]

GAP_COLOR, ENV_COLOR, FIT_COLOR, WIT_COLOR = "black", "tab:blue", "tab:orange", "0.55"


def _floats(a: Sequence[float] | np.ndarray | None, n: int, name: str) -> np.ndarray | None:
    if a is None:
        return None
    out = np.asarray(a, dtype=float).reshape(-1)
    if out.size != n:
        raise ValueError(f"{name} has {out.size} values but ms has {n}")
    return out


@styled
def price_figure(ms: Sequence[int], gap: Sequence[float], T1_env: Sequence[float],
                 T1_fit: Sequence[float], *, T1_witness: Sequence[float] | None = None,
                 sound: Sequence[bool | None] | None = None, title: str = "",
                 gap_label: str = r"$V(\theta; 0) - V(\theta; z^\star)$") -> Figure:
    """The measured gap and both T1 forms over ``m`` (log scale), one panel.

    Parameters
    ----------
    ms : (M,) burn-ins
    gap : (M,) measured gaps
    T1_env, T1_fit : (M,) T1 with the certified envelope and with the fitted ``(lam, C)``
        (NaN where not available)
    T1_witness : (M,) T1e with the simulated ratios (optional; not a certificate)
    sound : (M,) the rows' soundness flags (False: a certified bound is below the gap; None:
        no bound); the figure marks the False ones, it does not judge
    title : the panel's title (e.g. dataset, model and windows)
    gap_label : legend label of the gap

    Returns
    -------
    matplotlib Figure (built without pyplot)
    """
    ms_ = np.asarray(ms, dtype=int).reshape(-1)
    n = ms_.size
    g = _floats(gap, n, "gap")
    curves = [(_floats(T1_env, n, "T1_env"), "T1 (certified envelope, T1e)", "-", ENV_COLOR),
              (_floats(T1_fit, n, "T1_fit"), r"T1 (fitted $\lambda, C$)", "--", FIT_COLOR),
              (_floats(T1_witness, n, "T1_witness"), "T1e with simulated ratios (estimate)",
               ":", WIT_COLOR)]
    fig = Figure(figsize=(SINGLE, 2.8), layout="constrained")
    ax = fig.subplots()
    ax.set_title(title)
    ax.set_xlabel(r"burn-in $m$")
    ax.set_ylabel("loss difference")
    ax.set_yscale("log")
    if n == 0:
        _empty(ax, "no burn-ins: nothing to draw")
        return fig
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    caveats = []
    for b, label, ls, color in curves:
        if b is None:
            continue
        ok = np.isfinite(b) & (b > 0)
        if not ok.any():
            caveats.append(f"{label}: not available")
            continue
        ax.plot(ms_, np.where(ok, b, np.nan), ls=ls, color=color, marker=".", label=label)
    pos, nonpos = np.isfinite(g) & (g > 0), np.isfinite(g) & (g <= 0)
    if pos.any():
        ax.plot(ms_[pos], g[pos], ls="none", marker="o", color=GAP_COLOR, label=gap_label)
    if nonpos.any():
        ax.plot(ms_[nonpos], np.full(nonpos.sum(), 0.03), ls="none", marker="v", mfc="none",
                color=GAP_COLOR, transform=ax.get_xaxis_transform(), clip_on=False)
        caveats.append(f"gap <= 0 at m = {_m_list(ms_[nonpos])} (drawn at the floor)")
    flags = [None] * n if sound is None else list(sound)
    bad = np.array([v is False or v is np.False_ for v in flags], dtype=bool)
    if bad.size != n:
        raise ValueError(f"sound has {bad.size} values but ms has {n}")
    if bad.any():
        ax.plot(ms_[bad], np.where(pos, g, np.nan)[bad], ls="none", marker="o", ms=9,
                mfc="none", mew=1.2, color="red", label="bound violated")
        caveats.append(f"certified bound VIOLATED at m = {_m_list(ms_[bad])}")
    ax.legend(frameon=False, fontsize=6)
    if caveats:
        _note(ax, "; ".join(caveats))
    return fig
