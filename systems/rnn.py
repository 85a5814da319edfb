"""The Elman RNN of docs/theory.md §1, its flat parameter vector, simulation and storage.

Model (``sigma`` = identity for ``activation="linear"``, ``tanh`` otherwise)::

    h_t = sigma(W_hh h_{t-1} + W_xh x_t + b_h),    y_t = W_hy h_t + b_y,    t = 1, 2, ...

State-space form of the model interface (``systems.cells``): ``z = h`` (``n_z = n_h``),
``f(z, x) = sigma(W_hh z + W_xh x + b_h)``, ``g(z) = W_hy z + b_y``, with Jacobians
``df/dz = diag(sigma'(a)) W_hh`` (``sigma' = 1 - f^2`` for tanh, ``1`` for linear) and
``dg/dz = W_hy``.

Shapes: ``W_hh : (n_h, n_h)``, ``W_xh : (n_h, n_x)``, ``b_h : (n_h,)``, ``W_hy : (n_y, n_h)``,
``b_y : (n_y,)``. The flat vector ``theta`` stacks them row-major in the order
``W_hh, W_xh, b_h, W_hy, b_y`` (DESIGN.md); biases are always part of ``theta`` (a bias-free
model, such as the paper's synthetic one, has them at zero and a solver freezes them there).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .model_files import ModelFileError, build_model, read_npz_model, where

ACTIVATIONS = ("linear", "tanh")
PARAM_NAMES = ("W_hh", "W_xh", "b_h", "W_hy", "b_y")


def check_activation(activation: str) -> str:
    """Return ``activation`` if it is one of :data:`ACTIVATIONS`, else raise ``ValueError``."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    return activation


def param_shapes(n_h: int, n_x: int, n_y: int) -> dict[str, tuple[int, ...]]:
    """Shapes of ``W_hh, W_xh, b_h, W_hy, b_y`` (the order of ``theta``)."""
    return {
        "W_hh": (n_h, n_h),
        "W_xh": (n_h, n_x),
        "b_h": (n_h,),
        "W_hy": (n_y, n_h),
        "b_y": (n_y,),
    }


def n_params(n_h: int, n_x: int, n_y: int) -> int:
    """Length of ``theta``: ``n_h**2 + n_h n_x + n_h + n_y n_h + n_y``."""
    return sum(int(np.prod(s)) for s in param_shapes(n_h, n_x, n_y).values())


def param_slices(n_h: int, n_x: int, n_y: int) -> dict[str, slice]:
    """Where each parameter lives in ``theta``."""
    return slices_of(param_shapes(n_h, n_x, n_y))


def slices_of(shapes: dict[str, tuple[int, ...]]) -> dict[str, slice]:
    """Consecutive slices of a flat vector holding arrays of ``shapes`` row-major, in order."""
    out, k = {}, 0
    for name, shape in shapes.items():
        size = int(np.prod(shape))
        out[name] = slice(k, k + size)
        k += size
    return out


