"""Tests of systems/problems.py: global optimality on the paper's data against two independent
references (IPOPT and a least-squares grid), (R0), solutions, warm starts, validation.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from systems.benchmarks import paper_series
from systems.data import Sequence, paper_lti
from systems.problems import (
    PROBLEMS,
    ConvergenceWarning,
    Solution,
    evaluate,
    fit,
    performance,
)
from systems.rnn import ElmanRNN
from systems.windows import WindowedData, Windows

MS = (0, 4, 8, 12, 16, 20)
PAPER = dict(n_h=1, activation="linear", bias=False, w_hh_max=0.999, stride=1)
N = 21

# Optimal values from benchmarks/ipopt_reference.py (CasADi 3.8.2 + IPOPT, multiple shooting,
# 10 starts per problem, tol 1e-12), run 2026-11-25 on ../shared/data/paper_synthetic/train.csv.
IPOPT = {
    ("tbptt", 0): 0.010634022114963122,
    ("tbptt", 4): 0.0010540769932731934,
    ("tbptt", 8): 0.00021246058156626212,
    ("tbptt", 12): 0.00015959666998682087,
    ("tbptt", 16): 0.00015425738815686368,
    ("tbptt", 20): 0.0001568257719563037,
    ("benchmark", 0): 0.0001804349674393002,
    ("benchmark", 4): 0.00015692290626606055,
    ("benchmark", 8): 0.00015732691559310242,
    ("benchmark", 12): 0.00015357094506432227,
    ("benchmark", 16): 0.00015334284352957906,
    ("benchmark", 20): 0.00015657111009677405,
    ("relaxed", 0): 0.00016075998431195547,
    ("relaxed", 4): 0.00014602333046184843,
    ("relaxed", 8): 0.00014193644765864028,
    ("relaxed", 12): 0.0001328146458024157,
    ("relaxed", 16): 0.0001194553367467649,
    ("relaxed", 20): 2.0420423585414846e-25,
}

# ---- tolerances (one place)
OPT_ATOL = 1e-9  # fit's optimum may exceed a reference optimum by at most this (absolute) ...
OPT_RTOL = 1e-7  # ... plus this much relative
LS_BELOW = 1e-10  # fit may not beat the least-squares global minimum by more than this
R0_ATOL = 1e-12  # V^inf <= min(V*, V^b) + this


def _not_worse(value: float, ref: float) -> bool:
    return value <= ref + OPT_ATOL + OPT_RTOL * abs(ref)


# ----------------------------------------------------------------------------- LS reference
def _ls_value(a: float, problem: str, x: np.ndarray, y: np.ndarray, m: int) -> float:
    """Scalar linear RNN without biases, ``w_hh = a`` fixed: the outputs are linear in
    ``b = w_xh w_hy`` and ``c = w_hy z`` (or ``w_hy h_0``), so the problem is linear least
    squares. Shares nothing with systems/bptt.py or systems/problems.py."""
    T = len(x)
    w = Windows(T, N)
    K = w.S * (N - m)
    if problem == "benchmark":
        U, acc = np.zeros(T), 0.0
        for t in range(T):
            acc = a * acc + x[t]
            U[t] = acc
        sw = np.sqrt(w.weights(m))
        A = np.stack([U, a ** np.arange(1, T + 1)], 1) * sw[:, None]
        coef, *_ = np.linalg.lstsq(A, y * sw, rcond=None)
        return float(np.sum((A @ coef - y * sw) ** 2) / K)
    X, Y = x[w.index], y[w.index]
    U, acc = np.zeros_like(X), np.zeros(w.S)
    for j in range(N):
        acc = a * acc + X[:, j]
        U[:, j] = acc
    U, Y = U[:, m:], Y[:, m:]
    if problem == "relaxed":  # eliminate c_i: project out P = (a^{m+1}, .., a^N) per window
        P = a ** np.arange(m + 1, N + 1)
        pp = P @ P
        if pp > 1e-300:
            U = U - np.outer(U @ P, P) / pp
            Y = Y - np.outer(Y @ P, P) / pp
    b = np.sum(U * Y) / max(np.sum(U * U), 1e-300)
    return float(np.sum((b * U - Y) ** 2) / K)


def _ls_global(problem: str, x: np.ndarray, y: np.ndarray, m: int, n: int = 401) -> float:
    """Dense grid over ``a in [-0.999, 0.999]``, refined around the 3 best grid points."""
    grid = np.linspace(-0.999, 0.999, n)
    v = np.array([_ls_value(a, problem, x, y, m) for a in grid])
    best = float(v.min())
    for k in np.argsort(v)[:3]:
        lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, n - 1)]
        r = minimize_scalar(lambda a: _ls_value(a, problem, x, y, m), bounds=(lo, hi),
                            method="bounded", options={"xatol": 1e-12})
        best = min(best, float(r.fun))
    return best


# ----------------------------------------------------------------------------- paper data
@pytest.fixture(scope="module")
def paper_train() -> Sequence:
    return paper_series("train")


@pytest.fixture(scope="module")
def paper_solutions(paper_train) -> dict[tuple[str, int], Solution]:
    """The 18 paper problems with default settings (no warm starts): about 1-2 s."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        return {(p, m): fit(p, paper_train, N, m, **PAPER) for p in PROBLEMS for m in MS}


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("m", MS)
def test_fit_at_least_as_good_as_ipopt(paper_solutions, problem, m):
    sol = paper_solutions[(problem, m)]
    assert _not_worse(sol.value, IPOPT[(problem, m)]), (sol.value, IPOPT[(problem, m)])
    assert sol.converged


