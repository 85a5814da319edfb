"""Two studies of the same protocol trained on different kernels (NumPy, numba): same results?

The numba kernel computes the float32 training with its own ``tanh`` and fused passes: the
same mathematics, different rounding, so two trainings of one seed drift apart over hundreds of
epochs as any two float32 trainings on different hardware do. What must agree is what the study
concludes. Reads two finished ``burnin study`` folders (same dataset, ``N``, seeds) and prints
Markdown:

* per burn-in ``m``: test MSE (scaled, x 100, mean ± sd over seeds) of both, the ratio of the
  means, Welch's t of the difference, and the per-seed ratio (same seed, same initialisation
  and minibatch order: how far the trainings drifted);
* the paper's row for both (``m*`` by 0.7 train + 0.3 validation, its change against ``m = 0``);
* the wall and CPU time each study's models took (sum over models; the study's own wall time
  is in its ``report.md``).

Usage (from the project root)::

    python benchmarks/study_kernels.py NUMPY_STUDY NUMBA_STUDY [--N 100]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.study_vs_authors import ours  # noqa: E402
from verification.experiment.study_table import paper_table, stats  # noqa: E402


def welch_t(a: list[float], b: list[float]) -> float:
    """Welch's t of ``mean(b) - mean(a)`` (NaN with fewer than two values each)."""
    if len(a) < 2 or len(b) < 2:
        return math.nan
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    return float((np.mean(b) - np.mean(a)) / math.sqrt(va + vb)) if va + vb > 0 else math.nan


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("numpy_study", type=Path)
    p.add_argument("numba_study", type=Path)
    p.add_argument("--N", type=int, default=100)
    a = p.parse_args(argv)
    runs = {"numpy": ours(a.numpy_study, a.N), "numba": ours(a.numba_study, a.N)}
    seeds = {k: sorted({r.seed for r in v}) for k, v in runs.items()}
    if seeds["numpy"] != seeds["numba"]:
        raise SystemExit(f"the studies have different seeds: {seeds}")
    print(f"N = {a.N}, seeds {seeds['numpy']}; test MSE (scaled) x 100\n")
    print("| kind | m | NumPy kernel | numba kernel | ratio of means | Welch t | "
          "per-seed ratios |")
    print("|---|---:|---:|---:|---:|---:|---|")
    big = []
    keys = sorted({(r.kind, r.m) for r in runs["numpy"]}, key=lambda k: (k[0] != "stateless", k))
    for kind, m in keys:
        by = {k: {r.seed: 100 * r.scaled("test") for r in v if r.kind == kind and r.m == m}
              for k, v in runs.items()}
        x, y = list(by["numpy"].values()), list(by["numba"].values())
        if not x or not y:
            continue
        t = welch_t(x, y)
        if abs(t) > 2.78:  # two-sided 5 % for ~4 degrees of freedom
            big.append((kind, m, t))
        ratio = stats(y)[0] / stats(x)[0]
        per_seed = ", ".join(f"{by['numba'][s] / by['numpy'][s]:.2f}"
                             for s in sorted(by["numpy"]) if s in by["numba"])
        print(f"| {kind} | {m} | {stats(x)[0]:.3g} ± {stats(x)[1]:.2g} | "
              f"{stats(y)[0]:.3g} ± {stats(y)[1]:.2g} | {ratio:.2f} | {t:+.1f} | {per_seed} |")
    print()
    for name, recs in runs.items():
        row = paper_table(recs)[0]
        secs = sum(r.seconds for r in recs)
        cpu = sum(r.cpu_seconds or 0.0 for r in recs)
        print(f"* {name} kernel: m* = {row.m_star}, change of m* against m = 0: train "
              f"{row['change_m0_train_pct']:+.0f} % ({row.get('change_m0_train_pct_min'):+.0f} "
              f".. {row.get('change_m0_train_pct_max'):+.0f}), test "
              f"{row['change_m0_test_pct']:+.0f} % ({row.get('change_m0_test_pct_min'):+.0f} .. "
              f"{row.get('change_m0_test_pct_max'):+.0f}); models' training {secs / 60:.1f} "
              f"min wall summed, {cpu / 60:.1f} min CPU")
    print(f"\nBurn-ins whose means differ beyond the seed spread (|t| > 2.78): "
          f"{', '.join(f'{k} m = {m} (t = {t:+.1f})' for k, m, t in big) or 'none'} "
          f"of {len(keys)}")


if __name__ == "__main__":
    main()
