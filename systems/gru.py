"""The GRU cell (torch's ``nn.GRU``, one layer) with a linear readout, in state-space form."""

from __future__ import annotations

import numpy as np

from .gated import GatedCell, sigmoid


class GRU(GatedCell):
    r"""GRU ``z_{t+1} = f(z_t, x_t)``, ``y_t = g(z_{t+1})``, with state ``z = h``.

    Gates (torch's order ``r, z, n``; we write ``u`` for torch's update gate ``z`` so that
    ``z`` stays the state; ``W_.r`` are rows ``0:n_h`` of ``W_ih``/``W_hh``, then ``u``, ``n``)::

        r = sigma(W_ir x + b_ir + W_hr h + b_hr)
        u = sigma(W_iu x + b_iu + W_hu h + b_hu)
        q = W_hn h + b_hn
        n = tanh(W_in x + b_in + r * q)
        f(z, x) = h+ = (1 - u) * n + u * h,     g(z) = W_hy h + b_y

    Jacobian ``df/dz : (n_h, n_h)`` (``D(v) = diag(v)``)::

        dh+/dh = D(u) + D((h - n) u (1 - u)) W_hu
                 + D((1 - u) (1 - n^2)) (D(r) W_hn + D(q r (1 - r)) W_hr)

    and ``dg/dz = W_hy``.

    Parameters
    ----------
    W_ih : (3 n_h, n_x)
    W_hh : (3 n_h, n_h)
    b_ih, b_hh : (3 n_h,) or None (zeros)
    W_hy : (n_y, n_h)
    b_y : (n_y,) or None (zeros)

    Examples
    --------
    >>> m = GRU(np.zeros((3, 1)), np.zeros((3, 1)), None, None, [[1.0]], None)
    >>> z, y = m.simulate(np.ones((2, 1)), z0=[1.0])   # u = 1/2, n = 0: h halves each step
    >>> z[:, 0].tolist()
    [1.0, 0.5, 0.25]
    """

    cell = "gru"
    n_gates = 3
    n_blocks = 1

    def _gates(self, h: np.ndarray, u_in: np.ndarray) -> tuple[np.ndarray, ...]:
        n_h = self.n_h
        a = h @ self.W_hh.T + self.b_hh  # (B, 3 n_h): W_hr h + b_hr, W_hu h + b_hu, q
        r = sigmoid(u_in[:, :n_h] + a[:, :n_h])
        u = sigmoid(u_in[:, n_h : 2 * n_h] + a[:, n_h : 2 * n_h])
        q = a[:, 2 * n_h :]
        n = np.tanh(u_in[:, 2 * n_h :] + r * q)
        return r, u, q, n

    def _advance(self, z: np.ndarray, u_in: np.ndarray) -> np.ndarray:
        _, u, _, n = self._gates(z, u_in)
        return (1.0 - u) * n + u * z

    def jacobian(self, z: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``df/dz`` at ``(z, x)``: ``z : (B, n_h)``, ``x : (B, n_x)`` -> ``(B, n_h, n_h)``."""
        h = np.asarray(z, dtype=np.float64)
        x = np.asarray(x, dtype=np.float64)
        n_h = self.n_h
        r, u, q, n = self._gates(h, x @ self.W_ih.T + self.b_ih)
        W = self.W_hh
        Wr, Wu, Wn = W[:n_h], W[n_h : 2 * n_h], W[2 * n_h :]
        dn = r[:, :, None] * Wn + (q * r * (1 - r))[:, :, None] * Wr  # d(r * q)/dh
        J = (((h - n) * u * (1 - u))[:, :, None] * Wu
             + ((1 - u) * (1 - n * n))[:, :, None] * dn)
        idx = np.arange(n_h)
        J[:, idx, idx] += u
        return J
