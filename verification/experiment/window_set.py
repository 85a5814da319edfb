"""The windows a bound is computed on, and the one sentence that says which they are.

Every number of the zero-state experiment (:mod:`.zero_state`, :mod:`.relaxed_fit`,
:mod:`.model_constants`) -- ``V``, the measured gap, the certified constants, T1 -- is over
exactly one :class:`WindowSet`: all ``S = T - N + 1`` windows of stride 1, every ``k``-th of
them (stride ``k``), or ``n`` of them spread evenly over the sequence. ``label`` is written
into every result, so a number over a subset never reads as one over all windows.

Example
-------
>>> import numpy as np
>>> from systems.data import Sequence
>>> seq = Sequence(np.arange(10.0), np.arange(10.0))
>>> w = select_windows(seq, N=4, stride=3)
>>> w.starts.tolist(), w.X.shape, w.label
([0, 3, 6], (3, 4, 1), 'every 3rd window (stride 3): 3 of the 7 windows of length N = 4')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from systems.data import Sequence
from systems.errors import InputError

__all__ = ["WindowSet", "select_windows", "check_model_data"]


@dataclass(frozen=True, eq=False)
class WindowSet:
    """Windows ``X_i = x_{s_i+1..s_i+N}`` of one sequence, chosen by their offsets ``s_i``.

    Attributes
    ----------
    sequence : the sequence, ``x : (T, n_x)``, ``y : (T, n_y)``
    N : window length
    starts : (S,) int offsets ``s_i`` (increasing)
    X : (S, N, n_x) inputs;  Y : (S, N, n_y) targets
    S_all : the number of stride-1 windows, ``T - N + 1``
    label : which windows these are, in words (goes into every output)
    """

    sequence: Sequence
    N: int
    starts: np.ndarray
    X: np.ndarray
    Y: np.ndarray
    S_all: int
    label: str

    @property
    def S(self) -> int:
        """Number of windows used."""
        return int(self.starts.size)

    def K(self, m: int) -> int:
        """Scored outputs ``S (N - m)`` at burn-in ``m``."""
        return self.S * (self.N - int(m))

    def states_from(self, z: np.ndarray) -> np.ndarray:
        """The states of a run over the whole sequence at the window starts: ``z[s_i]``.

        ``z : (T + 1, n_z)`` with ``z[0]`` the initial state (``model.simulate`` layout);
        returns ``(S, n_z)``, the state before the window's first input.
        """
        return np.array(z[self.starts], dtype=np.float64)

    def to_dict(self) -> dict[str, object]:
        """Plain description: ``N``, ``S``, ``S_all``, ``label`` and the ``starts``."""
        return {"N": self.N, "S": self.S, "S_all": self.S_all, "label": self.label,
                "starts": self.starts.tolist()}


def _ordinal(k: int) -> str:
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def select_windows(sequence: Sequence, N: int, *, stride: int = 1,
                   n_windows: int | None = None) -> WindowSet:
    """Windows of length ``N``: every ``stride``-th one, or ``n_windows`` spread evenly.

    Parameters
    ----------
    sequence : ``x : (T, n_x)``, ``y : (T, n_y)``
    N : window length, ``1 <= N <= T``
    stride : take windows starting at ``0, stride, 2 stride, ...`` (``>= 1``)
    n_windows : if given, ``min(n_windows, S_all)`` windows spread evenly over all ``S_all``
        stride-1 windows (the first and the last included; ``stride`` must then be 1)

    Returns
    -------
    WindowSet
    """
    T = sequence.T
    if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or not 1 <= N <= T:
        raise InputError(f"N = {N!r} must be an integer with 1 <= N <= T = {T}")
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
        raise InputError(f"stride = {stride!r} must be an integer >= 1")
    S_all = T - N + 1
    if n_windows is not None:
        if stride != 1:
            raise InputError("give either stride or n_windows, not both")
        if isinstance(n_windows, bool) or not isinstance(n_windows, (int, np.integer)) \
                or n_windows < 1:
            raise InputError(f"n_windows = {n_windows!r} must be an integer >= 1")
        starts = np.unique(np.round(np.linspace(0, S_all - 1, min(n_windows, S_all))).astype(int))
        label = (f"{starts.size} of the {S_all} windows of length N = {N}, spread evenly"
                 if starts.size < S_all else f"all {S_all} windows of length N = {N}")
    else:
        starts = np.arange(0, S_all, int(stride))
        label = (f"all {S_all} windows of length N = {N} (stride 1)" if stride == 1 else
                 f"every {_ordinal(int(stride))} window (stride {stride}): {starts.size} of "
                 f"the {S_all} windows of length N = {N}")
    idx = starts[:, None] + np.arange(N)[None, :]
    return WindowSet(sequence, int(N), starts, np.ascontiguousarray(sequence.x[idx]),
                     np.ascontiguousarray(sequence.y[idx]), S_all, label)


def check_model_data(model: object, data: Sequence) -> None:
    """An :class:`~systems.errors.InputError` unless ``data`` has the model's ``n_x, n_y``."""
    if data.n_x != model.n_x or data.n_y != model.n_y:
        raise InputError(f"the data has n_x={data.n_x}, n_y={data.n_y} but the model expects "
                         f"n_x={model.n_x}, n_y={model.n_y}")
