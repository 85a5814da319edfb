"""The tuner's rung-by-rung figure: every candidate's criterion at every rung.

One marker per burn-in and rung (mean over the rung's seeds; bars from the lowest to the
highest seed), rungs coloured from first to last, the chosen ``m`` and the theory's cap marked.
The figure takes arrays only; nothing here trains or reads a model.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from verification.experiment.table import atomic_write
from verification.presentation.figures import RC, SINGLE, styled


@styled
def rung_figure(ms: Sequence[np.ndarray], mean: Sequence[np.ndarray], lo: Sequence[np.ndarray],
                hi: Sequence[np.ndarray], epochs: Sequence[int], kinds: Sequence[str],
                chosen: int, cap: int | None = None, title: str = "") -> Figure:
    """Criterion over ``m`` per rung.

    Parameters
    ----------
    ms, mean, lo, hi : per rung ``r``, ``(n_r,)`` burn-ins, mean criterion over seeds, lowest
        and highest seed
    epochs, kinds : per rung, the epochs its candidates were trained and its kind
    chosen : the chosen ``m``; cap : the theory's largest candidate (``None``: no cap)
    """
    fig = Figure(figsize=(SINGLE * 1.5, 2.6), layout="constrained")
    ax = fig.add_subplot()
    cmap = colormaps["viridis"]
    R = len(ms)
    for r in range(R):
        m, c = np.asarray(ms[r]), np.asarray(mean[r])
        ok = np.isfinite(c)
        err = [c[ok] - np.asarray(lo[r])[ok], np.asarray(hi[r])[ok] - c[ok]]
        ax.errorbar(m[ok] + 0.6 * (r - (R - 1) / 2), c[ok], yerr=err, ls="none", marker="o",
                    ms=3, capsize=1.5, color=cmap(r / max(R - 1, 1)),
                    label=f"{r + 1} {kinds[r]}: {len(m)} m, {epochs[r]} ep")
    ax.axvline(chosen, color="tab:red", lw=0.8, ls="--", label=f"chosen m = {chosen}")
    if cap is not None:
        ax.axvline(cap, color="0.5", lw=0.8, ls=":", label=f"theory's cap ({cap})")
    ax.set_yscale("log")
    ax.set_xlabel("burn-in m")
    ax.set_ylabel("0.7 train + 0.3 val MSE (scaled)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=6, loc="best")
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int = 150) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically."""
    buf = io.BytesIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format="png", dpi=dpi)
    return atomic_write(path, buf.getvalue())
