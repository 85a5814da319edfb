"""The plain reference kernels (``systems.bptt_reference``) and the tuned kernels against them.

Each reference kernel is checked against central finite differences of its own loss; each tuned
kernel (``systems.bptt.WindowBatch``) against its reference on hypothesis-drawn sizes, burn-ins,
weights and initial states. Both registries are keyed by the cells' names.
"""

from __future__ import annotations

import ast
import inspect

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tolerances import EPS, FD_RTOL

from systems import bptt_gru, bptt_lstm, bptt_reference
from systems.bptt import KERNELS, WindowBatch, loss_grad
from systems.cells import CELLS
from systems.spec import Spec

#: Tuned vs plain kernel: the same sums in another order, and exp-based activations against
#: ``np.tanh``/``expit`` (a few ulps each per step), over at most a few dozen steps.
KERNEL_RTOL = 1e-12
FD_STEP = 1e-5
#: Rounding in ``V(x +- step v)`` costs about this many ``eps |V| / step`` in a central difference.
FD_ROUNDOFF = 10.0


def _case(cell: str, S: int, N: int, n_x: int, n_h: int, n_y: int, weights: str, z0: bool,
          seed: int):
    """A model of ``cell``, windows, weights (``"none" | "position" | "window"``) and ``z0``."""
    rng = np.random.default_rng(seed)
    spec = Spec(cell, n_x, n_h, n_y, "tanh" if seed % 3 else "linear")
    model = spec.model(0.6 * rng.normal(size=spec.n_theta))
    X, Y = rng.normal(size=(S, N, n_x)), rng.normal(size=(S, N, n_y))
    w = {"none": None, "position": rng.uniform(0.1, 2.0, size=N),
         "window": rng.uniform(0.1, 2.0, size=(S, N))}[weights]
    z = rng.normal(size=(S, spec.n_z)) if z0 else None
    return model, X, Y, w, z


def _close(a: np.ndarray, b: np.ndarray, rtol: float) -> None:
    """``a == b`` to ``rtol`` of the larger magnitude in either."""
    scale = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0))
    np.testing.assert_allclose(a, b, rtol=0, atol=rtol * scale)


@given(cell=st.sampled_from(sorted(CELLS)), S=st.integers(1, 5), N=st.integers(1, 7),
       n_x=st.integers(1, 2), n_h=st.integers(1, 4), n_y=st.integers(1, 2),
       m_frac=st.floats(0, 0.99), weights=st.sampled_from(["none", "position", "window"]),
       z0=st.booleans(), seed=st.integers(0, 2**16))
def test_tuned_kernel_equals_its_reference(cell, S, N, n_x, n_h, n_y, m_frac, weights, z0,
                                           seed):
    model, X, Y, w, z = _case(cell, S, N, n_x, n_h, n_y, weights, z0, seed)
    m = int(m_frac * N)
    V, dtheta, dz = loss_grad(model, X, Y, m, z, w)
    V_ref, dtheta_ref, dz_ref = bptt_reference.loss_grad(model, X, Y, m, z, w)
    assert V == pytest.approx(V_ref, rel=KERNEL_RTOL)
    _close(dtheta, dtheta_ref, KERNEL_RTOL)
    assert dz.shape == dz_ref.shape == (S, model.n_z)
    _close(dz, dz_ref, KERNEL_RTOL)


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize(("N", "m", "weights"), [(6, 0, "none"), (7, 3, "window"),
                                                 (5, 2, "position")])
def test_reference_kernel_equals_central_differences(cell, N, m, weights):
    """Random directions in the joint ``(theta, z_0)`` space, plus every coordinate."""
    model, X, Y, w, z = _case(cell, 3, N, 2, 3, 2, weights, True, seed=N + 10 * m + 1)
    spec = Spec.of(model)

    def V(x: np.ndarray) -> float:
        theta, z0 = x[: spec.n_theta], x[spec.n_theta :].reshape(z.shape)
        return bptt_reference.loss_grad(spec.model(theta), X, Y, m, z0, w)[0]

    V0, dtheta, dz = bptt_reference.loss_grad(model, X, Y, m, z, w)
    x, g = np.concatenate([model.theta, z.ravel()]), np.concatenate([dtheta, dz.ravel()])
    rng = np.random.default_rng(N)
    directions = [rng.normal(size=x.shape) for _ in range(3)] + list(np.eye(x.size))
    for v in directions:
        fd = (V(x + FD_STEP * v) - V(x - FD_STEP * v)) / (2 * FD_STEP)
        exact = float(g @ v)
        assert abs(fd - exact) <= FD_RTOL * abs(exact) + FD_ROUNDOFF * EPS * V0 / FD_STEP, (
            fd, exact)


def test_registries_are_keyed_by_the_cells():
    assert KERNELS.keys() == CELLS.keys() == bptt_reference.REFERENCE.keys()


@pytest.mark.parametrize(("module", "step"), [(bptt_lstm, bptt_lstm.LSTMStep),
                                              (bptt_gru, bptt_gru.GRUStep)])
def test_step_views_are_unpacked_under_their_field_names(module, step):
    """The loops unpack the per-step views by position (attribute access costs ~3%): every
    name in a loop header is the field at that position, or ``_``."""
    loops = [node for node in ast.walk(ast.parse(inspect.getsource(module)))
             if isinstance(node, ast.For) and "self.steps" in ast.unparse(node.iter)]
    assert len(loops) == 2  # forward and backward
    for loop in loops:
        names = [elt.id for elt in loop.target.elts]
        assert len(names) == len(step._fields)
        assert all(n in ("_", f) for n, f in zip(names, step._fields, strict=True)), names


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_final_state_is_the_last_forward_state(cell):
    model, X, Y, _, z = _case(cell, 4, 6, 1, 3, 1, "none", True, seed=5)
    batch = WindowBatch.for_model(model, X, Y, 2)
    batch.loss_grad(model.theta, z)
    after_grad = batch.final_state()
    states = batch.forward(model.theta, z)
    np.testing.assert_array_equal(after_grad, states[-1])  # same pass, same numbers
    _close(after_grad, model.simulate(X, z)[0][:, -1], KERNEL_RTOL)  # (S, n_z) at step N