@dataclass(frozen=True, eq=False)
class ElmanRNN:
    """Elman RNN ``h_t = sigma(W_hh h_{t-1} + W_xh x_t + b_h)``, ``y_t = W_hy h_t + b_y``.

    Parameters
    ----------
    W_hh : (n_h, n_h)
    W_xh : (n_h, n_x)
    b_h : (n_h,) or None (zeros)
    W_hy : (n_y, n_h)
    b_y : (n_y,) or None (zeros)
    activation : ``"tanh"`` or ``"linear"``

    Examples
    --------
    >>> m = ElmanRNN([[0.5]], [[1.0]], None, [[2.0]], None, activation="linear")
    >>> h, y = m.simulate(np.ones((3, 1)))
    >>> y[:, 0].tolist()
    [2.0, 3.0, 3.5]
    """

    W_hh: np.ndarray
    W_xh: np.ndarray
    b_h: np.ndarray | None
    W_hy: np.ndarray
    b_y: np.ndarray | None
    activation: str = "tanh"

    #: The kind of cell (the model interface of :mod:`systems.cells`).
    cell = "elman"

    def __post_init__(self) -> None:
        check_activation(self.activation)
        W_hh = _matrix("W_hh", self.W_hh)
        W_xh = _matrix("W_xh", self.W_xh)
        W_hy = _matrix("W_hy", self.W_hy)
        n_h = W_hh.shape[0]
        if W_hh.shape != (n_h, n_h):
            raise ValueError(f"W_hh must be square (n_h, n_h), got shape {W_hh.shape}")
        if W_xh.shape[0] != n_h:
            raise ValueError(f"W_xh must have shape (n_h={n_h}, n_x), got {W_xh.shape}")
        if W_hy.shape[1] != n_h:
            raise ValueError(f"W_hy must have shape (n_y, n_h={n_h}), got {W_hy.shape}")
        b_h = _vector("b_h", self.b_h, n_h)
        b_y = _vector("b_y", self.b_y, W_hy.shape[0])
        for name, val in zip(PARAM_NAMES, (W_hh, W_xh, b_h, W_hy, b_y), strict=True):
            object.__setattr__(self, name, val)

    # ------------------------------------------------------------------ sizes
    @property
    def n_h(self) -> int:
        return self.W_hh.shape[0]

    @property
    def n_x(self) -> int:
        return self.W_xh.shape[1]

    @property
    def n_y(self) -> int:
        return self.W_hy.shape[0]

    @property
    def n_z(self) -> int:
        """State size ``n_z = n_h`` (the state is ``z = h``)."""
        return self.n_h

    @property
    def options(self) -> dict[str, str]:
        """Keyword options of :meth:`from_theta` beyond the sizes: ``{"activation": ...}``."""
        return {"activation": self.activation}

    @property
    def has_bias(self) -> bool:
        """Whether any bias entry is non-zero."""
        return bool(np.any(self.b_h) or np.any(self.b_y))

    # ------------------------------------------------------------------ theta
    @classmethod
    def n_params(cls, n_x: int, n_h: int, n_y: int) -> int:
        """Length of ``theta`` (as for every cell: ``Class.n_params(n_x, n_h, n_y)``)."""
        return n_params(n_h, n_x, n_y)

    @classmethod
    def param_shapes(cls, n_x: int, n_h: int, n_y: int) -> dict[str, tuple[int, ...]]:
        """Shapes of ``W_hh, W_xh, b_h, W_hy, b_y`` (as for every cell)."""
        return param_shapes(n_h, n_x, n_y)

    @classmethod
    def param_slices(cls, n_x: int, n_h: int, n_y: int) -> dict[str, slice]:
        """Where each parameter lives in ``theta`` (as for every cell)."""
        return param_slices(n_h, n_x, n_y)

    @property
    def theta(self) -> np.ndarray:
        """Flat parameters ``(n_params,)``: ``W_hh, W_xh, b_h, W_hy, b_y`` row-major."""
        return np.concatenate([getattr(self, k).ravel() for k in PARAM_NAMES])

    @classmethod
    def from_theta(
        cls, theta: np.ndarray, n_h: int, n_x: int, n_y: int, activation: str = "tanh"
    ) -> ElmanRNN:
        """Inverse of :attr:`theta` for the given sizes."""
        theta = np.asarray(theta, dtype=np.float64)
        expected = n_params(n_h, n_x, n_y)
        if theta.shape != (expected,):
            raise ValueError(
                f"theta must have shape ({expected},) for n_h={n_h}, n_x={n_x}, n_y={n_y}, "
                f"got {theta.shape}"
            )
        shapes, slices = param_shapes(n_h, n_x, n_y), param_slices(n_h, n_x, n_y)
        parts = {k: theta[slices[k]].reshape(shapes[k]).copy() for k in PARAM_NAMES}
        return cls(**parts, activation=activation)

    def with_theta(self, theta: np.ndarray) -> ElmanRNN:
        """A model of the same sizes and activation with parameters ``theta``."""
        return ElmanRNN.from_theta(theta, self.n_h, self.n_x, self.n_y, self.activation)

    # ------------------------------------------------------------- simulation
    def sigma(self, a: np.ndarray) -> np.ndarray:
        """The activation applied elementwise."""
        return np.tanh(a) if self.activation == "tanh" else a

    def step(self, z: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The state map ``f``: ``z_next = sigma(W_hh z + W_xh x + b_h)``, ``(B, n_h)``.

        Parameters
        ----------
        z : (B, n_h)
        x : (B, n_x)
        """
        return self.sigma(np.asarray(z) @ self.W_hh.T + np.asarray(x) @ self.W_xh.T + self.b_h)

    def output(self, z: np.ndarray) -> np.ndarray:
        """The readout ``g``: ``y = W_hy z + b_y``, ``(..., n_h) -> (..., n_y)``."""
        return np.asarray(z) @ self.W_hy.T + self.b_y

    def jacobian(self, z: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``df/dz = diag(sigma'(a)) W_hh`` at ``(z, x)``: ``(B, n_h, n_h)``.

        Parameters
        ----------
        z : (B, n_h)
        x : (B, n_x)
        """
        d = 1.0 - self.step(z, x) ** 2 if self.activation == "tanh" else np.ones(
            (np.shape(z)[0], self.n_h))
        return d[:, :, None] * self.W_hh[None]

    @property
    def output_matrix(self) -> np.ndarray:
        """``dg/dz = W_hy``, ``(n_y, n_h)``."""
        return self.W_hy

    def simulate(
        self, x: np.ndarray, z0: np.ndarray | None = None, *, h0: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Run the model from ``z0`` over ``x``.

        Parameters
        ----------
        x : (T, n_x) for one sequence or (S, T, n_x) for a stack of windows
        z0 : (n_h,) or (S, n_h); zeros if omitted (``h0=`` is an alias kept for old code)

        Returns
        -------
        h : (..., T + 1, n_h) with ``h[..., 0, :] = h0``
        y : (..., T, n_y), ``y[..., t - 1, :]`` is the output at step ``t``
        """
        if h0 is not None:
            if z0 is not None:
                raise ValueError("give the initial state as z0 or as h0, not both")
            z0 = h0
        h0 = z0
        x = np.asarray(x, dtype=np.float64)
        if x.ndim not in (2, 3) or x.shape[-1] != self.n_x:
            raise ValueError(f"x must have shape (T, n_x={self.n_x}) or (S, T, n_x), got {x.shape}")
        batch, T = x.shape[:-2], x.shape[-2]
        h = np.empty((*batch, T + 1, self.n_h))
        if h0 is None:
            h[..., 0, :] = 0.0
        else:
            h0 = np.asarray(h0, dtype=np.float64)
            if h0.shape not in ((self.n_h,), (*batch, self.n_h)):
                raise ValueError(
                    f"z0 (h0) must have shape (n_h={self.n_h},) or {(*batch, self.n_h)}, "
                    f"got {h0.shape}"
                )
            h[..., 0, :] = h0
        u = x @ self.W_xh.T + self.b_h  # (..., T, n_h): input drive, one product for all t
        for t in range(1, T + 1):
            h[..., t, :] = self.sigma(h[..., t - 1, :] @ self.W_hh.T + u[..., t - 1, :])
        y = h[..., 1:, :] @ self.W_hy.T + self.b_y
        return h, y

    # ---------------------------------------------------------------- storage
    def save(self, path: str | Path) -> Path:
        """Write an ``.npz`` with the five arrays, the activation and ``cell="elman"``.

        Written atomically (a temporary file renamed over ``path``); returns the path.
        """
        arrays = {k: getattr(self, k) for k in PARAM_NAMES}
        return save_npz(path, cell=np.array(self.cell), activation=np.array(self.activation),
                        **arrays)

    @classmethod
    def load(cls, path: str | Path) -> ElmanRNN:
        """Read a model written by :meth:`save` (or an older file without ``cell``).

        A damaged or foreign file raises :class:`~systems.model_files.ModelFileError` (a
        ``ValueError``) naming it and what is wrong: unknown or missing arrays, a wrong shape,
        weights that are not finite or exceed ``1e100`` (:mod:`systems.model_files`).
        """
        arrays = read_npz_model(path, cls.cell, (*PARAM_NAMES, "activation"), ("cell",))
        activation = arrays.pop("activation")
        arrays.pop("cell", None)
        if activation not in ACTIVATIONS:
            raise ModelFileError(f"{where(path)}: array 'activation' is {activation!r}; "
                                 f"accepted: {ACTIVATIONS}")
        return build_model(path, lambda: cls(**arrays, activation=activation))

    # -------------------------------------------------------------- converter
    @classmethod
    def from_torch_state_dict(
        cls,
        rnn_state: Mapping[str, object],
        readout: Mapping[str, object] | None = None,
        *,
        W_hy: np.ndarray | None = None,
        b_y: np.ndarray | None = None,
        activation: str = "tanh",
    ) -> ElmanRNN:
        """Convert a single-layer PyTorch ``nn.RNN`` state dict plus a linear readout.

        ``rnn_state`` maps ``weight_ih_l0 (n_h, n_x)``, ``weight_hh_l0 (n_h, n_h)`` and
        optionally ``bias_ih_l0``, ``bias_hh_l0 (n_h,)`` to arrays (numpy arrays or CPU
        tensors; nothing here imports torch). The readout is an ``nn.Linear`` state dict
        (``weight (n_y, n_h)``, optional ``bias (n_y,)``) or ``W_hy``/``b_y`` given directly.
        ``nn.RNN(nonlinearity="tanh")`` maps to ``activation="tanh"``; torch has no linear
        RNN, but ``activation="linear"`` is accepted for hand-built state dicts.
        PyTorch's two biases add up: ``b_h = bias_ih_l0 + bias_hh_l0``.
        """
        state = {k: _to_array(v) for k, v in rnn_state.items()}
        extra = sorted(k for k in state if k.endswith(("_l1", "_reverse")) or "_l1_" in k)
        if extra:
            raise ValueError(f"only single-layer unidirectional nn.RNN is supported; found {extra}")
        for key in ("weight_ih_l0", "weight_hh_l0"):
            if key not in state:
                raise ValueError(f"rnn_state lacks {key!r}; keys present: {sorted(state)}")
        W_hh_, W_xh_ = state["weight_hh_l0"], state["weight_ih_l0"]
        b_h = np.zeros(W_hh_.shape[0])
        for key in ("bias_ih_l0", "bias_hh_l0"):
            if key in state:
                b_h = b_h + state[key]
        if readout is not None:
            if W_hy is not None or b_y is not None:
                raise ValueError("give the readout either as a state dict or as W_hy/b_y, not both")
            ro = {k.split(".")[-1]: _to_array(v) for k, v in readout.items()}
            if "weight" not in ro:
                raise ValueError(f"readout lacks 'weight'; keys present: {sorted(readout)}")
            W_hy, b_y = ro["weight"], ro.get("bias")
        if W_hy is None:
            raise ValueError("a linear readout is required: pass readout= or W_hy=")
        return cls(W_hh_, W_xh_, b_h, W_hy, b_y, activation=activation)


def save_npz(path: str | Path, **arrays: np.ndarray) -> Path:
    """Write ``arrays`` to ``path`` as ``.npz`` atomically (temporary file, then rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _to_array(v: object) -> np.ndarray:
    if hasattr(v, "detach"):  # a torch tensor, without importing torch
        v = v.detach().cpu().numpy()  # type: ignore[attr-defined]
    return np.asarray(v, dtype=np.float64)


def finite_array(name: str, value: object, ndim: int, what: str = "") -> np.ndarray:
    """``value`` as a float64 array with ``ndim`` axes and finite entries, else ``ValueError``."""
    a = np.array(value, dtype=np.float64)
    if a.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array{what}, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or inf")
    return a


def _matrix(name: str, value: object) -> np.ndarray:
    return finite_array(name, value, 2)


def _vector(name: str, value: object, n: int) -> np.ndarray:
    if value is None:
        return np.zeros(n)
    a = np.array(value, dtype=np.float64).reshape(-1) if np.ndim(value) <= 1 else None
    if a is None or a.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {np.shape(value)}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or inf")
    return a
