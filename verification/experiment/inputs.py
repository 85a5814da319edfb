"""The inputs of the theorems, measured on solutions (docs/theory.md §5, §6): computed here once.

Both the gap table (:mod:`.gaps`) and the bound for a user's model (:mod:`.model_bound`)
take their theorem inputs from this module:

* :class:`RelaxedPoint` -- a relaxed-feasible point ``(theta, z)`` with what T1a-c need at it:
  ``V^inf(theta, z)``, ``Delta_0``, ``Delta_01``, ``rho``, ``Delta_b``, and the two losses
  the warm-start inequalities of §8 compare with, ``V(theta; 0)`` and ``V^b(theta, z_1)``;
* :class:`PerformanceInputs` -- T2a's inputs (§6): coverage, ``P_b``, ``A_J`` and the norms
  ``||phi_{s_i}(0; theta*)||`` in ``B``;
* :func:`best_on_curve` -- a bound with certified constants: every verified ``(lam, C)`` pair
  of the LMI-C curve is a valid A1 pair, so the bound is evaluated at the one that makes it
  smallest.

A1 with ``C = 0`` (a readout ``W_hy = 0``: the outputs never depend on the initial state) is
a case, not an error: L1 then says ``V(theta; 0) = V(theta; z)``, and every bound here is the
trivial one (T1 = T1c = 0, ``B = 0``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bounds import numeric as bn
from systems.bptt import WindowBatch
from systems.rnn import ElmanRNN
from systems.windows import WindowedData
from verification.certificates import Certificate

__all__ = ["RelaxedPoint", "relaxed_point", "PerformanceInputs",
           "performance_inputs", "run_windows",
           "coercive", "best_on_curve"]


# --------------------------------------------------------------------------- objectives
def run_windows(model: ElmanRNN, data: WindowedData, h0: np.ndarray | None = None
                ) -> np.ndarray:
    """The free run from ``h0`` over the whole sequence, cut into windows: ``(S, N, n_y)``."""
    return data.windows.stack(model.simulate(data.sequence.x, h0)[1])


# --------------------------------------------------------------------------- T1 (§5)
@dataclass(frozen=True, eq=False)
class RelaxedPoint:
    """A relaxed-feasible point ``(theta, z)`` and the inputs of T1a-c at it (docs/theory.md §5).

    L1 holds for every ``theta``, so T1a/T1b evaluated at this point bound
    ``V(theta; 0) - V^inf(theta, z)`` (:meth:`T1`) and T1c bounds
    ``V^b(theta, z_1) - V^inf(theta, z)`` (:meth:`T1c`) -- whether or not the point is optimal.

    Attributes
    ----------
    name : which point this is (e.g. ``"relaxed optimum"``, ``"from theta*"``)
    model : the RNN with parameters ``theta``
    z : (S, n_h) initial state of each window
    m, N : burn-in and window length
    V_relaxed : ``V^inf(theta, z)``, the relaxed objective at the point
    V_zero : ``V(theta; 0)``, the TBPTT objective at ``theta``
    V_b_start : ``V^b(theta, z_1)``, the benchmark objective at ``theta`` from ``h_0 = z_1``
    Delta_0 : ``sqrt((1/S) sum_i ||z_i||**2)``
    Delta_01 : ``(1/S) sum_i ||z_i||``
    rho : ``max_{i, j > m} ||r_ij(z_i, theta)||``, the largest scored residual
    Delta_b : ``sqrt((1/S) sum_i ||phi_{s_i}(z_1; theta) - z_i||**2)``
    Delta_b1 : ``(1/S) sum_i ||phi_{s_i}(z_1; theta) - z_i||``
    outputs : (S, N, n_y) window outputs ``psi_j(z_i; theta, X_i)``
    """

    name: str
    model: ElmanRNN
    z: np.ndarray
    m: int
    N: int
    V_relaxed: float
    V_zero: float
    V_b_start: float
    Delta_0: float
    Delta_01: float
    rho: float
    Delta_b: float
    Delta_b1: float
    outputs: np.ndarray

    def T1(self, C: float, lam: float) -> float:
        """T1 (min of T1a, T1b) at this point: a bound on ``V(theta; 0) - V^inf(theta, z)``."""
        if C == 0:
            return 0.0
        return float(bn.training_regret(C=C, lam=lam, m=self.m, N=self.N, V_inf=self.V_relaxed,
                                        Delta_0=self.Delta_0, Delta_01=self.Delta_01,
                                        rho=self.rho))

    def T1c(self, C: float, lam: float) -> float:
        """T1c at this point: a bound on ``V^b(theta, z_1) - V^inf(theta, z)``."""
        if C == 0:
            return 0.0
        return float(bn.benchmark_regret(C=C, lam=lam, m=self.m, N=self.N, V_inf=self.V_relaxed,
                                         Delta_b=self.Delta_b, Delta_b1=self.Delta_b1,
                                         rho=self.rho))

    def T1b_paper(self, C: float, lam: float) -> float:
        """T1b's paper form ``C2 lam**m / (N - m)`` at this point."""
        if C == 0:
            return 0.0
        return float(bn.t1b_paper(C=C, lam=lam, m=self.m, N=self.N, rho=self.rho,
                                  Delta_0=self.Delta_0, Delta_01=self.Delta_01))


