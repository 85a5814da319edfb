"""The theory's part in tuning the burn-in: which burn-ins are worth training at all.

From one briefly trained ``m = 0`` model (the tuner's own first candidate), the A1 constants on
the pairs ``(z_i, 0)`` of ``windows`` training windows (``z_i`` the model's free-run state at
window ``i``'s start; certified on data, else sampled and marked so;
:func:`verification.experiment.study_theory.model_constants`) give

* the **cap**: ``k_level``, the fewest steps with ``C lam**k <= level`` (1 %). A burn-in
  longer than that removes less than 1 % of the zero state's effect on the outputs
  (``||y_j(z_i) - y_j(0)|| <= C lam**j ||z_i||``, docs/theory.md §3) while it still scores fewer
  outputs per window; the T1 bound at such ``m`` (§5, ``lam**m / (N - m)`` in its paper form)
  has nothing left to gain but its ``N - m``. The candidates are the grid's burn-ins up to the
  cap (at least ``keep_min`` of them).
* the **bound's recommendation** (§6.4, :func:`~verification.certificates.burn_in.recommend_m`:
  the smallest grid ``m`` whose T1 bound is within 10 % of the model's training loss), a
  candidate whenever some ``m`` meets that rule (its fallback, the grid's smallest bound, which
  is the grid's end on slowly forgetting data, is only reported).

The constants of so short a training vary with the model's seed (RLC: ``lam`` 0.896-0.992 over
27 models after 4 epochs), and a burn-in the cap drops is never trained. So several reference
models are examined (:func:`combine`): a burn-in is dropped only when every reference has
forgotten its zero state by then, i.e. the cap and the recommendation are those of the
reference that forgets slowest.

Both rest on constants of models early in training, certified only on those pairs (or
sampled): they steer the search, and the tuner's measurements decide.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

#: Default decay level of the cap (``C lam**k <= LEVEL``) and windows certified.
LEVEL, WINDOWS = 0.01, 100


@dataclass(frozen=True)
class TheoryView:
    """What the theory said and which candidates it kept.

    Attributes
    ----------
    lam, C : the A1 constants used; certified : whether they are certified on data (else
        sampled, an estimate)
    steps : fewest ``k`` with ``C lam**k <= level`` (``inf`` when the constants do not
        contract); level : that level
    m_cap : largest candidate kept by the cap (``None``: no cap)
    m_rec : the bound's recommendation on the grid (``None``: none); rec_reason : its reason
    candidates : the burn-ins the tuner trains; grid : the burn-ins it was given
    V_inf, Delta_0 : the loss level and state size of the recommendation
    epochs : epochs the examined ``m = 0`` model had; windows : windows certified
    region : what the certificate covers; reason : the certificate's reason; seconds
    references : per reference model examined (:func:`combine`), its ``seed``, ``lam``,
        ``C``, ``certified``, ``steps``; the fields above are those of the slowest to forget
    """

    lam: float
    C: float
    certified: bool
    steps: float
    level: float
    m_cap: int | None
    m_rec: int | None
    rec_reason: str
    candidates: tuple[int, ...]
    grid: tuple[int, ...]
    V_inf: float
    Delta_0: float
    epochs: int
    windows: int
    region: str
    reason: str
    seconds: float
    references: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TheoryView:
        d = dict(d)
        d["candidates"], d["grid"] = tuple(d["candidates"]), tuple(d["grid"])
        d["references"] = tuple(dict(r) for r in d.get("references", ()))
        return cls(**d)


def combine(views: Sequence[TheoryView], seeds: Sequence[int]) -> TheoryView:
    """One view of several reference models (model seeds ``seeds``): that of the reference
    with the most steps to the cap's level (the slowest to forget; the first on a tie), so a
    burn-in is dropped only if every reference has forgotten its zero state by then; every
    reference's constants in ``references``, the time of all of them in ``seconds``."""
    if not views or len(views) != len(seeds):
        raise ValueError(f"need one seed per view, got {len(views)} views, {len(seeds)} seeds")
    refs = tuple({"seed": int(s), "lam": v.lam, "C": v.C, "certified": v.certified,
                  "steps": v.steps} for v, s in zip(views, seeds, strict=True))
    key = [v.steps if not math.isnan(v.steps) else -math.inf for v in views]
    slow = views[int(np.argmax(key))]
    return replace(slow, references=refs, seconds=sum(v.seconds for v in views))


