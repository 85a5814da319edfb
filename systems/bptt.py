"""Forward pass and hand-written backward pass through time over a stack of windows.

Objective (THEORY.md §2, with optional weights ``w_ij >= 0``)::

    V = (1/K) sum_{i=1..S} sum_{j=m+1..N} w_ij ||y_ij - y^d_ij||^2,   K = sum_{i, j>m} w_ij

where ``y_ij`` is the output of window ``i`` at position ``j`` started from ``h_{i,0} = z_i``.
With unit weights ``K = S (N - m)``. The benchmark problem is the special case of one
window of length ``T`` weighted by the coverage counts ``Windows.weights(m)`` and normalised
by ``S (N - m)``.

Layout: internally time-major, ``H : (N + 1, S, n_h)``, so each step works on a contiguous
``(S, n_h)`` slab; the loop runs over the ``N`` steps, never over windows.

Backward pass (min-char-rnn style, the forward loop read in reverse)::

    g_t   = dV/dy_t = (2/K) w_t * (y_t - y^d_t)          # (S, n_y)
    dh_t  = g_t W_hy + da_{t+1} W_hh                      # from the output and from step t+1
    da_t  = dh_t * sigma'(a_t),  sigma'(a_t) = 1 - h_t^2  # tanh (1 for linear)
    dW_hh = sum_t da_t^T h_{t-1},  dW_xh = sum_t da_t^T x_t,  db_h = sum_t da_t
    dW_hy = sum_t g_t^T h_t,       db_y = sum_t g_t,        dz = da_1 W_hh
"""

from __future__ import annotations

import numpy as np

from .rnn import ElmanRNN, check_activation, n_params, param_shapes, param_slices
from .windows import check_burn_in


