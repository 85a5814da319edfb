"""On-data A1 certificates of the authors' N = 100 LSTMs against sampled constants (not a test).

For each dataset (silverbox, wiener_hammerstein, rlc) and model (default: the ``m = 0``
stateless one; ``--all``: the 20 stateless ones and the stateful one):

1. the benchmark trajectory: the model run over the whole scaled training split from ``z = 0``;
   window ``i`` (stride ``--stride``) gets ``z_i``, the state at its start;
2. the certified on-data constants for the pairs ``(z_i, 0)`` on every window
   (``certify_on_data(pairs="pair")``) and, on ``--segment-windows`` windows spread evenly over
   the split, for every pair on the segments ``[0, z_i]`` (``pairs="segment"``, refinement
   capped by ``--segment-seconds``);
3. sampled constants (not certificates): ``sampled_constants`` (visited states + 10% margin,
   2000 pairs; states from the strided windows when ``--stride > 1``) and the fit on exactly
   the certified pairs;
4. the global delta-ISS condition (``certify_global``) and its failing value;
5. for the ``m = 0`` model: the burn-in recommended from its constants (T1 within 10% of the
   training loss) beside the sweep's best ``m*`` (0.7 train + 0.3 val free-run MSE) and the test
   MSE of both models.

"steps" = the smallest ``j`` with ``C lam**j <= 0.01`` (``ondata.steps_to``); the target is
certified steps <= 1.5 x sampled steps. Times are wall-clock seconds on the machine as loaded.

Usage: ``python benchmarks/ondata_certificates.py [--all] [--stride 1] [--segment-windows 200]
[--segment-seconds 600] [--segment-pieces 32] [--segment-max-pieces 512] [--segment-only]
[--segment-compare K] [--datasets silverbox ...] [--csv out.csv]`` (``--segment-only``: the
segment certificate of the ``m = 0`` models alone, with its sampled counterpart on the same
segments; ``--segment-compare K``: Taylor degree 1 against 2 at ``K`` pieces first).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from systems.benchmarks import (  # noqa: E402
    DATASETS,
    authors_models,
    best_burn_in,
    evaluate_burn_in,
    free_run_error,
    load_benchmark,
)
from systems.cells import load_model  # noqa: E402
from verification.certificates.burn_in import recommend_m  # noqa: E402
from verification.certificates.gated_global import certify_global  # noqa: E402
from verification.certificates.ondata import (  # noqa: E402
    certify_on_data,
    segment_parts,
    steps_to,
)
from verification.certificates.sampled_cells import (  # noqa: E402
    sampled_constants,
    sampled_on_pairs,
)

N = 100
SHARED = ROOT.parent / "shared" if (ROOT.parent / "shared").is_dir() else Path("/work/shared")


def windows(u: np.ndarray, z: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows ``(S, N, n_x)`` of the sequence ``u`` and the states ``z_i`` at their starts."""
    X = np.lib.stride_tricks.sliding_window_view(u, N, axis=0).transpose(0, 2, 1)
    starts = np.arange(0, X.shape[0], stride)
    return np.ascontiguousarray(X[starts]), z[starts]


def segment_row(model, X: np.ndarray, z0: np.ndarray, args) -> dict:
    """The segment certificate on ``--segment-windows`` windows spread evenly over ``X``."""
    pick = np.linspace(0, X.shape[0] - 1, min(args.segment_windows, X.shape[0])).astype(int)
    t = time.perf_counter()
    seg = certify_on_data(model, X[pick], z0[pick], pairs="segment", pieces=args.segment_pieces,
                          max_pieces=args.segment_max_pieces, tol=0.05,
                          time_limit=args.segment_seconds)
    seconds = time.perf_counter() - t
    seg_s = sampled_on_pairs(model, X[pick], z0[pick], pairs="segment")
    # refutation check: many more random and near pairs on the same segments
    many = sampled_on_pairs(model, X[pick], z0[pick], pairs="segment", n_segment=32, seed=1)
    fin = np.isfinite(seg.envelope) & (seg.lower > 0)
    return {"seg_windows": pick.size, "seg_lam": seg.lam, "seg_C": seg.C,
            "seg_steps": seg.steps_to_level, "seg_verified": seg.verified,
            "seg_seconds": seconds, "seg_samp_lam": seg_s.lam,
            "seg_samp_C": seg_s.C, "seg_samp_steps": steps_to(seg_s.lam, seg_s.C),
            "seg_reason": seg.reason, "seg_rounds": seg.extra.get("rounds"),
            "seg_env_over_lower": float(np.max(seg.envelope[fin] / seg.lower[fin]))
            if fin.any() else np.inf,
            "seg_pieces": f"{int(seg.pieces.min())}-{int(seg.pieces.max())}",
            "seg_sim_over_env": float(np.max(np.maximum(many.rho, seg_s.rho) / seg.envelope)),
            "seg_sim_pairs": many.n_pairs + seg_s.n_pairs}


