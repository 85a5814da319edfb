"""Every one of the authors' 405 LSTMs: an on-data pair certificate, then simulation tries to
refute it ("zero certificates that simulation refutes, over ... the authors' 405
models"). Not a test: it prints its counts.

For each model file ``<dataset>/model_[h8_]N<N>_m<m>_<kind>.pt`` in
``../shared/models/authors_lstm``:

1. the pairs the theorems compare: ``K`` windows of length ``N`` (the file's ``N``; ``BPTT``
   models, trained on one window of the whole split, on windows of ``N = 100``) spread evenly
   over the scaled training split, ``z_i`` the state of the model's free run from zero at the
   window's start (:func:`verification.experiment.study_theory.training_pairs`);
2. ``certify_on_data(pairs="pair")``: the certified envelope ``G_j`` and ``(lam, C)``;
3. the refutation: every pair ``(z_i, 0)`` simulated again with the model's own ``simulate``
   (independent of the certificate's traced trajectories), the ratios
   ``r_ij = ||y_j(z_i) - y_j(0)|| / ||z_i||`` compared with ``G_j`` and with ``C lam**j``.
   A certificate is refuted if some ``r_ij`` exceeds either.

Usage: ``python benchmarks/refute_all_models.py [--windows 40] [--datasets silverbox ...]``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from systems.benchmarks import DATASETS  # noqa: E402
from systems.cells import load_model  # noqa: E402
from verification.certificates.ondata import certify_on_data  # noqa: E402
from verification.experiment.study import load_splits  # noqa: E402
from verification.experiment.study_theory import training_pairs  # noqa: E402

SHARED = ROOT.parent / "shared" if (ROOT.parent / "shared").is_dir() else Path("/work/shared")
NAME = re.compile(r"model_(?:h8_)?N(\d+)_m(\d+)_(\w+)\.pt$")
#: Window length for the BPTT models (trained on one window of the whole split).
N_BPTT = 100


def refutation(model, X: np.ndarray, z0: np.ndarray, cert) -> tuple[float, float]:
    """``max_ij r_ij / G_j`` and ``max_ij r_ij / (C lam**j)`` over the certified pairs."""
    W = np.asarray(model.output_matrix, dtype=np.float64)
    za, _ = model.simulate(X, z0)  # (K, N + 1, n_z)
    zb, _ = model.simulate(X)
    dy = np.linalg.norm((za[:, 1:] - zb[:, 1:]) @ W.T, axis=2)  # (K, N)
    nrm = np.linalg.norm(z0, axis=1)
    keep = nrm > 0
    r = dy[keep] / nrm[keep, None]
    j = np.arange(1, X.shape[1] + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        vs_G = np.where(r > 0, r / cert.envelope[None, :], 0.0)
        vs_A1 = np.where(r > 0, r / (cert.C * cert.lam ** j)[None, :], 0.0)
    return float(np.max(vs_G, initial=0.0)), float(np.max(vs_A1, initial=0.0))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--windows", type=int, default=40, help="windows K per model")
    p.add_argument("--datasets", nargs="+", default=list(DATASETS))
    p.add_argument("--data-root", default=None, help="default: the packaged data")
    p.add_argument("--models", default=str(SHARED / "models" / "authors_lstm"))
    a = p.parse_args()
    print(f"# load average at start: {os.getloadavg()[0]:.1f}; K = {a.windows} windows per model")
    total, verified, refuted, t_all = 0, 0, 0, time.perf_counter()
    worst_G, worst_A1 = 0.0, 0.0
    for ds in a.datasets:
        u = load_splits(ds, a.data_root).scaled("train").x
        files = sorted((Path(a.models) / DATASETS[ds].model_folder).glob("*.pt"))
        per_N: dict[int, list] = defaultdict(list)
        for f in files:
            hit = NAME.search(f.name)
            if hit is None:
                print(f"  skipped {f.name}: not a model file name")
                continue
            N, _, kind = int(hit[1]), int(hit[2]), hit[3]
            N = N_BPTT if kind == "BPTT" else N
            model = load_model(f)
            t0 = time.perf_counter()
            pairs = training_pairs(model, u, N, a.windows)
            cert = certify_on_data(model, pairs.X, pairs.z0, pairs="pair")
            seconds = time.perf_counter() - t0
            total += 1
            if cert.verified:
                verified += 1
                vs_G, vs_A1 = refutation(model, pairs.X, pairs.z0, cert)
                worst_G, worst_A1 = max(worst_G, vs_G), max(worst_A1, vs_A1)
                bad = vs_G > 1.0 or vs_A1 > 1.0
                refuted += bad
                per_N[N].append((f.name, cert.lam, cert.C, vs_G, vs_A1, seconds, bad))
            else:
                per_N[N].append((f.name, np.nan, np.nan, np.nan, np.nan, seconds, False))
                print(f"  {ds} {f.name}: not verified ({cert.reason})")
        for N, rows in sorted(per_N.items()):
            ok = [r for r in rows if np.isfinite(r[1])]
            lams = [r[1] for r in ok]
            print(f"{ds:19s} N = {N:5d}: {len(rows):3d} models, {len(ok):3d} verified, "
                  f"{sum(r[6] for r in rows)} refuted; certified lam "
                  f"{min(lams, default=np.nan):.4f}..{max(lams, default=np.nan):.4f}; "
                  f"max simulated / envelope {max((r[3] for r in ok), default=np.nan):.10f}, "
                  f"/ C lam^j {max((r[4] for r in ok), default=np.nan):.10f}; "
                  f"{max(r[5] for r in rows):.1f} s per model at most")
    print(f"all: {total} models, {verified} verified, {refuted} refuted by simulation; "
          f"max simulated / envelope {worst_G:.10f}, / C lam^j {worst_A1:.10f}; "
          f"{time.perf_counter() - t_all:.0f} s; load average at end "
          f"{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
