"""Window geometry of docs/theory.md §1: offsets, ``S``, overlaps, ``o_min``, coverage of a burn-in.

Times are 1-based in the docs (``t = 1..T``) and 0-based in arrays. Window ``i`` (1-based)
covers times ``s_i + 1 .. s_i + N`` with ``s_i = (i - 1) * stride``; its position ``j``
(``1..N``) is time ``s_i + j``. A burn-in ``m`` leaves positions ``1..m`` unscored.
"""

from __future__ import annotations

import numpy as np

from .data import Sequence


def check_int(name: str, value: object, minimum: int) -> int:
    """Return ``value`` as an int if it is an integer ``>= minimum``, else raise naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} = {value} must be >= {minimum}")
    return int(value)


def check_burn_in(m: object, N: int) -> int:
    """Return ``m`` if it is an integer with ``0 <= m < N``, else raise naming the range."""
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)):
        raise TypeError(f"m must be an integer, got {m!r}")
    if not 0 <= m < N:
        raise ValueError(f"m = {m} must satisfy 0 <= m < N = {N}")
    return int(m)


class Windows:
    """Uniform-stride windows of length ``N`` over a sequence of length ``T``.

    Attributes
    ----------
    T, N, stride : int
    starts : (S,) int, the offsets ``s_i`` (``s_1 = 0``)
    S : int, ``floor((T - N) / stride) + 1``
    overlaps : (S - 1,) int, ``o_i = s_{i-1} + N - s_i`` for ``i = 2..S``
    o_min : int, ``min_i o_i`` (``N`` when ``S == 1``: no later window needs a burn-in overlap)
    index : (S, N) int, 0-based time index of window ``i`` at position ``j``

    Examples
    --------
    >>> w = Windows(T=100, N=21)
    >>> w.S, w.o_min, int(w.weights(4).sum()) == w.S * (21 - 4)
    (80, 20, True)
    """

    def __init__(self, T: int, N: int, stride: int = 1) -> None:
        self.T = check_int("T", T, 1)
        self.N = check_int("N", N, 1)
        self.stride = check_int("stride", stride, 1)
        if self.N > self.T:
            raise ValueError(f"N = {self.N} must satisfy 1 <= N <= T = {self.T}")
        self.S = (self.T - self.N) // self.stride + 1
        self.starts = np.arange(self.S) * self.stride
        self.overlaps = self.starts[:-1] + self.N - self.starts[1:]
        self.o_min = int(self.overlaps.min()) if self.S > 1 else self.N
        self.index = self.starts[:, None] + np.arange(self.N)[None, :]

    def __repr__(self) -> str:
        return f"Windows(T={self.T}, N={self.N}, stride={self.stride}; S={self.S})"

    @property
    def end(self) -> int:
        """Last time covered by a window, ``s_S + N`` (equals ``T`` iff the tail is covered)."""
        return int(self.starts[-1] + self.N)

    def stack(self, a: np.ndarray) -> np.ndarray:
        """Cut a sequence ``a : (T, n)`` into windows ``(S, N, n)`` (a contiguous copy)."""
        a = np.asarray(a)
        if a.ndim != 2 or a.shape[0] != self.T:
            raise ValueError(f"expected an array of shape (T={self.T}, n), got {a.shape}")
        return np.ascontiguousarray(a[self.index])

    def mask(self, m: int) -> np.ndarray:
        """``(N,)`` bool: position ``j`` (0-based ``j - 1``) is scored under burn-in ``m``."""
        m = check_burn_in(m, self.N)
        return np.arange(1, self.N + 1) > m

    def weights(self, m: int) -> np.ndarray:
        """``(T,)`` float: how many windows score each time step under burn-in ``m``.

        ``weights(m).sum() == S * (N - m)``; the benchmark objective weights time ``t`` by it.
        """
        m = check_burn_in(m, self.N)
        w = np.zeros(self.T)
        np.add.at(w, self.index[:, m:].ravel(), 1.0)
        return w

    def covers(self, m: int) -> bool:
        """Whether every time ``t = m+1..T`` is scored by some window (T2's hypothesis,
        docs/theory.md §6)."""
        return bool(np.all(self.weights(m)[m:] > 0))

    def blocks(self, m: int) -> list[np.ndarray]:
        """The blocks ``J_i`` of docs/theory.md §6 as 1-based positions within window ``i``.

        ``J_1 = {m+1..N}``, ``J_i = {o_i+1..N}`` for ``i >= 2``; when ``o_min >= m`` and the
        windows cover the sequence, the times ``s_i + J_i`` partition ``m+1..T``.
        """
        m = check_burn_in(m, self.N)
        first = [np.arange(m + 1, self.N + 1)]
        return first + [np.arange(o + 1, self.N + 1) for o in self.overlaps]


class WindowedData:
    """A training sequence cut into windows once, with a burn-in: the data every problem uses.

    Build it once per ``(sequence, N, stride)`` and hand it on (to :func:`systems.problems.fit`,
    the BPTT batch, the Adam trainer); :meth:`with_m` gives the same windows under another
    burn-in without cutting the sequence again.

    Parameters
    ----------
    sequence : :class:`systems.data.Sequence`, ``x : (T, n_x)``, ``y : (T, n_y)``
    N : window length, ``1 <= N <= T``
    m : burn-in, ``0 <= m < N``
    stride : window stride ``>= 1``

    Attributes
    ----------
    sequence, windows : the sequence and its :class:`Windows`
    N, m, stride, T, S, n_x, n_y : int
    X : (S, N, n_x) input windows, ``X[i, j - 1] = x_{s_i + j}`` (made on first use, shared
        with every :meth:`with_m` copy)
    Y : (S, N, n_y) target windows
    mask : (N,) bool, the scored positions ``j > m``
    coverage : (T,) how many windows score each time (the benchmark's weights)
    K : ``S (N - m)``, the number of scored outputs

    Examples
    --------
    >>> from systems.data import Sequence
    >>> d = WindowedData(Sequence(np.arange(10.0), np.arange(10.0)), N=4, m=1, stride=2)
    >>> d.S, d.X.shape, d.K, d.with_m(3).X is d.X
    (4, (4, 4, 1), 12, True)
    """

    def __init__(self, sequence: Sequence, N: int, m: int = 0, stride: int = 1) -> None:
        if not isinstance(sequence, Sequence):
            raise TypeError(f"sequence must be a systems.data.Sequence, got "
                            f"{type(sequence).__name__}")
        self.sequence = sequence
        self.windows = Windows(sequence.T, N, stride)
        self.m = check_burn_in(m, self.windows.N)
        self._stacks: dict[str, np.ndarray] = {}

    def __repr__(self) -> str:
        return (f"WindowedData({self.sequence!r}, N={self.N}, m={self.m}, "
                f"stride={self.stride}; S={self.S})")

    def with_m(self, m: int) -> WindowedData:
        """The same windows (and the same ``X``, ``Y`` arrays) under burn-in ``m``."""
        other = object.__new__(WindowedData)
        other.sequence, other.windows, other._stacks = self.sequence, self.windows, self._stacks
        other.m = check_burn_in(m, self.N)
        return other

    @property
    def N(self) -> int:
        return self.windows.N

    @property
    def stride(self) -> int:
        return self.windows.stride

    @property
    def T(self) -> int:
        return self.windows.T

    @property
    def S(self) -> int:
        return self.windows.S

    @property
    def n_x(self) -> int:
        return self.sequence.n_x

    @property
    def n_y(self) -> int:
        return self.sequence.n_y

    @property
    def starts(self) -> np.ndarray:
        """``(S,)`` window offsets ``s_i``."""
        return self.windows.starts

    @property
    def X(self) -> np.ndarray:
        """``(S, N, n_x)`` input windows (read-only, shared)."""
        return self._stack("x")

    @property
    def Y(self) -> np.ndarray:
        """``(S, N, n_y)`` target windows (read-only, shared)."""
        return self._stack("y")

    def _stack(self, name: str) -> np.ndarray:
        if name not in self._stacks:
            a = self.windows.stack(getattr(self.sequence, name))
            a.flags.writeable = False
            self._stacks[name] = a
        return self._stacks[name]

    @property
    def mask(self) -> np.ndarray:
        """``(N,)`` bool: position ``j`` is scored (``j > m``)."""
        return self.windows.mask(self.m)

    @property
    def coverage(self) -> np.ndarray:
        """``(T,)`` number of windows that score each time (``Windows.weights(m)``)."""
        return self.windows.weights(self.m)

    @property
    def K(self) -> int:
        """``S (N - m)``, the number of scored outputs."""
        return self.S * (self.N - self.m)

    def covers(self) -> bool:
        """Every time ``m+1..T`` is scored and every overlap is ``>= m`` (T2's hypothesis)."""
        return self.windows.covers(self.m) and self.windows.o_min >= self.m
