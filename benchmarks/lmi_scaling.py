"""How LMI-C certification scales with the hidden size, old vs new algorithm (not a test).

Random tanh RNNs with ``W_hh`` scaled to spectral norm ``--norm`` (contracting, seeded) for each
``n_h``; certify A1 twice in the same run -- ``method="bisection"`` (the old algorithm: one SDP
per bisection step) and ``method="eigen"`` (the rate from numerical radii, then one SDP for the
metric) -- estimate the empirical constants on random input windows, and print one row per size:

    n_h, old/new seconds and their ratio, SDP solves, old/new certified lam and C, verified,
    new - old lam, empirical lam, certified/empirical lam

Timings are wall times on a possibly shared machine: compare the ratio, measured in one run.
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

    header = (f"{'n_h':>4} {'t_old':>7} {'t_new':>7} {'ratio':>6} {'solves':>7} "
              f"{'lam_old':>9} {'lam_new':>9} {'new-old':>9} {'C_old':>8} {'C_new':>8} "
              f"{'verified':>9} {'lam_emp':>8} {'lam_new/emp':>11}")
    rows = []
    for n_h in args.sizes:
        model = random_tanh_rnn(n_h, args.norm, args.seed + n_h)
        res = {}
        for method in ("bisection", "eigen"):
            print(f"[n_h={n_h}] certifying ({method}) ...", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            cert = certify(model, tol=args.tol, method=method)
            res[method] = (cert, time.perf_counter() - t0)
            print(f"[n_h={n_h}] {method}: {res[method][1]:.1f} s, {cert.reason}",
                  file=sys.stderr, flush=True)
        (old, t_old), (new, t_new) = res["bisection"], res["eigen"]
        X = np.random.default_rng(args.seed).standard_normal((args.windows, args.N, model.n_x))
        emp = empirical_constants(model, X, n_pairs=args.pairs, seed=args.seed)
        rows.append(
            f"{n_h:>4} {t_old:>7.2f} {t_new:>7.2f} {t_old / t_new:>6.1f} "
            f"{f'{old.n_solves}/{new.n_solves}':>7} {old.lam:>9.6f} {new.lam:>9.6f} "
            f"{new.lam - old.lam:>9.1e} {old.C:>8.3f} {new.C:>8.3f} "
            f"{f'{old.verified!s}/{new.verified!s}':>9} {emp.lam:>8.4f} "
            f"{new.lam / emp.lam:>11.3f}"
        )
    print(header)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
