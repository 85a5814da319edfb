"""Adam for ``K`` models at once: parameters and moments stacked along a leading model axis.

Row ``k`` follows :class:`systems.adam.AdamStep` (torch's Adam) exactly, with its own step
count ``k_k`` (a model that stops, e.g. after diverging, keeps its count)::

    k_k += 1,   mu = b1 mu + (1 - b1) g,   nu = b2 nu + (1 - b2) g^2
    theta -= (lr / (1 - b1^k_k)) mu / (sqrt(nu / (1 - b2^k_k)) + eps)

evaluated in the same order as ``AdamStep`` (in float64 the rows are bit-identical to it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InputError


def check_constants(lr: float, betas: tuple[float, float], eps: float
                    ) -> tuple[float, tuple[float, float], float]:
    """``(lr, (b1, b2), eps)`` as floats if ``lr > 0``, ``0 <= b1, b2 < 1``, ``eps > 0`` (all
    finite), else :class:`~systems.errors.InputError` naming the argument."""
    if not (np.isfinite(lr) and lr > 0):
        raise InputError(f"lr must be a finite number > 0, got {lr!r}")
    b1, b2 = (float(b) for b in betas)
    if not (0 <= b1 < 1 and 0 <= b2 < 1):
        raise InputError(f"betas must lie in [0, 1), got {betas!r}")
    if not (np.isfinite(eps) and eps > 0):
        raise InputError(f"eps must be a finite number > 0, got {eps!r}")
    return float(lr), (b1, b2), float(eps)


class BatchedAdam:
    """Adam moments ``mu, nu : (K, n)`` and step counts ``k : (K,)`` in the training dtype.

    Parameters
    ----------
    K, n : models and parameters per model
    lr, betas, eps : Adam's constants (torch's defaults for ``betas``, ``eps``)
    dtype : dtype of the moments (that of the parameters they update)
    """

    def __init__(self, K: int, n: int, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, dtype: object = np.float64) -> None:
        self.lr, self.eps = float(lr), float(eps)
        self.b1, self.b2 = (float(b) for b in betas)
        self.dtype = np.dtype(dtype)
        self.mu = np.zeros((K, n), self.dtype)
        self.nu = np.zeros((K, n), self.dtype)
        self.k = np.zeros(K, np.int64)

    def step(self, Theta: np.ndarray, G: np.ndarray, active: np.ndarray | None = None) -> None:
        """One Adam step, in place, on the rows of ``Theta : (K, n)`` where ``active`` (all if
        None), with gradients ``G : (K, n)``."""
        rows: slice | np.ndarray = slice(None)
        if active is not None and not active.all():
            rows = np.flatnonzero(active)
        self.k[rows] += 1
        ks = self.k[rows].tolist()
        # the bias corrections in Python floats, per row, as AdamStep computes them
        c1 = np.array([self.lr / (1.0 - self.b1**k) for k in ks], self.dtype)[:, None]
        c2 = np.array([1.0 - self.b2**k for k in ks], self.dtype)[:, None]
        g = G[rows]
        mu, nu = self.mu[rows], self.nu[rows]  # views when all rows step, else copies
        mu *= self.b1
        mu += (1.0 - self.b1) * g
        nu *= self.b2
        nu += (1.0 - self.b2) * g * g
        denom = np.sqrt(nu / c2)
        denom += self.eps
        Theta[rows] -= c1 * mu / denom
        if not isinstance(rows, slice):
            self.mu[rows], self.nu[rows] = mu, nu

    def state(self) -> dict[str, Any]:
        """Everything to resume: the constants, moments and step counts (copies)."""
        return {"lr": self.lr, "betas": (self.b1, self.b2), "eps": self.eps,
                "dtype": self.dtype.name, "mu": self.mu.copy(), "nu": self.nu.copy(),
                "k": self.k.copy()}

    @classmethod
    def from_state(cls, state: dict[str, Any], rows: np.ndarray | None = None) -> BatchedAdam:
        """The optimiser of :meth:`state` (only the models ``rows``, if given)."""
        sel = slice(None) if rows is None else np.asarray(rows)
        mu = np.asarray(state["mu"])[sel]
        adam = cls(mu.shape[0], mu.shape[1], state["lr"], tuple(state["betas"]), state["eps"],
                   state["dtype"])
        adam.mu[...] = mu
        adam.nu[...] = np.asarray(state["nu"])[sel]
        adam.k[...] = np.asarray(state["k"])[sel]
        return adam
