"""Argument checks for ``bounds.numeric``: each names the argument, the hypothesis and the range.

Every check runs before any work and raises :class:`HypothesisError` (a ``ValueError``)
whose message names the argument, its offending value, the docs/theory.md hypothesis and the
allowed range, e.g. ``"lam = 1.2 violates A1: need 0 < lam < 1"``. All checks accept
scalars or arrays and return float64 (or int64) arrays; for an array the message reports
the first offending entry.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "HypothesisError",
    "finite",
    "rate",
    "positive",
    "nonnegative",
    "integer",
    "burn_in",
    "coercivity",
    "overlap",
    "not_above",
]


class HypothesisError(ValueError):
    """An argument violates a hypothesis of docs/theory.md; the message says which and the range."""


def _fmt(v: float) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() else f"{v:.6g}"


def _first(x: np.ndarray, bad: np.ndarray) -> float:
    return np.asarray(x).reshape(-1)[np.flatnonzero(np.asarray(bad).reshape(-1))[0]]


def finite(name: str, x) -> np.ndarray:
    """``x`` as a float64 array; NaN or inf raises."""
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as err:
        raise HypothesisError(f"{name} = {x!r} must be a real number or array") from err
    bad = ~np.isfinite(arr)
    if bad.any():
        raise HypothesisError(f"{name} = {_first(arr, bad)} must be finite (got NaN or inf)")
    return arr


def rate(name: str, x, tag: str = "A1") -> np.ndarray:
    """A contraction rate: ``0 < x < 1`` (hypothesis ``tag``)."""
    arr = finite(name, x)
    bad = (arr <= 0) | (arr >= 1)
    if bad.any():
        raise HypothesisError(
            f"{name} = {_fmt(_first(arr, bad))} violates {tag}: need 0 < {name} < 1"
        )
    return arr


def positive(name: str, x, what: str = "") -> np.ndarray:
    """``x > 0``."""
    arr = finite(name, x)
    bad = arr <= 0
    if bad.any():
        why = f" ({what})" if what else ""
        raise HypothesisError(f"{name} = {_fmt(_first(arr, bad))} must be > 0{why}")
    return arr


def nonnegative(name: str, x, what: str = "") -> np.ndarray:
    """``x >= 0``."""
    arr = finite(name, x)
    bad = arr < 0
    if bad.any():
        why = f" ({what})" if what else ""
        raise HypothesisError(f"{name} = {_fmt(_first(arr, bad))} must be >= 0{why}")
    return arr


def integer(name: str, x, low: int | None = None) -> np.ndarray:
    """``x`` as an int64 array; non-integers (and values below ``low``) raise."""
    arr = finite(name, x)
    bad = arr != np.round(arr)
    if bad.any():
        raise HypothesisError(f"{name} = {_fmt(_first(arr, bad))} must be an integer")
    bad = np.abs(arr) >= 2.0**63  # would wrap around in int64 (2**63 became negative)
    if bad.any():
        raise HypothesisError(f"{name} = {_fmt(_first(arr, bad))} must be an integer below 2**63")
    if low is not None:
        bad = arr < low
        if bad.any():
            raise HypothesisError(f"{name} = {_fmt(_first(arr, bad))} must be an integer >= {low}")
    return arr.astype(np.int64)


def burn_in(m, N) -> tuple[np.ndarray, np.ndarray]:
    """Burn-in and window length: integers with ``0 <= m < N``."""
    N_ = integer("N", N, low=1)
    m_ = integer("m", m)
    try:
        mb, Nb = np.broadcast_arrays(m_, N_)
    except ValueError as err:
        raise HypothesisError(f"m {m_.shape} and N {N_.shape} do not broadcast") from err
    bad = (mb < 0) | (mb >= Nb)
    if bad.any():
        raise HypothesisError(
            f"m = {_first(mb, bad)} must satisfy 0 <= m < N = {_first(Nb, bad)}"
        )
    return m_, N_


def coercivity(eps, tag: str = "T1d") -> np.ndarray:
    """Coercivity level of (C_eps): ``eps > 1``."""
    arr = finite("eps", eps)
    bad = arr <= 1
    if bad.any():
        raise HypothesisError(
            f"eps = {_fmt(_first(arr, bad))} violates (C_eps) for {tag}: need eps > 1"
        )
    return arr


def overlap(o_min, m) -> np.ndarray:
    """T2 coverage: every overlap ``o_i >= m`` (so ``o_min >= m``)."""
    o_ = integer("o_min", o_min)
    ob, mb = np.broadcast_arrays(o_, m)
    bad = ob < mb
    if bad.any():
        raise HypothesisError(
            f"T2 needs every overlap o_i >= m: o_min = {_first(ob, bad)} < m = {_first(mb, bad)}"
        )
    return o_


def not_above(name_small: str, small: np.ndarray, name_big: str, big: np.ndarray,
              why: str, rtol: float = 1e-9) -> None:
    """Consistency: ``small <= big * (1 + rtol)`` (a fact the inputs must satisfy)."""
    s, b = np.broadcast_arrays(small, big)
    bad = s > b * (1 + rtol) + 1e-300
    if bad.any():
        raise HypothesisError(
            f"{name_small} = {_fmt(_first(s, bad))} > {name_big} = {_fmt(_first(b, bad))}: "
            f"{why}; check the inputs"
        )
