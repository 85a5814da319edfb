"""The theory's view of a burn-in study: A1 constants of the trained models and the burn-in the
T1 bound recommends, beside the sweep's measured ``m*``.

For each window length ``N`` and seed of a study, two models are examined: the one trained at
``m = 0`` and the one at the study's ``m*``. For each:

1. The pairs the theorems compare (docs/theory.md §5, A1 as used by T1): the model's free run over
   the scaled training split from ``z = 0`` gives the state ``z_i`` at the start of every
   training window ``i = 0..S-1`` (stride 1, ``S = T - N + 1``); ``K`` windows spread evenly
   over the split (:func:`training_pairs`) carry the pairs ``(z_i, 0)`` under their inputs
   ``X_i : (N, n_x)``.
2. Certified on-data constants (:func:`~verification.certificates.ondata.certify_on_data`,
   ``pairs="pair"``): ``||y_j(z_i; X_i) - y_j(0; X_i)|| <= C lam**j ||z_i||`` proven for
   ``j = 1..N`` on those ``K`` windows, and nothing more (the record's ``region`` says so,
   with the largest ``||z_i||``).
3. Sampled constants (:func:`~verification.certificates.sampled_cells.sampled_constants`,
   visited states of the same windows plus a 10 % margin, 2000 pairs): an estimate, never a
   certificate.

From the ``m = 0`` model, :func:`~verification.certificates.burn_in.recommend_m` picks the
smallest ``m`` on the study's grid whose T1 bound is within 10 % of ``V_inf`` (the model's
free-run training MSE, scaled), using the certified constants when they are verified, else the
sampled ones (and says which); ``Delta_0`` is the root mean square of ``||z_i||`` over all ``S``
training windows. The recommendation is set beside ``m*`` and the test MSE of both models.

Resume: each model's constants are written atomically to ``theory/<key>_K<K>.json`` in the
study folder the moment they are computed, with the model's hash, and read back on a rerun only
for the same model (same hash), ``N``, ``K`` and format; the recommendation is recomputed from
them (microseconds).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from verification.experiment.study_run import ModelRecord
from verification.experiment.study_table import PaperRow
from verification.experiment.table import atomic_write, plain, unplain

#: Default number of training windows certified per model (``--certify-windows``).
DEFAULT_WINDOWS = 200
#: Tolerance of the recommendation: T1(m) <= TOL * V_inf (as in ``burn_in.recommend_m``).
TOL = 0.1
#: Sampled constants: pairs drawn (as in ``benchmarks/ondata_certificates.py``).
SAMPLED_PAIRS = 2000
#: Bump when a cached record's content changes meaning.
CACHE_FORMAT = 2
THEORY_COLUMNS = (
    "N", "seed", "windows", "S", "m_star", "m_rec", "constants",
    "m0_verified", "m0_lam", "m0_C", "m0_steps", "m0_sampled_lam", "m0_sampled_C",
    "m0_sampled_steps",
    "m_star_verified", "m_star_lam", "m_star_C", "m_star_steps", "m_star_sampled_lam",
    "m_star_sampled_C", "m_star_sampled_steps",
    "V_inf", "Delta_0", "test_m0", "test_m_star", "test_m_rec", "reason",
)


@dataclass(frozen=True, eq=False)
class TrainingPairs:
    """The pairs ``(z_i, 0)`` of ``K`` training windows, and what they are drawn from.

    Attributes
    ----------
    X : (K, N, n_x) inputs of the chosen windows (scaled units)
    z0 : (K, n_z) state of the model's free run from zero at each chosen window's start
    starts : (K,) int, the windows' first indices in the training split
    S : int, the number of training windows (stride 1)
    Delta_0 : float, ``sqrt(mean_i ||z_i||**2)`` over all ``S`` windows
    """

    X: np.ndarray
    z0: np.ndarray
    starts: np.ndarray
    S: int
    Delta_0: float


def training_pairs(model: Any, u: np.ndarray, N: int, K: int) -> TrainingPairs:
    """``K`` windows of length ``N`` spread evenly over ``u : (T, n_x)`` with their ``z_i``.

    ``z_i`` is the state of ``model.simulate(u)`` (from ``z = 0``) at the window's start: the
    benchmark trajectory's state, what T1 compares with the zero state. ``K >= S`` takes every
    window.
    """
    u = np.asarray(u, dtype=np.float64)
    T = u.shape[0]
    if not 1 <= N <= T:
        raise ValueError(f"N = {N} must satisfy 1 <= N <= T = {T}")
    if K < 1:
        raise ValueError(f"K = {K} windows: need K >= 1")
    S = T - N + 1
    starts = np.unique(np.round(np.linspace(0, S - 1, min(K, S))).astype(int))
    X = u[starts[:, None] + np.arange(N)[None, :]]
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging model: inf, reported
        z, _ = model.simulate(u)  # (T + 1, n_z), z[0] = 0
        Delta_0 = float(np.sqrt(np.mean(np.sum(z[:S] ** 2, axis=1))))
    return TrainingPairs(np.ascontiguousarray(X), z[starts].copy(), starts, S, Delta_0)


def model_constants(model: Any, u: np.ndarray, N: int, K: int, *, seed: int = 0
                    ) -> dict[str, Any]:
    """Certified on-data pair constants and sampled constants of one model on ``K`` windows.

    Returns a plain dict: ``verified``, ``lam``, ``C``, ``steps`` (smallest ``j`` with
    ``C lam**j <= 0.01``), ``region`` (``region_pairs`` and the largest ``||z_i||``,
    ``z_max``), ``reason``, ``envelope`` (certified ``G_j``, ``(N,)``),
    ``witness`` (largest simulated ratio of the same pairs, ``(N,)``), ``starts``, ``S``,
    ``Delta_0``, ``sampled_lam``, ``sampled_C``, ``sampled_steps`` (never a certificate),
    ``seconds``. A model whose free run is not finite gets ``verified = False`` and the reason.
    """
    from verification.certificates.ondata import certify_on_data, steps_to
    from verification.certificates.sampled_cells import sampled_constants

    t0 = time.perf_counter()
    pairs = training_pairs(model, u, N, K)
    out: dict[str, Any] = {
        "format": CACHE_FORMAT, "N": int(N), "windows": int(pairs.starts.size), "S": pairs.S,
        "starts": pairs.starts, "Delta_0": pairs.Delta_0,
        "region_pairs": region(pairs.starts.size, pairs.S, N),
    }
    with np.errstate(over="ignore", invalid="ignore"):
        out["z_max"] = float(np.max(np.linalg.norm(pairs.z0, axis=1)))
    out["region"] = f"{out['region_pairs']}; ||z_i|| <= {out['z_max']:.4g}"
    failed = dict(verified=False, lam=math.nan, C=math.nan, steps=math.inf, envelope=[],
                  witness=[], sampled_lam=math.nan, sampled_C=math.nan, sampled_steps=math.inf)
    if not (np.all(np.isfinite(pairs.z0)) and np.all(np.isfinite(pairs.X))):
        out.update(failed, reason="the model's free run over the training split is not finite",
                   seconds=time.perf_counter() - t0)
        return out
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            cert = certify_on_data(model, pairs.X, pairs.z0, pairs="pair")
            samp = sampled_constants(model, pairs.X, n_pairs=SAMPLED_PAIRS, seed=seed)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:  # a diverged model
        out.update(failed, reason=f"not computed: {exc}", seconds=time.perf_counter() - t0)
        return out
    out.update(
        verified=bool(cert.verified), lam=cert.lam, C=cert.C, steps=cert.steps_to_level,
        reason=cert.reason, envelope=cert.envelope, witness=cert.lower,
        cert_seconds=cert.seconds, sampled_lam=samp.lam, sampled_C=samp.C,
        sampled_steps=steps_to(samp.lam, samp.C), sampled_contracting=bool(samp.contracting),
        seconds=time.perf_counter() - t0,
    )
    return out


def region(K: int, S: int, N: int) -> str:
    """The certified region in words (the pairs, the windows, the steps)."""
    return (f"the pair (z_i, 0) on {K} of the S = {S} training windows (evenly spread; z_i the "
            f"state of the model's free run from zero over the training split at window i's "
            f"start), under window i's inputs, j = 1..{N}")


# --------------------------------------------------------------------------- a study
def cache_path(out: str | Path, key: str, K: int) -> Path:
    """Where one model's constants are kept: ``<out>/theory/<key>_K<K>.json``."""
    return Path(out) / "theory" / f"{key}_K{K}.json"


