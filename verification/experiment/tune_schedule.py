"""The tuner's rungs: how many burn-ins train how far with how many seeds, and what that costs.

Successive halving over burn-ins with seeds at the end. With ``n`` candidate burn-ins (the
reference ``m = 0`` among them), rung ``r`` trains ``n_r`` burn-ins with one seed to ``e_0 g^r``
epochs, ``n_{r+1} = ceil(n_r / eta)`` (survivors continue where they stopped), until at most
``finalists`` remain besides the reference; the last rung trains those finalists and the
reference with ``seeds`` seeds each (the first seed continues, the others start from their
initialisation) to the last rung's epochs. The reference ``m = 0`` is trained at every rung
whatever its rank: it is what the chosen burn-in's predicted change is measured against.

The cost is counted in model-epochs (one model, one pass over the training windows of length
``N``). :func:`fit_schedule` picks the largest ``e_0`` whose schedule fits a budget.

>>> s = fit_schedule(20, budget=400)
>>> [(r.burn_ins, r.seeds, r.epochs) for r in s.rungs], s.cost
([(20, 1, 4), (10, 1, 8), (5, 1, 16), (4, 3, 24)], 384)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from systems.errors import InputError

#: Defaults: halve (eta 2) while doubling the epochs, 3 finalists, 3 seeds at the last rung,
#: whose epochs are 1.5 times the rung before it.
ETA, GROWTH, FINALISTS, SEEDS, LAST_GROWTH = 2, 2.0, 3, 3, 1.5


@dataclass(frozen=True)
class Rung:
    """``burn_ins`` (including the reference) trained with ``seeds`` seeds each to ``epochs``
    epochs in total."""

    burn_ins: int
    seeds: int
    epochs: int


@dataclass(frozen=True)
class Schedule:
    """The rungs and their cost in model-epochs."""

    rungs: tuple[Rung, ...]

    @property
    def cost(self) -> int:
        """Model-epochs of the whole schedule: each rung adds, per model it trains, the epochs
        from where that model stopped (``0`` for a seed new at that rung)."""
        total, prev = 0, Rung(0, 0, 0)
        for r in self.rungs:
            kept = min(r.burn_ins, prev.burn_ins) * min(r.seeds, prev.seeds)
            total += kept * (r.epochs - prev.epochs) + (r.burn_ins * r.seeds - kept) * r.epochs
            prev = r
        return total


def schedule(n: int, e0: int, *, eta: int = ETA, growth: float = GROWTH,
             finalists: int = FINALISTS, seeds: int = SEEDS,
             last_growth: float = LAST_GROWTH) -> Schedule:
    """The rungs for ``n`` candidate burn-ins (reference included) starting at ``e0`` epochs
    (module docstring)."""
    _check(n, e0, eta, growth, finalists, seeds, last_growth)
    rungs, k, e = [], n, float(e0)
    while k - 1 > finalists:
        rungs.append(Rung(k, 1, int(round(e))))
        k = max(finalists + 1, math.ceil(k / eta))
        e *= growth
    last = int(round(rungs[-1].epochs * last_growth)) if rungs else e0
    rungs.append(Rung(k, seeds, max(last, rungs[-1].epochs + 1 if rungs else e0)))
    return Schedule(tuple(rungs))


def fit_schedule(n: int, budget: float, **kw: float) -> Schedule:
    """The :func:`schedule` with the largest ``e0`` whose cost is at most ``budget``
    model-epochs; a :class:`~systems.errors.InputError` if even ``e0 = 1`` costs more."""
    if schedule(n, 1, **kw).cost > budget:  # type: ignore[arg-type]
        raise InputError(f"a budget of {budget:g} model-epochs cannot train {n} burn-ins "
                         f"(one epoch each costs {schedule(n, 1, **kw).cost}); raise --share "
                         "or give fewer burn-ins")
    lo, hi = 1, 2
    while schedule(n, hi, **kw).cost <= budget:  # type: ignore[arg-type]
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if schedule(n, mid, **kw).cost <= budget else (lo, mid)  # type: ignore[arg-type]
    return schedule(n, lo, **kw)  # type: ignore[arg-type]


def _check(n: int, e0: int, eta: int, growth: float, finalists: int, seeds: int,
           last_growth: float) -> None:
    for name, v, lo in (("burn-ins", n, 1), ("e0", e0, 1), ("eta", eta, 2),
                        ("finalists", finalists, 1), ("seeds", seeds, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise InputError(f"{name} must be an integer >= {lo}, got {v!r}")
    if not (math.isfinite(growth) and growth >= 1 and math.isfinite(last_growth)
            and last_growth >= 1):
        raise InputError(f"growth {growth!r} and last_growth {last_growth!r} must be >= 1")
