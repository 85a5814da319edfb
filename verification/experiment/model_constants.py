r"""Constants of a model on its windows, then a recommended burn-in: one function for every cell.

:func:`model_constants` is the job ``burnin bound``/``certify`` (LSTM/GRU) and the study's
theory view both need:

1. the windows (:func:`~.window_set.select_windows`: every ``stride``-th, or ``n_windows``
   spread evenly) and the pairs T1 compares on them: ``(z_i, 0)`` with ``z_i`` the model's
   free-run state (from ``0`` over the whole sequence) at window ``i``'s start;
2. certified constants on exactly those pairs (the on-data certificate, ``pairs="pair"``;
   with ``on_data="if-needed"`` only when the global certificate does not hold),
   the global certificate where one exists (LMI-C for an Elman RNN, the delta-ISS condition
   for an LSTM/GRU: valid for every state and input in its region), and sampled constants
   beside them (visited states of the same windows plus a margin: an estimate, never
   certified);
3. T1 over ``m`` at the relaxed-feasible point ``(theta, z)`` on the same windows
   (:mod:`.t1_point`): fitted ``(lam, C)`` and certified envelope (T1e), the global fit, and the
   sampled estimate, each beside the measured ``V(theta; 0) - V(theta; z)``. ``Delta_0``,
   ``Delta_01``, ``rho`` and ``V(theta; z)`` are over exactly the certified windows;
4. the recommended burn-in (:func:`bounds.recommend.recommend_training`): the smallest ``m``
   whose T1 is within ``tol`` of the loss level, from the best certified T1 (T1e, or the global
   fit where smaller) or, without any certificate, from the sampled estimate (and it says so).

What T1 bounds here, exactly: ``V(theta; 0) - V(theta; z)`` on these windows (L1 at
``theta``, any parameters). Read as a bound on the training regret ``V* - V^inf`` it is an
estimate (``theta`` is not the relaxed optimum); :mod:`.zero_state` and :mod:`.relaxed_fit`
give the bounds at the best states and at a relaxed solution. The loss level of the
recommendation is ``V(theta; z)`` over all positions of the windows (``m = 0``) unless given.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bounds.recommend import Recommendation, recommend_training
from systems.data import Sequence as Series
from systems.errors import InputError
from systems.windows import check_burn_in
from verification.certificates.ondata import certify_on_data, steps_to
from verification.certificates.sampled_cells import sampled_constants

from .t1_point import fitted_forms, t1_row
from .window_set import check_model_data, select_windows

__all__ = ["ModelConstants", "model_constants", "global_certificate"]

#: Sampled constants: pairs drawn (the study's and the CLI's count).
SAMPLED_PAIRS = 2000


@dataclass
class ModelConstants:
    """A model's constants on its windows, T1 over ``m``, and the recommended burn-in.

    Attributes
    ----------
    cell, n_h, n_z : the model
    windows : :meth:`~.window_set.WindowSet.to_dict` (its ``label`` says which windows)
    region : the certified pairs in words (windows, ``z_i``, largest ``||z_i||``)
    on_data : the on-data certificate: ``verified``, ``lam``, ``C``, ``reason``, ``steps_to_1pct``,
        ``seconds``, ``envelope`` ``(N,)`` (certified ``G_j``), ``witness`` ``(N,)``
    global_ : the global certificate (``verified``, ``lam``, ``C``, ``kind``, ``reason``,
        ``region``) or None when not computed
    sampled : sampled constants (``lam``, ``C``, ``n_pairs``, ``contracting``, ``certified`` =
        False, ``note``): an estimate
    Delta_0, Delta_01 : RMS and mean of ``||z_i||`` over exactly these windows
    loss_level : the recommendation's reference loss
    rows : per ``m`` a :class:`~.t1_point.T1Row` dict plus ``T1_global`` and ``T1`` (the
        best certified T1: min of T1_env, T1_fit and T1_global; NaN without a certificate)
    bound_used : which curve the recommendation used, in words
    certified : whether that curve is certified
    recommendation : :class:`bounds.recommend.Recommendation` (None when no curve is finite)
    seconds : wall-clock time
    """

    cell: str
    n_h: int
    n_z: int
    windows: dict[str, Any]
    region: str
    on_data: dict[str, Any]
    global_: dict[str, Any] | None
    sampled: dict[str, Any]
    Delta_0: float
    Delta_01: float
    loss_level: float
    rows: list[dict[str, Any]] = field(default_factory=list)
    bound_used: str = ""
    certified: bool = False
    recommendation: Recommendation | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain values (arrays as lists; the recommendation as a dict)."""
        d = dataclasses.asdict(self)
        d["recommendation"] = (None if self.recommendation is None
                               else dataclasses.asdict(self.recommendation))
        d["on_data"] = {k: np.asarray(v).tolist() if isinstance(v, np.ndarray) else v
                        for k, v in self.on_data.items()}
        return d