def cached_constants(out: str | Path, r: ModelRecord, model: Callable[[], Any], u: np.ndarray,
                     K: int, log: Callable[[str], None] = print) -> tuple[dict[str, Any], bool]:
    """One model's record, read from its cache file or computed and written atomically.

    ``model()`` returns the model (called only when the cache cannot be used). Returns
    ``(record, computed)``; ``computed`` is False when it came from the cache, which happens
    only for the same model (its hash), ``N``, ``K`` and :data:`CACHE_FORMAT`.
    """
    path = cache_path(out, r.key, K)
    if path.is_file():
        try:
            rec = unplain(json.loads(path.read_text()))
            if (rec.get("format"), rec.get("N"), rec.get("model_hash")) == (
                    CACHE_FORMAT, r.N, r.model_hash):
                return rec, False
        except (OSError, ValueError, AttributeError):
            pass  # unreadable: recompute
    rec = unplain(plain({"key": r.key, "model_hash": r.model_hash,
                         **model_constants(model(), u, r.N, K)}))  # as read back
    atomic_write(path, json.dumps(plain(rec)))
    log(f"  theory: {r.key}: certified lam {rec['lam']:.5g}, C {rec['C']:.4g} "
        f"(verified {rec['verified']}), sampled lam {rec['sampled_lam']:.5g}, on "
        f"{rec['windows']} windows in {rec['seconds']:.1f} s")
    return rec, True