@pytest.mark.parametrize("problem", PROBLEMS)
def test_fit_matches_least_squares_global_optimum(paper_train, paper_solutions, problem):
    x, y = paper_train.x[:, 0], paper_train.y[:, 0]
    for m in MS:
        ls = _ls_global(problem, x, y, m)
        value = paper_solutions[(problem, m)].value
        assert _not_worse(value, ls), (m, value, ls)  # fit not worse than the global minimum
        assert value >= ls - LS_BELOW, (m, value, ls)  # and not impossibly better


def test_relaxation_bound_R0(paper_solutions):
    """(R0): V^inf <= min(V*, V^b) for every m."""
    for m in MS:
        v_inf = paper_solutions[("relaxed", m)].value
        assert v_inf <= min(paper_solutions[("tbptt", m)].value,
                            paper_solutions[("benchmark", m)].value) + R0_ATOL


def test_builtin_paper_lti_matches_least_squares():
    data = paper_lti("train")
    for problem, m in (("tbptt", 4), ("benchmark", 8), ("relaxed", 12)):
        sol = fit(problem, data, N, m, **PAPER)
        ls = _ls_global(problem, data.x[:, 0], data.y[:, 0], m)
        assert _not_worse(sol.value, ls) and sol.value >= ls - LS_BELOW


# ----------------------------------------------------------------------------- solutions
def test_solution_fields_are_consistent(paper_train, paper_solutions):
    w = Windows(paper_train.T, N)
    for (problem, m), sol in paper_solutions.items():
        assert sol.problem == problem and (sol.N, sol.m, sol.stride) == (N, m, 1)
        assert sol.z.shape == (w.S, 1) and sol.outputs.shape == (w.S, N, 1)
        assert abs(sol.model.W_hh[0, 0]) <= 0.999 and not sol.model.has_bias
        h0 = sol.h0 if problem == "benchmark" else None
        z = sol.z if problem == "relaxed" else None
        assert np.isclose(sol.value, evaluate(problem, sol.model, paper_train, N, m, h0=h0, z=z),
                          rtol=1e-12, atol=1e-20)
        if problem == "benchmark":
            assert sol.h0.shape == (1,)
            h, y = sol.model.simulate(paper_train.x, sol.h0)
            np.testing.assert_allclose(sol.z, h[w.starts], atol=1e-12)  # phi_{s_i}(h0)
            np.testing.assert_allclose(sol.outputs, w.stack(y), atol=1e-12)
            np.testing.assert_allclose(sol.states, h)
        else:
            assert sol.h0 is None
            if problem == "tbptt":
                assert np.all(sol.z == 0)


def test_performance_by_hand(paper_train, paper_solutions):
    sol = paper_solutions[("benchmark", 4)]
    a, wx, wy = sol.model.W_hh[0, 0], sol.model.W_xh[0, 0], sol.model.W_hy[0, 0]
    h, err = sol.h0[0], []
    for t in range(paper_train.T):
        h = a * h + wx * paper_train.x[t, 0]
        err.append((wy * h - paper_train.y[t, 0]) ** 2)
    assert np.isclose(performance(sol.model, paper_train, 4, sol.h0), np.mean(err[4:]),
                      rtol=1e-12)


def test_warm_starts_never_end_above_their_start(paper_train, paper_solutions):
    """docs/theory.md §8: from theta^inf, TBPTT ends at or below V(theta^inf; 0); relaxed from a
    benchmark Solution ends at or below V^b; benchmark from relaxed takes h0 = z_1."""
    m = 8
    rel, bench = paper_solutions[("relaxed", m)], paper_solutions[("benchmark", m)]
    start = evaluate("tbptt", rel.model, paper_train, N, m)
    tb = fit("tbptt", paper_train, N, m, **PAPER, init=rel, restarts=0)
    assert tb.value <= start and tb.n_starts == 1
    r2 = fit("relaxed", paper_train, N, m, **PAPER, init=bench, restarts=0)
    assert r2.value <= bench.value + R0_ATOL
    b0 = evaluate("benchmark", rel.model, paper_train, N, m, h0=rel.z[0])
    b2 = fit("benchmark", paper_train, N, m, **PAPER, init=rel, restarts=0)
    assert b2.value <= b0
    r3 = fit("relaxed", paper_train, N, m, **PAPER, init=rel.model, restarts=1)
    assert _not_worse(r3.value, rel.value) and r3.n_starts == 2