def relaxed_point(name: str, model: ElmanRNN, z: np.ndarray, data: WindowedData) -> RelaxedPoint:
    """Measure the T1 inputs at ``(theta, z)``; ``z : (S, n_h)``, ``data`` at burn-in ``m``."""
    theta, m = model.theta, data.m
    z = np.asarray(z, dtype=np.float64)
    batch = WindowBatch.for_model(model, data.X, data.Y, data.m)
    outputs = batch.outputs(theta, z)
    z_norm = np.linalg.norm(z, axis=1)
    residual = outputs[:, m:] - data.Y[:, m:]
    phi = model.simulate(data.sequence.x, z[0])[0][data.starts]  # phi_{s_i}(z_1; theta)
    to_phi = np.linalg.norm(phi - z, axis=1)
    return RelaxedPoint(
        name=name, model=model, z=z, m=m, N=data.N,
        V_relaxed=float(batch.loss(theta, z)), V_zero=float(batch.loss(theta, None)),
        V_b_start=float(WindowBatch.one_pass(model, data).loss(theta, z[:1])),
        Delta_0=float(np.sqrt(np.mean(z_norm**2))), Delta_01=float(np.mean(z_norm)),
        rho=float(np.max(np.linalg.norm(residual, axis=2))),
        Delta_b=float(np.sqrt(np.mean(to_phi**2))), Delta_b1=float(np.mean(to_phi)),
        outputs=outputs,
    )


def coercive(relaxed_outputs: np.ndarray, outputs: np.ndarray, data: WindowedData,
             eps: float) -> bool:
    """(C_eps) of docs/theory.md §5: ``2 <R^inf, Y - Y^inf> >= -(1/eps) ||Y - Y^inf||**2`` (scored).

    ``relaxed_outputs``, ``outputs`` : (S, N, n_y) window outputs ``Y^inf`` and ``Y``.
    """
    m = data.m
    R_inf = (relaxed_outputs - data.Y)[:, m:]
    D = (outputs - relaxed_outputs)[:, m:]
    return bool(2.0 * np.vdot(R_inf, D) >= -np.vdot(D, D) / eps - 1e-12)


# --------------------------------------------------------------------------- T2 (§6)
@dataclass(frozen=True, eq=False)
class PerformanceInputs:
    """The inputs of T2a (docs/theory.md §6) for a TBPTT model ``theta*`` against a benchmark run.

    Attributes
    ----------
    covered : T2's hypothesis: the windows cover ``m+1..T`` and every overlap ``o_i >= m``
    P_b : ``P(h_0^b, theta^b)``, the benchmark's performance on the sequence
    A_J : ``sum_i sum_{j in J_i} ||y*_ij - y^b_ij||**2`` over the blocks ``J_i``
    phi_norms : (S - 1,) ``||phi_{s_i}(0; theta*)||`` for windows ``i = 2..S``
    overlaps : (S - 1,) ``o_i``
    T, m, N : sequence length, burn-in, window length
    """

    covered: bool
    P_b: float
    A_J: float
    phi_norms: np.ndarray
    overlaps: np.ndarray
    T: int
    m: int
    N: int

    def B(self, C: float, lam: float) -> float:
        """``B = C**2 sum_{i>=2} ||phi_{s_i}(0; theta*)||**2 sum_{j > o_i} lam**(2j)``."""
        if C == 0:
            return 0.0
        return float(bn.B_term(C_star=C, lam_star=lam, phi_norms=self.phi_norms,
                               overlaps=self.overlaps, N=self.N))

    def T2a(self, C: float, lam: float) -> float:
        """T2a with A1 constants ``(C, lam)`` of ``theta*``; NaN when T2 does not apply."""
        if not self.covered:
            return math.nan
        return float(bn.performance_regret(P_b=self.P_b, A_J=self.A_J, B=self.B(C, lam),
                                           T=self.T, m=self.m))


def performance_inputs(model_star: ElmanRNN, outputs_star: np.ndarray,
                       outputs_b: np.ndarray, P_b: float, data: WindowedData
                       ) -> PerformanceInputs:
    """T2a's inputs from the zero-start window outputs of ``theta*`` and the benchmark's.

    ``outputs_star`` : (S, N, n_y) ``psi_j(0; theta*, X_i)``; ``outputs_b`` : (S, N, n_y) the
    benchmark's free run cut into windows (:func:`run_windows`).
    """
    blocks = data.windows.blocks(data.m)
    A_J = sum(float(np.sum((outputs_star[i, J - 1] - outputs_b[i, J - 1]) ** 2))
              for i, J in enumerate(blocks))
    phi = model_star.simulate(data.sequence.x)[0][data.starts[1:]]  # phi_{s_i}(0), i >= 2
    return PerformanceInputs(
        covered=data.covers(), P_b=float(P_b), A_J=A_J,
        phi_norms=np.linalg.norm(phi, axis=1), overlaps=data.windows.overlaps,
        T=data.T, m=data.m, N=data.N,
    )


# --------------------------------------------------------------------------- constants
def best_on_curve(points: Sequence[Certificate], bound: Callable[[float, float], float]
                  ) -> tuple[float, Certificate | None]:
    """``min`` of ``bound(C, lam)`` over the verified points; ``(nan, None)`` if there are none."""
    verified = [c for c in points if c.verified]
    if not verified:
        return math.nan, None
    values = [bound(c.C, c.lam) for c in verified]
    k = int(np.nanargmin(values))
    return float(values[k]), verified[k]
