"""The fast paths of ``systems/bptt.py``: ``fast_tanh`` and the threaded window parts.

References are independent: ``np.tanh`` for the activation, central finite differences
along random directions and the plain reference kernel for the gradient, and the single-part
path for the threaded one.
"""

from __future__ import annotations

import numpy as np
import pytest

import systems.blas as blas
import systems.bptt as bptt
from systems import bptt_reference
from systems.blas import single_thread_blas
from systems.bptt import WindowBatch
from systems.bptt_kernel import fast_tanh
from systems.spec import Spec

TANH_ABS_TOL = 4e-16  # absolute error of fast_tanh against np.tanh, whole real line
FD_RTOL = 1e-6  # central differences vs the exact directional derivative
ULPS = 1e-13  # the same arithmetic, a few ulps of reordering in BLAS edge kernels
REF_RTOL = 1e-12  # two exact computations of the same quantity (different summation order)


def _tanh(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    return fast_tanh(x, out=out, work=np.empty_like(x))


def test_fast_tanh_matches_np_tanh_on_millions_of_points():
    rng = np.random.default_rng(0)
    x = np.concatenate([
        rng.normal(size=1_000_000) * 3.0,
        rng.uniform(-25.0, 25.0, size=1_000_000),
        np.linspace(-1.0, 1.0, 1_000_001),
        np.sign(rng.normal(size=500_000)) * 10.0 ** rng.uniform(-320, 3, size=500_000),
    ])
    err = np.abs(_tanh(x) - np.tanh(x))
    assert err.max() <= TANH_ABS_TOL, (err.max(), x[err.argmax()])


def test_fast_tanh_edge_cases():
    tiny = np.nextafter(0.0, 1.0)
    x = np.array([0.0, -0.0, tiny, -tiny, 1e-300, 0.5, 19.0, 19.1, 20.0, 40.0, 1e300,
                  np.inf, -19.1, -1e300, -np.inf])
    t = _tanh(x)
    assert np.signbit(t[1]) and not np.signbit(t[0]) and t[0] == 0.0  # tanh(+-0) = +-0
    np.testing.assert_array_equal(t[7:12], 1.0)  # exact saturation
    np.testing.assert_array_equal(t[12:], -1.0)
    assert np.all(np.abs(t - np.tanh(x)) <= TANH_ABS_TOL)
    assert np.isnan(_tanh(np.array([np.nan]))[0])
    y = np.random.default_rng(1).normal(size=10_000) * 5
    np.testing.assert_array_equal(_tanh(-y), -_tanh(y))  # odd, bit for bit
    assert np.all(np.abs(_tanh(y)) <= 1.0)


def _problem(rng, S, N, n_h, activation, weights=False, cell="elman"):
    """Windows, weights and a model of ``cell`` with ``n_x = n_y = 1``; initial states."""
    X, Y = rng.normal(size=(S, N, 1)), rng.normal(size=(S, N, 1))
    w = rng.uniform(0.5, 2.0, size=(S, N)) if weights else None
    spec = Spec(cell, 1, n_h, 1, activation)
    model = spec.model(rng.normal(size=spec.n_theta) * (0.8 / np.sqrt(n_h)))
    z = rng.normal(size=(S, spec.n_z)) * 0.5
    return X, Y, w, model, z


@pytest.fixture(params=["one part", "threaded parts"])
def threaded(request, monkeypatch):
    """Run a test with the batch split into parts on threads, and without."""
    monkeypatch.setattr(bptt, "MIN_WORK_PER_THREAD", 1 if request.param != "one part" else 1 << 60)
    monkeypatch.setattr(bptt, "cpu_count", lambda: 3)  # three parts even on one core
    return request.param != "one part"


@pytest.mark.parametrize("activation", ["tanh", "linear"])
def test_gradient_matches_central_differences(threaded, activation):
    rng = np.random.default_rng(2)
    X, Y, w, model, z = _problem(rng, S=9, N=7, n_h=4, activation=activation, weights=True)
    batch, theta = WindowBatch.for_model(model, X, Y, 2, w), model.theta
    assert len(batch._parts) == (3 if threaded else 1)
    V, g, dz = batch.loss_grad(theta, z)
    assert V == pytest.approx(batch.loss(theta, z), rel=REF_RTOL)
    eps = 1e-6
    for _ in range(3):  # random directions in theta and in z
        u, v = rng.normal(size=theta.shape), rng.normal(size=z.shape)
        fd = (batch.loss(theta + eps * u, z + eps * v)
              - batch.loss(theta - eps * u, z - eps * v)) / (2 * eps)
        assert g @ u + np.sum(dz * v) == pytest.approx(fd, rel=FD_RTOL)


@pytest.mark.parametrize("cell", ["elman", "lstm", "gru"])
def test_threaded_gradient_matches_the_reference_kernel(threaded, cell):
    rng = np.random.default_rng(3)
    X, Y, w, model, z = _problem(rng, S=11, N=8, n_h=3, activation="tanh", weights=True,
                                 cell=cell)
    V, g, dz = WindowBatch.for_model(model, X, Y, 3, w).loss_grad(model.theta, z)
    V1, g1, dz1 = bptt_reference.loss_grad(model, X, Y, 3, z, w)
    assert V == pytest.approx(V1, rel=REF_RTOL)
    np.testing.assert_allclose(g, g1, rtol=0, atol=REF_RTOL * np.abs(g1).max())
    np.testing.assert_allclose(dz, dz1, rtol=0, atol=REF_RTOL * np.abs(dz1).max())


@pytest.mark.parametrize("cell", ["elman", "lstm", "gru"])
def test_threaded_parts_equal_one_part(monkeypatch, cell):
    rng = np.random.default_rng(4)
    X, Y, w, model, z = _problem(rng, S=301, N=12, n_h=5, activation="tanh", weights=True,
                                 cell=cell)
    theta = model.theta
    one = WindowBatch.for_model(model, X, Y, 4, w)
    monkeypatch.setattr(bptt, "MIN_WORK_PER_THREAD", 1)
    monkeypatch.setattr(bptt, "cpu_count", lambda: 4)
    many = WindowBatch.for_model(model, X, Y, 4, w)
    assert len(one._parts) == 1 and len(many._parts) == 4
    for z_ in (z, None, z[0]):
        V1, g1, dz1 = one.loss_grad(theta, z_)
        V4, g4, dz4 = many.loss_grad(theta, z_)
        assert V4 == pytest.approx(V1, rel=REF_RTOL)
        np.testing.assert_allclose(g4, g1, rtol=0, atol=REF_RTOL * np.abs(g1).max())
        # Per-window quantities: the same arithmetic, except that BLAS may sum the k terms of
        # a part's last rows in another order (its edge kernels), so equal to a few ulps.
        np.testing.assert_allclose(dz4, dz1, rtol=0, atol=ULPS * np.abs(dz1).max())
        F1 = one.forward(theta, z_)
        np.testing.assert_allclose(many.forward(theta, z_), F1, rtol=0,
                                   atol=ULPS * np.abs(F1).max())
        O1 = one.outputs(theta, z_)
        np.testing.assert_allclose(many.outputs(theta, z_), O1, rtol=0,
                                   atol=ULPS * np.abs(O1).max())
        np.testing.assert_allclose(many.final_state(), F1[-1], rtol=0,
                                   atol=ULPS * np.abs(F1).max())
        assert dz4.shape == (301, one.n_z) and g4.dtype == np.float64


def test_openblas_thread_count_is_restored():
    found = blas._find_openblas()
    if found is None:
        pytest.skip("NumPy's BLAS is not an OpenBLAS found in /proc/self/maps")
    get = found[0]
    before = get()
    with single_thread_blas():
        assert get() == 1
        with single_thread_blas():
            assert get() == 1
        assert get() == 1
    assert get() == before