class WindowBatch:
    """Fixed data for repeated loss/gradient evaluations: windows, burn-in, weights, buffers.

    Parameters
    ----------
    X : (S, N, n_x) input windows
    Y : (S, N, n_y) target windows
    m : burn-in, ``0 <= m < N``: positions ``1..m`` are not scored
    weights : None (unit), ``(N,)`` per position, or ``(S, N)`` per window and position
    n_h : hidden size
    activation : ``"tanh"`` or ``"linear"``
    normalizer : ``K``; defaults to the sum of the scored weights (``S (N - m)`` for unit weights)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(5, 7, 1)), rng.normal(size=(5, 7, 1))
    >>> batch = WindowBatch(X, Y, m=2, n_h=3, activation="tanh")
    >>> theta = rng.normal(size=batch.n_theta) * 0.3
    >>> V, dtheta, dz = batch.loss_grad(theta, np.zeros((5, 3)))
    >>> dtheta.shape, dz.shape
    ((25,), (5, 3))
    """

    def __init__(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        m: int = 0,
        weights: np.ndarray | None = None,
        *,
        n_h: int,
        activation: str = "tanh",
        normalizer: float | None = None,
    ) -> None:
        X, Y = _windows("X", X), _windows("Y", Y)
        if X.shape[:2] != Y.shape[:2]:
            raise ValueError(f"X and Y must share (S, N), got X: {X.shape}, Y: {Y.shape}")
        S, N, n_x = X.shape
        n_y = Y.shape[2]
        self.m = check_burn_in(m, N)
        if isinstance(n_h, bool) or not isinstance(n_h, (int, np.integer)) or n_h < 1:
            raise ValueError(f"n_h must be an integer >= 1, got {n_h!r}")
        self.activation = check_activation(activation)
        self.S, self.N, self.n_x, self.n_y, self.n_h = S, N, n_x, n_y, int(n_h)
        self.n_theta = n_params(self.n_h, n_x, n_y)
        self._slices = param_slices(self.n_h, n_x, n_y)
        self._shapes = param_shapes(self.n_h, n_x, n_y)

        # Weights w : (N, S) time-major, zero on the burn-in positions.
        w = np.ones((N, S))
        if weights is not None:
            wt = np.asarray(weights, dtype=np.float64)
            if wt.shape == (N,):
                w *= wt[:, None]
            elif wt.shape == (S, N):
                w *= wt.T
            else:
                raise ValueError(
                    f"weights must have shape (N,)=({N},) or (S, N)=({S}, {N}), got {wt.shape}"
                )
            if not np.all(np.isfinite(wt)) or np.any(wt < 0):
                raise ValueError("weights must be finite and >= 0")
        w[: self.m] = 0.0
        K = float(w.sum()) if normalizer is None else float(normalizer)
        if not np.isfinite(K) or K <= 0:
            raise ValueError(f"the normalizer K must be > 0, got {K} (no scored output?)")
        self.K = K

        # Time-major copies of the data, made once.
        self.Xt = np.ascontiguousarray(X.transpose(1, 0, 2))  # (N, S, n_x)
        self.Yt = np.ascontiguousarray(Y.transpose(1, 0, 2))  # (N, S, n_y)
        self.w2K = (2.0 / K) * w[:, :, None]  # (N, S, 1): dV/dy = w2K * r
        self._scored = slice(self.m, N)  # time-major rows that carry weight

        # Preallocated buffers (reused by every evaluation).
        self.H = np.empty((N + 1, S, self.n_h))  # states, H[0] = z
        self.R = np.empty((N, S, n_y))  # residuals, then dV/dy
        self.dA = np.empty((N, S, self.n_h))  # dV/da_t
        self._tmp = np.empty((S, self.n_h))
        self._carry = np.empty((S, self.n_h))

    # ------------------------------------------------------------------ helpers
    def unpack(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Views of ``theta`` as ``W_hh, W_xh, b_h, W_hy, b_y``."""
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape != (self.n_theta,):
            raise ValueError(f"theta must have shape ({self.n_theta},), got {theta.shape}")
        return {k: theta[s].reshape(self._shapes[k]) for k, s in self._slices.items()}

    def _initial(self, z: np.ndarray | None) -> None:
        if z is None:
            self.H[0] = 0.0
            return
        z = np.asarray(z, dtype=np.float64)
        if z.shape not in ((self.S, self.n_h), (self.n_h,)):
            raise ValueError(f"z must have shape (S, n_h)=({self.S}, {self.n_h}), got {z.shape}")
        self.H[0] = z

    # ------------------------------------------------------------------ forward
    def forward(self, theta: np.ndarray, z: np.ndarray | None = None) -> np.ndarray:
        """States ``H : (N + 1, S, n_h)`` (a view of an internal buffer; copy to keep)."""
        p = self.unpack(theta)
        W_hh, W_xh, b_h = p["W_hh"], p["W_xh"], p["b_h"]
        N, S, n_h = self.N, self.S, self.n_h
        self._initial(z)
        H, tmp = self.H, self._tmp
        # Input drive for all steps in one product: H[t] <- W_xh x_t + b_h.
        np.matmul(self.Xt.reshape(N * S, self.n_x), W_xh.T, out=H[1:].reshape(N * S, n_h))
        H[1:] += b_h
        W_hhT = np.ascontiguousarray(W_hh.T)
        tanh = self.activation == "tanh"
        for t in range(1, N + 1):
            np.matmul(H[t - 1], W_hhT, out=tmp)  # W_hh h_{t-1}
            H[t] += tmp  # a_t
            if tanh:
                np.tanh(H[t], out=H[t])  # h_t = sigma(a_t)
        return H

    def outputs(self, theta: np.ndarray, z: np.ndarray | None = None) -> np.ndarray:
        """Window outputs ``(S, N, n_y)``."""
        p = self.unpack(theta)
        H = self.forward(theta, z)
        Yhat = H[1:].reshape(-1, self.n_h) @ p["W_hy"].T + p["b_y"]
        return Yhat.reshape(self.N, self.S, self.n_y).transpose(1, 0, 2).copy()

    def _residuals(self, p: dict[str, np.ndarray]) -> float:
        """Fill ``R`` with ``dV/dy`` on the scored rows; return ``V``."""
        sc, n_h = self._scored, self.n_h
        R = self.R[sc]
        np.matmul(self.H[1:][sc].reshape(-1, n_h), p["W_hy"].T, out=R.reshape(-1, self.n_y))
        R += p["b_y"]
        R -= self.Yt[sc]  # r_ij
        wr = self.w2K[sc] * R  # (2/K) w r
        V = 0.5 * float(np.vdot(wr, R))  # (1/K) sum w ||r||^2
        R[...] = wr
        return V

    def loss(self, theta: np.ndarray, z: np.ndarray | None = None) -> float:
        """``V(theta, z)``."""
        p = self.unpack(theta)
        self.forward(theta, z)
        return self._residuals(p)

    # ----------------------------------------------------------------- backward
    def loss_grad(
        self, theta: np.ndarray, z: np.ndarray | None = None
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """``V``, ``dV/dtheta : (n_theta,)`` and ``dV/dz : (S, n_h)``."""
        p = self.unpack(theta)
        self.forward(theta, z)
        V = self._residuals(p)
        W_hh, W_hy = p["W_hh"], p["W_hy"]
        N, S, n_h, m = self.N, self.S, self.n_h, self.m
        H, G, dA, tmp, carry = self.H, self.R, self.dA, self._tmp, self._carry
        tanh = self.activation == "tanh"
        grad = np.zeros(self.n_theta)
        gp = {k: grad[s].reshape(self._shapes[k]) for k, s in self._slices.items()}

        carry[...] = 0.0  # da_{t+1} W_hh, the gradient arriving from step t+1
        for t in range(N, 0, -1):
            d = dA[t - 1]
            if t > m:
                np.matmul(G[t - 1], W_hy, out=d)  # g_t W_hy
                d += carry  # dh_t
            else:
                d[...] = carry
            if tanh:
                np.multiply(H[t], H[t], out=tmp)
                np.subtract(1.0, tmp, out=tmp)  # sigma'(a_t) = 1 - h_t^2
                d *= tmp  # da_t
            np.matmul(d, W_hh, out=carry)
        # Parameter gradients: one product each over all steps and windows.
        dA2 = dA.reshape(N * S, n_h)
        np.matmul(dA2.T, H[:-1].reshape(N * S, n_h), out=gp["W_hh"])
        np.matmul(dA2.T, self.Xt.reshape(N * S, self.n_x), out=gp["W_xh"])
        gp["b_h"][...] = dA2.sum(axis=0)
        Gs = G[m:].reshape(-1, self.n_y)
        np.matmul(Gs.T, H[1 + m :].reshape(-1, n_h), out=gp["W_hy"])
        gp["b_y"][...] = Gs.sum(axis=0)
        return V, grad, carry.copy()  # dz = da_1 W_hh


def loss_and_grad(
    model: ElmanRNN,
    X: np.ndarray,
    Y: np.ndarray,
    z: np.ndarray | None = None,
    m: int = 0,
    weights: np.ndarray | None = None,
) -> tuple[float, np.ndarray, np.ndarray]:
    """One-off ``(V, dV/dtheta, dV/dz)`` for ``model`` on windows ``X : (S, N, n_x)``.

    For repeated evaluations build a :class:`WindowBatch` once and call ``loss_grad``.
    """
    batch = WindowBatch(X, Y, m, weights, n_h=model.n_h, activation=model.activation)
    return batch.loss_grad(model.theta, z)


def _windows(name: str, a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 3:
        raise ValueError(f"{name} must have shape (S, N, n), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or inf")
    return a
