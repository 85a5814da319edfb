"""The model family a computation is about: cell, sizes and options, without parameters.

``Spec(cell, n_x, n_h, n_y, activation)`` is what the BPTT batch, the trainers and the solver
need to know about a model before (or instead of) its ``theta``: the model class
(:data:`systems.cells.CELLS`), the layout of ``theta`` and the state size ``n_z``. Every
number here is read from the model class, so each lives in one place.

Examples
--------
>>> from systems import LSTM
>>> spec = Spec("lstm", n_x=1, n_h=8, n_y=1)
>>> spec.n_z, spec.n_theta, spec.options
(16, 361, {})
>>> Spec.of(spec.model(np.zeros(spec.n_theta))) == spec
True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .cells import CELLS, Model


@dataclass(frozen=True)
class Spec:
    """A model family: ``cell`` (``"elman" | "lstm" | "gru"``), sizes, and ``activation``
    (``"tanh" | "linear"``, Elman only; ignored by the gated cells)."""

    cell: str
    n_x: int
    n_h: int
    n_y: int
    activation: str = "tanh"

    @classmethod
    def of(cls, model: Model | Spec) -> Spec:
        """The spec of ``model`` (a spec is its own)."""
        if isinstance(model, Spec):
            return model
        return cls(model.cell, model.n_x, model.n_h, model.n_y,
                   model.options.get("activation", "tanh"))

    @property
    def model_class(self) -> type:
        return CELLS[self.cell]

    @property
    def options(self) -> dict[str, str]:
        """Keyword options of ``from_theta`` beyond the sizes (``activation`` for Elman)."""
        return {"activation": self.activation} if self.cell == "elman" else {}

    @cached_property
    def n_z(self) -> int:
        """State size, as the model class defines it (``2 n_h`` for the LSTM's ``(h, c)``)."""
        return self.model(np.zeros(self.n_theta)).n_z

    @property
    def n_theta(self) -> int:
        return self.model_class.n_params(self.n_x, self.n_h, self.n_y)

    def slices(self) -> dict[str, slice]:
        """Where each named parameter lives in ``theta``."""
        return self.model_class.param_slices(self.n_x, self.n_h, self.n_y)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """The shape of each named parameter."""
        return self.model_class.param_shapes(self.n_x, self.n_h, self.n_y)

    def model(self, theta: np.ndarray) -> Model:
        """The model of this family with parameters ``theta : (n_theta,)``."""
        return self.model_class.from_theta(theta, n_x=self.n_x, n_h=self.n_h, n_y=self.n_y,
                                           **self.options)
