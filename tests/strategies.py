"""Hypothesis strategies for the property tests (``tests/test_properties.py``).

Bounded element strategies and small arrays only (STYLE.md, Hypothesis docs): every float is
finite, not subnormal and inside a stated box, so a failure is about the mathematics, not about
overflow. Sizes: ``n_h`` 1-6, ``n_x, n_y`` 1-2, at most 5 windows of length at most 10.

Contracting models come in three kinds, each with the reason it contracts:

* ``"norm"``: ``||W_hh||_2 = r <= 0.95``; LMI-C holds at ``lam = r`` with ``P = Lambda = I``.
* ``"diagonal"``: ``W_hh = D^-1 W_0 D`` with ``||W_0||_2 = r`` and ``D`` diagonal positive, so
  ``||W_hh||_2`` may exceed 1; LMI-C holds at ``lam = r`` with ``P = Lambda = D^2`` (congruence
  with ``diag(D^-1, D^-1)`` turns it into the ``"norm"`` case; the activation acts
  componentwise, so a diagonal change of coordinates keeps its sector).
* ``"spectral"`` (linear only): spectral radius ``r`` (or a nilpotent ``W_hh``); the Lyapunov
  LMI holds for every ``lam > r`` but ``kappa(P)`` can be huge: no rate is known in advance.

:class:`Contracting` carries ``rate``, a rate at which LMI-C is known to be feasible (``nan``
for ``"spectral"``), so tests can check the certificate from both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from systems.rnn import ElmanRNN

FLOATS = {"allow_nan": False, "allow_infinity": False, "allow_subnormal": False}
#: Scales of initial states: zero, tiny, unit, large (tanh saturates there, linear does not).
STATE_SCALES = (0.0, 1e-3, 1.0, 10.0, 1e3)
#: Drawn magnitudes below this are flushed to zero: sums of squares of smaller numbers (and of
#: their products) leave float64's normal range, which tests subnormal rounding, not the theory.
FLUSH_BELOW = 1e-30
#: Norms below this are treated as zero when rescaling a drawn matrix.
TINY_NORM = 1e-3
KINDS = ("norm", "diagonal", "spectral")
#: Scales of the readout ``W_hy`` (a small one makes small A1 constants and small gains).
READOUT_SCALES = (1.0, 1e-4)


def _flush(v: float) -> float:
    """``0.0`` for ``0 < |v| < FLUSH_BELOW``, else ``v``."""
    return 0.0 if abs(v) < FLUSH_BELOW else v


def bounded(lo: float, hi: float) -> st.SearchStrategy[float]:
    """Finite floats in ``[lo, hi]``; magnitudes below :data:`FLUSH_BELOW` become ``0``."""
    return st.floats(lo, hi, **FLOATS).map(_flush)


def arrays(shape: tuple[int, ...], bound: float = 1.0) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays of ``shape`` with entries in ``[-bound, bound]``."""
    return hnp.arrays(np.float64, shape, elements=bounded(-bound, bound))


