"""What the LSTM and GRU share: torch's parameter layout, the flat ``theta``, simulation, storage.

A gated cell with ``G`` gate blocks (``G = 4`` LSTM, ``G = 3`` GRU) has torch's one-layer
parameters plus a linear readout::

    W_ih : (G n_h, n_x)   W_hh : (G n_h, n_h)   b_ih : (G n_h,)   b_hh : (G n_h,)
    W_hy : (n_y, n_h)     b_y : (n_y,)

stacked row-major into ``theta`` in that order. The state ``z : (n_z,)`` holds ``h`` in its
first ``n_h`` entries; the readout is ``y = g(z) = W_hy h + b_y`` (docs/theory.md §1 with
``g`` independent of ``x``). The state map ``f`` and its Jacobian are the subclass's
(:class:`systems.lstm.LSTM`, :class:`systems.gru.GRU`); they implement ``_advance(z, u)``,
``f`` with the input drive ``u = W_ih x + b_ih`` already computed, and ``jacobian``.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
from scipy.special import expit

from .model_files import build_model, read_npz_model
from .rnn import finite_array, save_npz, slices_of

PARAM_NAMES = ("W_ih", "W_hh", "b_ih", "b_hh", "W_hy", "b_y")


def sigmoid(a: np.ndarray) -> np.ndarray:
    """The logistic function ``1 / (1 + exp(-a))``, elementwise (overflow-free)."""
    return expit(a)


class GatedCell:
    """Base of :class:`~systems.lstm.LSTM` and :class:`~systems.gru.GRU` (not used alone).

    Parameters
    ----------
    W_ih : (G n_h, n_x)
    W_hh : (G n_h, n_h)
    b_ih, b_hh : (G n_h,) or None (zeros)
    W_hy : (n_y, n_h)
    b_y : (n_y,) or None (zeros)
    """

    cell: ClassVar[str] = ""
    #: number of gate blocks ``G`` (rows of ``W_ih`` per hidden unit)
    n_gates: ClassVar[int] = 0
    #: state size in units of ``n_h``
    n_blocks: ClassVar[int] = 1

    W_ih: np.ndarray
    W_hh: np.ndarray
    b_ih: np.ndarray
    b_hh: np.ndarray
    W_hy: np.ndarray
    b_y: np.ndarray

    def __init__(
        self,
        W_ih: np.ndarray,
        W_hh: np.ndarray,
        b_ih: np.ndarray | None,
        b_hh: np.ndarray | None,
        W_hy: np.ndarray,
        b_y: np.ndarray | None,
    ) -> None:
        G = self.n_gates
        W_hh = finite_array("W_hh", W_hh, 2)
        W_ih = finite_array("W_ih", W_ih, 2)
        W_hy = finite_array("W_hy", W_hy, 2)
        n_h = W_hh.shape[1]
        if W_hh.shape != (G * n_h, n_h):
            raise ValueError(
                f"W_hh of a {self.cell.upper()} must have shape ({G} n_h, n_h), got {W_hh.shape}"
            )
        if W_ih.shape[0] != G * n_h:
            raise ValueError(f"W_ih must have shape ({G} n_h={G * n_h}, n_x), got {W_ih.shape}")
        if W_hy.shape[1] != n_h:
            raise ValueError(f"W_hy must have shape (n_y, n_h={n_h}), got {W_hy.shape}")
        self.W_ih, self.W_hh, self.W_hy = W_ih, W_hh, W_hy
        self.b_ih = _vector("b_ih", b_ih, G * n_h)
        self.b_hh = _vector("b_hh", b_hh, G * n_h)
        self.b_y = _vector("b_y", b_y, W_hy.shape[0])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_x={self.n_x}, n_h={self.n_h}, n_y={self.n_y})"

    # ------------------------------------------------------------------ sizes
    @property
    def n_h(self) -> int:
        return self.W_hh.shape[1]

    @property
    def n_x(self) -> int:
        return self.W_ih.shape[1]

    @property
    def n_y(self) -> int:
        return self.W_hy.shape[0]

    @property
    def n_z(self) -> int:
        """State size (``2 n_h`` for the LSTM's ``z = (h, c)``, ``n_h`` for the GRU)."""
        return self.n_blocks * self.n_h

    @property
    def options(self) -> dict[str, str]:
        """Keyword options of :meth:`from_theta` beyond the sizes (none for gated cells)."""
        return {}

    @classmethod
    def param_shapes(cls, n_x: int, n_h: int, n_y: int) -> dict[str, tuple[int, ...]]:
        """Shapes of ``W_ih, W_hh, b_ih, b_hh, W_hy, b_y`` (the order of ``theta``)."""
        G = cls.n_gates
        return {
            "W_ih": (G * n_h, n_x),
            "W_hh": (G * n_h, n_h),
            "b_ih": (G * n_h,),
            "b_hh": (G * n_h,),
            "W_hy": (n_y, n_h),
            "b_y": (n_y,),
        }

    @classmethod
    def param_slices(cls, n_x: int, n_h: int, n_y: int) -> dict[str, slice]:
        """Where each parameter lives in ``theta``."""
        return slices_of(cls.param_shapes(n_x, n_h, n_y))

    @classmethod
    def n_params(cls, n_x: int, n_h: int, n_y: int) -> int:
        """Length of ``theta``: ``G n_h (n_x + n_h + 2) + n_y (n_h + 1)``."""
        return cls.n_gates * n_h * (n_x + n_h + 2) + n_y * (n_h + 1)

    # ------------------------------------------------------------------ theta
    @property
    def theta(self) -> np.ndarray:
        """Flat parameters: ``W_ih, W_hh, b_ih, b_hh, W_hy, b_y`` row-major."""
        return np.concatenate([getattr(self, k).ravel() for k in PARAM_NAMES])

    @classmethod
    def from_theta(cls, theta: np.ndarray, *, n_x: int, n_h: int, n_y: int) -> GatedCell:
        """Inverse of :attr:`theta` for the given sizes."""
        theta = np.asarray(theta, dtype=np.float64)
        expected = cls.n_params(n_x, n_h, n_y)
        if theta.shape != (expected,):
            raise ValueError(
                f"theta must have shape ({expected},) for n_x={n_x}, n_h={n_h}, n_y={n_y}, "
                f"got {theta.shape}"
            )
        shapes, slices = cls.param_shapes(n_x, n_h, n_y), cls.param_slices(n_x, n_h, n_y)
        return cls(**{k: theta[slices[k]].reshape(shapes[k]).copy() for k in PARAM_NAMES})

    def with_theta(self, theta: np.ndarray) -> GatedCell:
        """A model of the same kind and sizes with parameters ``theta``."""
        return type(self).from_theta(theta, n_x=self.n_x, n_h=self.n_h, n_y=self.n_y)

    # ------------------------------------------------------------- state space
    def _advance(self, z: np.ndarray, u: np.ndarray) -> np.ndarray:
        """``f(z, x)`` given the input drive ``u = W_ih x + b_ih : (B, G n_h)``."""
        raise NotImplementedError

    def step(self, z: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The state map ``f``: ``z_next = f(z, x)``, ``(B, n_z), (B, n_x) -> (B, n_z)``."""
        z = np.asarray(z, dtype=np.float64)
        x = np.asarray(x, dtype=np.float64)
        return self._advance(z, x @ self.W_ih.T + self.b_ih)

    def output(self, z: np.ndarray) -> np.ndarray:
        """The readout ``g``: ``y = W_hy h + b_y`` with ``h = z[..., :n_h]``; ``(..., n_y)``."""
        return np.asarray(z)[..., : self.n_h] @ self.W_hy.T + self.b_y

    @property
    def output_matrix(self) -> np.ndarray:
        """``dg/dz = [W_hy, 0]``, ``(n_y, n_z)``."""
        C = np.zeros((self.n_y, self.n_z))
        C[:, : self.n_h] = self.W_hy
        return C

    def simulate(
        self, x: np.ndarray, z0: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Run the model from ``z0`` over ``x``.

        Parameters
        ----------
        x : (T, n_x) for one sequence or (S, T, n_x) for a stack of windows
        z0 : (n_z,) or (S, n_z); zeros if omitted

        Returns
        -------
        z : (..., T + 1, n_z) with ``z[..., 0, :] = z0``
        y : (..., T, n_y), ``y[..., t - 1, :] = g(z_t)`` is the output at step ``t``
        """
        x = np.asarray(x, dtype=np.float64)
        if x.ndim not in (2, 3) or x.shape[-1] != self.n_x:
            raise ValueError(f"x must have shape (T, n_x={self.n_x}) or (S, T, n_x), got {x.shape}")
        batch, T = x.shape[:-2], x.shape[-2]
        z = np.zeros((*batch, T + 1, self.n_z))
        if z0 is not None:
            z0 = np.asarray(z0, dtype=np.float64)
            if z0.shape not in ((self.n_z,), (*batch, self.n_z)):
                raise ValueError(
                    f"z0 must have shape (n_z={self.n_z},) or {(*batch, self.n_z)}, got {z0.shape}"
                )
            z[..., 0, :] = z0
        zb = z.reshape(-1, T + 1, self.n_z)  # a view: (B, T + 1, n_z)
        u = x.reshape(-1, T, self.n_x) @ self.W_ih.T + self.b_ih  # input drive, all t at once
        for t in range(T):
            zb[:, t + 1] = self._advance(zb[:, t], u[:, t])
        return z, self.output(z[..., 1:, :])

    # ---------------------------------------------------------------- storage
    def save(self, path: str | Path) -> Path:
        """Write an ``.npz`` with the six arrays and ``cell``, atomically; returns the path."""
        arrays = {k: getattr(self, k) for k in PARAM_NAMES}
        return save_npz(path, cell=np.array(self.cell), **arrays)

    @classmethod
    def load(cls, path: str | Path) -> GatedCell:
        """Read a model written by :meth:`save`.

        A damaged or foreign file raises :class:`~systems.model_files.ModelFileError` (a
        ``ValueError``) naming it and what is wrong: another cell, unknown or missing arrays,
        a wrong shape, weights that are not finite or exceed ``1e100``.
        """
        arrays = read_npz_model(path, cls.cell, (*PARAM_NAMES, "cell"))
        arrays.pop("cell")
        return build_model(path, lambda: cls(**arrays))


def _vector(name: str, value: object, n: int) -> np.ndarray:
    if value is None:
        return np.zeros(n)
    a = np.array(value, dtype=np.float64)
    if a.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or inf")
    return a
