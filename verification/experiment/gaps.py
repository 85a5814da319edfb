"""Measured gaps beside their bounds, one burn-in ``m`` at a time (THEORY.md §8).

For each ``m``:

1. the warm-start protocol of §8: solve the relaxed problem; start TBPTT from ``theta^inf``
   (and from random starts) and the benchmark from ``(theta^inf, z^inf_1)`` (and random
   starts), keep the best; re-solve the relaxed problem from the better of them until (R0)
   ``V^inf <= min(V*, V^b)`` holds and both warm-start inequalities
   ``V* <= V(theta^inf; 0)``, ``V^b <= V^b(theta^inf, z^inf_1)`` hold for the final relaxed
   solution (the upper bounds of T1 rest on exactly these);
2. certificates (LMI-C, §7) for the relaxed and TBPTT solutions, the ``(lam, C)`` curve, and
   empirical constants;
3. one row: the optima, the T1 bounds (certified and empirical), T1c, coercivity and T1d,
   performance on training and test data, ``A_J``, ``B``, T2a and T2b, soundness flags
   (gap <= bound) and tightness ratios (bound / gap).

The table is written (CSV + JSON) after every finished ``m`` and a rerun resumes from it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bounds import numeric as bn
from systems.bptt import WindowBatch
from systems.data import Sequence
from systems.problems import Solution, fit, performance, window_starts_states
from systems.rnn import ElmanRNN
from systems.windows import Windows, check_burn_in
from verification.certificates import lmi_c, sampled

from .table import GapTable

#: Relative and absolute slack of a soundness check ``gap <= bound`` (solver round-off).
SOUND_RTOL = 1e-7
SOUND_ATOL = 1e-10
#: Rounds of the re-solve loop of the warm-start protocol.
MAX_ROUNDS = 4
#: Grid size of the certified (lam, C) curve over which bounds are minimised.
CURVE_POINTS = 10

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


# --------------------------------------------------------------------------- protocol
@dataclass
class Solved:
    """The three solutions for one ``m`` after the warm-start protocol."""

    relaxed: Solution
    tbptt: Solution
    benchmark: Solution
    rounds: int
    R0: bool
    warm_tbptt: bool  # V* <= V(theta^inf; 0)
    warm_benchmark: bool  # V^b <= V^b(theta^inf, z^inf_1)


def _best(a: Solution, b: Solution | None) -> Solution:
    return a if b is None or a.value <= b.value else b


def solve_three(
    train: Sequence,
    N: int,
    m: int,
    *,
    stride: int = 1,
    activation: str = "linear",
    n_h: int = 1,
    bias: bool = False,
    w_hh_max: float | None = 0.999,
    seed: int = 0,
    fit_options: dict[str, Any] | None = None,
    progress: Progress = _quiet,
) -> Solved:
    """The warm-start protocol of THEORY.md §8 for one burn-in ``m``."""
    opts = dict(n_h=n_h, activation=activation, bias=bias, w_hh_max=w_hh_max, stride=stride)
    opts.update(fit_options or {})
    win = Windows(train.T, N, stride)
    X, Y = win.stack(train.x), win.stack(train.y)
    zero_batch = WindowBatch(X, Y, m, n_h=n_h, activation=activation)
    one_pass = WindowBatch(
        train.x[None], train.y[None], 0, win.weights(m)[None],
        n_h=n_h, activation=activation, normalizer=win.S * (N - m),
    )

    relaxed = fit("relaxed", train, N, m, seed=seed, **opts)
    tbptt = benchmark = None
    for rounds in range(1, MAX_ROUNDS + 1):
        progress(f"m={m}: round {rounds}: relaxed V^inf={relaxed.value:.6g}")
        theta_inf, z_inf = relaxed.model.theta, relaxed.z
        # TBPTT and benchmark: warm start from the relaxed solution plus seeded random starts
        # (fit keeps the best; a descent from the warm start cannot end above it).
        tbptt = _best(fit("tbptt", train, N, m, init=relaxed, seed=seed + rounds, **opts), tbptt)
        benchmark = _best(
            fit("benchmark", train, N, m, init=relaxed, seed=seed + rounds, **opts), benchmark
        )
        warm_t = tbptt.value <= zero_batch.loss(theta_inf, None) * (1 + 1e-12) + 1e-15
        warm_b = benchmark.value <= one_pass.loss(theta_inf, z_inf[0]) * (1 + 1e-12) + 1e-15
        R0 = relaxed.value <= min(tbptt.value, benchmark.value) * (1 + 1e-12) + 1e-15
        if R0 and warm_t and warm_b:
            return Solved(relaxed, tbptt, benchmark, rounds, True, True, True)
        # (R0) fails: the relaxed solver missed its optimum; restart it from the better one.
        better = tbptt if tbptt.value <= benchmark.value else benchmark
        progress(f"m={m}: R0 or warm start fails; re-solving relaxed from {better.problem}")
        relaxed = _best(relaxed, fit("relaxed", train, N, m, init=better, seed=seed, **opts))
    assert tbptt is not None and benchmark is not None
    return Solved(relaxed, tbptt, benchmark, MAX_ROUNDS, R0, warm_t, warm_b)


# --------------------------------------------------------------------------- constants
def _certified_points(model: ElmanRNN) -> tuple[lmi_c.Certificate, list]:
    """The smallest-rate certificate and the (lam, C) curve (verified points only)."""
    certs = lmi_c.curve(model, n=CURVE_POINTS)
    return certs[0], [c for c in certs if c.verified]


# --------------------------------------------------------------------------- one row
def compare(
    solved: Solved,
    train: Sequence,
    test: Sequence,
    N: int,
    m: int,
    *,
    stride: int = 1,
    eps: float = 2.0,
    seed: int = 0,
    n_pairs: int = 200,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Bounds and measured gaps for one ``m``: the row of the table and the traces."""
    win = Windows(train.T, N, stride)
    S, K = win.S, win.S * (N - m)
    rel, tb, bm = solved.relaxed, solved.tbptt, solved.benchmark
    th_inf, z_inf = rel.model, rel.z
    sc = slice(m, N)  # scored positions j = m+1..N (0-based)
    Y_d = win.stack(train.y)
    Y_star, Y_b, Y_inf = tb.outputs, bm.outputs, rel.outputs

    # T1 data at the relaxed solution (THEORY §5).
    z_norm = np.linalg.norm(z_inf, axis=1)
    Delta_0 = float(np.sqrt(np.mean(z_norm**2)))
    Delta_01 = float(np.mean(z_norm))
    rho = float(np.max(np.linalg.norm(Y_inf[:, sc] - Y_d[:, sc], axis=2)))
    phi_inf = window_starts_states(th_inf, train, N, stride, z_inf[0])  # phi_{s_i}(z^inf_1)
    Delta_b = float(np.sqrt(np.mean(np.sum((phi_inf - z_inf) ** 2, axis=1))))

    # Certificates and empirical constants for theta^inf (T1) and theta* (T2).
    X = win.stack(train.x)
    cert_inf, curve_inf = _certified_points(th_inf)
    cert_star, curve_star = _certified_points(tb.model)
    emp_inf = sampled.empirical_constants(th_inf, X, seed=seed, n_pairs=n_pairs)
    emp_star = sampled.empirical_constants(tb.model, X, seed=seed, n_pairs=n_pairs)

    V_inf = rel.value

    def t1(C: float, lam: float) -> float:
        return float(bn.training_regret(C=C, lam=lam, m=m, N=N, V_inf=V_inf, Delta_0=Delta_0,
                                        Delta_01=Delta_01, rho=rho))

    def t1c(C: float, lam: float) -> float:
        return float(bn.benchmark_regret(C=C, lam=lam, m=m, N=N, V_inf=V_inf, Delta_b=Delta_b,
                                         rho=rho))

    def on_curve(points: list, f: Callable[[float, float], float]) -> tuple[float, Any]:
        if not points:
            return math.nan, None
        best = lmi_c.minimise_over_curve(points, f)
        return f(best.C, best.lam), best

    def emp_value(e: Any, f: Callable[[float, float], float]) -> float:
        return f(e.C, e.lam) if e.contracting else math.nan

    T1_bound, c1 = on_curve(curve_inf, t1)
    T1c_bound, _ = on_curve(curve_inf, t1c)

    # Coercivity (C_eps) and accuracy (T1d).
    R_inf = (Y_inf - Y_d)[:, sc]
    D_star, D_b = (Y_star - Y_inf)[:, sc], (Y_b - Y_inf)[:, sc]

    def coercive(D: np.ndarray) -> bool:
        return bool(2.0 * np.vdot(R_inf, D) >= -np.vdot(D, D) / eps - 1e-12)

    coercive_star, coercive_b = coercive(D_star), coercive(D_b)
    acc_gap = float(np.vdot(D_star, D_star)) / K
    T1d_bound = (
        float(bn.accuracy_bound(eps=eps, bound=T1_bound)) if coercive_star else math.nan
    )

    # Performance (THEORY §2): TBPTT from 0, benchmark from h0^b; on test both from 0.
    P_star = performance(tb.model, train, m)
    P_b = performance(bm.model, train, m, h0=bm.h0)
    P_star_test = performance(tb.model, test, m)
    P_b_test = performance(bm.model, test, m)

    # T2 (THEORY §6): blocks J_i, A_J, B.
    covers = win.covers(m) and win.o_min >= m
    blocks = win.blocks(m)
    A_J = float(sum(np.sum((Y_star[i, J - 1] - Y_b[i, J - 1]) ** 2) for i, J in enumerate(blocks)))
    phi_star = window_starts_states(tb.model, train, N, stride)[1:]  # phi_{s_i}(0; theta*), i>=2
    phi2 = np.sum(phi_star**2, axis=1)

    def B_of(C: float, lam: float) -> float:
        return float(bn.B_term(C_star=C, lam_star=lam, phi_norms=np.sqrt(phi2),
                               overlaps=win.overlaps, N=N))

    def t2a(C: float, lam: float) -> float:
        return float(bn.performance_regret(P_b=P_b, A_J=A_J, B=B_of(C, lam), T=train.T, m=m))

    if covers:
        T2a_bound, c2 = on_curve(curve_star, t2a)
        B = B_of(c2.C, c2.lam) if c2 is not None else math.nan
        T2a_emp = emp_value(emp_star, t2a)
    else:
        T2a_bound, c2, B, T2a_emp = math.nan, None, math.nan, math.nan
    T2b_bound = math.nan
    if covers and coercive_star and coercive_b and c1 is not None and c2 is not None:
        T2b_bound = float(bn.performance_regret_apriori(
            P_b=P_b, eps=eps, C=c1.C, lam=c1.lam, rho=rho, Delta_0=Delta_0, Delta_01=Delta_01,
            Delta_b=Delta_b, C_star=c2.C, lam_star=c2.lam, H=float(np.sqrt(phi2.max(initial=0.0))),
            S=S, T=train.T, N=N, m=m, o_min=win.o_min,
        ))

    gap_T1 = tb.value - V_inf
    gap_T1c = bm.value - V_inf
    gap_T2 = P_star - P_b

    def sound(gap: float, bound: float) -> bool | None:
        if not math.isfinite(bound):
            return None
        return bool(gap <= bound * (1 + SOUND_RTOL) + SOUND_ATOL)

    def tight(gap: float, bound: float) -> float:
        return bound / gap if gap > 0 and math.isfinite(bound) else math.nan

    s1 = sound(gap_T1, T1_bound)
    s1c = sound(gap_T1c, T1c_bound)
    s1d = sound(acc_gap, T1d_bound)
    s2 = sound(gap_T2, T2a_bound)
    s2b = sound(gap_T2, T2b_bound)
    flags = [f for f in (s1, s1c, s1d, s2, s2b) if f is not None]
    row: dict[str, Any] = {
        "m": m, "S": S, "K": K,
        "V_star": tb.value, "V_b": bm.value, "V_inf": V_inf,
        "R0": solved.R0, "rounds": solved.rounds,
        "warm_start_ok": solved.warm_tbptt and solved.warm_benchmark,
        "gap_T1": gap_T1, "T1_bound": T1_bound, "T1_bound_emp": emp_value(emp_inf, t1),
        "gap_T1c": gap_T1c, "T1c_bound": T1c_bound,
        "gap_abs_star_b": abs(tb.value - bm.value),
        "T1_star_b_bound": max(T1_bound, T1c_bound),
        "Delta_0": Delta_0, "Delta_01": Delta_01, "rho": rho, "Delta_b": Delta_b,
        "eps": eps, "coercive": coercive_star and coercive_b,
        "coercive_star": coercive_star, "coercive_b": coercive_b,
        "acc_gap": acc_gap, "T1d_bound": T1d_bound,
        "P_star": P_star, "P_b": P_b, "P_star_test": P_star_test, "P_b_test": P_b_test,
        "gap_T2": gap_T2, "A_J": A_J, "B": B,
        "T2a_bound": T2a_bound, "T2a_bound_emp": T2a_emp, "T2b_bound": T2b_bound,
        "T2_applicable": covers,
        "certified": bool(cert_inf.verified and cert_star.verified),
        "lam_cert": cert_inf.lam, "C_cert": cert_inf.C,
        "lam_cert_T1": c1.lam if c1 else math.nan, "C_cert_T1": c1.C if c1 else math.nan,
        "lam_cert_star": cert_star.lam, "C_cert_star": cert_star.C,
        "lam_cert_T2": c2.lam if c2 else math.nan, "C_cert_T2": c2.C if c2 else math.nan,
        "cert_reason": cert_inf.reason if not cert_inf.verified else cert_star.reason,
        "lam_emp": emp_inf.lam, "C_emp": emp_inf.C,
        "lam_emp_star": emp_star.lam, "C_emp_star": emp_star.C,
        "sound_T1": s1, "sound_T1c": s1c, "sound_T1d": s1d, "sound_T2": s2, "sound_T2b": s2b,
        "sound": bool(all(flags)) and bool(flags),
        "tight_T1": tight(gap_T1, T1_bound), "tight_T2": tight(gap_T2, T2a_bound),
        "tight_T2b": tight(gap_T2, T2b_bound),
        "seconds_fit": math.nan, "seconds_certify": cert_inf.seconds + cert_star.seconds,
    }
    e_j = np.mean(np.sum((Y_star - Y_b) ** 2, axis=2), axis=0)
    trace = {
        "e_j": e_j,
        "y_star_windows": Y_star, "y_b_windows": Y_b, "y_inf_windows": Y_inf,
        "y_star_free_train": tb.model.simulate(train.x)[1],
        "y_b_free_train": bm.model.simulate(train.x, bm.h0)[1],
        "y_star_free_test": tb.model.simulate(test.x)[1],
        "y_b_free_test": bm.model.simulate(test.x)[1],
        "lam_curve": np.array([c.lam for c in curve_inf]),
        "C_curve": np.array([c.C for c in curve_inf]),
        "lam_emp_point": np.array(emp_inf.lam), "C_emp_point": np.array(emp_inf.C),
        "rho_emp": np.asarray(emp_inf.rho),
    }
    return row, trace


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
    out_dir: str | Path | None = None,
    resume: bool = True,
    progress: Progress | None = None,
) -> GapTable:
    """Bound vs measured gap for every burn-in ``m`` in ``ms`` (THEORY.md §8).

    Parameters
    ----------
    train, test : Sequence
    N : window length; ``ms`` : burn-ins, each ``0 <= m < N``
    stride : window stride; model : ``"linear"`` or ``"tanh"``; n_h : hidden size
    bias : trainable biases (default: False for the linear model, as in the paper)
    w_hh_max : elementwise bound ``|W_hh| <= w_hh_max`` (the paper's 0.999)
    eps : coercivity level of (C_eps), ``> 1``
    out_dir : if given, ``gaps.csv`` and ``gaps.json`` are written there after every
        finished ``m``; with ``resume`` a rerun with the same settings skips finished ``m``
    progress : callable receiving one line per step (e.g. ``print``)

    Returns
    -------
    GapTable with one row per ``m`` (keys documented in :func:`compare`) and traces.
    """
    say = progress or _quiet
    if not isinstance(train, Sequence) or not isinstance(test, Sequence):
        raise TypeError("train and test must be systems.data.Sequence objects")
    if test.n_x != train.n_x or test.n_y != train.n_y:
        raise ValueError(
            f"test has n_x={test.n_x}, n_y={test.n_y} but train has n_x={train.n_x}, "
            f"n_y={train.n_y}"
        )
    win = Windows(train.T, N, stride)  # validates N <= T, stride >= 1
    ms = sorted({check_burn_in(m, N) for m in ms})
    if not ms:
        raise ValueError("ms must contain at least one burn-in m")
    if eps <= 1:
        raise ValueError(f"eps = {eps} must be > 1 (coercivity level of C_eps)")
    bias = (model != "linear") if bias is None else bias
    meta = {
        "N": N, "stride": stride, "T": train.T, "S": win.S, "o_min": win.o_min,
        "model": model, "n_h": n_h, "bias": bias, "w_hh_max": w_hh_max, "eps": eps,
        "seed": seed, "train_name": train.name, "test_name": test.name,
        "x_train": train.x, "y_train": train.y, "x_test": test.x, "y_test": test.y,
    }
    table = GapTable(meta=meta)
    csv_path = json_path = None
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        csv_path, json_path = out / "gaps.csv", out / "gaps.json"
        if resume and json_path.exists():
            old = GapTable.from_json(json_path)
            if _same_settings(old.meta, meta):
                table = old.subset(ms)
                table.meta = meta
                if table.ms:
                    say(f"resuming: m = {table.ms} already done in {json_path}")
            else:
                say(f"{json_path} was made with other settings; starting afresh")
    for k, m in enumerate(ms, 1):
        if m in table.ms:
            continue
        say(f"[{k}/{len(ms)}] m = {m}: solving relaxed, TBPTT and benchmark problems")
        t0 = time.perf_counter()
        solved = solve_three(
            train, N, m, stride=stride, activation=model, n_h=n_h, bias=bias,
            w_hh_max=w_hh_max, seed=seed, fit_options=fit_options, progress=say,
        )
        t_fit = time.perf_counter() - t0
        say(f"[{k}/{len(ms)}] m = {m}: certificates and bounds")
        row, trace = compare(solved, train, test, N, m, stride=stride, eps=eps, seed=seed)
        row["seconds_fit"] = t_fit
        table.add(row, trace)
        if csv_path is not None and json_path is not None:
            table.to_json(json_path)
            table.to_csv(csv_path)
        say(
            f"[{k}/{len(ms)}] m = {m}: V*-V^inf = {row['gap_T1']:.3g} <= T1 {row['T1_bound']:.3g}; "
            f"P*-P^b = {row['gap_T2']:.3g} <= T2a {row['T2a_bound']:.3g}; "
            f"{'sound' if row['sound'] else 'NOT SOUND'} ({time.perf_counter() - t0:.1f} s)"
        )
    return table


def _same_settings(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = ("N", "stride", "T", "model", "n_h", "bias", "w_hh_max", "eps", "seed")
    if any(a.get(k) != b.get(k) for k in keys):
        return False
    for k in ("x_train", "y_train", "x_test", "y_test"):
        x, y = np.asarray(a.get(k, []), float), np.asarray(b.get(k, []), float)
        if x.shape != y.shape or not np.allclose(x, y, rtol=0, atol=1e-12):
            return False
    return True
