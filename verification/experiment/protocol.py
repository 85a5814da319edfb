"""The warm-start protocol of docs/theory.md §8 for one burn-in ``m``, with T1's candidates.

1. Solve the relaxed problem. Start TBPTT from ``theta^inf`` and the benchmark from
   ``(theta^inf, z^inf_1)`` (plus seeded random starts), keep the best of each.
2. Candidates for T1 (§5): more relaxed solutions -- warm-started from ``theta*``, from
   ``(theta^b, phi_{s_i}(h_0^b))``, from the relaxed solutions of the neighbouring burn-ins
   ``m - 1`` and ``m + 1``, and from fresh seeded starts. Every candidate is a solution the
   relaxed solver returned, so T1 at it is a statement about the relaxed problem, not about
   the measured ``V*``.
3. The warm-start inequalities for every candidate ``c``: ``V* <= V(theta_c; 0)`` and
   ``V^b <= V^b(theta_c, z_c1)``. Where one fails, TBPTT (benchmark) is re-run from that
   candidate; a descent cannot end above its start, so afterwards they hold.
4. (R0) ``min_c V^inf_c <= min(V*, V^b)``; if it fails the relaxed solver missed its optimum:
   re-solve it from the better of the two and repeat (at most :data:`MAX_ROUNDS` rounds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from systems.problems import Solution, fit
from systems.windows import WindowedData

from .inputs import RelaxedPoint, relaxed_point

#: Rounds of the re-solve loop of the warm-start protocol.
MAX_ROUNDS = 4
#: Fresh seeded single-start relaxed solves added to the candidates.
EXTRA_STARTS = 1
#: Relative slack of the warm-start and (R0) inequalities (the solver's round-off).
WARM_RTOL = 1e-12
WARM_ATOL = 1e-15

Progress = Callable[[str], None]


def quiet(_: str) -> None:
    """A progress callback that prints nothing."""
    return None


def below(a: float, b: float) -> bool:
    """``a <= b`` up to the solver's round-off (:data:`WARM_RTOL`, :data:`WARM_ATOL`)."""
    return a <= b * (1 + WARM_RTOL) + WARM_ATOL


@dataclass
class Solved:
    """The solutions for one ``m`` after the protocol.

    Attributes
    ----------
    candidates : relaxed solutions with their T1 inputs, in the order they were found (the
        first is the relaxed optimum of step 1); ``solutions[k]`` is the Solution behind
        ``candidates[k]``
    tbptt, benchmark : the best TBPTT and benchmark solutions found
    rounds : protocol rounds; R0 : (R0) holds for the smallest relaxed value found
    """

    candidates: list[RelaxedPoint]
    solutions: list[Solution]
    tbptt: Solution
    benchmark: Solution
    rounds: int
    R0: bool
    seconds: float = field(default=0.0)

    @property
    def k_inf(self) -> int:
        """Index of ``(theta^inf, z^inf)``: the candidate with the smallest relaxed value."""
        return min(range(len(self.candidates)), key=lambda k: self.candidates[k].V_relaxed)

    @property
    def inf(self) -> RelaxedPoint:
        """``(theta^inf, z^inf)`` and its T1 inputs."""
        return self.candidates[self.k_inf]

    @property
    def relaxed(self) -> Solution:
        """The relaxed solution with the smallest value found."""
        return self.solutions[self.k_inf]

    def warm_tbptt(self, c: RelaxedPoint) -> bool:
        """``V* <= V(theta_c; 0)``: T1 at ``c`` bounds ``V*``."""
        return below(self.tbptt.value, c.V_zero)

    def warm_benchmark(self, c: RelaxedPoint) -> bool:
        """``V^b <= V^b(theta_c, z_c1)``: T1c at ``c`` bounds ``V^b``."""
        return below(self.benchmark.value, c.V_b_start)


def _best(a: Solution, b: Solution | None) -> Solution:
    return a if b is None or a.value <= b.value else b


class _Solver:
    """``fit`` for the three problems at one ``m`` with fixed options (and ``data`` cut once)."""

    def __init__(self, data: WindowedData, options: dict[str, Any], seed: int,
                 say: Progress) -> None:
        self.data, self.options, self.seed, self.say = data, options, seed, say

    def __call__(self, problem: str, m: int | None = None, **kw: Any) -> Solution:
        data = self.data if m is None else self.data.with_m(m)
        return fit(problem, data, **{**self.options, **kw})

    def point(self, name: str, sol: Solution) -> tuple[RelaxedPoint, Solution]:
        return relaxed_point(name, sol.model, sol.z, self.data), sol