def compare_degrees(name: str, model, X: np.ndarray, z0: np.ndarray, args) -> None:
    """Taylor degree 1 against 2 at a fixed number of pieces on windows 2-11 of the 50 picked.

    Prints the windows whose bound stays finite, ``max bound / centre`` at ``j = 10, 30, 60,
    100`` and the median excess ``(bound - centre) / spread`` at ``j = 30, 100`` (``spread`` =
    first-order spread of the tangent over a piece from the degree-2 polynomial part; 1 = exact).
    """
    K = args.segment_compare
    pick = np.linspace(0, X.shape[0] - 1, min(args.segment_windows, X.shape[0])).astype(int)
    Xp, zp = X[pick[1:11]], z0[pick[1:11]]
    parts = {d: segment_parts(model, Xp, zp, K, degree=d) for d in (1, 2)}
    cen, spread = parts[2][1], parts[2][2] - parts[2][1]
    with np.errstate(invalid="ignore", divide="ignore"):
        for d, (b, _, _) in parts.items():
            ratio = " ".join(f"{np.nanmax(b[:, j] / cen[:, j]):.4g}" for j in (9, 29, 59, 99))
            exc = (b - cen) / np.maximum(spread, 1e-300)
            print(f"COMPARE {name} K={K} degree {d}: finite {int(np.isfinite(b).all(axis=1).sum())}"
                  f"/{len(Xp)} | max bound / centre at j = 10, 30, 60, 100: {ratio} | median "
                  f"excess at j = 30, 100: {np.nanmedian(exc[:, 29]):.3g} "
                  f"{np.nanmedian(exc[:, 99]):.3g}", flush=True)


def one_model(name: str, path: Path, u: np.ndarray, args, segment: bool) -> dict:
    model = load_model(path)
    z, _ = model.simulate(u)
    X, z0 = windows(u, z[:-1], args.stride)
    if args.segment_compare and segment:
        compare_degrees(name, model, X, z0, args)
    if args.segment_only:
        row = {"dataset": name, "model": path.stem, "windows": X.shape[0]}
        row.update(segment_row(model, X, z0, args))
        return row, model, None, None
    t = time.perf_counter()
    cert = certify_on_data(model, X, z0, pairs="pair")
    t_cert = time.perf_counter() - t
    t = time.perf_counter()
    # visited states from every window (stride 1) or from the strided windows
    samp = (sampled_constants(model, u, N, n_pairs=2000, seed=0) if args.stride == 1 else
            sampled_constants(model, X, n_pairs=2000, seed=0))
    t_samp = time.perf_counter() - t
    same = sampled_on_pairs(model, X, z0, pairs="pair")
    glob = certify_global(model, float(np.max(np.abs(u))))
    row = {
        "dataset": name, "model": path.stem, "windows": X.shape[0],
        "cert_lam": cert.lam, "cert_C": cert.C, "cert_steps": cert.steps_to_level,
        "cert_seconds": t_cert, "verified": cert.verified,
        "pairs_lam": same.lam, "pairs_C": same.C, "pairs_steps": steps_to(same.lam, same.C),
        "samp_lam": samp.lam, "samp_C": samp.C, "samp_steps": steps_to(samp.lam, samp.C),
        "samp_seconds": t_samp,
        "max_env_over_sim": float(np.max(cert.envelope / np.where(cert.lower > 0, cert.lower,
                                                                   np.inf))),
        "global": glob.reason, "Delta_0": float(np.sqrt(np.mean(np.sum(z0 ** 2, axis=1)))),
    }
    if segment and args.segment_windows > 0:
        row.update(segment_row(model, X, z0, args))
    return row, model, cert, samp


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["silverbox", "wiener_hammerstein", "rlc"])
    ap.add_argument("--all", action="store_true", help="all 21 N = 100 models per dataset")
    ap.add_argument("--stride", type=int, default=1)
    ap.add_argument("--segment-windows", type=int, default=200)
    ap.add_argument("--segment-seconds", type=float, default=600.0,
                    help="refinement of the segment certificate stops after this many seconds")
    ap.add_argument("--segment-pieces", type=int, default=32, help="first pieces per segment")
    ap.add_argument("--segment-max-pieces", type=int, default=512)
    ap.add_argument("--segment-compare", type=int, default=0, metavar="K",
                    help="also print Taylor degree 1 against 2 at K pieces on 10 of the windows")
    ap.add_argument("--segment-only", action="store_true",
                    help="only the segment certificate of the m = 0 model (no pair, sampled, "
                         "global or burn-in part)")
    ap.add_argument("--no-recommend", action="store_true")
    ap.add_argument("--csv", type=Path, default=None)
    args = ap.parse_args(argv)
    print(f"# load average at start: {os.getloadavg()}", flush=True)
    rows, recs = [], []
    for name in args.datasets:
        bench = load_benchmark(name)
        u = bench.scaled["train"].x
        folder = SHARED / "models" / "authors_lstm" / DATASETS[name].model_folder
        files = authors_models(folder, N=N, kind="stateless")
        todo = dict(files) if args.all and not args.segment_only else {0: files[0]}
        if args.all and not args.segment_only:
            todo["stateful"] = authors_models(folder, N=N, kind="stateful")[0]
        for m, path in todo.items():
            row, model, cert, samp = one_model(name, path, u, args, segment=(m == 0))
            rows.append(row)
            print(_fmt(row), flush=True)
            if m == 0 and not (args.no_recommend or args.segment_only):
                recs.append(_recommend(name, bench, files, model, cert, samp, row))
                print(recs[-1], flush=True)
    if args.csv:
        keys = sorted({k for r in rows for k in r})
        tmp = args.csv.with_suffix(".tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, keys)
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, args.csv)
    print(f"# load average at end: {os.getloadavg()}")
    return 0


