"""Stand-in for ``systems.windows.WindowedData`` until the ``gated`` branch lands (same interface).

Delete this file once ``systems.windows.WindowedData`` exists; :mod:`.inputs` imports that first.
"""

from __future__ import annotations

import numpy as np

from systems.data import Sequence
from systems.windows import Windows, check_burn_in


class WindowedData:
    """A sequence cut into windows once, with a burn-in (see the ``gated`` branch's docstring)."""

    def __init__(self, sequence: Sequence, N: int, m: int = 0, stride: int = 1) -> None:
        if not isinstance(sequence, Sequence):
            raise TypeError(f"sequence must be a systems.data.Sequence, got "
                            f"{type(sequence).__name__}")
        self.sequence = sequence
        self.windows = Windows(sequence.T, N, stride)
        self.m = check_burn_in(m, self.windows.N)
        self._stacks: dict[str, np.ndarray] = {}

    def with_m(self, m: int) -> WindowedData:
        other = object.__new__(WindowedData)
        other.sequence, other.windows, other._stacks = self.sequence, self.windows, self._stacks
        other.m = check_burn_in(m, self.N)
        return other

    N = property(lambda self: self.windows.N)
    stride = property(lambda self: self.windows.stride)
    T = property(lambda self: self.windows.T)
    S = property(lambda self: self.windows.S)
    starts = property(lambda self: self.windows.starts)
    X = property(lambda self: self._stack("x"))
    Y = property(lambda self: self._stack("y"))
    coverage = property(lambda self: self.windows.weights(self.m))
    K = property(lambda self: self.S * (self.N - self.m))

    def _stack(self, name: str) -> np.ndarray:
        if name not in self._stacks:
            a = self.windows.stack(getattr(self.sequence, name))
            a.flags.writeable = False
            self._stacks[name] = a
        return self._stacks[name]

    def covers(self) -> bool:
        return self.windows.covers(self.m) and self.windows.o_min >= self.m
