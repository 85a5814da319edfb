"""One row of the bound-vs-gap table (docs/theory.md §8): its fields, soundness and tightness.

:class:`GapRow` documents every field once. Soundness (``gap <= bound``) and tightness
(``bound / gap``) of the five checks in :data:`CHECKS` are computed here and nowhere else;
the table stores rows as plain dicts (:meth:`GapRow.as_dict`), and a dict read back from a
file is a finished row only if it has every field (:func:`missing_fields`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

#: Relative and absolute slack of a soundness check ``gap <= bound`` (solver round-off).
SOUND_RTOL = 1e-7
SOUND_ATOL = 1e-10

#: The soundness checks of a row: (name, measured gap field, bound field).
CHECKS = (
    ("T1", "gap_T1", "T1_bound"),
    ("T1c", "gap_T1c", "T1c_bound"),
    ("T1d", "acc_gap", "T1d_bound"),
    ("T2", "gap_T2", "T2a_bound"),
    ("T2b", "gap_T2", "T2b_bound"),
)


def sound(gap: float, bound: float) -> bool | None:
    """``gap <= bound`` up to solver round-off; ``None`` when the bound is not available."""
    if not math.isfinite(bound):
        return None
    return bool(gap <= bound * (1 + SOUND_RTOL) + SOUND_ATOL)


def tightness(gap: float, bound: float) -> float:
    """``bound / gap`` (smaller is tighter); NaN when the gap is not positive or no bound."""
    return bound / gap if gap > 0 and math.isfinite(bound) else math.nan


@dataclass
class GapRow:
    """Bounds beside measured gaps for one burn-in ``m`` (docs/theory.md §5, §6, §8).

    Solutions: ``theta*`` (TBPTT, zero initial states), ``(theta^b, h_0^b)`` (benchmark),
    ``(theta^inf, z^inf)`` (the relaxed solution with the smallest value found). The T1 bound
    is the smallest over several relaxed solutions, the candidates (:mod:`.gaps`).

    Attributes
    ----------
    m, S, K : burn-in, number of windows, scored outputs ``S (N - m)``
    V_star, V_b, V_inf : optima found for TBPTT, the benchmark and the relaxed problem
    R0 : ``V^inf <= min(V*, V^b)`` (R0 of docs/theory.md §2): the lower bounds ``gap >= 0`` hold
    rounds : rounds of the warm-start protocol (§8)
    warm_start_ok : every candidate used by T1/T1c satisfies ``V* <= V(theta_c; 0)`` and
        ``V^b <= V^b(theta_c, z_c1)`` (the upper bounds rest on these)
    gap_T1 : ``V* - V^inf``;  T1_bound : its bound (certified constants, best candidate)
    T1_candidate : the relaxed solution that gave ``T1_bound``
    T1_bound_first : the same bound from the first relaxed solution alone (the protocol's
        step 1, no candidates: docs/theory.md §5 as stated)
    n_candidates : number of relaxed solutions T1 was evaluated at
    T1_bound_emp : T1 at ``(theta^inf, z^inf)`` with sampled constants (not a certificate)
    gap_T1c, T1c_bound : ``V^b - V^inf`` and its bound T1c
    gap_abs_star_b, T1_star_b_bound : ``|V* - V^b|`` and its bound ``max(T1, T1c)``
    Delta_0, Delta_01, rho, Delta_b : T1's inputs at ``(theta^inf, z^inf)``
    eps : coercivity level of (C_eps)
    coercive_star, coercive_b, coercive : (C_eps) for ``theta*``, for the benchmark, both
    acc_gap, T1d_bound : ``||Y* - Y^inf||**2 / K`` and its bound T1d (NaN without C_eps)
    P_star, P_b : performance on the training sequence (TBPTT from 0, benchmark from h_0^b)
    P_star_test, P_b_test : performance on the test sequence, both from 0
    gap_T2 : ``P* - P^b``;  A_J, B : T2a's inputs (§6)
    T2a_bound, T2a_bound_emp, T2b_bound : T2a (certified, sampled constants) and T2b
    T2_applicable : the windows cover the sequence with every overlap ``>= m``
    certified : LMI-C certified ``theta^inf`` and ``theta*``
    lam_cert, C_cert : smallest-rate certificate of ``theta^inf``
    lam_cert_T1, C_cert_T1 : the curve point (of the winning candidate) used by T1
    lam_cert_star, C_cert_star : smallest-rate certificate of ``theta*``
    lam_cert_T2, C_cert_T2 : the curve point used by T2a
    cert_reason : why a certificate failed ("certified" otherwise)
    lam_emp, C_emp, lam_emp_star, C_emp_star : sampled constants of ``theta^inf``, ``theta*``
    seconds_fit, seconds_certify : wall time of the protocol and of the certificates
    sound_<check>, tight_<check> : for every check of :data:`CHECKS`, ``gap <= bound``
        (None when the bound is n/a) and ``bound / gap`` (computed, not passed)
    sound : every available check holds (and there is at least one)
    """

    m: int
    S: int
    K: int
    V_star: float
    V_b: float
    V_inf: float
    R0: bool
    rounds: int
    warm_start_ok: bool
    gap_T1: float
    T1_bound: float
    T1_candidate: str
    T1_bound_first: float
    n_candidates: int
    T1_bound_emp: float
    gap_T1c: float
    T1c_bound: float
    gap_abs_star_b: float
    T1_star_b_bound: float
    Delta_0: float
    Delta_01: float
    rho: float
    Delta_b: float
    eps: float
    coercive_star: bool
    coercive_b: bool
    coercive: bool
    acc_gap: float
    T1d_bound: float
    P_star: float
    P_b: float
    P_star_test: float
    P_b_test: float
    gap_T2: float
    A_J: float
    B: float
    T2a_bound: float
    T2a_bound_emp: float
    T2b_bound: float
    T2_applicable: bool
    certified: bool
    lam_cert: float
    C_cert: float
    lam_cert_T1: float
    C_cert_T1: float
    lam_cert_star: float
    C_cert_star: float
    lam_cert_T2: float
    C_cert_T2: float
    cert_reason: str
    lam_emp: float
    C_emp: float
    lam_emp_star: float
    C_emp_star: float
    seconds_fit: float = math.nan
    seconds_certify: float = math.nan
    sound_T1: bool | None = field(init=False, default=None)
    sound_T1c: bool | None = field(init=False, default=None)
    sound_T1d: bool | None = field(init=False, default=None)
    sound_T2: bool | None = field(init=False, default=None)
    sound_T2b: bool | None = field(init=False, default=None)
    sound: bool = field(init=False, default=False)
    tight_T1: float = field(init=False, default=math.nan)
    tight_T1c: float = field(init=False, default=math.nan)
    tight_T1d: float = field(init=False, default=math.nan)
    tight_T2: float = field(init=False, default=math.nan)
    tight_T2b: float = field(init=False, default=math.nan)

    def __post_init__(self) -> None:
        flags = []
        for name, gap_key, bound_key in CHECKS:
            gap, bound = getattr(self, gap_key), getattr(self, bound_key)
            flag = sound(gap, bound)
            setattr(self, f"sound_{name}", flag)
            setattr(self, f"tight_{name}", tightness(gap, bound))
            flags += [flag] if flag is not None else []
        self.sound = bool(flags) and all(flags)

    def as_dict(self) -> dict[str, Any]:
        """The row as a flat dict (what the table, CSV and JSON hold)."""
        return dataclasses.asdict(self)


#: Every field a finished row has.
FIELDS = tuple(f.name for f in dataclasses.fields(GapRow))


def missing_fields(row: dict[str, Any]) -> list[str]:
    """The fields of :class:`GapRow` that ``row`` lacks (empty for a finished row)."""
    return [k for k in FIELDS if k not in row]
