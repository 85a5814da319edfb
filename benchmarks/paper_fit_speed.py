"""Time ``systems.problems.fit`` on the 18 problems of the paper's synthetic experiment.

Scalar linear RNN without biases (``n_h = 1``, ``|w_hh| <= 0.999``), ``N = 21``, stride 1,
``m in {0, 4, 8, 12, 16, 20}``, problems tbptt / benchmark / relaxed, default solver
settings, each ``fit`` independent (no warm starts between them). Prints every optimum and
the total time. Target: under 2 s on a 2-core machine.

Usage: ``python benchmarks/paper_fit_speed.py [path/to/paper_synthetic/train.csv]``
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from systems.data import load_csv  # noqa: E402
from systems.problems import PROBLEMS, fit  # noqa: E402

MS = (0, 4, 8, 12, 16, 20)
SETTINGS = dict(n_h=1, activation="linear", bias=False, w_hh_max=0.999, stride=1)


def main(argv: list[str] | None = None) -> float:
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else REPO.parent / "shared/data/paper_synthetic/train.csv"
    data = load_csv(path, ["x"], ["y"])
    fit("tbptt", data, 21, 0, **SETTINGS)  # warm-up (imports, BLAS initialisation)
    total = 0.0
    print(f"{'problem':>10} {'m':>3} {'value':>22} {'iters':>6} {'seconds':>8}")
    for problem in PROBLEMS:
        for m in MS:
            t0 = time.perf_counter()
            sol = fit(problem, data, 21, m, **SETTINGS)
            dt = time.perf_counter() - t0
            total += dt
            print(f"{problem:>10} {m:>3} {sol.value:>22.15e} {sol.iterations:>6} {dt:>8.3f}")
    print(f"total fit time for the 18 paper problems: {total:.3f} s")
    return total


if __name__ == "__main__":
    main()
