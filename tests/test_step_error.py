"""Float error of one cell step (verification.certificates.step_error) and what rests on it.

Reference: the cell's formula (the definitions in ``systems.rnn``, ``systems.lstm``,
``systems.gru``) evaluated by mpmath with 60 digits from the same doubles (states, inputs,
weights), its Jacobian by mpmath's numerical differentiation, trajectories by iterating it.
Upper bounds are compared exactly, in mpmath. Adversarial inputs: pre-activations that cancel
(``W_ih x ~ 1e6`` against ``b ~ -1e6``), where the rounding of the input and bias terms is
~1e-10 while a state-relative allowance (the certificate's former ``STEP_REL (1 + ||z_t|| +
||z_{t+1}||)``, ``STEP_REL = 1e-12``) is ~1e-12.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from systems.cells import model_class
from systems.rnn import ElmanRNN
from tests.tolerances import UPPER_RTOL
from verification.certificates.ondata import certify_on_data
from verification.certificates.step_error import step
from verification.certificates.tube import jacobian_deviation

CELLS = ("elman", "lstm", "gru")
#: Digits of the reference (terms up to ~1e8 cancel to ~1: 50 digits remain).
DPS = 60
#: The pair certificate's former allowance for the float error of one step.
OLD_STEP_REL = 1e-12
#: The bound is not vacuous: it stays below this many unit roundoffs of the terms it covers
#: (gamma_k for k <= 8 terms, slopes <= 1, a handful of products).
NOT_LOOSE_ULPS = 200


def _model(cell, seed, n_h=2, n_x=2, scale=0.7, drive=0.0):
    """A random cell; with ``drive > 0`` its input weights are ~``drive`` and its biases
    cancel them at the input ``x = 1`` up to an O(1) remainder (adversarial cancellation)."""
    rng = np.random.default_rng(seed)
    cls = model_class(cell)
    m = cls.from_theta(scale * rng.standard_normal(cls.n_params(n_x, n_h, 1)),
                       n_x=n_x, n_h=n_h, n_y=1)
    if drive:
        W_x = m.W_xh if cell == "elman" else m.W_ih
        W_x[:] = drive * (1.0 + rng.uniform(size=W_x.shape)) / 3.0
        b = m.b_h if cell == "elman" else m.b_ih
        b[:] = -W_x.sum(axis=1) + rng.uniform(-1, 1, b.shape)
    return m


def _mv(W, v):
    return [mp.fsum(mp.mpf(float(W[i, j])) * v[j] for j in range(W.shape[1]))
            for i in range(W.shape[0])]


def _sig(a):
    return 1 / (1 + mp.exp(-a))


def exact_step(model, z, x):
    """``f(z, x)`` of the cell's definition in the current mpmath precision; ``z``, ``x``
    sequences of mpf (doubles or not)."""
    cell = getattr(model, "cell", "elman")
    if cell == "elman":
        a = [p + q + mp.mpf(float(b)) for p, q, b in zip(_mv(model.W_hh, z), _mv(model.W_xh, x),
                                                         model.b_h, strict=True)]
        return a if model.activation == "linear" else [mp.tanh(v) for v in a]
    n = model.n_h
    h = z[:n]
    gi = [p + mp.mpf(float(b)) for p, b in zip(_mv(model.W_ih, x), model.b_ih, strict=True)]
    gh = [p + mp.mpf(float(b)) for p, b in zip(_mv(model.W_hh, h), model.b_hh, strict=True)]
    if cell == "lstm":
        a = [p + q for p, q in zip(gi, gh, strict=True)]
        i, f = [_sig(v) for v in a[:n]], [_sig(v) for v in a[n:2 * n]]
        g, o = [mp.tanh(v) for v in a[2 * n:3 * n]], [_sig(v) for v in a[3 * n:]]
        c = [f[k] * z[n + k] + i[k] * g[k] for k in range(n)]
        return [o[k] * mp.tanh(c[k]) for k in range(n)] + c
    r = [_sig(gi[k] + gh[k]) for k in range(n)]
    u = [_sig(gi[n + k] + gh[n + k]) for k in range(n)]
    nn = [mp.tanh(gi[2 * n + k] + r[k] * gh[2 * n + k]) for k in range(n)]
    return [(1 - u[k]) * nn[k] + u[k] * h[k] for k in range(n)]


def _exact(model, z, x):
    """(B, n_z) list of exact next states of the rows of ``z``, ``x``."""
    with mp.workdps(DPS):
        return [exact_step(model, [mp.mpf(float(v)) for v in zi], [mp.mpf(float(v)) for v in xi])
                for zi, xi in zip(z, x, strict=True)]


def _errors(computed, exact):
    """``|computed - exact|`` as mpf, (B, n_z) nested lists."""
    return [[abs(mp.mpf(float(c)) - e) for c, e in zip(ci, ei, strict=True)]
            for ci, ei in zip(computed, exact, strict=True)]


def _covered(err, bound):
    return all(e <= mp.mpf(float(b)) for ei, bi in zip(err, bound, strict=True)
               for e, b in zip(ei, bi, strict=True))


def _terms(model, z, x):
    """``1 + |W_x| |x| + |W_h| |h| + |b|`` per sample: the scale the rounding acts on, (B,)."""
    W_x = model.W_xh if getattr(model, "cell", "elman") == "elman" else model.W_ih
    b = np.abs(model.b_h) if getattr(model, "cell", "elman") == "elman" else (
        np.abs(model.b_ih) + np.abs(model.b_hh))
    h = z[:, :model.n_h]
    return 1.0 + np.max(np.abs(x) @ np.abs(W_x).T + np.abs(h) @ np.abs(model.W_hh).T + b,
                        axis=1) + np.abs(z).max(axis=1)


def _states(model, rng, B, size):
    z = size * rng.standard_normal((B, model.n_z))
    if model.cell == "lstm":
        z[:, :model.n_h] = np.tanh(z[:, :model.n_h])
    return z


# ----------------------------------------------------------------------------- one step
@given(st.sampled_from(CELLS), st.integers(0, 10_000), st.sampled_from([0.5, 3.0]),
       st.sampled_from([1.0, 1e3, 1e6]), st.booleans())
def test_step_bound_covers_the_exact_step(cell, seed, scale, x_size, adversarial):
    model = _model(cell, seed, scale=scale, drive=x_size if adversarial else 0.0)
    rng = np.random.default_rng(seed)
    z = _states(model, rng, 6, 2.0)
    x = np.ones((6, 2)) if adversarial else x_size * rng.standard_normal((6, 2))
    s = step(model, z, x)
    exact = _exact(model, z, x)
    assert _covered(_errors(s.z, exact), s.err)  # the step computed here
    assert _covered(_errors(model.step(z, x), exact), s.err)  # the model's own step
    scale_ = _terms(model, z, x)
    assert np.all(s.err <= NOT_LOOSE_ULPS * 1.2e-16 * scale_[:, None])


@pytest.mark.parametrize("cell", CELLS)
def test_cancelling_inputs_beat_the_old_allowance_not_the_new_bound(cell):
    """W_ih x ~ 1e6 against b_ih ~ -1e6: the model's float step is off by ~1e-10, far above
    STEP_REL (1 + ||z|| + ||z+||) ~ 3e-12, within the new bound."""
    model = _model(cell, 7, n_h=2, n_x=2, drive=1e6)
    rng = np.random.default_rng(1)
    z, x = _states(model, rng, 40, 1.0), np.ones((40, 2))
    exact = _exact(model, z, x)
    zh = model.step(z, x)
    err = np.array([[float(e) for e in ei] for ei in _errors(zh, exact)])
    old = OLD_STEP_REL * (1 + np.linalg.norm(z, axis=1) + np.linalg.norm(zh, axis=1))
    assert np.max(np.linalg.norm(err, axis=1) / old) > 10.0  # the old allowance is exceeded
    assert _covered(_errors(zh, exact), step(model, z, x).err)


# ----------------------------------------------------------------- the model's Jacobian
def _exact_jacobian(model, z, x):
    """``df/dz`` at one sample by mpmath's differentiation of the exact step."""
    n = model.n_z
    with mp.workdps(DPS):
        zz = [mp.mpf(float(v)) for v in z]
        xx = [mp.mpf(float(v)) for v in x]
        J = mp.matrix(n, n)
        for j in range(n):
            for i in range(n):
                def f(t, i=i, j=j):
                    zt = list(zz)
                    zt[j] += t
                    return exact_step(model, zt, xx)[i]
                J[i, j] = mp.diff(f, 0)
        return J


