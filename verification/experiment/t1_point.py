r"""T1 at a relaxed-feasible point ``(theta, z)`` of any cell, beside the gap it bounds.

docs/theory.md §5 with ``V^inf`` replaced by ``V(theta; z)``: L1 with ``z = 0`` and ``z' = z_i``
holds for every ``theta``, so on the windows ``X_i``

    V(theta; 0) - V(theta; z) <= T1(m)

whenever A1 holds on the pairs ``(z_i, 0)`` under those windows' inputs -- exactly what
:func:`~verification.certificates.ondata.certify_on_data` (``pairs="pair"``) proves. Two forms:

* ``T1_fit``: T1a/T1b (``bounds.numeric.t1a``, ``t1b``) with the certificate's fitted
  ``(lam, C)``;
* ``T1_env``: T1e (``bounds.numeric.t1e``, ``t1e_cross``) with the certified envelope
  ``G_j`` itself (``bounds.symbolic.T1E_STATEMENTS``: never looser; it needs only a finite
  envelope, not a decaying fit).

``T1_witness`` is T1e with the simulated ratios of the same pairs for ``G_j``: the distance
from ``T1_env`` to it is the certification's slack, the distance from it to the gap is the
theorem's (the supremum over windows in ``G_j``, Cauchy-Schwarz over windows and positions).

The gap is measured on the same windows and the same scored positions. Where a smaller upper
estimate ``V*_up`` of the TBPTT optimum is known (the relaxed problem: ``V(theta*; 0)`` of the
trained model), the gap is ``V*_up - V(theta; z)``; T1 bounds it as long as
``V*_up <= V(theta; 0)`` (docs/theory.md §8), which :func:`t1_row` enforces by taking the
minimum.

Where the bound is loose, the row says which term: both forms are ``square + cross`` with the
same ``square = Delta_0**2 Gamma^G_m / (N - m)`` (the bound on ``||e||**2 / K``, ``e_ij =
psi_j(0) - psi_j(z_i)``) and ``cross`` the bound on ``2 <r(z), e> / K`` (root form:
``2 sqrt(V) sqrt(square)``; T1b's form: ``2 rho Delta_01 Lambda^G_m / (N - m)``). The measured
counterparts satisfy ``V(theta; 0) - V(theta; z) = ||e||**2 / K + 2 <r(z), e> / K`` exactly.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from bounds import numeric as bn
from systems.bptt import WindowBatch

from .rows import sound, tightness

__all__ = ["T1Row", "t1_row", "fitted_forms"]


@dataclass
class T1Row:
    """T1 at ``(theta, z)`` for one burn-in ``m``, beside the measured gap.

    Attributes
    ----------
    m, S, K : burn-in, windows, scored outputs ``S (N - m)``
    V_zero : ``V(theta; 0)`` on the windows
    V_point : ``V(theta; z)`` (the relaxed objective at the point)
    V_star_up : the upper estimate of the TBPTT optimum the gap uses (``<= V_zero``)
    gap : ``V_star_up - V_point``
    Delta_0, Delta_01 : RMS and mean of ``||z_i||``;  rho : largest scored residual at ``z``
    certified : the certificate's fit is verified (``lam < 1``, finite ``C``)
    envelope_certified : every ``G_j`` finite (T1e needs nothing more)
    lam, C : the certificate's fit (NaN if none)
    T1a_fit, T1b_fit, T1_fit : T1a, T1b and their minimum with ``(lam, C)``
    T1a_env, T1b_env, T1_env : T1e's root form, T1b form and their minimum with ``G_j``
    square, cross : the terms of the winning envelope form (``T1_env = square + cross``)
    form : which envelope form won (``"root"`` or ``"T1b"``)
    square_measured, cross_measured : ``||e||**2 / K`` and ``2 <r(z), e> / K``
    dominant : ``"square"`` or ``"cross"``, the larger bound term
    sound_fit, sound_env : ``gap <= bound`` (None without a bound)
    ratio_fit, ratio_env : ``bound / gap`` (NaN for ``gap <= 0``)
    T1_witness : T1e with the simulated ratios ``max_i ||e_ij|| / ||z_i||`` (the certificate's
        witness) for ``G_j``: the sharpest T1e on these pairs, what a perfect certificate would
        give (float simulation, not a certificate)
    T1_sampled : T1a/T1b with sampled constants (an estimate, not a bound; NaN if none given)
    """

    m: int
    S: int
    K: int
    V_zero: float
    V_point: float
    V_star_up: float
    gap: float
    Delta_0: float
    Delta_01: float
    rho: float
    certified: bool
    envelope_certified: bool
    lam: float
    C: float
    T1a_fit: float
    T1b_fit: float
    T1_fit: float
    T1a_env: float
    T1b_env: float
    T1_env: float
    square: float
    cross: float
    form: str
    square_measured: float
    cross_measured: float
    dominant: str
    T1_witness: float = math.nan
    T1_sampled: float = math.nan
    sound_fit: bool | None = field(init=False, default=None)
    sound_env: bool | None = field(init=False, default=None)
    ratio_fit: float = field(init=False, default=math.nan)
    ratio_env: float = field(init=False, default=math.nan)

    def __post_init__(self) -> None:
        self.sound_fit, self.sound_env = sound(self.gap, self.T1_fit), sound(self.gap, self.T1_env)
        self.ratio_fit = tightness(self.gap, self.T1_fit)
        self.ratio_env = tightness(self.gap, self.T1_env)

    def to_dict(self) -> dict[str, object]:
        """The fields as plain values."""
        return dataclasses.asdict(self)


def fitted_forms(lam: float, C: float, m: int, N: int, V: float, D0: float, D01: float,
                 rho: float) -> tuple[float, float]:
    """``(T1a, T1b)`` with A1 constants ``(lam, C)`` at a point with ``V``, ``Delta_0``,
    ``Delta_01``, ``rho``; zeros for ``C = 0``, NaN unless ``0 < lam < 1`` and ``C`` finite."""
    if not (math.isfinite(lam) and math.isfinite(C) and 0 < lam < 1 and C >= 0):
        return math.nan, math.nan
    if C == 0:
        return 0.0, 0.0
    return (float(bn.t1a(C=C, lam=lam, m=m, N=N, V_inf=V, Delta_0=D0)),
            float(bn.t1b(C=C, lam=lam, m=m, N=N, rho=rho, Delta_0=D0, Delta_01=D01)))


def _envelope(G: np.ndarray | None, m: int, N: int, V: float, D0: float, D01: float,
              rho: float) -> tuple[float, float, float, float, str]:
    """``(T1a_env, T1b_env, square, cross, form)`` from the envelope (NaN without one)."""
    if G is None or not np.all(np.isfinite(G)):
        return math.nan, math.nan, math.nan, math.nan, ""
    a = float(bn.t1e(G, m, V, D0))
    b = float(bn.t1e_cross(G, m, rho, D0, D01))
    g2, g1 = bn.envelope_sums(G, m)
    square = float(D0**2 * g2 / (N - m))
    if a <= b:
        return a, b, square, float(2.0 * math.sqrt(V) * math.sqrt(square)), "root"
    return a, b, square, float(2.0 * rho * D01 * g1 / (N - m)), "T1b"


def t1_row(model: object, X: np.ndarray, Y: np.ndarray, m: int, z: np.ndarray,
           certificate: object | None, *, V_star_up: float | None = None,
           sampled: tuple[float, float] | None = None) -> T1Row:
    """T1 (both forms) at ``(theta, z)`` on the windows ``X, Y`` for burn-in ``m``.

    Parameters
    ----------
    model : a cell (``theta``)
    X : (S, N, n_x), Y : (S, N, n_y) the windows the gap and the bound are over
    m : burn-in
    z : (S, n_z) the initial states of the point
    certificate : an :class:`~verification.certificates.ondata.OnDataCertificate` on exactly the
        pairs ``(z_i, 0)`` under ``X`` (``pairs="pair"`` or ``"segment"``), or None (no bound)
    V_star_up : an upper estimate of the TBPTT optimum on these windows (e.g. ``V(theta*; 0)`` of
        a trained model); the gap uses ``min(V_star_up, V(theta; 0))``. Default ``V(theta; 0)``.
    sampled : ``(lam, C)`` of sampled constants for ``T1_sampled`` (an estimate), or None

    Returns
    -------
    T1Row
    """
    S, N, _ = X.shape
    if certificate is not None and int(certificate.n_windows) != S:
        raise ValueError(f"the certificate covers {certificate.n_windows} windows, the point "
                         f"has {S}: the bound must be over exactly the pairs it sums")
    batch = WindowBatch(X, Y, m, n_h=model.n_h, cell=model.cell, **model.options)
    out_z, out_0 = batch.outputs(model.theta, z), batch.outputs(model.theta, None)
    r = (out_z - Y)[:, m:]
    e = (out_0 - out_z)[:, m:]
    K = S * (N - m)
    V_point = float(np.vdot(r, r) / K)
    V_zero = float(np.sum((out_0 - Y)[:, m:] ** 2) / K)
    V_up = V_zero if V_star_up is None else min(float(V_star_up), V_zero)
    z_norm = np.linalg.norm(z, axis=1)
    D0, D01 = float(np.sqrt(np.mean(z_norm**2))), float(np.mean(z_norm))
    rho = float(np.max(np.linalg.norm(r, axis=2)))
    lam = float(getattr(certificate, "lam", math.nan))
    C = float(getattr(certificate, "C", math.nan))
    certified = bool(getattr(certificate, "verified", False))
    a_fit, b_fit = (fitted_forms(lam, C, m, N, V_point, D0, D01, rho) if certified
                    else (math.nan, math.nan))
    G = None if certificate is None else np.asarray(certificate.envelope, dtype=np.float64)
    a_env, b_env, square, cross, form = _envelope(G, m, N, V_point, D0, D01, rho)
    witness = None if certificate is None else np.asarray(certificate.lower, dtype=np.float64)
    T1_witness = float(np.fmin(*_envelope(witness, m, N, V_point, D0, D01, rho)[:2]))
    T1_sampled = math.nan
    if sampled is not None:
        T1_sampled = float(np.fmin(*fitted_forms(*sampled, m, N, V_point, D0, D01, rho)))
    return T1Row(
        m=int(m), S=S, K=K, V_zero=V_zero, V_point=V_point, V_star_up=V_up,
        gap=V_up - V_point, Delta_0=D0, Delta_01=D01, rho=rho, certified=certified,
        envelope_certified=G is not None and bool(np.all(np.isfinite(G))),
        lam=lam, C=C, T1a_fit=a_fit, T1b_fit=b_fit, T1_fit=float(np.fmin(a_fit, b_fit)),
        T1a_env=a_env, T1b_env=b_env, T1_env=float(np.fmin(a_env, b_env)), square=square,
        cross=cross, form=form, square_measured=float(np.vdot(e, e) / K),
        cross_measured=float(2.0 * np.vdot(r, e) / K),
        dominant="" if form == "" else ("cross" if cross >= square else "square"),
        T1_witness=T1_witness, T1_sampled=T1_sampled,
    )