def _more_candidates(solve: _Solver, tbptt: Solution, benchmark: Solution, extra: bool
                     ) -> list[tuple[RelaxedPoint, Solution]]:
    """Relaxed solutions from ``theta*``, ``theta^b``, the neighbouring ``m`` and fresh starts."""
    if not extra:
        return []
    found = [("from theta*", solve("relaxed", init=tbptt, restarts=0)),
             ("from theta^b", solve("relaxed", init=benchmark, restarts=0))]
    m, N = solve.data.m, solve.data.N
    for m_near in (m - 1, m + 1):
        if 0 <= m_near < N:
            near = solve("relaxed", m=m_near, seed=solve.seed, restarts=1)
            found.append((f"from m = {m_near}", solve("relaxed", init=near, restarts=0)))
    for k in range(EXTRA_STARTS):
        found.append((f"start {k + 1}", solve("relaxed", seed=solve.seed + 1000 + k, restarts=1)))
    return [solve.point(name, sol) for name, sol in found]


def _descend_from_candidates(solve: _Solver, points: list[tuple[RelaxedPoint, Solution]],
                             tbptt: Solution, benchmark: Solution) -> tuple[Solution, Solution]:
    """Step 3: re-run TBPTT/benchmark from the candidate whose start is lowest, if needed."""
    c_t, sol_t = min(points, key=lambda p: p[0].V_zero)
    if not below(tbptt.value, c_t.V_zero):
        solve.say(f"m={solve.data.m}: V* above V(theta; 0) of {c_t.name}; TBPTT from there")
        tbptt = _best(solve("tbptt", init=c_t.model, restarts=0), tbptt)
    c_b, sol_b = min(points, key=lambda p: p[0].V_b_start)
    if not below(benchmark.value, c_b.V_b_start):
        solve.say(f"m={solve.data.m}: V^b above V^b(theta, z_1) of {c_b.name}; benchmark from "
                  "there")
        benchmark = _best(solve("benchmark", init=sol_b, restarts=0), benchmark)
    return tbptt, benchmark


def solve_three(data: WindowedData, *, activation: str = "linear", n_h: int = 1,
                bias: bool = False, w_hh_max: float | None = 0.999, seed: int = 0,
                fit_options: dict[str, Any] | None = None, candidates: bool = True,
                progress: Progress = quiet) -> Solved:
    """The warm-start protocol of docs/theory.md §8 for the burn-in ``data.m`` (module docstring).

    ``candidates=False`` skips step 2 (T1 then uses the relaxed optimum alone).
    """
    options = dict(n_h=n_h, activation=activation, bias=bias, w_hh_max=w_hh_max)
    solve = _Solver(data, {**options, **(fit_options or {})}, seed, progress)
    m = data.m
    points = [solve.point("relaxed optimum", solve("relaxed", seed=seed))]
    tbptt = benchmark = None
    for rounds in range(1, MAX_ROUNDS + 1):
        best = min(points, key=lambda p: p[0].V_relaxed)[1]
        progress(f"m={m}: round {rounds}: relaxed V^inf={best.value:.6g}")
        # A descent from the warm start cannot end above it (fit keeps the best start).
        tbptt = _best(solve("tbptt", init=best, seed=seed + rounds), tbptt)
        benchmark = _best(solve("benchmark", init=best, seed=seed + rounds), benchmark)
        if rounds == 1:
            points += _more_candidates(solve, tbptt, benchmark, candidates)
        tbptt, benchmark = _descend_from_candidates(solve, points, tbptt, benchmark)
        V_inf = min(p[0].V_relaxed for p in points)
        R0 = below(V_inf, min(tbptt.value, benchmark.value))
        if R0:
            break
        # (R0) fails: the relaxed solver missed its optimum; restart it from the better one.
        better = tbptt if tbptt.value <= benchmark.value else benchmark
        progress(f"m={m}: R0 fails; re-solving relaxed from {better.problem}")
        points.append(solve.point(f"from {better.problem} (round {rounds})",
                                  solve("relaxed", init=better, seed=seed)))
    assert tbptt is not None and benchmark is not None
    return Solved([p for p, _ in points], [s for _, s in points], tbptt, benchmark, rounds, R0)
