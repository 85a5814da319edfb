"""The theory's view of a burn-in study: A1 constants of the trained models, the burn-in the
T1 bound recommends, and what the burn-in leaves, beside the sweep's measured ``m*``.

For each window length ``N`` and seed of a study, two models are examined: the one trained at
``m = 0`` and the one at the study's ``m*``. For each, one call of
:func:`verification.experiment.model_constants.model_constants` on ``K`` training windows
spread evenly over the scaled training split:

1. the pairs T1 compares (docs/theory.md §5): ``(z_i, 0)`` with ``z_i`` the state of the
   model's free run from ``0`` at window ``i``'s start, under the window's inputs;
2. certified on-data constants on exactly those pairs (and the global certificate where it
   holds), sampled constants beside them (an estimate, never a certificate);
3. T1 over the study's grid of ``m`` at ``(theta, z)`` with ``V``, ``Delta_0``, ``Delta_01``,
   ``rho`` over exactly the same ``K`` windows: a certified number rests only on quantities
   proven for those windows. From the ``m = 0`` model's T1 the recommendation picks the
   smallest ``m`` of the grid within :data:`TOL` of its loss on the windows, else the ``m``
   with the smallest bound (its reason says which); without a certificate it uses the sampled
   constants and says so (an estimate).

"What the burn-in leaves" (:func:`verification.experiment.zero_state.price_of_zero_state`): for
both models at ``m = 0`` and ``m = m*``, on the first :data:`LEAVES_WINDOWS` of the same
windows (evenly spread; the table names them), the price of the zero state
``V(theta; 0) - V(theta; z*)`` with the best window states ``z*`` beside T1 at
``(theta, z*)`` in both forms (certified envelope, fitted ``(lam, C)``).

Resume: each model's record is written atomically to ``theory/<key>_K<K>.json`` in the
study folder the moment it is computed, with the model's hash, and read back on a rerun only
for the same model (same hash), ``N``, ``K``, grid, ``m*`` and format.
"""

from __future__ import annotations