def scaled_states(shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    """Initial states: entries in ``[-1, 1]`` times one of :data:`STATE_SCALES`."""
    return st.builds(lambda a, s: s * a, arrays(shape), st.sampled_from(STATE_SCALES))


@dataclass(frozen=True, eq=False)
class Contracting:
    """A drawn contracting model and why it contracts.

    Attributes
    ----------
    model : ElmanRNN
    kind : ``"norm"``, ``"diagonal"`` or ``"spectral"`` (module docstring)
    rate : a rate at which LMI-C is feasible (``nan`` if none is known in advance)
    """

    model: ElmanRNN
    kind: str
    rate: float


def _rescale(W: np.ndarray, size: float, target: float) -> np.ndarray:
    """``W * target / size`` unless ``size`` is (nearly) zero, then ``W`` unchanged."""
    return W * (target / size) if size > TINY_NORM else W


@st.composite
def contracting_models(
    draw,
    activations: tuple[str, ...] = ("linear", "tanh"),
    kinds: tuple[str, ...] = KINDS,
    n_h: tuple[int, int] = (1, 6),
    spread: float = 1.5,
    max_rate: float = 0.95,
) -> Contracting:
    """A contracting Elman RNN (one of ``kinds``) with bounded weights and biases.

    ``spread`` bounds ``log D`` of the ``"diagonal"`` kind (``kappa(D^2) <= e^(4 spread)``).
    ``"spectral"`` is drawn only for the linear activation.
    """
    act = draw(st.sampled_from(activations))
    allowed = [k for k in kinds if act == "linear" or k != "spectral"]
    kind = draw(st.sampled_from(allowed))
    n = draw(st.integers(*n_h))
    n_x, n_y = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    r = draw(bounded(0.05, max_rate))
    W0 = draw(arrays((n, n)))
    if kind == "spectral":
        rho = float(np.max(np.abs(np.linalg.eigvals(W0))))
        W, rate = _rescale(W0, rho, r), float("nan")
    else:
        size = float(np.linalg.norm(W0, 2))
        W0 = _rescale(W0, size, r)
        rate = float(np.linalg.norm(W0, 2))
        W = W0
        if kind == "diagonal":
            d = np.exp(draw(arrays((n,), spread)))
            W = W0 * d[None, :] / d[:, None]  # D^-1 W_0 D
    model = ElmanRNN(
        W,
        draw(arrays((n, n_x), 2.0)),
        draw(arrays((n,), 1.0)),
        draw(st.sampled_from(READOUT_SCALES)) * draw(arrays((n_y, n), 2.0)),
        draw(arrays((n_y,), 1.0)),
        activation=act,
    )
    return Contracting(model, kind, rate)


def any_model(n_h: int, n_x: int, n_y: int, activation: str,
              bound: float = 1.5) -> st.SearchStrategy[ElmanRNN]:
    """An arbitrary (possibly non-contracting) Elman RNN with entries in ``[-bound, bound]``."""
    return st.builds(
        lambda W, U, b, V, c: ElmanRNN(W, U, b, V, c, activation=activation),
        arrays((n_h, n_h), bound), arrays((n_h, n_x), bound), arrays((n_h,), bound),
        arrays((n_y, n_h), bound), arrays((n_y,), bound),
    )


@dataclass(frozen=True)
class WindowCase:
    """Windows ``X : (S, N, n_x)``, ``Y : (S, N, n_y)``, burn-in ``m`` and two state families.

    ``z, z2 : (S, n_h)``: arbitrary initial states, each family at its own scale.
    ``fit``: ``None`` for the targets ``Y`` as drawn; a number ``f`` for targets fitted to the
    model's outputs from ``z2`` (``Y := psi(z2) + f Y``), which makes ``V(z2)`` small and
    L1 and the T1a chain nearly tight (exactly, for a scalar linear model).
    """

    X: np.ndarray
    Y: np.ndarray
    m: int
    z: np.ndarray
    z2: np.ndarray
    fit: float | None = None


@st.composite
def window_cases(draw, n_h: int, n_x: int, n_y: int, S: tuple[int, int] = (1, 5),
                 N: tuple[int, int] = (1, 10)) -> WindowCase:
    """Random windows for a model of sizes ``(n_h, n_x, n_y)``; ``m`` in ``[0, N)``."""
    S_ = draw(st.integers(*S))
    N_ = draw(st.integers(*N))
    m = draw(st.integers(0, N_ - 1))
    return WindowCase(
        X=draw(arrays((S_, N_, n_x), 3.0)),
        Y=draw(arrays((S_, N_, n_y), 3.0)),
        m=m,
        z=draw(scaled_states((S_, n_h))),
        z2=draw(scaled_states((S_, n_h))),
        fit=draw(st.sampled_from((None, 0.0, 1e-3))),
    )


@dataclass(frozen=True)
class CoveringSequence:
    """A sequence ``x : (T, n_x)``, ``y : (T, n_y)`` and windows that cover it for burn-in ``m``.

    ``T = (S - 1) stride + N`` (so ``s_S + N = T``) and every overlap ``N - stride >= m``.
    """

    x: np.ndarray
    y: np.ndarray
    N: int
    stride: int
    m: int

    @property
    def T(self) -> int:
        return self.x.shape[0]


@st.composite
def covering_sequences(draw, n_x: int, n_y: int, S: tuple[int, int] = (1, 5),
                       N: tuple[int, int] = (1, 10)) -> CoveringSequence:
    """T2's hypotheses by construction: windows cover the sequence, overlaps ``>= m``."""
    S_ = draw(st.integers(*S))
    N_ = draw(st.integers(*N))
    stride = draw(st.integers(1, N_))
    m = draw(st.integers(0, N_ - stride if S_ > 1 else N_ - 1))  # o_i = N - stride >= m
    T = (S_ - 1) * stride + N_
    return CoveringSequence(draw(arrays((T, n_x), 3.0)), draw(arrays((T, n_y), 3.0)),
                            N_, stride, m)
