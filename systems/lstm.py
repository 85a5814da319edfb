"""The LSTM cell (torch's ``nn.LSTM``, one layer) with a linear readout, in state-space form."""

from __future__ import annotations

import numpy as np

from .gated import GatedCell, sigmoid


class LSTM(GatedCell):
    r"""LSTM ``z_{t+1} = f(z_t, x_t)``, ``y_t = g(z_{t+1})``, with state ``z = (h, c)``.

    Gates (torch's order ``i, f, g, o``; ``W_.i`` are rows ``0:n_h`` of ``W_ih``/``W_hh``, then
    ``f``, ``g``, ``o``; ``sigma`` the logistic function)::

        a   = W_ih x + b_ih + W_hh h + b_hh                  (4 n_h,)
        i = sigma(a_i), f = sigma(a_f), g = tanh(a_g), o = sigma(a_o)
        c+  = f * c + i * g
        h+  = o * tanh(c+)
        f(z, x) = (h+, c+),   g(z) = W_hy h + b_y

    Jacobian ``df/dz : (2 n_h, 2 n_h)`` (``D(v) = diag(v)``, ``tc = tanh(c+)``)::

        dc+/dh = D(c i_f') W_hf + D(g i') W_hi + D(i g') W_hg,     dc+/dc = D(f)
        dh+/dh = D(tc o') W_ho + D(o (1 - tc^2)) dc+/dh,           dh+/dc = D(o (1 - tc^2) f)

    with ``i' = i (1 - i)``, ``i_f' = f (1 - f)``, ``o' = o (1 - o)``, ``g' = 1 - g^2``;
    and ``dg/dz = [W_hy, 0]``.

    Parameters
    ----------
    W_ih : (4 n_h, n_x)
    W_hh : (4 n_h, n_h)
    b_ih, b_hh : (4 n_h,) or None (zeros)
    W_hy : (n_y, n_h)
    b_y : (n_y,) or None (zeros)

    Examples
    --------
    >>> m = LSTM(np.zeros((4, 1)), np.zeros((4, 1)), None, None, [[1.0]], None)
    >>> z, y = m.simulate(np.ones((2, 1)))
    >>> z.shape, y.shape   # c_1 = 0.5 * 0 + 0.5 * 0 = 0: a zero LSTM stays at zero
    ((3, 2), (2, 1))
    """

    cell = "lstm"
    n_gates = 4
    n_blocks = 2

    def _gates(self, z: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, ...]:
        n = self.n_h
        a = u + z[:, :n] @ self.W_hh.T + self.b_hh
        i, f, o = sigmoid(a[:, :n]), sigmoid(a[:, n : 2 * n]), sigmoid(a[:, 3 * n :])
        g = np.tanh(a[:, 2 * n : 3 * n])
        c = f * z[:, n:] + i * g
        return i, f, g, o, c, np.tanh(c)

    def _advance(self, z: np.ndarray, u: np.ndarray) -> np.ndarray:
        _, _, _, o, c, tc = self._gates(z, u)
        return np.concatenate([o * tc, c], axis=1)

    def jacobian(self, z: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``df/dz`` at ``(z, x)``, ``z : (B, 2 n_h)``, ``x : (B, n_x)``: ``(B, 2 n_h, 2 n_h)``."""
        z = np.asarray(z, dtype=np.float64)
        x = np.asarray(x, dtype=np.float64)
        n = self.n_h
        i, f, g, o, c, tc = self._gates(z, x @ self.W_ih.T + self.b_ih)
        W = self.W_hh
        Wi, Wf, Wg, Wo = W[:n], W[n : 2 * n], W[2 * n : 3 * n], W[3 * n :]
        dc_dh = ((z[:, n:] * f * (1 - f))[:, :, None] * Wf + (g * i * (1 - i))[:, :, None] * Wi
                 + (i * (1 - g * g))[:, :, None] * Wg)
        do_tc = o * (1 - tc * tc)  # dh+/dc+
        J = np.empty((z.shape[0], 2 * n, 2 * n))
        J[:, :n, :n] = (tc * o * (1 - o))[:, :, None] * Wo + do_tc[:, :, None] * dc_dh
        J[:, :n, n:] = 0.0
        J[:, n:, :n] = dc_dh
        J[:, n:, n:] = 0.0
        idx = np.arange(n)
        J[:, idx, n + idx] = do_tc * f
        J[:, n + idx, n + idx] = f
        return J
