"""A burn-in chosen without the sweep: A1 constants of one ``m = 0`` model, then the T1 bound.

From a model trained once at ``m = 0`` (cheap) and its A1 constants on the training pairs the
bound uses (certified on-data constants, or sampled ones when no certificate exists), evaluate
the T1 training-regret bound (docs/theory.md §5, ``bounds.numeric.training_regret``) on a grid of
burn-ins and take the smallest ``m`` whose bound is within ``tol`` of the loss level
(``bounds.recommend.recommend_training``). The relaxed optimum ``V_inf`` and ``Delta_0`` are
estimated on the same model: ``V_inf`` its training loss from the benchmark trajectory's states,
``Delta_0**2 = mean_i ||z_i||**2`` over those states.

Example
-------
>>> import numpy as np
>>> adv = recommend_m(lam=0.9, C=1.0, certified=True, N=100, V_inf=0.01, Delta_0=1.0,
...                   ms=np.arange(0, 100, 5))
>>> adv.m, adv.certified
(40, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bounds.numeric import training_regret
from bounds.recommend import recommend_training


@dataclass(frozen=True)
class BurnInAdvice:
    """The recommended burn-in and everything it rests on.

    Attributes
    ----------
    m : int
        Recommended burn-in (the grid's best bound if none meets the tolerance).
    reason : str
    lam, C : float
        The A1 constants used.
    certified : bool
        Whether ``(lam, C)`` are certified (else sampled: the advice is then an estimate).
    V_inf, Delta_0, tol : float
    ms : (M,) int ndarray
    bound : (M,) ndarray
        T1 bound at each ``m``.
    """

    m: int
    reason: str
    lam: float
    C: float
    certified: bool
    V_inf: float
    Delta_0: float
    tol: float
    ms: np.ndarray
    bound: np.ndarray


def recommend_m(lam: float, C: float, certified: bool, N: int, V_inf: float, Delta_0: float,
                ms: np.ndarray | None = None, tol: float = 0.1) -> BurnInAdvice:
    """Smallest ``m`` with ``T1(m) <= tol * V_inf`` for the given A1 constants.

    Parameters
    ----------
    lam : float in (0, 1);  C : float > 0
    certified : whether ``(lam, C)`` are certified (reported in the reason)
    N : window length
    V_inf : float > 0, the loss level (estimate of the relaxed optimum)
    Delta_0 : float >= 0, root mean square of the initial states the windows would need
    ms : grid of burn-ins (default ``0..N-1``)
    tol : relative tolerance of the bound against ``V_inf``
    """
    if not (0.0 < lam < 1.0) or not (np.isfinite(C) and C > 0):
        raise ValueError(f"need lam in (0, 1) and finite C > 0, got lam={lam}, C={C}")
    ms = np.arange(N) if ms is None else np.asarray(ms, dtype=int)
    bound = training_regret(C=C, lam=lam, m=ms, N=N, V_inf=V_inf, Delta_0=Delta_0)
    rec = recommend_training(ms, bound, loss_level=V_inf, tol=tol)
    m = rec.m if rec.m is not None else rec.best_m
    source = "certified on-data" if certified else "sampled (not certified)"
    reason = f"{rec.reason}; A1 constants {source}: lam = {lam:.4g}, C = {C:.4g}"
    return BurnInAdvice(int(m), reason, float(lam), float(C), bool(certified), float(V_inf),
                        float(Delta_0), float(tol), ms, np.asarray(bound, float))
