"""Independent reference optima for the 18 paper problems: CasADi + IPOPT, multiple shooting.

Scalar linear RNN without biases, ``h_t = a h_{t-1} + w_x x_t``, ``y_t = w_y h_t``,
``|a| <= 0.999`` (the paper's bound), ``N = 21``, stride 1, ``m in {0, 4, 8, 12, 16, 20}``.
Every state is a decision variable tied to its predecessor by an equality constraint
(multiple shooting), so this formulation shares no code with ``systems/bptt.py``:

* tbptt: states ``h_{i,1..N}`` per window, ``h_{i,0} = 0``;
* relaxed: the same with a free ``h_{i,0} = z_i``;
* benchmark: one trajectory ``h_0..h_T`` with a free ``h_0``, time ``t`` weighted by the
  number of windows that score it, normalised by ``S (N - m)``.

IPOPT runs from several starts (``a`` spread over the interval, both signs of ``w_x w_y``,
states simulated from the start) and keeps the best. Prints the optimal values and the total
time (building + solving). CasADi is not a project dependency: this script is a reference
for ``tests/test_problems.py`` only.

Usage: ``python benchmarks/ipopt_reference.py [path/to/paper_synthetic/train.csv]``
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import casadi as ca
import numpy as np

REPO = Path(__file__).resolve().parents[1]
MS = (0, 4, 8, 12, 16, 20)
N, W_MAX = 21, 0.999
A_STARTS = (-0.9, -0.5, 0.0, 0.5, 0.9)
SIGNS = (1.0, -1.0)


def read_series(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Columns ``x`` and ``y`` of the authors' CSV (header ``t,x,y``), no project code."""
    table = np.genfromtxt(path, delimiter=",", names=True)
    return np.asarray(table["x"], float), np.asarray(table["y"], float)


def coverage(T: int, m: int) -> np.ndarray:
    """How many stride-1 windows of length N score time t (0-based), shape (T,)."""
    w = np.zeros(T)
    for s in range(T - N + 1):
        w[s + m : s + N] += 1.0
    return w


def build(problem: str, x: np.ndarray, y: np.ndarray, m: int):
    """The NLP: (solver, a function start(a, wx, wy) -> x0, bounds lbx/ubx)."""
    T = len(x)
    S = T - N + 1
    K = S * (N - m)
    a, wx, wy = ca.SX.sym("a"), ca.SX.sym("wx"), ca.SX.sym("wy")
    if problem == "benchmark":
        h = ca.SX.sym("h", T + 1)  # h[0] = h_0 free
        g = h[1:] - a * h[:-1] - wx * ca.DM(x)
        wt = coverage(T, m)
        r = wy * h[1:] - ca.DM(y)
        f = ca.sum1(ca.DM(wt) * r**2) / K
        states = h
    else:
        H = ca.SX.sym("H", S, N + 1)  # column 0: initial states
        X = np.array([x[s : s + N] for s in range(S)])
        Y = np.array([y[s : s + N] for s in range(S)])
        g = H[:, 1:] - a * H[:, :-1] - wx * ca.DM(X)
        r = wy * H[:, m + 1 :] - ca.DM(Y[:, m:])
        f = ca.sum1(ca.sum2(r**2)) / K
        states = ca.vec(H)
        g = ca.vec(g)
    v = ca.vertcat(a, wx, wy, states)
    nlp = {"x": v, "f": f, "g": g}
    opts = {"print_time": False, "ipopt": {"print_level": 0, "tol": 1e-12,
                                            "acceptable_tol": 1e-10, "max_iter": 500,
                                            "max_cpu_time": 30.0}}
    solver = ca.nlpsol(f"{problem}_{m}", "ipopt", nlp, opts)
    n = v.shape[0]
    lbx, ubx = -np.inf * np.ones(n), np.inf * np.ones(n)
    lbx[0], ubx[0] = -W_MAX, W_MAX
    if problem == "tbptt":  # h_{i,0} = 0 (the first S entries of vec(H), column-major)
        lbx[3 : 3 + S] = ubx[3 : 3 + S] = 0.0

    def start(a0: float, wx0: float, wy0: float) -> np.ndarray:
        if problem == "benchmark":
            h = np.zeros(T + 1)
            for t in range(T):
                h[t + 1] = a0 * h[t] + wx0 * x[t]
            st = h
        else:
            Hs = np.zeros((S, N + 1))
            for j in range(N):
                Hs[:, j + 1] = a0 * Hs[:, j] + wx0 * np.array([x[s + j] for s in range(S)])
            st = Hs.ravel(order="F")
        return np.concatenate([[a0, wx0, wy0], st])

    return solver, start, lbx, ubx, len(g) if isinstance(g, np.ndarray) else g.shape[0]


def solve(problem: str, x: np.ndarray, y: np.ndarray, m: int) -> tuple[float, float]:
    solver, start, lbx, ubx, n_g = build(problem, x, y, m)
    best = np.inf
    best_a = np.nan
    for a0 in A_STARTS:
        for sgn in SIGNS:
            sol = solver(x0=start(a0, 1.0, sgn), lbx=lbx, ubx=ubx, lbg=0.0, ubg=0.0)
            stats = solver.stats()
            viol = float(np.max(np.abs(np.asarray(sol["g"])))) if n_g else 0.0
            f = float(sol["f"])
            if stats["success"] or stats["return_status"] == "Solved_To_Acceptable_Level":
                if viol < 1e-8 and f < best:
                    best, best_a = f, float(np.asarray(sol["x"])[0, 0])
    return best, best_a


def main(argv: list[str] | None = None) -> dict[tuple[str, int], float]:
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else REPO.parent / "shared/data/paper_synthetic/train.csv"
    x, y = read_series(path)
    out = {}
    t0 = time.perf_counter()
    print(f"casadi {ca.__version__}, IPOPT, {len(A_STARTS) * len(SIGNS)} starts per problem")
    for problem in ("tbptt", "benchmark", "relaxed"):
        for m in MS:
            t1 = time.perf_counter()
            f, a = solve(problem, x, y, m)
            out[(problem, m)] = f
            print(f"{problem:>10} m={m:>2}  V = {f!r:<24} a = {a:+.6f}  "
                  f"({time.perf_counter() - t1:.2f} s)")
    print(f"total IPOPT time (build + solve, all starts): {time.perf_counter() - t0:.2f} s")
    per_start = (time.perf_counter() - t0) / (len(A_STARTS) * len(SIGNS))
    print(f"  = {per_start:.2f} s per start for all 18 problems")
    return out


if __name__ == "__main__":
    main()