import dataclasses
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
#: Tolerance of the recommendation: T1(m) <= TOL * the model's loss on the windows.
TOL = 0.1
#: "What the burn-in leaves": at most this many of the certified windows (evenly spread).
LEAVES_WINDOWS = 20
#: Bump when a cached record's content changes meaning.
CACHE_FORMAT = 3
THEORY_COLUMNS = (
    "N", "seed", "windows", "S", "m_star", "m_rec", "constants", "bound_m_rec",
    "m0_verified", "m0_lam", "m0_C", "m0_steps", "m0_sampled_lam", "m0_sampled_C",
    "m0_sampled_steps",
    "m_star_verified", "m_star_lam", "m_star_C", "m_star_steps", "m_star_sampled_lam",
    "m_star_sampled_C", "m_star_sampled_steps",
    "loss_level", "Delta_0", "test_m0", "test_m_star", "test_m_rec", "reason",
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


def theory_record(model: Any, data: Any, N: int, K: int, ms: Sequence[int],
                  leaves_ms: Sequence[int], *, seed: int = 0) -> dict[str, Any]:
    """One model's constants, T1 over ``ms`` and recommendation on ``K`` windows, and what the
    burn-in leaves at ``leaves_ms`` (module docstring).

    Parameters
    ----------
    model : the trained cell;  data : the scaled training split (``x``, ``y``)
    N : window length;  K : windows (evenly spread);  ms : the study's grid of ``m``
    leaves_ms : burn-ins of "what the burn-in leaves" (e.g. ``0`` and ``m*``)
    seed : the sampled constants' seed

    Returns
    -------
    A plain dict: ``verified``, ``lam``, ``C``, ``steps`` (on-data certificate), ``global``,
    ``region``, ``region_pairs``, ``z_max``, ``reason``, ``envelope``, ``witness``, ``starts``,
    ``windows``, ``S``, ``Delta_0`` (RMS of ``||z_i||`` over the windows), ``sampled_lam``,
    ``sampled_C``, ``sampled_steps`` (never a certificate), ``rows`` (T1 per ``m``),
    ``m_rec``, ``rec_reason``, ``bound_m_rec``, ``certified`` (the recommendation's curve),
    ``bound_used``, ``loss_level``, ``leaves`` (``windows``: which, ``rows``:
    :data:`~verification.experiment.zero_state.LEAVES_COLUMNS`), ``seconds``. A model whose
    free run is not finite gets ``verified = False`` and the reason.
    """
    from verification.experiment.model_constants import model_constants
    from verification.experiment.window_set import select_windows
    from verification.experiment.zero_state import leaves_rows, price_of_zero_state

    t0 = time.perf_counter()
    out: dict[str, Any] = {"format": CACHE_FORMAT, "N": int(N), "K": int(K),
                           "ms": [int(m) for m in ms], "leaves_ms": [int(m) for m in leaves_ms]}
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            mc = model_constants(model, data, N, ms, n_windows=K, tol=TOL, seed=seed)
            w = select_windows(data, N, n_windows=K)
            few = dataclasses.replace(w, **_subset(w, LEAVES_WINDOWS))
            price = price_of_zero_state(model, data, N, leaves_ms, windows=few)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:  # a diverged model
        return {**out, "verified": False, "lam": math.nan, "C": math.nan, "steps": math.inf,
                "envelope": [], "witness": [], "sampled_lam": math.nan, "sampled_C": math.nan,
                "sampled_steps": math.inf, "region": "", "region_pairs": "not computed",
                "z_max": math.nan, "rows": [],
                "m_rec": None, "certified": False, "leaves": None, "windows": 0,
                "reason": f"not computed: {exc}", "seconds": time.perf_counter() - t0}
    o, s = mc.on_data, mc.sampled
    rec = mc.recommendation
    keep = ("m", "V_zero", "V_point", "gap", "T1", "T1_env", "T1_fit", "T1_global",
            "T1_sampled", "sound_env", "sound_fit")
    return {**out, "verified": o["verified"], "lam": o["lam"], "C": o["C"],
            "steps": o["steps_to_1pct"], "reason": o["reason"], "envelope": o["envelope"],
            "witness": o["witness"], "cert_seconds": o["seconds"], "global": mc.global_,
            "region_pairs": mc.windows["label"], "region": mc.region,
            "z_max": float(np.max(np.linalg.norm(w.states_from(model.simulate(data.x)[0]),
                                                 axis=1))),
            "starts": mc.windows["starts"], "windows": mc.windows["S"], "S": mc.windows["S_all"],
            "Delta_0": mc.Delta_0, "sampled_lam": s["lam"], "sampled_C": s["C"],
            "sampled_steps": s["steps_to_1pct"], "sampled_contracting": s["contracting"],
            "rows": [{k: r[k] for k in keep} for r in mc.rows], "loss_level": mc.loss_level,
            "m_rec": None if rec is None else (rec.best_m if rec.m is None else rec.m),
            "bound_m_rec": math.nan if rec is None else rec.bound,
            "rec_reason": rec.reason if rec is not None else mc.bound_used,
            "certified": mc.certified, "bound_used": mc.bound_used,
            "leaves": {"windows": price.windows["label"], "rows": leaves_rows(price)},
            "seconds": time.perf_counter() - t0}


def _subset(w: Any, k: int) -> dict[str, Any]:
    """``k`` of the windows of ``w``, evenly spread, with a label naming them."""
    pick = np.unique(np.round(np.linspace(0, w.S - 1, min(k, w.S))).astype(int))
    label = (w.label if pick.size == w.S else
             f"{pick.size} of the {w.S_all} windows of length N = {w.N}, spread evenly "
             f"(a subset of the {w.S} certified)")
    return {"starts": w.starts[pick], "X": w.X[pick], "Y": w.Y[pick], "label": label}


# --------------------------------------------------------------------------- a study
def cache_path(out: str | Path, key: str, K: int) -> Path:
    """Where one model's constants are kept: ``<out>/theory/<key>_K<K>.json``."""
    return Path(out) / "theory" / f"{key}_K{K}.json"


def cached_constants(out: str | Path, r: ModelRecord, model: Callable[[], Any], data: Any,
                     K: int, ms: Sequence[int], leaves_ms: Sequence[int],
                     log: Callable[[str], None] = print) -> tuple[dict[str, Any], bool]:
    """One model's record (:func:`theory_record`), read from its cache file or computed and
    written atomically.

    ``model()`` returns the model (called only when the cache cannot be used). Returns
    ``(record, computed)``; ``computed`` is False when it came from the cache, which happens
    only for the same model (its hash), ``N``, ``K``, ``ms``, ``leaves_ms`` and
    :data:`CACHE_FORMAT`.
    """
    path = cache_path(out, r.key, K)
    want = (CACHE_FORMAT, r.N, r.model_hash, [int(m) for m in ms], [int(m) for m in leaves_ms])
    if path.is_file():
        try:
            rec = unplain(json.loads(path.read_text()))
            if tuple(rec.get(k) for k in ("format", "N", "model_hash", "ms", "leaves_ms")) == want:
                return rec, False
        except (OSError, ValueError, AttributeError):
            pass  # unreadable: recompute
    rec = unplain(plain({"key": r.key, "model_hash": r.model_hash,
                         **theory_record(model(), data, r.N, K, ms, leaves_ms)}))  # as read back
    atomic_write(path, json.dumps(plain(rec)))
    log(f"  theory: {r.key}: certified lam {rec['lam']:.5g}, C {rec['C']:.4g} "
        f"(verified {rec['verified']}), sampled lam {rec['sampled_lam']:.5g}, on "
        f"{rec['windows']} windows in {rec['seconds']:.1f} s")
    return rec, True


def study_theory(records: Sequence[ModelRecord], table: Sequence[PaperRow], out: str | Path,
                 data: Any, K: int = DEFAULT_WINDOWS, log: Callable[[str], None] = print,
                 model_of: Callable[[ModelRecord], Any] | None = None) -> dict[str, Any]:
    """Constants, recommended burn-in and what the burn-in leaves of the ``m = 0`` and ``m*``
    models, per ``(N, seed)``.

    Parameters
    ----------
    records : the study's finished models (models in ``<out>/models/<key>.npz``)
    table : ``paper_table(records)`` (gives ``m*`` per ``N``)
    out : the study folder
    data : the scaled training split (``x : (T, n_x)``, ``y : (T, n_y)``)
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
                    rec, new = cached_constants(out, r, lambda r=r: model_of(r), data, K,
                                                sorted(at), sorted({0, m_star}), log)
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
    """The row of ``theory.csv`` for one ``(N, seed)``: the ``m = 0`` model's recommendation
    (computed with its record) beside ``m*`` and the test MSE of both."""
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
    rec.update(loss_level=c0.get("loss_level"), Delta_0=c0.get("Delta_0"),
               constants="certified" if c0["certified"] else "sampled (not certified)")
    if c0["m_rec"] is None:
        return {**rec, "m_rec": None, "reason": f"no recommendation: {c0['rec_reason']} "
                f"(on-data certificate: {c0['reason']})"}
    return {**rec, "m_rec": c0["m_rec"], "test_m_rec": _test(at.get(c0["m_rec"])),
            "reason": c0["rec_reason"], "bound_m_rec": c0["bound_m_rec"]}


def _test(r: ModelRecord | None) -> float | None:
    return None if r is None else float(r.mse_test_scaled)
