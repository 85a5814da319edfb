"""Measured gaps beside their bounds, one burn-in ``m`` at a time (docs/theory.md §8).

For each ``m``: the warm-start protocol with T1's candidates (:mod:`.protocol`); LMI-C
certificates (§7) and the ``(lam, C)`` curve for every candidate and for ``theta*``, sampled
constants; one :class:`~.rows.GapRow` -- the optima, T1 (best candidate), T1c, coercivity and
T1d, performance on training and test data, ``A_J``, ``B``, T2a and T2b, soundness and
tightness. :func:`measure` writes the table (CSV + JSON) after every finished ``m``; a rerun
with the same settings resumes from it (:mod:`.table`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bounds import numeric as bn
from systems.data import Sequence
from systems.problems import DEFAULT_MAXITER, DEFAULT_RESTARTS, DEFAULT_TOL, performance
from systems.windows import WindowedData, check_burn_in
from verification.certificates import Certificate, Empirical, curve, empirical_constants

from .inputs import best_on_curve, coercive, performance_inputs
from .protocol import Progress, Solved, quiet, solve_three
from .rows import GapRow
from .table import GapTable, open_for_resume

#: Grid size of the certified (lam, C) curve over which bounds are minimised.
CURVE_POINTS = 10
#: T1 is reported for the first candidate (in the order found) whose bound is within this
#: fraction of the smallest: relaxed optima that agree to the solver's accuracy (parameters to
#: ~1e-6) are one optimum, and round-off should not decide which one is named.
TIE_RTOL = 1e-6

__all__ = ["CURVE_POINTS", "Constants", "compare", "measure", "solve_three"]


@dataclass
class Constants:
    """Certified curves (LMI-C) and sampled constants for one ``m``.

    ``curves[k]`` is the ``(lam, C)`` curve of ``solved.candidates[k]`` (verified points
    only); ``first_*`` the smallest-rate certificates of ``theta^inf`` and ``theta*``.
    """

    curves: list[list[Certificate]]
    curve_star: list[Certificate]
    first_inf: Certificate
    first_star: Certificate
    emp_inf: Empirical
    emp_star: Empirical
    seconds: float


def certify_solutions(solved: Solved, data: WindowedData, seed: int, n_pairs: int) -> Constants:
    """LMI-C curves for every candidate and ``theta*``; sampled constants of both (§7)."""
    t0 = time.perf_counter()
    raw = [curve(c.model, n=CURVE_POINTS) for c in solved.candidates]
    raw_star = curve(solved.tbptt.model, n=CURVE_POINTS)
    emp = [empirical_constants(model, data.X, seed=seed, n_pairs=n_pairs)
           for model in (solved.inf.model, solved.tbptt.model)]
    return Constants(
        curves=[[c for c in certs if c.verified] for certs in raw],
        curve_star=[c for c in raw_star if c.verified], first_inf=raw[solved.k_inf][0],
        first_star=raw_star[0], emp_inf=emp[0], emp_star=emp[1],
        seconds=time.perf_counter() - t0,
    )


def training_regret(solved: Solved, consts: Constants) -> dict[str, Any]:
    """T1 and T1c minimised over the relaxed candidates (docs/theory.md §5).

    For a candidate ``c = (theta_c, z_c)`` returned by the relaxed solver, with A1 certified
    for ``theta_c`` by ``(C, lam)``, and ``V^inf = min_c V^inf(theta_c, z_c)`` (the column
    ``V_inf``, :attr:`Solved.inf`)::

        V* <= V(theta_c; 0)                      (warm start, checked: Solved.warm_tbptt, §8)
           <= V^inf(theta_c, z_c) + T1_c         (L1 at theta_c, z = 0 vs z_c: T1a; T1b)

    hence ``V* - V^inf <= V^inf(theta_c, z_c) + T1_c - V^inf`` for every such ``c``; the
    ``T1_bound`` is the smallest of these (a suboptimal candidate pays
    ``V^inf(theta_c, z_c) - V^inf >= 0``). Likewise (T1c) with ``V^b <= V^b(theta_c, z_c1)``.
    The lower bound ``0 <= V* - V^inf`` needs (R0) with the true relaxed optimum (the ``R0``
    column checks it for the best value found).
    """
    V_inf = solved.inf.V_relaxed
    T1s, T1cs = [], []  # (bound on the gap, candidate, curve point) per usable candidate
    for c, points in zip(solved.candidates, consts.curves, strict=True):
        if solved.warm_tbptt(c) and points:
            T1_c, point = best_on_curve(points, c.T1)
            T1s.append((c.V_relaxed + T1_c - V_inf, c.name, point))
        if solved.warm_benchmark(c) and points:
            T1cs.append(c.V_relaxed + best_on_curve(points, c.T1c)[0] - V_inf)
    smallest = min((b for b, _, _ in T1s), default=math.nan)
    # the first candidate (in the order found) within round-off of the smallest bound
    T1, name, point = next((t for t in T1s if t[0] <= smallest * (1 + TIE_RTOL)),
                           (math.nan, "none", None))
    relaxed, emp = solved.inf, consts.emp_inf
    used = [c for c in solved.candidates if solved.warm_tbptt(c) and solved.warm_benchmark(c)]
    return {
        "T1_bound": T1, "T1_candidate": name,
        "lam_cert_T1": point.lam if point else math.nan,
        "C_cert_T1": point.C if point else math.nan,
        "T1_bound_first": T1s[0][0] if T1s and T1s[0][1] == solved.candidates[0].name
        else math.nan,
        "n_candidates": len(solved.candidates),
        "warm_start_ok": len(used) == len(solved.candidates),
        "T1_bound_emp": relaxed.T1(emp.C, emp.lam) if emp.contracting else math.nan,
        "T1c_bound": min(T1cs, default=math.nan),
    }


def performance_regret(solved: Solved, test: Sequence, data: WindowedData, consts: Constants,
                       eps: float, coercive_both: bool) -> dict[str, Any]:
    """T2a (certified and sampled constants of ``theta*``) and T2b (docs/theory.md §6)."""
    tbptt, bench, relaxed, m = solved.tbptt, solved.benchmark, solved.inf, data.m
    P_b = performance(bench.model, data.sequence, m, h0=bench.h0)
    inputs = performance_inputs(tbptt.model, tbptt.outputs, bench.outputs, P_b, data)
    T2a, point_T2 = (best_on_curve(consts.curve_star, inputs.T2a) if inputs.covered
                     else (math.nan, None))
    point_T1 = best_on_curve(consts.curves[solved.k_inf], relaxed.T1)[1]
    T2b = math.nan
    if inputs.covered and coercive_both and point_T1 and point_T2 and point_T1.C > 0:
        T2b = float(bn.performance_regret_apriori(
            P_b=P_b, eps=eps, C=point_T1.C, lam=point_T1.lam, rho=relaxed.rho,
            Delta_0=relaxed.Delta_0, Delta_01=relaxed.Delta_01, Delta_b=relaxed.Delta_b,
            C_star=point_T2.C, lam_star=point_T2.lam, H=float(inputs.phi_norms.max(initial=0.0)),
            S=data.S, T=data.T, N=data.N, m=m, o_min=data.windows.o_min))
    P_star, emp = performance(tbptt.model, data.sequence, m), consts.emp_star
    return {
        "P_star": P_star, "P_b": P_b, "gap_T2": P_star - P_b,
        "P_star_test": performance(tbptt.model, test, m),
        "P_b_test": performance(bench.model, test, m), "A_J": inputs.A_J,
        "B": inputs.B(point_T2.C, point_T2.lam) if point_T2 else math.nan, "T2a_bound": T2a,
        "T2a_bound_emp": inputs.T2a(emp.C, emp.lam) if emp.contracting else math.nan,
        "T2b_bound": T2b, "T2_applicable": inputs.covered,
        "lam_cert_T2": point_T2.lam if point_T2 else math.nan,
        "C_cert_T2": point_T2.C if point_T2 else math.nan,
    }


def compare(solved: Solved, test: Sequence, data: WindowedData, *, eps: float = 2.0,
            seed: int = 0, n_pairs: int = 200) -> tuple[GapRow, dict[str, np.ndarray]]:
    """Bounds and measured gaps for the burn-in ``data.m``: the row and the traces."""
    consts = certify_solutions(solved, data, seed, n_pairs)
    tbptt, bench, relaxed = solved.tbptt, solved.benchmark, solved.inf
    V_inf = relaxed.V_relaxed
    coercive_star = coercive(relaxed.outputs, tbptt.outputs, data, eps)
    coercive_b = coercive(relaxed.outputs, bench.outputs, data, eps)
    training = training_regret(solved, consts)
    D_star = (tbptt.outputs - relaxed.outputs)[:, data.m:]  # Y* - Y^inf on the scored positions
    first_inf, first_star = consts.first_inf, consts.first_star
    row = GapRow(
        m=data.m, S=data.S, K=data.K, V_star=tbptt.value, V_b=bench.value, V_inf=V_inf,
        R0=solved.R0, rounds=solved.rounds, gap_T1=tbptt.value - V_inf,
        gap_T1c=bench.value - V_inf, gap_abs_star_b=abs(tbptt.value - bench.value),
        T1_star_b_bound=max(training["T1_bound"], training["T1c_bound"]),
        Delta_0=relaxed.Delta_0, Delta_01=relaxed.Delta_01, rho=relaxed.rho,
        Delta_b=relaxed.Delta_b, eps=eps, coercive_star=coercive_star, coercive_b=coercive_b,
        coercive=coercive_star and coercive_b, acc_gap=float(np.vdot(D_star, D_star)) / data.K,
        T1d_bound=float(bn.accuracy_bound(eps=eps, bound=training["T1_bound"]))
        if coercive_star and math.isfinite(training["T1_bound"]) else math.nan,
        certified=bool(first_inf.verified and first_star.verified),
        lam_cert=first_inf.lam, C_cert=first_inf.C,
        lam_cert_star=first_star.lam, C_cert_star=first_star.C,
        cert_reason=first_inf.reason if not first_inf.verified else first_star.reason,
        lam_emp=consts.emp_inf.lam, C_emp=consts.emp_inf.C,
        lam_emp_star=consts.emp_star.lam, C_emp_star=consts.emp_star.C,
        seconds_fit=solved.seconds, seconds_certify=consts.seconds, **training,
        **performance_regret(solved, test, data, consts, eps, coercive_star and coercive_b),
    )
    return row, traces(solved, test, data, consts)


def traces(solved: Solved, test: Sequence, data: WindowedData, consts: Constants
           ) -> dict[str, np.ndarray]:
    """The arrays the figures draw for one ``m`` (``e_j : (N,)``, window outputs, free runs)."""
    tbptt, bench, train = solved.tbptt, solved.benchmark, data.sequence
    points = consts.curves[solved.k_inf]
    return {
        "e_j": np.mean(np.sum((tbptt.outputs - bench.outputs) ** 2, axis=2), axis=0),
        "y_star_windows": tbptt.outputs, "y_b_windows": bench.outputs,
        "y_inf_windows": solved.inf.outputs,
        "y_star_free_train": tbptt.model.simulate(train.x)[1],
        "y_b_free_train": bench.model.simulate(train.x, bench.h0)[1],
        "y_star_free_test": tbptt.model.simulate(test.x)[1],
        "y_b_free_test": bench.model.simulate(test.x)[1],
        "lam_curve": np.array([c.lam for c in points]),
        "C_curve": np.array([c.C for c in points]),
        "lam_emp_point": np.array(consts.emp_inf.lam), "C_emp_point": np.array(consts.emp_inf.C),
        "rho_emp": np.asarray(consts.emp_inf.rho),
    }


# --------------------------------------------------------------------------- sweep
def measure(
    train: Sequence,
    test: Sequence,
    N: int,
    ms: Iterable[int],
    *,
    stride: int = 1,
    model: str = "linear",
    n_h: int = 1,
    bias: bool | None = None,
    w_hh_max: float | None = 0.999,
    eps: float = 2.0,
    seed: int = 0,
    fit_options: dict[str, Any] | None = None,
    candidates: bool = True,
    out_dir: str | Path | None = None,
    resume: bool = True,
    progress: Progress | None = None,
) -> GapTable:
    """Bound vs measured gap for every burn-in ``m`` in ``ms`` (docs/theory.md §8).

    Parameters
    ----------
    train, test : Sequence
    N : window length; ``ms`` : burn-ins, each ``0 <= m < N``
    stride : window stride; model : ``"linear"`` or ``"tanh"``; n_h : hidden size
    bias : trainable biases (default: False for the linear model, as in the paper)
    w_hh_max : elementwise bound ``|W_hh| <= w_hh_max`` (the paper's 0.999)
    eps : coercivity level of (C_eps), ``> 1``
    fit_options : extra keywords of :func:`systems.problems.fit` (``restarts``, ``maxiter``,
        ``tol``)
    candidates : evaluate T1 at several relaxed solutions (:mod:`.protocol`), not only at
        the relaxed optimum
    out_dir : if given, ``gaps.csv`` and ``gaps.json`` are (re)written there after every
        finished ``m`` and at the end
    resume : keep the finished rows in ``out_dir/gaps.json`` -- rows of every ``m``, also
        those not in ``ms`` -- and compute only the missing ones. Files made with other
        settings raise :class:`~.table.ResumeMismatch` naming the differences; a damaged
        file raises :class:`~.table.DamagedTable`. ``resume=False`` starts afresh.
    progress : callable receiving one line per step (e.g. ``print``)

    Returns
    -------
    GapTable with one row per ``m`` (fields: :class:`~.rows.GapRow`) and traces: the rows
    of ``ms`` and, when resuming, the other finished rows found in ``out_dir``.
    """
    say = progress or quiet
    _check_pair(train, test)
    data = WindowedData(train, N, 0, stride)  # validates N <= T, stride >= 1
    ms = sorted({check_burn_in(m, N) for m in ms})
    if not ms:
        raise ValueError("ms must contain at least one burn-in m")
    if not eps > 1:
        raise ValueError(f"eps = {eps} must be > 1 (coercivity level of C_eps)")
    bias = (model != "linear") if bias is None else bias
    settings = settings_of(train, test, N=N, stride=stride, model=model, n_h=n_h, bias=bias,
                           w_hh_max=w_hh_max, eps=eps, seed=seed, fit_options=fit_options,
                           candidates=candidates)
    table, files = open_for_resume(out_dir, settings, resume, say)
    for k, m in enumerate(ms, 1):
        if m not in table.ms:
            step = f"[{k}/{len(ms)}] m = {m}"
            row, trace = measure_one(data.with_m(m), test, settings, step, say)
            table.add(row.as_dict(), trace)
            table.write(*files)
    table.write(*files)  # every output file rewritten, also when every m was finished
    return table


def measure_one(data: WindowedData, test: Sequence, settings: dict[str, Any], step: str,
                say: Progress) -> tuple[GapRow, dict[str, np.ndarray]]:
    """The protocol, the certificates and the row for the burn-in ``data.m`` (``settings``:
    the table's meta, :func:`settings_of`)."""
    s = settings
    say(f"{step}: solving relaxed, TBPTT and benchmark problems")
    t0 = time.perf_counter()
    solved = solve_three(data, activation=s["model"], n_h=s["n_h"], bias=s["bias"],
                         w_hh_max=s["w_hh_max"], seed=s["seed"], fit_options=s["fit_options"],
                         candidates=s["candidates"], progress=say)
    solved.seconds = time.perf_counter() - t0
    say(f"{step}: certificates and bounds")
    row, trace = compare(solved, test, data, eps=s["eps"], seed=s["seed"])
    say(f"{step}: V*-V^inf = {row.gap_T1:.3g} <= T1 {row.T1_bound:.3g} ({row.T1_candidate}); "
        f"P*-P^b = {row.gap_T2:.3g} <= T2a {row.T2a_bound:.3g}; "
        f"{'sound' if row.sound else 'NOT SOUND'} ({time.perf_counter() - t0:.1f} s)")
    return row, trace


def settings_of(train: Sequence, test: Sequence, *, N: int, stride: int, model: str, n_h: int,
                bias: bool, w_hh_max: float | None, eps: float, seed: int,
                fit_options: dict[str, Any] | None, candidates: bool) -> dict[str, Any]:
    """The table's ``meta``: every setting that changes a row (the resume key) and the data.

    ``fit_options`` is stored with the solver's defaults filled in, so ``{"restarts": 1}``
    (``--quick``) and ``{}`` differ.
    """
    windows = WindowedData(train, N, 0, stride).windows
    fit = {"restarts": DEFAULT_RESTARTS, "maxiter": DEFAULT_MAXITER, "tol": DEFAULT_TOL,
           **(fit_options or {})}
    return {
        "N": N, "stride": stride, "T": train.T, "S": windows.S, "o_min": windows.o_min,
        "model": model, "n_h": n_h, "bias": bias, "w_hh_max": w_hh_max, "eps": eps,
        "seed": seed, "fit_options": fit, "candidates": candidates,
        "curve_points": CURVE_POINTS, "train_name": train.name, "test_name": test.name,
        "x_train": train.x, "y_train": train.y, "x_test": test.x, "y_test": test.y,
    }


def _check_pair(train: Sequence, test: Sequence) -> None:
    if not isinstance(train, Sequence) or not isinstance(test, Sequence):
        raise TypeError("train and test must be systems.data.Sequence objects")
    if test.n_x != train.n_x or test.n_y != train.n_y:
        raise ValueError(
            f"test has n_x={test.n_x}, n_y={test.n_y} but train has n_x={train.n_x}, "
            f"n_y={train.n_y}"
        )