def global_certificate(model: object, data: Series) -> object:
    """The global A1 certificate of ``model``: LMI-C (Elman) or the delta-ISS condition for
    inputs ``||x_t||_inf <= max |x|`` over ``data`` (LSTM, GRU). It may be not verified."""
    if model.cell == "elman":
        from verification.certificates.lmi_c import certify

        return certify(model)
    from verification.certificates.gated_global import certify_global

    return certify_global(model, float(np.max(np.abs(data.x))))


#: ``on_data="if-needed"`` when the global certificate holds: what the record says instead.
SKIPPED = {"verified": False, "lam": math.nan, "C": math.nan, "steps_to_1pct": math.inf,
           "seconds": 0.0, "envelope": np.array([]), "witness": np.array([]), "kind": "on-data",
           "reason": "not computed: the global certificate holds (on_data='if-needed')"}


def _summaries(cert: object | None, glob: object | None, samp: object
               ) -> tuple[dict, dict | None, dict]:
    on_data = dict(SKIPPED) if cert is None else {
        "verified": bool(cert.verified), "lam": float(cert.lam), "C": float(cert.C),
        "reason": cert.reason, "steps_to_1pct": float(cert.steps_to_level),
        "seconds": float(cert.seconds), "envelope": np.asarray(cert.envelope),
        "witness": np.asarray(cert.lower), "kind": "on-data"}
    g = None
    if glob is not None:
        g = {"verified": bool(glob.verified), "lam": float(glob.lam), "C": float(glob.C),
             "kind": "global", "reason": str(getattr(glob, "reason", "")),
             "region": str(getattr(glob, "region", "every state, every input")),
             "quantity": str(getattr(glob, "quantity", "LMI-C")),
             "value": float(getattr(glob, "value", math.nan)),
             "state_bounds": [float(b) for b in getattr(glob, "state_bounds", ())]}
    s = {"lam": float(samp.lam), "C": float(samp.C), "n_pairs": int(samp.n_pairs),
         "contracting": bool(samp.contracting), "certified": False,
         "steps_to_1pct": float(steps_to(samp.lam, samp.C)),
         "note": "sampled constants (visited states of these windows plus a margin): an "
                 "estimate, not a certificate"}
    return on_data, g, s


def _recommend(ms: list[int], rows: list[dict[str, Any]], level: float, tol: float
               ) -> tuple[Recommendation | None, str, bool]:
    certified = np.array([r["T1"] for r in rows])
    if np.isfinite(certified).any():
        curve, used, ok = certified, "certified T1 (min of T1e, T1 fitted, T1 global)", True
    else:
        curve = np.array([r["T1_sampled"] for r in rows])
        used, ok = "T1 with SAMPLED constants (an estimate: no certificate)", False
    if not np.isfinite(curve).any():
        return None, "no finite T1 (no certificate, sampled constants do not contract)", False
    rec = recommend_training(ms, curve, loss_level=max(level, 0.0), tol=tol)
    return dataclasses.replace(rec, reason=f"{rec.reason}; from the {used}"), used, ok


