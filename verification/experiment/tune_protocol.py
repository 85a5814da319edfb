"""What the burn-in tuner asks of a trainer: train a candidate ``(m, seed)`` some more epochs and
say how good it is.

The tuner (:mod:`verification.experiment.tune`) never looks inside a model. It needs one
operation, the **trainer protocol**::

    train(m, seed, epochs, state) -> (state, train_mse, val_mse)

train the model with burn-in ``m`` and seed ``seed`` for ``epochs`` *more* epochs, continuing
``state`` (``None``: start from the seed's initialisation), and return the new state with the
free-run MSE of the model on the training and the validation split (the authors' evaluation:
from the zero state, scaled units). A plain function with that signature is a trainer; so is an
object with a ``train`` method. A trainer may also offer

* ``train_many(requests) -> list[Outcome]``: several :class:`Request` at once (the default
  trainer, :mod:`~verification.experiment.tune_batched`, trains a rung's candidates as one batch
  on several processes); without it the tuner calls ``train`` once per request;
* ``model(state)``: the :mod:`systems.cells` model of a state, for the theory's candidates
  (forgetting constants of the ``m = 0`` model, :mod:`~verification.experiment.tune_theory`);
  without it the tuner searches the whole grid.

A resumed run needs the states of the candidates still alive. States made of numbers, strings,
arrays, lists, tuples and dicts with string keys (a torch ``state_dict`` converted with
``.numpy()``, the batched trainer's state) are written to disk as JSON and ``.npz``
(:mod:`~verification.experiment.tune_store`), never pickled.

Example
-------
A trainer whose error falls like ``1 + (m - 30)**2 / 900 + 1 / epochs``:

>>> def toy(m, seed, epochs, state):
...     e = (state or 0) + epochs
...     err = 1 + (m - 30) ** 2 / 900 + 1 / e
...     return e, err, err
>>> t = as_trainer(toy)
>>> [round(o.criterion, 4) for o in t.train_many([Request(30, 0, 2, None),
...                                               Request(0, 0, 2, None)])]
[1.5, 2.5]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from systems.errors import InputError

#: The authors' selection rule: ``m*`` minimises ``0.7 train MSE + 0.3 validation MSE``.
W_TRAIN, W_VAL = 0.7, 0.3


def criterion(train_mse: float, val_mse: float) -> float:
    """The authors' selection criterion ``0.7 train + 0.3 validation`` (free-run MSE); ``inf``
    for a model whose error is not finite (diverged), so it always ranks last.

    >>> criterion(2.0, 2.0), criterion(float("nan"), 1.0)
    (2.0, inf)
    """
    c = W_TRAIN * float(train_mse) + W_VAL * float(val_mse)
    return c if math.isfinite(c) else math.inf


@dataclass(frozen=True)
class Request:
    """Train candidate ``(m, seed)`` for ``epochs`` more epochs from ``state`` (``None``:
    start)."""

    m: int
    seed: int
    epochs: int
    state: Any = None


@dataclass(frozen=True)
class Outcome:
    """A trained candidate: its new ``state`` and the free-run MSE on train and validation."""

    state: Any
    train_mse: float
    val_mse: float

    @property
    def criterion(self) -> float:
        return criterion(self.train_mse, self.val_mse)


@runtime_checkable
class Trainer(Protocol):
    """The trainer protocol (module docstring): ``train`` is required, ``train_many`` and
    ``model`` are optional."""

    def train(self, m: int, seed: int, epochs: int, state: Any) -> tuple[Any, float, float]:
        ...  # pragma: no cover


class _Wrapped:
    """A trainer made from a plain function or an object with ``train``."""

    def __init__(self, fn: Callable[..., tuple[Any, float, float]], base: Any) -> None:
        self._fn = fn
        self._base = base

    def train(self, m: int, seed: int, epochs: int, state: Any) -> tuple[Any, float, float]:
        return self._fn(m, seed, epochs, state)

    def train_many(self, requests: Sequence[Request]) -> list[Outcome]:
        many = getattr(self._base, "train_many", None)
        if many is not None:
            return [_outcome(o) for o in many(list(requests))]
        return [_outcome(self._fn(r.m, r.seed, r.epochs, r.state)) for r in requests]

    def model(self, state: Any) -> Any:
        get = getattr(self._base, "model", None)
        return None if get is None else get(state)

    @property
    def batched(self) -> bool:
        """Whether the trainer trains several requests at once (else one at a time, so each
        result can be kept the moment it is there)."""
        return getattr(self._base, "train_many", None) is not None

    @property
    def has_model(self) -> bool:
        return getattr(self._base, "model", None) is not None


def _outcome(o: Any) -> Outcome:
    if isinstance(o, Outcome):
        return o
    try:
        state, tr, va = o
        return Outcome(state, float(tr), float(va))
    except (TypeError, ValueError) as exc:
        raise InputError(f"a trainer must return (state, train_mse, val_mse), got {o!r:.80}"
                         ) from exc


def as_trainer(trainer: Any) -> _Wrapped:
    """``trainer`` (a function ``train(m, seed, epochs, state)`` or an object with ``train``)
    as the tuner uses it: with ``train_many`` and ``model`` (``None`` when not offered)."""
    if isinstance(trainer, _Wrapped):
        return trainer
    fn = getattr(trainer, "train", None)
    if fn is None and callable(trainer):
        fn = trainer
    if fn is None or not callable(fn):
        raise InputError("trainer must be a function train(m, seed, epochs, state) -> "
                         "(state, train_mse, val_mse) or an object with such a train method, "
                         f"got {type(trainer).__name__}")
    return _Wrapped(fn, trainer)
