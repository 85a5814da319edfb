"""How LMI-C certification scales with the hidden size (not a test).

Random tanh RNNs with ``W_hh`` scaled to spectral norm ``--norm`` (contracting, seeded) for each
``n_h``; certify A1 (LMI-C bisection, float64 re-check), estimate the empirical constants on
random input windows, and print one row per size:

    n_h, seconds, certified lam, C, verified, margin, solver, empirical lam, C, lam ratio

Usage: ``python benchmarks/lmi_scaling.py [--sizes 8 16 32 64] [--seed 0] [--tol 1e-4]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from systems.rnn import ElmanRNN  # noqa: E402
from verification.certificates.lmi_c import certify  # noqa: E402
from verification.certificates.sampled import empirical_constants  # noqa: E402


def random_tanh_rnn(n_h: int, norm: float, seed: int, n_x: int = 1, n_y: int = 1) -> ElmanRNN:
    """``W_hh`` Gaussian scaled to spectral norm ``norm``; input/readout ``~ N(0, 1/n_h)``."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n_h, n_h))
    W *= norm / np.linalg.norm(W, 2)
    s = 1.0 / np.sqrt(n_h)
    return ElmanRNN(W, s * rng.standard_normal((n_h, n_x)), np.zeros(n_h),
                    s * rng.standard_normal((n_y, n_h)), np.zeros(n_y), activation="tanh")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32, 64])
    ap.add_argument("--norm", type=float, default=0.9, help="spectral norm of W_hh")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tol", type=float, default=1e-4, help="bisection tolerance on lam")
    ap.add_argument("--windows", type=int, default=64, help="random input windows S")
    ap.add_argument("--N", type=int, default=40, help="window length")
    ap.add_argument("--pairs", type=int, default=2000, help="sampled pairs (empirical)")
    args = ap.parse_args(argv)

    header = (f"{'n_h':>4} {'seconds':>8} {'solves':>6} {'lam_cert':>9} {'C_cert':>8} "
              f"{'verified':>8} {'margin':>8} {'solver':>8} {'lam_emp':>8} {'C_emp':>8} "
              f"{'lam_c/lam_e':>11}")
    rows = []
    for n_h in args.sizes:
        print(f"[n_h={n_h}] certifying ...", file=sys.stderr, flush=True)
        model = random_tanh_rnn(n_h, args.norm, args.seed + n_h)
        t0 = time.perf_counter()
        cert = certify(model, tol=args.tol)
        secs = time.perf_counter() - t0
        X = np.random.default_rng(args.seed).standard_normal((args.windows, args.N, model.n_x))
        emp = empirical_constants(model, X, n_pairs=args.pairs, seed=args.seed)
        rows.append(
            f"{n_h:>4} {secs:>8.2f} {cert.n_solves:>6} {cert.lam:>9.5f} {cert.C:>8.3f} "
            f"{cert.verified!s:>8} {cert.margin:>8.1e} {cert.solver:>8} {emp.lam:>8.4f} "
            f"{emp.C:>8.3f} {cert.lam / emp.lam:>11.3f}"
        )
        print(f"[n_h={n_h}] done in {secs:.1f} s: {cert.reason}", file=sys.stderr, flush=True)
    print(header)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