def theory_candidates(model: Any, u: np.ndarray, N: int, grid: Sequence[int], V_inf: float, *,
                      epochs: int = 0, windows: int = WINDOWS, level: float = LEVEL,
                      keep_min: int = 4) -> TheoryView:
    """The candidates the theory keeps from ``grid`` for the ``m = 0`` model ``model``.

    Parameters
    ----------
    model : a :mod:`systems.cells` model (trained at ``m = 0`` for ``epochs`` epochs)
    u : (T, n_x) the scaled training inputs
    N : window length; grid : the burn-ins to choose from
    V_inf : the model's free-run training MSE (the recommendation's loss level)
    windows : training windows whose pairs are certified; level : the cap's decay level
    keep_min : fewest candidates kept (the smallest burn-ins of the grid if the cap keeps fewer)
    """
    from systems.data import Sequence as Series
    from systems.errors import InputError
    from verification.certificates.burn_in import recommend_m
    from verification.certificates.ondata import steps_to
    from verification.experiment.model_constants import model_constants

    t0 = time.perf_counter()
    grid = tuple(sorted({int(m) for m in grid} | {0}))
    u = np.asarray(u, dtype=np.float64)
    try:
        # constants only (no burn-ins): the outputs enter nothing, the model's own stand in
        with np.errstate(over="ignore", invalid="ignore"):
            y = model.simulate(u)[1]
        mc = model_constants(model, Series(u, y), N, [], n_windows=windows, with_global=False,
                             loss_level=V_inf)
        c = {"verified": mc.on_data["verified"], "lam": mc.on_data["lam"],
             "C": mc.on_data["C"], "sampled_lam": mc.sampled["lam"],
             "sampled_C": mc.sampled["C"], "Delta_0": mc.Delta_0,
             "windows": mc.windows["S"], "region": mc.region, "reason": mc.on_data["reason"]}
    except InputError as exc:  # a diverged model: no pairs to certify
        c = {"verified": False, "lam": math.nan, "C": math.nan, "sampled_lam": math.nan,
             "sampled_C": math.nan, "Delta_0": math.nan, "windows": 0, "region": "",
             "reason": str(exc)}
    certified = bool(c["verified"])
    lam, C = (c["lam"], c["C"]) if certified else (c["sampled_lam"], c["sampled_C"])
    contracts = 0.0 < lam < 1.0 and math.isfinite(C) and C > 0
    steps = steps_to(lam, C, level) if contracts else math.inf
    m_rec, rec_reason = None, "no recommendation: the constants do not contract"
    met = False
    if contracts and V_inf > 0 and math.isfinite(V_inf):
        adv = recommend_m(lam, C, certified, N, V_inf, c["Delta_0"], ms=np.array(grid))
        m_rec, rec_reason = int(adv.m), adv.reason
        met = bool(adv.bound[list(adv.ms).index(adv.m)] <= adv.tol * V_inf)
    kept = [m for m in grid if m <= steps]
    if len(kept) < keep_min:
        kept = list(grid[:keep_min])
    m_cap = max(kept) if len(kept) < len(grid) else None
    cands = tuple(sorted(set(kept) | ({m_rec} if met else set())))
    return TheoryView(float(lam), float(C), certified, float(steps), float(level), m_cap, m_rec,
                      rec_reason, cands, grid, float(V_inf), float(c["Delta_0"]), int(epochs),
                      int(c["windows"]), str(c["region"]), str(c.get("reason", "")),
                      time.perf_counter() - t0)