def study_theory(records: Sequence[ModelRecord], table: Sequence[PaperRow], out: str | Path,
                 u: np.ndarray, K: int = DEFAULT_WINDOWS, log: Callable[[str], None] = print,
                 model_of: Callable[[ModelRecord], Any] | None = None) -> dict[str, Any]:
    """Constants of the ``m = 0`` and ``m*`` models and the recommended burn-in, per ``(N, seed)``.

    Parameters
    ----------
    records : the study's finished models (models in ``<out>/models/<key>.npz``)
    table : ``paper_table(records)`` (gives ``m*`` per ``N``)
    out : the study folder
    u : (T, n_x) the scaled training inputs
    K : training windows certified per model (>= 1)
    model_of : reads a record's model (default: from ``<out>/models``)

    Returns
    -------
    dict with ``windows`` (K), ``models`` (one record per examined model, with ``m``,
    ``seed``, ``roles``) and ``recommend`` (one record per ``(N, seed)``, :data:`THEORY_COLUMNS`).
    """
    if K < 1:
        raise ValueError(f"K = {K}: need at least one window (0 disables the theory's view)")
    out = Path(out)
    if model_of is None:
        from systems import load_model

        def model_of(r: ModelRecord) -> Any:
            return load_model(out / "models" / f"{r.key}.npz")

    stateless = [r for r in records if r.kind == "stateless"]
    models: dict[str, dict[str, Any]] = {}
    recommend = []
    t0, n_new = time.perf_counter(), 0
    for t in table:
        N, m_star = int(t.N), int(t.m_star)
        for seed in sorted({r.seed for r in stateless if r.N == N}):
            at = {r.m: r for r in stateless if r.N == N and r.seed == seed}
            for role, m in (("m0", 0), ("m_star", m_star)):
                r = at.get(m)
                if r is None:
                    continue
                if r.key not in models:
                    rec, new = cached_constants(out, r, lambda r=r: model_of(r), u, K, log)
                    n_new += new
                    models[r.key] = {**rec, "m": m, "seed": seed, "roles": []}
                models[r.key]["roles"].append(role)
            recommend.append(_recommendation(N, seed, m_star, at, models, K))
    if n_new:
        log(f"theory: {n_new} models certified in {time.perf_counter() - t0:.1f} s "
            f"({len(models) - n_new} read from {out / 'theory'})")
    return {"windows": K, "models": list(models.values()), "recommend": recommend}


def _recommendation(N: int, seed: int, m_star: int, at: dict[int, ModelRecord],
                    models: dict[str, dict[str, Any]], K: int) -> dict[str, Any]:
    from verification.certificates.burn_in import recommend_m

    rec: dict[str, Any] = {"N": N, "seed": seed, "windows": K, "m_star": m_star,
                           "test_m_star": _test(at.get(m_star)), "test_m0": _test(at.get(0))}
    for role, m in (("m0", 0), ("m_star", m_star)):
        c = models.get(at[m].key) if m in at else None
        for f in ("verified", "lam", "C", "steps"):
            rec[f"{role}_{f}"] = c[f] if c else None
        for f in ("lam", "C", "steps"):
            rec[f"{role}_sampled_{f}"] = c[f"sampled_{f}"] if c else None
        if role == "m0" and c:
            rec["S"], rec["region"] = c["S"], c["region"]
    c0 = models.get(at[0].key) if 0 in at else None
    if c0 is None:
        return {**rec, "m_rec": None, "constants": None,
                "reason": f"no m = 0 model at N = {N}, seed {seed}"}
    if c0["verified"]:
        lam, C, certified = c0["lam"], c0["C"], True
    else:
        lam, C, certified = c0["sampled_lam"], c0["sampled_C"], False
    rec.update(V_inf=float(at[0].mse_train_scaled), Delta_0=c0["Delta_0"],
               constants="certified on-data" if certified else "sampled (not certified)")
    if not (0.0 < lam < 1.0 and math.isfinite(C) and C > 0):
        return {**rec, "m_rec": None, "reason": (
            f"no recommendation: the m = 0 model's constants do not contract (certified: "
            f"{c0['reason']}; sampled lam = {c0['sampled_lam']:.4g})")}
    if not rec["V_inf"] > 0:
        return {**rec, "m_rec": None, "reason": "no recommendation: V_inf is not > 0"}
    adv = recommend_m(lam, C, certified, N, rec["V_inf"], c0["Delta_0"],
                      ms=np.array(sorted(at)), tol=TOL)
    return {**rec, "m_rec": adv.m, "test_m_rec": _test(at.get(adv.m)), "reason": adv.reason,
            "bound_m_rec": float(adv.bound[list(adv.ms).index(adv.m)])}


def _test(r: ModelRecord | None) -> float | None:
    return None if r is None else float(r.mse_test_scaled)