def _recommend(name, bench, files, model, cert, samp, row) -> str:
    err0 = free_run_error(model, bench)
    V_inf = err0.scaled["train"]
    lam, C, certified = ((cert.lam, cert.C, True) if cert.verified else (samp.lam, samp.C, False))
    ms = np.array(sorted(files))
    adv = recommend_m(lam, C, certified, N, V_inf, row["Delta_0"], ms=ms, tol=0.1)
    sweep = evaluate_burn_in(bench, files)
    best = best_burn_in(sweep)
    at = {r.m: r for r in sweep}
    test_rec, test_best = at[adv.m].error.scaled["test"], best.error.scaled["test"]
    return (f"RECOMMEND {name}: m_rec = {adv.m} (test MSE {test_rec:.5g}) vs m* = {best.m} "
            f"(test MSE {test_best:.5g}); ratio {test_rec / test_best:.3f}. {adv.reason}")


def _fmt(r: dict) -> str:
    if "cert_lam" not in r:
        return f"{r['dataset']:18s} {r['model']:30s}" + _fmt_segment(r)
    s = (f"{r['dataset']:18s} {r['model']:30s} S={r['windows']:5d} | pair cert "
         f"lam={r['cert_lam']:.5f} "
         f"C={r['cert_C']:.4g} steps={r['cert_steps']:.0f} ({r['cert_seconds']:.0f}s) | same "
         f"pairs sampled lam={r['pairs_lam']:.5f} steps={r['pairs_steps']:.0f} | sampled lam="
         f"{r['samp_lam']:.5f} C={r['samp_C']:.4g} steps={r['samp_steps']:.0f} "
         f"({r['samp_seconds']:.0f}s) | max env/sim {r['max_env_over_sim']:.3g} | "
         f"global: {r['global']}")
    if "seg_lam" in r:
        s += _fmt_segment(r)
    return s


def _fmt_segment(r: dict) -> str:
    return (f"\n    segment ({r['seg_windows']} windows): cert lam={r['seg_lam']:.5f} "
            f"C={r['seg_C']:.4g} steps={r['seg_steps']} verified={r['seg_verified']} "
            f"({r['seg_seconds']:.0f}s, pieces {r['seg_pieces']}, rounds (K, windows, over) "
            f"{r['seg_rounds']}) | max envelope / witness {r['seg_env_over_lower']:.4g} | "
            f"max simulated / envelope {r['seg_sim_over_env']:.6g} ({r['seg_sim_pairs']} "
            f"pairs) | sampled lam={r['seg_samp_lam']:.5f} C={r['seg_samp_C']:.4g} "
            f"steps={r['seg_samp_steps']:.0f} | certified / sampled steps "
            f"{r['seg_steps'] / r['seg_samp_steps']:.3f} | {r['seg_reason']}")


if __name__ == "__main__":
    raise SystemExit(main())