def model_constants(model: object, data: Series, N: int, ms: Sequence[int] | None = None, *,
                    stride: int = 1, n_windows: int | None = None, tol: float = 0.1,
                    with_global: bool = True, sampled_pairs: int = SAMPLED_PAIRS,
                    seed: int = 0, loss_level: float | None = None,
                    on_data: str = "always") -> ModelConstants:
    """Certified and sampled constants of ``model`` on its windows, T1 over ``ms``, a burn-in.

    Parameters
    ----------
    model : a cell (Elman, LSTM, GRU), float64
    data : the training sequence, scaled as in training
    N : window length;  ms : burn-ins (default ``0..N-1``; empty: constants only)
    stride, n_windows : which windows (:func:`~.window_set.select_windows`)
    tol : the recommendation's tolerance, ``T1(m) <= tol * loss_level``
    with_global : also try the global certificate
    sampled_pairs, seed : the sampled constants' pairs and seed
    loss_level : the recommendation's reference loss (default ``V(theta; z)`` at ``m = 0``)
    on_data : ``"always"`` or ``"if-needed"`` (skip the on-data certificate when the global one
        holds: it is the slow part; the record then says it was not computed)

    Returns
    -------
    ModelConstants
    """
    t0 = time.perf_counter()
    check_model_data(model, data)
    if not (isinstance(tol, (int, float)) and tol > 0):
        raise InputError(f"tol = {tol!r} must be a number > 0")
    if on_data not in ("always", "if-needed"):
        raise InputError(f"on_data = {on_data!r}: use 'always' or 'if-needed'")
    w = select_windows(data, N, stride=stride, n_windows=n_windows)
    ms = list(range(w.N)) if ms is None else sorted({check_burn_in(m, w.N) for m in ms})
    with np.errstate(over="ignore", invalid="ignore"):
        z = w.states_from(model.simulate(data.x)[0])
    if not np.all(np.isfinite(z)):
        raise InputError("the model's free run over the data is not finite: no pairs to "
                         "certify (is the data scaled as in training?)")
    z_norm = np.linalg.norm(z, axis=1)
    region = (f"the pairs (z_i, 0) on {w.label}, z_i the model's state at window i's start "
              f"when run from 0 over the whole sequence, under window i's inputs, j = "
              f"1..{w.N}; ||z_i|| up to {float(z_norm.max()):.4g}")
    glob = global_certificate(model, data) if with_global or on_data == "if-needed" else None
    with np.errstate(over="ignore", invalid="ignore"):
        cert = (None if on_data == "if-needed" and glob.verified else
                certify_on_data(model, w.X, z, pairs="pair"))
        samp = sampled_constants(model, w.X, n_pairs=sampled_pairs, seed=seed)
    on_data, g, s = _summaries(cert, glob, samp)
    level = (t1_row(model, w.X, w.Y, 0, z, None).V_point if loss_level is None
             else float(loss_level))
    rows = []
    for m in ms:
        r = t1_row(model, w.X, w.Y, m, z, cert, sampled=(s["lam"], s["C"])).to_dict()
        r["T1_global"] = (float(np.fmin(*fitted_forms(g["lam"], g["C"], m, w.N, r["V_point"],
                                                       r["Delta_0"], r["Delta_01"], r["rho"])))
                          if g is not None and g["verified"] else math.nan)
        r["T1"] = float(np.fmin(np.fmin(r["T1_env"], r["T1_fit"]), r["T1_global"]))
        rows.append(r)
    rec, used, ok = _recommend(ms, rows, level, tol) if ms else (None, "", False)
    return ModelConstants(model.cell, model.n_h, model.n_z, w.to_dict(), region, on_data, g, s,
                          float(np.sqrt(np.mean(z_norm**2))), float(np.mean(z_norm)), level,
                          rows, used, ok, rec, time.perf_counter() - t0)
