"""Recommend a burn-in from bound curves over ``m`` (docs/theory.md §5 T1, §6 T2b).

Two rules, each returning a :class:`Recommendation` (never a bare number):

* training: the smallest ``m`` whose training-regret bound (T1) is within a relative
  tolerance of the loss level, ``bound(m) <= tol * loss_level``: a longer burn-in scores
  fewer outputs, so the shortest one that is good enough is preferred;
* performance: the ``m`` that minimises the a priori performance-regret bound (T2b).

Example
-------
>>> import numpy as np
>>> from bounds.numeric import training_regret
>>> ms = np.arange(0, 21)
>>> bound = training_regret(C=1.3, lam=0.8, m=ms, N=21, V_inf=0.02, Delta_0=0.5)
>>> rec = recommend_burn_in(ms, bound, loss_level=0.02, tol=0.1)
>>> rec.training.m
19
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bounds.checks import HypothesisError, finite, integer, nonnegative, positive

__all__ = ["Recommendation", "BurnInRecommendation", "recommend_training",
           "recommend_performance", "recommend_burn_in"]


@dataclass(frozen=True)
class Recommendation:
    """A recommended burn-in with the bound value behind it and the reason in words.

    Attributes
    ----------
    m : int or None
        The recommended burn-in; ``None`` when no ``m`` satisfies the rule.
    bound : float
        The bound at ``m`` (at ``best_m`` when ``m`` is None).
    reason : str
        Human-readable explanation, naming the rule, the bound and the tolerance.
    best_m : int
        The ``m`` with the smallest bound on the grid (the fallback when ``m`` is None).
    """

    m: int | None
    bound: float
    reason: str
    best_m: int

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class BurnInRecommendation:
    """Both recommendations: ``training`` (T1 rule) and ``performance`` (T2b rule, or None)."""

    training: Recommendation
    performance: Recommendation | None

    def __str__(self) -> str:
        lines = [f"training: {self.training.reason}"]
        if self.performance is not None:
            lines.append(f"performance: {self.performance.reason}")
        return "\n".join(lines)


def _curve(ms, bound, name: str) -> tuple[np.ndarray, np.ndarray]:
    ms_ = integer("ms", ms, low=0).reshape(-1)
    b = np.asarray(bound, dtype=float).reshape(-1)
    if ms_.size == 0:
        raise HypothesisError("ms must hold at least one burn-in")
    if b.shape != ms_.shape:
        raise HypothesisError(f"{name} has {b.size} values but ms has {ms_.size}")
    if np.any(b < 0):
        raise HypothesisError(f"{name} must be >= 0 (it bounds a regret)")
    if not np.any(np.isfinite(b)):
        raise HypothesisError(f"{name} has no finite value")
    return ms_, b


def recommend_training(ms, training_bound, loss_level: float,
                       tol: float) -> Recommendation:
    """Smallest ``m`` with ``training_bound(m) <= tol * loss_level`` (T1, docs/theory.md §5).

    Parameters
    ----------
    ms : (M,) int array
        Burn-ins of the curve.
    training_bound : (M,) array
        Training-regret bound at each ``m`` (e.g. ``bounds.numeric.training_regret``);
        NaN/inf entries are ignored.
    loss_level : float >= 0
        Reference loss, e.g. ``V_inf`` or the variance of the outputs. ``0`` (data the model
        fits exactly) is a case, not an error: the rule then asks for a bound of 0.
    tol : float > 0
        Relative tolerance.

    Returns
    -------
    Recommendation
        ``m = None`` when no ``m`` meets the tolerance; ``best_m`` is then the ``m`` with
        the smallest bound.

    Examples
    --------
    >>> recommend_training([0, 1, 2], [1.0, 0.1, 0.01], loss_level=1.0, tol=0.2).m
    1
    >>> recommend_training([0, 1, 2], [1.0, 0.0, 0.0], loss_level=0.0, tol=0.2).m
    1
    """
    ms_, b = _curve(ms, training_bound, "training_bound")
    level = float(nonnegative("loss_level", loss_level))
    tol_ = float(positive("tol", tol))
    target = tol_ * level
    finite_b = np.where(np.isfinite(b), b, np.inf)
    best = int(np.argmin(finite_b))
    ok = np.flatnonzero(finite_b <= target)
    if ok.size == 0:
        return Recommendation(
            m=None,
            bound=float(b[best]),
            reason=(
                f"no burn-in on the grid m = {ms_.min()}..{ms_.max()} brings the training-"
                f"regret bound (T1) within tol * loss_level = {tol_:g} * {level:.4g} = "
                f"{target:.4g}; the smallest bound is {b[best]:.4g} at m = {ms_[best]} "
                "(the best available m)"
            ),
            best_m=int(ms_[best]),
        )
    sel = ok[np.argmin(ms_[ok])]
    return Recommendation(
        m=int(ms_[sel]),
        bound=float(b[sel]),
        reason=(
            f"m = {ms_[sel]} is the smallest burn-in whose training-regret bound (T1) "
            f"{b[sel]:.4g} is within tol * loss_level = {tol_:g} * {level:.4g} = {target:.4g}"
        ),
        best_m=int(ms_[best]),
    )


def recommend_performance(ms, performance_bound) -> Recommendation:
    """The ``m`` minimising the a priori performance-regret bound (T2b, docs/theory.md §6).

    Parameters
    ----------
    ms : (M,) int array
    performance_bound : (M,) array
        E.g. ``bounds.numeric.performance_regret_apriori`` over ``ms``; NaN/inf ignored.
        Ties go to the smallest ``m``.

    Returns
    -------
    Recommendation

    Examples
    --------
    >>> recommend_performance([0, 1, 2], [0.3, 0.1, 0.2]).m
    1
    """
    ms_, b = _curve(ms, performance_bound, "performance_bound")
    finite_b = np.where(np.isfinite(b), b, np.inf)
    low = finite_b.min()
    sel = np.flatnonzero(finite_b == low)
    sel = sel[np.argmin(ms_[sel])]
    return Recommendation(
        m=int(ms_[sel]),
        bound=float(b[sel]),
        reason=(
            f"m = {ms_[sel]} minimises the a priori performance-regret bound (T2b) over "
            f"m = {ms_.min()}..{ms_.max()}: {b[sel]:.4g}"
        ),
        best_m=int(ms_[sel]),
    )


def recommend_burn_in(ms, training_bound, loss_level: float, tol: float,
                      performance_bound=None) -> BurnInRecommendation:
    """Both rules at once: :func:`recommend_training` and, if given, :func:`recommend_performance`.

    Parameters
    ----------
    ms : (M,) int array
    training_bound : (M,) array -- T1 bound over ``ms``.
    loss_level : float >= 0;  tol : float > 0 -- the training rule's tolerance
        ``bound <= tol * loss_level``.
    performance_bound : (M,) array, optional -- T2b bound over ``ms``.

    Returns
    -------
    BurnInRecommendation

    Examples
    --------
    >>> r = recommend_burn_in([0, 1, 2], [1.0, 0.1, 0.01], 1.0, 0.05, [0.3, 0.1, 0.2])
    >>> r.training.m, r.performance.m
    (2, 1)
    """
    finite("loss_level", loss_level)
    training = recommend_training(ms, training_bound, loss_level, tol)
    performance = (
        None if performance_bound is None else recommend_performance(ms, performance_bound)
    )
    return BurnInRecommendation(training=training, performance=performance)