# ----------------------------------------------------------------------------- general models
@pytest.mark.parametrize("problem", PROBLEMS)
def test_tanh_with_bias_decreases_and_is_reproducible(problem):
    rng = np.random.default_rng(0)
    t = np.arange(60)[:, None]
    y = np.tanh(np.sin(0.2 * t - 0.5)) + 0.05 * rng.normal(size=(60, 1))
    data = Sequence(np.sin(0.2 * t), y)
    kw = dict(n_h=2, activation="tanh", stride=3, restarts=2, seed=1, maxiter=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        s1 = fit(problem, data, 10, 2, **kw)
        s2 = fit(problem, data, 10, 2, **kw)
    assert s1.value == s2.value  # seeded
    assert s1.value < np.mean(data.y[2:] ** 2)  # better than predicting zero
    assert s1.model.has_bias and s1.outputs.shape == (Windows(60, 10, 3).S, 10, 1)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_three_problems_for_gated_cells(cell):
    """Every problem trains a gated cell: the objective goes down from the start, warm starts
    never end above their start (docs/theory.md §8), states have the cell's size n_z."""
    t = np.arange(30)[:, None]
    data = Sequence(np.sin(0.3 * t), np.tanh(np.sin(0.3 * t - 0.7)))
    wd = WindowedData(data, 8, 2, stride=2)
    kw = dict(n_h=2, cell=cell, restarts=1, seed=0, maxiter=10)
    n_z = 4 if cell == "lstm" else 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        rel = fit("relaxed", wd, **kw)
        assert rel.model.cell == cell and rel.z.shape == (wd.S, n_z)
        assert rel.value < np.mean(data.y[2:] ** 2)  # better than predicting zero
        start = evaluate("tbptt", rel.model, wd)
        tb = fit("tbptt", wd, **{**kw, "restarts": 0}, init=rel)
        assert tb.value <= start and not tb.z.any()
        b0 = evaluate("benchmark", rel.model, wd, h0=rel.z[0])
        bm = fit("benchmark", wd, **{**kw, "restarts": 0}, init=rel)
        assert bm.value <= b0 and bm.h0.shape == (n_z,) and bm.states.shape == (31, n_z)
    with pytest.raises(ValueError, match="cell"):
        fit("tbptt", wd, n_h=2, cell="elman", init=rel)


def test_not_converged_warns_and_keeps_result(paper_train):
    with pytest.warns(ConvergenceWarning, match="did not converge.*relaxed"):
        sol = fit("relaxed", paper_train, N, 4, **PAPER, maxiter=2, restarts=1)
    assert not sol.converged and np.isfinite(sol.value)


def test_progress_messages(paper_train):
    msgs: list[str] = []
    fit("tbptt", paper_train, N, 4, **PAPER, progress=msgs.append)
    assert msgs and all(isinstance(s, str) for s in msgs) and "done" in msgs[-1]


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(m=21), r"m = 21 must satisfy 0 <= m < N = 21"),
        (dict(N=101), r"N = 101 must satisfy 1 <= N <= T = 100"),
        (dict(stride=0), r"stride = 0 must be >= 1"),
        (dict(problem="full"), r"problem must be one of"),
        (dict(activation="relu"), r"activation must be one of"),
        (dict(n_h=0), r"n_h = 0 must be >= 1"),
        (dict(init=ElmanRNN(np.eye(2), np.ones((2, 1)), None, np.ones((1, 2)), None,
                            activation="linear")), r"init has n_h=2 but n_h=1"),
        (dict(init=ElmanRNN([[0.5]], [[1.0]], None, [[1.0]], None, activation="tanh")),
         r"init has activation 'tanh'"),
        (dict(restarts=0), r"restarts = 0 needs a warm start"),
    ],
)
def test_bad_input_fails_early(kwargs, match):
    data = paper_lti("train")
    args = dict(problem="tbptt", N=21, m=4, n_h=1, activation="linear")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        fit(args.pop("problem"), data, args.pop("N"), args.pop("m"), **args)


def test_bad_input_evaluate_and_performance():
    data = paper_lti("train")
    model = ElmanRNN([[0.5]], [[1.0]], None, [[1.0]], None, activation="linear")
    with pytest.raises(ValueError, match="z must have shape"):
        evaluate("relaxed", model, data, 21, 4, z=np.zeros((3, 1)))
    with pytest.raises(ValueError, match="m = 100 must satisfy 0 <= m < T = 100"):
        performance(model, data, 100)
    wide = ElmanRNN([[0.5]], [[1.0, 2.0]], None, [[1.0]], None, activation="linear")
    with pytest.raises(ValueError, match="n_x=2"):
        performance(wide, data, 0)
    with pytest.raises(ValueError, match="NaN or inf"):
        Sequence(np.array([0.0, np.nan]), np.zeros(2))
