"""Tests of the systems foundation: rnn, windows, data, bptt (and the objectives of problems).

Gradient checks follow autograd's ``check_grads``: random directions in the joint
``(theta, z)`` space plus per-coordinate checks, with the tolerances named once below.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from systems import problems
from systems.benchmarks import paper_series
from systems.bptt import WindowBatch
from systems.cells import CELLS
from systems.data import Scaler, Sequence, load_csv, paper_lti, scale_pair
from systems.errors import InputError
from systems.rnn import ElmanRNN
from systems.spec import Spec
from systems.windows import WindowedData, Windows

# ---- tolerances (one place)
FD_STEP = 1e-5  # central finite-difference step
FD_RTOL = 1e-6  # relative error allowed between exact and finite-difference derivatives
EPS_MACH = np.finfo(float).eps
FD_ROUNDOFF = 10.0  # rounding in V(x +- e v) costs about this many eps |V| / e
FD_COORD_MIN = 1e-6  # per-coordinate checks only where |dV/dx_k| exceeds this
SIM_ATOL = 1e-12  # forward pass vs independent simulation


def _fd_ok(fd: float, exact: float, V: float) -> bool:
    """``|fd - exact| <= FD_RTOL |exact| + FD_ROUNDOFF eps |V| / step``."""
    return abs(fd - exact) <= FD_RTOL * abs(exact) + FD_ROUNDOFF * EPS_MACH * abs(V) / FD_STEP


def _data(rng: np.random.Generator, T: int = 30, n_x: int = 2, n_y: int = 2) -> Sequence:
    t = np.arange(T)[:, None]
    x = np.sin(0.3 * t + rng.uniform(0, 3, size=n_x)) + 0.1 * rng.normal(size=(T, n_x))
    y = np.cos(0.2 * t + rng.uniform(0, 3, size=n_y)) + 0.1 * rng.normal(size=(T, n_y))
    return Sequence(x, y, "toy")


def _model(rng: np.random.Generator, n_h: int, n_x: int, n_y: int, act: str):
    """An Elman RNN (``act`` = "linear" | "tanh") or a gated cell (``act`` = "lstm" | "gru")."""
    if act in ("lstm", "gru"):
        cls = CELLS[act]
        theta = 0.6 * rng.normal(size=cls.n_params(n_x, n_h, n_y))
        return cls.from_theta(theta, n_x=n_x, n_h=n_h, n_y=n_y)
    return ElmanRNN(
        0.8 * rng.normal(size=(n_h, n_h)) / np.sqrt(n_h), rng.normal(size=(n_h, n_x)),
        0.3 * rng.normal(size=n_h), rng.normal(size=(n_y, n_h)), 0.3 * rng.normal(size=n_y),
        activation=act,
    )


# ----------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("problem", problems.PROBLEMS)
@pytest.mark.parametrize("kind", ["linear", "tanh", "lstm", "gru"])
@pytest.mark.parametrize("n_h", [1, 3])
@pytest.mark.parametrize("m", [0, 3])
def test_objective_gradient_matches_finite_differences(problem, kind, n_h, m):
    """The exact gradient of the function fit optimises (theta and free initial states), for
    every cell (Elman linear/tanh, LSTM, GRU), with and without burn-in."""
    rng = np.random.default_rng([n_h, m, len(problem), len(kind)])
    data = _data(rng)
    model = _model(rng, n_h, data.n_x, data.n_y, kind)
    obj = problems._Objective(problem, WindowedData(data, 8, m, 3), Spec.of(model),
                              True, None)
    z = rng.normal(size=obj.state_shape) if obj.n_state else None
    x = obj.join(model.theta, z)
    obj.zeta = 0.7  # include the state scaling in what is checked
    V, g = obj(x)
    assert g.shape == x.shape
    f = lambda xx: obj(xx)[0]  # noqa: E731
    for _ in range(5):  # random directions in the joint space
        v = rng.normal(size=x.shape)
        fd = (f(x + FD_STEP * v) - f(x - FD_STEP * v)) / (2 * FD_STEP)
        assert _fd_ok(fd, float(g @ v), V), (fd, g @ v)
    for k in np.flatnonzero(np.abs(g) > FD_COORD_MIN):  # every coordinate that matters
        e = np.zeros_like(x)
        e[k] = FD_STEP
        fd = (f(x + e) - f(x - e)) / (2 * FD_STEP)
        assert _fd_ok(fd, g[k], V), (k, fd, g[k])


@pytest.mark.parametrize("kind", ["linear", "tanh", "lstm", "gru"])
def test_weighted_window_batch_gradient(kind):
    """Per-window-and-position weights ``(S, N)`` and a custom normalizer."""
    rng = np.random.default_rng(7)
    X, Y = rng.normal(size=(4, 6, 2)), rng.normal(size=(4, 6, 1))
    wts = rng.uniform(0, 2, size=(4, 6))
    spec = Spec(kind, 2, 3, 1) if kind in ("lstm", "gru") else Spec("elman", 2, 3, 1, kind)
    b = WindowBatch.for_model(spec, X, Y, 2, wts, normalizer=5.0)
    theta, z = 0.5 * rng.normal(size=b.n_theta), rng.normal(size=(4, b.n_z))
    V, dth, dz = b.loss_grad(theta, z)
    x, g = np.concatenate([theta, z.ravel()]), np.concatenate([dth, dz.ravel()])
    f = lambda xx: b.loss(xx[: b.n_theta], xx[b.n_theta:].reshape(z.shape))  # noqa: E731
    for _ in range(5):
        v = rng.normal(size=x.shape)
        fd = (f(x + FD_STEP * v) - f(x - FD_STEP * v)) / (2 * FD_STEP)
        assert _fd_ok(fd, float(g @ v), V)
    # the value by hand: (1/5) sum_{i, j>2} w_ij ||y_ij - y^d_ij||^2
    out = b.outputs(theta, z)
    assert np.isclose(V, np.sum(wts[:, 2:, None] * (out - Y)[:, 2:] ** 2) / 5.0, rtol=1e-13)


# ----------------------------------------------------------------------------- bptt forward
@pytest.mark.parametrize("activation", ["linear", "tanh"])
def test_forward_equals_simulate(activation):
    rng = np.random.default_rng(1)
    data = _data(rng)
    w = Windows(data.T, 7, 2)
    model = _model(rng, 3, data.n_x, data.n_y, activation)
    z = rng.normal(size=(w.S, 3))
    b = WindowBatch.for_model(model, w.stack(data.x), w.stack(data.y), 2)
    out = b.outputs(model.theta, z)
    for i in range(w.S):  # an independent loop over windows and steps
        h, ys = z[i], []
        for j in range(w.N):
            h = model.sigma(model.W_hh @ h + model.W_xh @ data.x[w.starts[i] + j] + model.b_h)
            ys.append(model.W_hy @ h + model.b_y)
        np.testing.assert_allclose(out[i], np.array(ys), atol=SIM_ATOL)
        _, y_sim = model.simulate(data.x[w.index[i]], z[i])
        np.testing.assert_allclose(out[i], y_sim, atol=SIM_ATOL)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_batch_equals_simulate(cell):
    """WindowBatch's fused, tanh-based gates against the model's own simulate (expit, np.tanh;
    itself checked against the gate equations in test_cells)."""
    rng = np.random.default_rng(11)
    data = _data(rng)
    wd = WindowedData(data, 7, 2, stride=2)
    model = _model(rng, 3, data.n_x, data.n_y, cell)
    z = rng.normal(size=(wd.S, model.n_z))
    b = WindowBatch.for_model(model, wd.X, wd.Y, 2)
    Z_sim, y_sim = model.simulate(wd.X, z)
    np.testing.assert_allclose(b.outputs(model.theta, z), y_sim, atol=SIM_ATOL)
    np.testing.assert_allclose(b.forward(model.theta, z), Z_sim.transpose(1, 0, 2), atol=SIM_ATOL)


@pytest.mark.parametrize("kind", ["linear", "tanh", "lstm", "gru"])
@pytest.mark.parametrize("stride", [1, 3])
def test_benchmark_single_pass_is_average_over_window_passes(kind, stride):
    """docs/theory.md §2: V^b = (1/K) sum_i sum_{j>m} ||r_ij(phi_{s_i}(h0))||^2 (the definition)."""
    rng = np.random.default_rng(2)
    data = _data(rng, T=40)
    w, m = Windows(data.T, 9, stride), 3
    model = _model(rng, 2, data.n_x, data.n_y, kind)
    h0 = rng.normal(size=model.n_z)
    V_single = problems.evaluate("benchmark", model, data, 9, m, stride, h0=h0)
    h, _ = model.simulate(data.x, h0)
    z = h[w.starts]  # phi_{s_i}(h0)
    b = WindowBatch.for_model(model, w.stack(data.x), w.stack(data.y), m)
    assert np.isclose(V_single, b.loss(model.theta, z), rtol=1e-12)
    # a fitted benchmark Solution's outputs are the same window passes
    sol = problems._solution("benchmark", model, WindowedData(data, 9, m, stride), h0)
    np.testing.assert_allclose(sol.outputs, b.outputs(model.theta, z), atol=SIM_ATOL)
    np.testing.assert_allclose(sol.z, z, atol=0)


# ----------------------------------------------------------------------------- windows
@given(
    T=st.integers(1, 60), N=st.integers(1, 60), stride=st.integers(1, 12), m=st.integers(0, 59)
)
def test_window_geometry(T, N, stride, m):
    if N > T:
        with pytest.raises(ValueError, match="N = "):
            Windows(T, N, stride)
        return
    w = Windows(T, N, stride)
    assert w.S == (T - N) // stride + 1
    assert np.all(w.overlaps == N - stride)
    if m >= N:
        with pytest.raises(ValueError, match=f"m = {m} must satisfy 0 <= m < N = {N}"):
            w.weights(m)
        return
    wt = w.weights(m)
    assert wt.sum() == w.S * (N - m)
    assert w.covers(m) == bool(np.all(wt[m:] > 0))
    if w.o_min >= m and w.end == T:
        times = np.concatenate([w.starts[i] + J for i, J in enumerate(w.blocks(m))])
        np.testing.assert_array_equal(np.sort(times), np.arange(m + 1, T + 1))
        assert w.covers(m)


def test_window_stack_shape():
    w = Windows(10, 4, 3)
    a = np.arange(20.0).reshape(10, 2)
    s = w.stack(a)
    assert s.shape == (w.S, 4, 2)
    np.testing.assert_array_equal(s[1, 0], a[3])


def test_windowed_data_is_cut_once_and_shared():
    data = _data(np.random.default_rng(8), T=25)
    wd = WindowedData(data, 6, 2, stride=3)
    w = Windows(25, 6, 3)
    assert (wd.S, wd.N, wd.m, wd.stride, wd.T, wd.K) == (w.S, 6, 2, 3, 25, w.S * 4)
    i = 4  # window 5 starts at s_5 = 12: X[4, j - 1] = x_{12 + j}
    np.testing.assert_array_equal(wd.X[i], data.x[12:18])
    np.testing.assert_array_equal(wd.Y[i], data.y[12:18])
    np.testing.assert_array_equal(wd.coverage, w.weights(2))
    np.testing.assert_array_equal(wd.mask, np.arange(1, 7) > 2)
    other = wd.with_m(5)
    assert other.X is wd.X and other.Y is wd.Y and other.m == 5 and other.K == w.S
    assert not wd.X.flags.writeable
    with pytest.raises(ValueError, match="m = 6"):
        wd.with_m(6)
    with pytest.raises(TypeError, match="Sequence"):
        WindowedData(data.x, 6)
    with pytest.raises(ValueError, match="disagrees"):
        problems.windowed(wd, N=7)


def test_fit_takes_windowed_data():
    """The same problem given as (sequence, N, m, stride) or as WindowedData: same solution."""
    data = _data(np.random.default_rng(9), T=20)
    wd = WindowedData(data, 5, 0, stride=2)
    opts = dict(n_h=2, activation="tanh", restarts=1, maxiter=4, seed=3)
    for problem in problems.PROBLEMS:
        with pytest.warns(problems.ConvergenceWarning):
            a = problems.fit(problem, data, 5, 2, stride=2, **opts)
        with pytest.warns(problems.ConvergenceWarning):
            b = problems.fit(problem, wd, m=2, **opts)  # another m on the same windows
        # same code on the same numbers: bit-identical is the property
        np.testing.assert_array_equal(a.model.theta, b.model.theta)
        assert a.value == b.value and (b.N, b.m, b.stride, b.T) == (5, 2, 2, 20)
    assert problems.evaluate("tbptt", a.model, wd.with_m(2)) == problems.evaluate(
        "tbptt", a.model, data, 5, 2, 2)


# ----------------------------------------------------------------------------- rnn
def test_theta_round_trip():
    rng = np.random.default_rng(3)
    m = _model(rng, 3, 2, 2, "tanh")
    m2 = ElmanRNN.from_theta(m.theta, 3, 2, 2, "tanh")
    np.testing.assert_array_equal(m2.theta, m.theta)
    np.testing.assert_array_equal(m2.W_hy, m.W_hy)
    with pytest.raises(ValueError, match="theta must have shape"):
        ElmanRNN.from_theta(m.theta[:-1], 3, 2, 2)


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    m = _model(rng, 2, 1, 1, "linear")
    m2 = ElmanRNN.load(m.save(tmp_path / "m.npz"))
    np.testing.assert_array_equal(m2.theta, m.theta)
    assert m2.activation == "linear"


def test_load_malformed(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip file")
    with pytest.raises(ValueError, match="not a readable .npz"):
        ElmanRNN.load(bad)
    np.savez(tmp_path / "missing.npz", W_hh=np.eye(2))
    with pytest.raises(ValueError, match="missing the arrays"):
        ElmanRNN.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "shape.npz", W_hh=np.eye(2), W_xh=np.ones((3, 1)), b_h=np.zeros(2),
             W_hy=np.ones((1, 2)), b_y=np.zeros(1), activation=np.array("tanh"))
    with pytest.raises(ValueError, match="inconsistent model.*W_xh"):
        ElmanRNN.load(tmp_path / "shape.npz")
    with pytest.raises(FileNotFoundError):
        ElmanRNN.load(tmp_path / "nope.npz")


def test_torch_state_dict_converter():
    rng = np.random.default_rng(5)
    sd = {"weight_ih_l0": rng.normal(size=(3, 2)), "weight_hh_l0": 0.5 * rng.normal(size=(3, 3)),
          "bias_ih_l0": rng.normal(size=3), "bias_hh_l0": rng.normal(size=3)}
    ro = {"weight": rng.normal(size=(1, 3)), "bias": rng.normal(size=1)}
    m = ElmanRNN.from_torch_state_dict(sd, ro, activation="tanh")
    x = rng.normal(size=(6, 2))
    h, ys = np.zeros(3), []
    for t in range(6):  # torch's nn.RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
        h = np.tanh(sd["weight_ih_l0"] @ x[t] + sd["bias_ih_l0"]
                    + sd["weight_hh_l0"] @ h + sd["bias_hh_l0"])
        ys.append(ro["weight"] @ h + ro["bias"])
    np.testing.assert_allclose(m.simulate(x)[1], np.array(ys), atol=1e-13)
    with pytest.raises(ValueError, match="weight_hh_l0"):
        ElmanRNN.from_torch_state_dict({"weight_ih_l0": sd["weight_ih_l0"]}, ro)


def test_rnn_bad_input():
    with pytest.raises(ValueError, match="activation must be one of"):
        ElmanRNN([[0.5]], [[1.0]], None, [[1.0]], None, activation="relu")
    with pytest.raises(ValueError, match="W_xh must have shape"):
        ElmanRNN([[0.5]], [[1.0], [2.0]], None, [[1.0]], None)
    with pytest.raises(ValueError, match="W_hh contains NaN"):
        ElmanRNN([[np.nan]], [[1.0]], None, [[1.0]], None)


# ----------------------------------------------------------------------------- data
def test_paper_lti_matches_authors_series():
    for split in ("train", "test"):
        ours = paper_lti(split)
        theirs = paper_series(split)
        np.testing.assert_allclose(ours.x, theirs.x, atol=1e-12)
        assert np.corrcoef(ours.y[:, 0], theirs.y[:, 0])[0, 1] > 0.99  # noise draws differ


def test_load_csv_errors(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("t,x,y\n1,0.1,0.2\n2,0.3,0.4\n")
    seq = load_csv(p, ["x"], ["y"])
    assert seq.x.shape == (2, 1)
    with pytest.raises(ValueError, match=r"no column\(s\) \['u'\].*\['t', 'x', 'y'\]"):
        load_csv(p, ["u"], ["y"])
    with pytest.raises(InputError, match="does not exist"):
        load_csv(tmp_path / "missing.csv", ["x"], ["y"])
    q = tmp_path / "nan.csv"
    q.write_text("x,y\n0.1,nan\n0.2,0.3\n")
    with pytest.raises(ValueError, match="NaN or inf"):
        load_csv(q, ["x"], ["y"])


def test_scaler_fit_on_train_applied_to_test():
    train = Sequence(np.array([0.0, 2.0, 4.0]), np.array([1.0, 3.0, 5.0]))
    test = Sequence(np.array([6.0, 2.0]), np.array([5.0, 7.0]))
    tr, te, sc = scale_pair(train, test)
    np.testing.assert_allclose(tr.x[:, 0], [-1, 0, 1])
    np.testing.assert_allclose(te.x[:, 0], [2, 0])  # train's map, not refitted: (6-2)/2
    np.testing.assert_allclose(te.y[:, 0], [1, 2])
    np.testing.assert_allclose(Scaler.minmax(train.x).inverse(tr.x), train.x)


def test_sequence_rejects_bad_data():
    with pytest.raises(ValueError, match="y contains NaN or inf"):
        Sequence(np.zeros(3), np.array([0.0, np.inf, 1.0]))
    with pytest.raises(ValueError, match="same length T"):
        Sequence(np.zeros(3), np.zeros(4))


def test_window_batch_bad_input():
    X, Y = np.zeros((2, 5, 1)), np.zeros((2, 5, 1))
    with pytest.raises(ValueError, match="m = 5 must satisfy 0 <= m < N = 5"):
        WindowBatch(X, Y, 5, n_h=1)
    with pytest.raises(ValueError, match="activation must be one of"):
        WindowBatch(X, Y, 0, n_h=1, activation="relu")
    with pytest.raises(ValueError, match="X and Y must share"):
        WindowBatch(X, np.zeros((2, 4, 1)), 0, n_h=1)
    with pytest.raises(ValueError, match="z must have shape"):
        WindowBatch(X, Y, 0, n_h=1).loss(np.zeros(5), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="the model has n_x=2"):
        WindowBatch.for_model(Spec("gru", 2, 1, 1), X, Y)
