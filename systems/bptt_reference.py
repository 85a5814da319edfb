"""Plain BPTT, one cell at a time: the equations as loops, the tuned kernels' reference.

Each function computes, for a model and windows ``X : (S, N, n_x)``, ``Y : (S, N, n_y)``,
the objective of :mod:`systems.bptt` (docs/theory.md §2)::

    V = (1/K) sum_{i, j>m} w_ij ||y_ij - y^d_ij||^2,   K = sum_{i, j>m} w_ij

and its exact gradient ``(V, dV/dtheta, dV/dz_0)``: the forward loop over the steps, then
the backward loop, the forward loop read in reverse with one comment per chain-rule step
(min-char-rnn style). Arrays are time-major lists, ``h[t] : (S, n_h)`` for ``t = 0..N``, with
every window of a step in one matrix product; no buffers are reused and the activations are
``np.tanh`` and ``scipy.special.expit``, so nothing here shares code or tricks with the tuned
kernels (:mod:`systems.bptt_elman`, :mod:`systems.bptt_lstm`, :mod:`systems.bptt_gru`).

All three take ``(model, X, Y, m, z0=None, weights=None)``: burn-in ``m`` (positions
``1..m`` not scored), initial states ``z0 : (S, n_z)`` (zeros if None) and weights ``None``
(unit), ``(N,)`` or ``(S, N)``; they return ``dV/dtheta`` in the layout of ``model.theta``
and ``dV/dz_0 : (S, n_z)``. :func:`loss_grad` picks the one of ``model.cell``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import expit as sigmoid

from .cells import CELLS, Model
from .gru import GRU
from .lstm import LSTM
from .rnn import ElmanRNN

Result = tuple[float, np.ndarray, np.ndarray]


class _Readout:
    """The readout ``y_t = W_hy h_t + b_y`` and the loss, shared by the three kernels.

    :meth:`forward` gives step ``t``'s share of ``V``; :meth:`backward`, called in reverse,
    gives ``dV/dh_t`` through ``y_t`` and adds ``y_t``'s terms to ``dW_hy``, ``db_y``. The
    weights ``w : (S, N)`` are zero on the burn-in positions ``1..m``; ``K`` is their sum.
    """

    def __init__(self, model: Model, Y: np.ndarray, m: int, weights: np.ndarray | None) -> None:
        S, N, _ = Y.shape
        w = np.ones((S, N)) * (1.0 if weights is None else np.asarray(weights, dtype=np.float64))
        w[:, :m] = 0.0  # burn-in: not scored
        self.c = 2.0 * w / w.sum()  # (S, N): dV/dy_ij = (2 w_ij / K) r_ij
        self.W_hy, self.b_y, self.Y = model.W_hy, model.b_y, Y
        self.y: dict[int, np.ndarray] = {}
        self.dW_hy, self.db_y = np.zeros_like(self.W_hy), np.zeros_like(self.b_y)

    def forward(self, t: int, h_t: np.ndarray) -> float:
        """``y_t`` and its share ``(1/K) sum_i w_it ||y_it - y^d_it||^2`` of ``V``."""
        self.y[t] = h_t @ self.W_hy.T + self.b_y
        r = self.y[t] - self.Y[:, t - 1]
        return 0.5 * float(np.sum(self.c[:, t - 1 : t] * r * r))

    def backward(self, t: int, h_t: np.ndarray) -> np.ndarray:
        """``dV/dh_t`` through ``y_t``, ``(S, n_h)``."""
        dy = self.c[:, t - 1 : t] * (self.y[t] - self.Y[:, t - 1])  # dV/dy_t
        self.dW_hy += dy.T @ h_t  # y_t = W_hy h_t + b_y
        self.db_y += dy.sum(axis=0)
        return dy @ self.W_hy

    def grads(self) -> dict[str, np.ndarray]:
        return {"W_hy": self.dW_hy, "b_y": self.db_y}


def _inputs(model: Model, X: np.ndarray, z0: np.ndarray | None) -> tuple[list, np.ndarray]:
    """Time-major inputs ``x[t] : (S, n_x)``, ``t = 1..N`` (``x[0]`` unused), and
    ``z_0 : (S, n_z)`` (zeros if None)."""
    S, N, _ = X.shape
    z = np.zeros((S, model.n_z)) if z0 is None else np.broadcast_to(z0, (S, model.n_z))
    return [None] + [X[:, t - 1] for t in range(1, N + 1)], np.array(z, dtype=np.float64)


def _flat(model: Model, grads: dict[str, np.ndarray]) -> np.ndarray:
    """The named gradients as one vector in the layout of ``model.theta``."""
    slices = type(model).param_slices(model.n_x, model.n_h, model.n_y)
    dtheta = np.empty(model.theta.size)
    for name, s in slices.items():
        dtheta[s] = grads[name].ravel()
    return dtheta


def elman(model: ElmanRNN, X: np.ndarray, Y: np.ndarray, m: int = 0,
          z0: np.ndarray | None = None, weights: np.ndarray | None = None) -> Result:
    """Elman RNN: ``h_t = sigma(W_hh h_{t-1} + W_xh x_t + b_h)``, ``y_t = W_hy h_t + b_y``."""
    W_hh, W_xh, b_h = model.W_hh, model.W_xh, model.b_h
    x, z = _inputs(model, X, z0)
    out = _Readout(model, Y, m, weights)
    N, tanh = X.shape[1], model.activation == "tanh"
    h, V = [z], 0.0
    for t in range(1, N + 1):  # forward
        a = h[t - 1] @ W_hh.T + x[t] @ W_xh.T + b_h
        h.append(np.tanh(a) if tanh else a)
        V += out.forward(t, h[t])  # y_t = W_hy h_t + b_y and its loss
    dW_hh, dW_xh, db_h = np.zeros_like(W_hh), np.zeros_like(W_xh), np.zeros_like(b_h)
    dh_next = np.zeros_like(z)  # dV/dh_t through step t+1
    for t in range(N, 0, -1):  # backward
        dh = out.backward(t, h[t]) + dh_next  # into h_t: from y_t and from step t+1
        da = dh * (1.0 - h[t] ** 2) if tanh else dh  # through sigma
        dW_hh += da.T @ h[t - 1]  # a_t = W_hh h_{t-1} + W_xh x_t + b_h
        dW_xh += da.T @ x[t]
        db_h += da.sum(axis=0)
        dh_next = da @ W_hh  # into h_{t-1}
    grads = {"W_hh": dW_hh, "W_xh": dW_xh, "b_h": db_h, **out.grads()}
    return V, _flat(model, grads), dh_next


def lstm(model: LSTM, X: np.ndarray, Y: np.ndarray, m: int = 0,
         z0: np.ndarray | None = None, weights: np.ndarray | None = None) -> Result:
    """LSTM (torch's gates ``i, f, g, o``), state ``z = (h, c)``::

        a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
        i, f, o = sigma(a_i, a_f, a_o),   g = tanh(a_g)
        c_t = f c_{t-1} + i g,   h_t = o tanh(c_t),   y_t = W_hy h_t + b_y
    """
    W_ih, W_hh = model.W_ih, model.W_hh
    x, z = _inputs(model, X, z0)
    out = _Readout(model, Y, m, weights)
    N, n_h = X.shape[1], model.n_h
    h, c, gates, V = [z[:, :n_h]], [z[:, n_h:]], [None], 0.0
    for t in range(1, N + 1):  # forward
        a = x[t] @ W_ih.T + model.b_ih + h[t - 1] @ W_hh.T + model.b_hh
        a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
        i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
        gates.append((i, f, g, o))
        c.append(f * c[t - 1] + i * g)
        h.append(o * np.tanh(c[t]))
        V += out.forward(t, h[t])  # y_t = W_hy h_t + b_y and its loss
    dW_ih, dW_hh, db = np.zeros_like(W_ih), np.zeros_like(W_hh), np.zeros(4 * n_h)
    dh_next, dc_next = np.zeros_like(h[0]), np.zeros_like(c[0])  # through step t+1
    for t in range(N, 0, -1):  # backward
        i, f, g, o = gates[t]
        dh = out.backward(t, h[t]) + dh_next  # into h_t: from y_t and from step t+1
        tc = np.tanh(c[t])
        do = dh * tc  # h_t = o tanh(c_t)
        dc = dh * o * (1.0 - tc**2) + dc_next  # into c_t: through h_t and from c_{t+1}
        di, df, dg = dc * g, dc * c[t - 1], dc * i  # c_t = f c_{t-1} + i g
        da = np.concatenate([di * i * (1 - i), df * f * (1 - f),  # through sigma and tanh
                             dg * (1 - g**2), do * o * (1 - o)], axis=1)
        dW_ih += da.T @ x[t]  # a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
        dW_hh += da.T @ h[t - 1]
        db += da.sum(axis=0)
        dh_next = da @ W_hh  # into h_{t-1}
        dc_next = dc * f  # into c_{t-1}
    grads = {"W_ih": dW_ih, "W_hh": dW_hh, "b_ih": db, "b_hh": db, **out.grads()}
    return V, _flat(model, grads), np.concatenate([dh_next, dc_next], axis=1)


def gru(model: GRU, X: np.ndarray, Y: np.ndarray, m: int = 0,
        z0: np.ndarray | None = None, weights: np.ndarray | None = None) -> Result:
    """GRU (torch's gates ``r, z, n``; ``u`` is torch's update gate ``z``), state ``z = h``::

        r = sigma(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        u = sigma(W_iu x_t + b_iu + W_hu h_{t-1} + b_hu)
        q = W_hn h_{t-1} + b_hn,   n = tanh(W_in x_t + b_in + r q)
        h_t = (1 - u) n + u h_{t-1},   y_t = W_hy h_t + b_y
    """
    W_ih, W_hh = model.W_ih, model.W_hh
    x, z = _inputs(model, X, z0)
    out = _Readout(model, Y, m, weights)
    N = X.shape[1]
    h, gates, V = [z], [None], 0.0
    for t in range(1, N + 1):  # forward
        ax_r, ax_u, ax_n = np.split(x[t] @ W_ih.T + model.b_ih, 3, axis=1)  # input side
        ah_r, ah_u, q = np.split(h[t - 1] @ W_hh.T + model.b_hh, 3, axis=1)  # hidden side
        r, u = sigmoid(ax_r + ah_r), sigmoid(ax_u + ah_u)
        n = np.tanh(ax_n + r * q)
        gates.append((r, u, q, n))
        h.append((1.0 - u) * n + u * h[t - 1])
        V += out.forward(t, h[t])  # y_t = W_hy h_t + b_y and its loss
    dW_ih, dW_hh, db_ih, db_hh = (np.zeros_like(a) for a in (W_ih, W_hh, model.b_ih,
                                                              model.b_hh))
    dh_next = np.zeros_like(z)  # dV/dh_t through step t+1
    for t in range(N, 0, -1):  # backward
        r, u, q, n = gates[t]
        dh = out.backward(t, h[t]) + dh_next  # into h_t: from y_t and from step t+1
        dn, du = dh * (1.0 - u), dh * (h[t - 1] - n)  # h_t = (1 - u) n + u h_{t-1}
        da_n = dn * (1.0 - n**2)  # n = tanh(a_n)
        dr, dq = da_n * q, da_n * r  # a_n = W_in x_t + b_in + r q
        da_r, da_u = dr * r * (1.0 - r), du * u * (1.0 - u)  # r, u = sigma(.)
        da_x = np.concatenate([da_r, da_u, da_n], axis=1)  # input side
        da_h = np.concatenate([da_r, da_u, dq], axis=1)  # hidden side
        dW_ih += da_x.T @ x[t]
        db_ih += da_x.sum(axis=0)
        dW_hh += da_h.T @ h[t - 1]
        db_hh += da_h.sum(axis=0)
        dh_next = dh * u + da_h @ W_hh  # into h_{t-1}: directly and through the gates
    grads = {"W_ih": dW_ih, "W_hh": dW_hh, "b_ih": db_ih, "b_hh": db_hh, **out.grads()}
    return V, _flat(model, grads), dh_next


#: The reference kernel of each cell, keyed as :data:`systems.cells.CELLS`.
REFERENCE: dict[str, Callable[..., Result]] = {"elman": elman, "lstm": lstm, "gru": gru}
assert REFERENCE.keys() == CELLS.keys()


def loss_grad(model: Model, X: np.ndarray, Y: np.ndarray, m: int = 0,
              z0: np.ndarray | None = None, weights: np.ndarray | None = None) -> Result:
    """``(V, dV/dtheta, dV/dz_0)`` of ``model`` (any cell) by its reference kernel.

    Examples
    --------
    >>> from systems import GRU
    >>> rng = np.random.default_rng(0)
    >>> model = GRU.from_theta(0.3 * rng.normal(size=GRU.n_params(1, 2, 1)), n_x=1, n_h=2, n_y=1)
    >>> V, dtheta, dz0 = loss_grad(model, rng.normal(size=(4, 6, 1)), np.zeros((4, 6, 1)), m=2)
    >>> dtheta.shape == model.theta.shape, dz0.shape
    (True, (4, 2))
    """
    return REFERENCE[model.cell](model, X, Y, m, z0, weights)
