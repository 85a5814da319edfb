"""The tuner's plan: which burn-ins train how far with how many seeds, and what that costs.

Three kinds of rung, all at two fidelities:

1. **coarse**: ``coarse`` burn-ins spread evenly over the candidates (by position: the first,
   the last and evenly spaced ones between), one seed each, trained ``e_search`` epochs;
2. **refine**: around the best burn-in so far, the candidates half-way to its nearest trained
   neighbours on either side (at most two per rung), trained the same ``e_search`` epochs from
   their start; repeated until the best one's neighbours are adjacent (a bisection towards the
   optimum of a criterion that changes smoothly with ``m``);
3. **final**: the ``finalists`` best burn-ins and the reference ``m = 0`` with ``seeds`` seeds:
   the first seed continues from ``e_search`` to ``e_final`` epochs, the others train from their
   start to ``e_final``.

All burn-ins are compared at the same epochs: the rankings after few epochs favour short
burn-ins (a long burn-in scores fewer outputs per window and learns slower), which successive
halving from a few epochs would turn into eliminations (docs/tuning.md).

The cost is counted in model-epochs (one model, one pass over the training windows of length
``N``). :func:`fit_plan` takes the largest ``e_search`` whose worst case (every refinement rung
adding two burn-ins) fits a budget; a run reports what it used.

>>> p = fit_plan(20, budget=400)
>>> p.coarse, p.refine_max, p.e_search, p.e_final, p.worst_cost
((0, 3, 6, 10, 13, 16, 19), 4, 16, 24, 400)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from systems.errors import InputError

#: Defaults: 7 coarse burn-ins, 3 finalists besides m = 0, 3 seeds at the last rung, whose epochs
#: are 1.5 times the search's.
COARSE, FINALISTS, SEEDS, LAST_GROWTH = 7, 3, 3, 1.5


@dataclass(frozen=True)
class Plan:
    """The tuner's plan for ``n`` candidates (positions ``0..n-1`` in increasing ``m``).

    Attributes
    ----------
    n : number of candidate burn-ins (the reference ``m = 0`` is position 0)
    coarse : positions of the coarse rung
    refine_max : most burn-ins the refinement rungs can add
    e_search : epochs of every searched burn-in; e_final : epochs at the last rung
    finalists, seeds : burn-ins besides ``m = 0`` at the last rung, seeds each there
    """

    n: int
    coarse: tuple[int, ...]
    refine_max: int
    e_search: int
    e_final: int
    finalists: int
    seeds: int

    @property
    def worst_cost(self) -> int:
        """Model-epochs if every refinement rung adds two burn-ins."""
        return self.cost(len(self.coarse) + self.refine_max)

    def cost(self, searched: int) -> int:
        """Model-epochs when ``searched`` burn-ins were trained at the search's epochs."""
        k = self.finalists + 1
        return (searched * self.e_search + k * (self.e_final - self.e_search)
                + k * (self.seeds - 1) * self.e_final)


def coarse_positions(n: int, coarse: int = COARSE) -> tuple[int, ...]:
    """``coarse`` positions spread evenly over ``0..n-1`` (all of them when ``n <= coarse``).

    >>> coarse_positions(20), coarse_positions(4)
    ((0, 3, 6, 10, 13, 16, 19), (0, 1, 2, 3))
    """
    return tuple(sorted({int(round(x)) for x in np.linspace(0, n - 1, min(n, coarse))}))


def refinement(done: Sequence[int], best: int) -> list[int]:
    """The positions half-way from ``best`` to its nearest trained neighbours ``done`` on
    either side that are not trained yet (none once both neighbours are adjacent).

    >>> refinement([0, 3, 6, 10], 6), refinement([0, 3, 5, 6, 8, 10], 6)
    ([4, 8], [7])
    """
    left = max((i for i in done if i < best), default=None)
    right = min((i for i in done if i > best), default=None)
    new = set()
    if left is not None and best - left > 1:
        new.add((left + best) // 2)
    if right is not None and right - best > 1:
        new.add((best + right + 1) // 2)
    return sorted(new - set(done))


def refine_bound(coarse: Sequence[int]) -> int:
    """Most positions the refinement can add: per side of the best one, one per halving of the
    widest gap between coarse positions."""
    gaps = np.diff(np.asarray(coarse))
    g = int(gaps.max()) if gaps.size else 1
    return 2 * math.ceil(math.log2(g)) if g > 1 else 0


def plan(n: int, e_search: int, *, coarse: int = COARSE, finalists: int = FINALISTS,
         seeds: int = SEEDS, last_growth: float = LAST_GROWTH) -> Plan:
    """The plan for ``n`` candidates with ``e_search`` search epochs (module docstring)."""
    _check(n, e_search, coarse, finalists, seeds, last_growth)
    pos = coarse_positions(n, coarse)
    e_final = max(e_search + 1, int(round(e_search * last_growth)))
    return Plan(n, pos, refine_bound(pos), e_search, e_final, min(finalists, n - 1), seeds)


def fit_plan(n: int, budget: float, **kw: float) -> Plan:
    """The :func:`plan` with the largest ``e_search`` whose worst case costs at most ``budget``
    model-epochs; a :class:`~systems.errors.InputError` if even one epoch costs more."""
    if plan(n, 1, **kw).worst_cost > budget:  # type: ignore[arg-type]
        raise InputError(f"a budget of {budget:g} model-epochs cannot train {n} burn-ins (one "
                         f"search epoch costs {plan(n, 1, **kw).worst_cost}); raise --share or "  # type: ignore[arg-type]
                         "give fewer burn-ins")
    lo, hi = 1, 2
    while plan(n, hi, **kw).worst_cost <= budget:  # type: ignore[arg-type]
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if plan(n, mid, **kw).worst_cost <= budget else (lo, mid)  # type: ignore[arg-type]
    return plan(n, lo, **kw)  # type: ignore[arg-type]


def _check(n: int, e: int, coarse: int, finalists: int, seeds: int, last_growth: float) -> None:
    for name, v, lo in (("burn-ins", n, 1), ("e_search", e, 1), ("coarse", coarse, 2),
                        ("finalists", finalists, 1), ("seeds", seeds, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise InputError(f"{name} must be an integer >= {lo}, got {v!r}")
    if not (math.isfinite(last_growth) and last_growth >= 1):
        raise InputError(f"last_growth {last_growth!r} must be a number >= 1")