@pytest.mark.parametrize("cell", CELLS)
def test_jacobian_deviation_covers_the_models_jacobian_under_cancelling_inputs(cell):
    """The model's Jacobian is evaluated at pre-activations ~1e-10 off: Dev (p = 0, rho = 0)
    must cover |J_model - J_exact| (a relative 1e-12 of the weights does not)."""
    model = _model(cell, 3, n_h=2, n_x=2, drive=1e6)
    rng = np.random.default_rng(2)
    z, x = _states(model, rng, 5, 1.0), np.ones((5, 2))
    Dev = jacobian_deviation(model, z, x, np.zeros_like(z), np.zeros(5))
    J = model.jacobian(z, x)
    for b in range(5):
        Je = _exact_jacobian(model, z[b], x[b])
        for i in range(model.n_z):
            for j in range(model.n_z):
                assert abs(mp.mpf(float(J[b, i, j])) - Je[i, j]) <= mp.mpf(float(Dev[b, i, j]))


# ---------------------------------------------------------------------- certificates
def _exact_ratios(model, X, za, zb):
    """``||y_j(za) - y_j(zb)|| / ||za - zb||`` of exact trajectories (mpmath), (S, N)."""
    W_y = model.output_matrix
    out = np.empty(X.shape[:2])
    with mp.workdps(DPS):
        for i in range(X.shape[0]):
            a = [mp.mpf(float(v)) for v in za[i]]
            b = [mp.mpf(float(v)) for v in zb[i]]
            d = mp.sqrt(mp.fsum((p - q) ** 2 for p, q in zip(a, b, strict=True)))
            for t in range(X.shape[1]):
                xt = [mp.mpf(float(v)) for v in X[i, t]]
                a, b = exact_step(model, a, xt), exact_step(model, b, xt)
                dy = _mv(W_y, [p - q for p, q in zip(a, b, strict=True)])
                out[i, t] = float(mp.sqrt(mp.fsum(v**2 for v in dy)) / d)
    return out


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("pairs", ["pair", "segment"])
def test_certificate_holds_for_exact_trajectories_under_cancelling_inputs(cell, pairs):
    """Pairs 1e-8 apart under inputs whose pre-activations cancel from ~1e6: the float error
    of each step is ~1e-2 of the pair's separation. The envelope must bound the exact ratios
    (of the pair, and of pairs on the segment)."""
    model = _model(cell, 11, n_h=2, n_x=2, scale=0.5, drive=1e6)
    rng = np.random.default_rng(3)
    S, N = 3, 6
    X = 1.0 + 1e-7 * rng.standard_normal((S, N, 2))
    z0 = 1e-8 * rng.standard_normal((S, model.n_z))
    cert = certify_on_data(model, X, z0, pairs=pairs, pieces=2, max_pieces=8)
    G = cert.envelope * (1 + UPPER_RTOL)
    assert np.all(_exact_ratios(model, X, z0, np.zeros_like(z0)) <= G)
    if pairs == "segment":
        s1, s2 = rng.uniform(size=(S, 1)), rng.uniform(size=(S, 1))
        assert np.all(_exact_ratios(model, X, s1 * z0, s2 * z0) <= G)


def test_linear_elman_step_error_is_the_sum_rounding():
    """Linear cell: the state is the pre-activation, its bound gamma_k sum |terms|."""
    m = ElmanRNN([[0.5, 0.25]] * 2, [[1e6], [1e6]], [-1e6, -1e6], [[1.0, 0.0]], None,
                 activation="linear")
    z, x = np.array([[0.1, 0.2]]), np.array([[1.0 + 2.0**-30]])
    s = step(m, z, x)
    exact = _exact(m, z, x)
    assert _covered(_errors(s.z, exact), s.err)
    k = 4  # n_h + n_x + 1 bias
    terms = 0.5 * 0.1 + 0.25 * 0.2 + 1e6 * (1.0 + 2.0**-30) + 1e6
    assert s.err[0, 0] == pytest.approx(k * 2.0**-53 * terms, rel=1e-6)
