"""Naive reference BPTT for ``benchmarks/bptt_speed.py``: a loop over windows.

Each window is run forward and backward on its own, one time step at a time, with plain
``np.tanh`` and fresh arrays: the straightforward code one would write first. It computes the
same ``(V, dV/dtheta, dV/dz)`` as :meth:`systems.bptt.WindowBatch.loss_grad` (unit weights,
burn-in ``m``, ``K = S (N - m)``) and serves as the speed baseline and an independent check.
"""

from __future__ import annotations

import numpy as np

from systems.rnn import param_shapes, param_slices


def naive_loss_grad(
    theta: np.ndarray, z: np.ndarray, X: np.ndarray, Y: np.ndarray, m: int, n_h: int,
    activation: str = "tanh",
) -> tuple[float, np.ndarray, np.ndarray]:
    """``V``, ``dV/dtheta`` and ``dV/dz`` for windows ``X, Y : (S, N, 1..)``, window by window."""
    S, N, n_x = X.shape
    n_y = Y.shape[2]
    shapes, slices = param_shapes(n_h, n_x, n_y), param_slices(n_h, n_x, n_y)
    W_hh, W_xh, b_h, W_hy, b_y = (theta[slices[k]].reshape(shapes[k]) for k in shapes)
    sigma = np.tanh if activation == "tanh" else (lambda a: a)
    K = S * (N - m)
    V = 0.0
    dW_hh, dW_xh, db_h = np.zeros_like(W_hh), np.zeros_like(W_xh), np.zeros_like(b_h)
    dW_hy, db_y = np.zeros_like(W_hy), np.zeros_like(b_y)
    dz = np.zeros((S, n_h))
    for i in range(S):
        hs = {0: z[i]}
        ys = {}
        for t in range(1, N + 1):  # forward
            hs[t] = sigma(W_hh @ hs[t - 1] + W_xh @ X[i, t - 1] + b_h)
            ys[t] = W_hy @ hs[t] + b_y
        dh_next = np.zeros(n_h)
        for t in range(N, 0, -1):  # backward
            dy = np.zeros(n_y)
            if t > m:
                r = ys[t] - Y[i, t - 1]
                V += float(r @ r) / K
                dy = 2.0 * r / K  # dV/dy_t
            dW_hy += np.outer(dy, hs[t])
            db_y += dy
            dh = W_hy.T @ dy + dh_next  # into h_t: from y_t and from step t+1
            da = dh * (1.0 - hs[t] ** 2) if activation == "tanh" else dh  # through sigma
            dW_hh += np.outer(da, hs[t - 1])
            dW_xh += np.outer(da, X[i, t - 1])
            db_h += da
            dh_next = W_hh.T @ da  # into h_{t-1}
        dz[i] = dh_next
    grad = np.concatenate([g.ravel() for g in (dW_hh, dW_xh, db_h, dW_hy, db_y)])
    return V, grad, dz
