"""The tuner's default trainer: :class:`systems.batched_train.BatchedTrainer` behind the trainer
protocol (:mod:`~verification.experiment.tune_protocol`).

A rung's requests are grouped by where they start (the epoch of their state, ``0`` for a new
candidate) and how far they go; each group becomes one stack of models (:func:`stack_states`
joins the survivors' states, each kept with its Adam moments and shuffle generator), split into
at most ``workers`` units that run in local worker processes
(:class:`~verification.experiment.executors.LocalExecutor`; ``workers=0``: in this process). A
unit trains its stack, scores every model by free runs over the training and validation splits
(:meth:`~systems.batched_train.BatchedTrainer.evaluate`) and returns one single-model state per
candidate (:meth:`~systems.batched_train.BatchedTrainer.select`). Because the batched trainer
trains every model as if alone, a candidate's result does not depend on which others share its
stack.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from systems.batched_train import BatchedTrainer, EpochReport
from systems.data import Sequence as Series
from systems.errors import InputError
from verification.experiment.tune_protocol import Outcome, Request

#: Fields of a batched trainer's state that are one entry per model.
_PER_MODEL = ("ms", "seeds", "theta", "diverged")
_ADAM_PER_MODEL = ("mu", "nu", "k")


def stack_states(states: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One :class:`BatchedTrainer` state holding the models of ``states`` (in order).

    Every state must have the same configuration (cell, size, ``N``, learning rate, ...) and the
    same epoch; models with the same seed share a shuffle generator, whose state is then the same
    in every part (it depends on the seed and the epoch only).
    """
    first = states[0]
    fixed = [k for k in first if k not in (*_PER_MODEL, "adam", "losses", "rngs", "lr")]
    for st in states[1:]:
        bad = [k for k in fixed if not _same(st[k], first[k])]
        if bad:
            raise InputError(f"cannot stack trainer states that differ in {bad}")
    out = dict(first)
    for k in _PER_MODEL:
        parts = [np.asarray(st[k]) for st in states]
        out[k] = (np.concatenate(parts) if k in ("theta", "diverged")
                  else [int(v) for p in parts for v in np.atleast_1d(p)])
    out["losses"] = np.concatenate([np.asarray(st["losses"]).reshape(first["epoch"], -1)
                                    for st in states], axis=1)
    out["adam"] = {**first["adam"], **{k: np.concatenate([np.asarray(st["adam"][k])
                                                          for st in states])
                                       for k in _ADAM_PER_MODEL}}
    rngs: dict[Any, Any] = {}
    for st in states:
        for s, r in st["rngs"].items():
            if s in rngs and rngs[s] != r:
                raise InputError(f"seed {s}: two states disagree on its shuffle generator")
            rngs[s] = r
    out["rngs"] = rngs
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return a == b


@dataclass(frozen=True)
class TrainConfig:
    """How every candidate is trained: the cell and size, window length ``N``, Adam's learning
    rate (each call of ``train_many``, i.e. each rung, is one cosine cycle from ``lr`` to
    ``lr_min``, :func:`cycle_lr`; ``lr_min = lr``: constant), minibatch size, precision and
    kernel (as :class:`BatchedTrainer`)."""

    cell: str
    n_h: int
    N: int
    lr: float
    lr_min: float | None = None
    batch_size: int = 100
    dtype: str = "float32"
    kernel: str = "numpy"


@dataclass(frozen=True, eq=False)
class Shared:
    """What every unit of work needs: the scaled training and validation splits, the config."""

    train: Series
    val: Series
    config: TrainConfig


@dataclass(frozen=True)
class Unit:
    """Models trained together: a stacked ``state`` (``None``: new models ``ms``/``seeds``) and
    the epochs to add."""

    key: str
    ms: tuple[int, ...]
    seeds: tuple[int, ...]
    state: Any
    epochs: int


def train_unit(unit: Unit, shared: Shared, report: Callable[[dict[str, Any]], None]
               ) -> list[tuple[dict[str, Any], float, float]]:
    """Train one unit and score its models: ``(single-model state, train MSE, val MSE)`` each.
    Pure (no files): runs in a worker process."""
    c = shared.config
    if unit.state is None:
        tr = BatchedTrainer(c.cell, c.n_h, shared.train, N=c.N, ms=list(unit.ms),
                            seeds=list(unit.seeds), lr=c.lr, batch_size=c.batch_size,
                            dtype=c.dtype, kernel=c.kernel)
    else:
        tr = BatchedTrainer.from_state(unit.state, shared.train)

    t0, first = time.perf_counter(), tr.epoch

    def progress(r: EpochReport) -> None:
        done, el = r.epoch - first, time.perf_counter() - t0
        report({"key": unit.key, "epoch": done, "last": unit.epochs, "elapsed": el,
                "eta": el / done * (unit.epochs - done), "models": tr.K})

    for i in range(unit.epochs):
        lr = cycle_lr(c.lr, c.lr if c.lr_min is None else c.lr_min, i, unit.epochs)
        tr = _with_lr(tr, lr, shared.train)
        tr.run(1, progress)
    with np.errstate(over="ignore", invalid="ignore"):
        ev = tr.evaluate({"train": shared.train, "val": shared.val})
    failed = tr.diverged > 0
    return [(tr.select([k]).state(),
             math.nan if failed[k] else float(ev["train"][k]),
             math.nan if failed[k] else float(ev["val"][k])) for k in range(tr.K)]


def cycle_lr(lr: float, lr_min: float, i: int, epochs: int) -> float:
    """Learning rate of epoch ``i`` (from 0) of a cycle of ``epochs`` epochs: cosine from
    ``lr`` down to ``lr_min`` at the epochs' midpoints (SGDR's schedule; every rung is one cycle,
    so the rung ends at a small rate and the next rung restarts at ``lr``).

    >>> [round(cycle_lr(1.0, 0.0, i, 4), 3) for i in range(4)]
    [0.962, 0.691, 0.309, 0.038]
    """
    if lr_min >= lr:
        return lr
    return lr_min + 0.5 * (lr - lr_min) * (1.0 + math.cos(math.pi * (i + 0.5) / epochs))


def _with_lr(tr: BatchedTrainer, lr: float, data: Series) -> BatchedTrainer:
    """``tr`` continuing with Adam's learning rate ``lr`` (moments and steps kept)."""
    st = tr.state()
    if st["lr"] == lr:
        return tr
    st["lr"] = lr
    st["adam"] = {**st["adam"], "lr": lr}
    return BatchedTrainer.from_state(st, data)


class BatchedTuneTrainer:
    """The trainer protocol over :class:`BatchedTrainer` (module docstring).

    Parameters
    ----------
    train, val : the scaled training and validation splits
    config : :class:`TrainConfig`
    workers : worker processes (``None``: one per CPU; ``0``: train in this process)
    log : progress lines (at most one per ``progress_seconds``)
    """

    def __init__(self, train: Series, val: Series, config: TrainConfig, *,
                 workers: int | None = None, log: Callable[[str], None] | None = None,
                 progress_seconds: float = 10.0) -> None:
        self.shared = Shared(train, val, config)
        self.workers = (os.cpu_count() or 1) if workers is None else int(workers)
        self.log = log
        self.progress_seconds = float(progress_seconds)

    # ------------------------------------------------------------------ the protocol
    def train(self, m: int, seed: int, epochs: int, state: Any) -> tuple[Any, float, float]:
        o = self.train_many([Request(m, seed, epochs, state)])[0]
        return o.state, o.train_mse, o.val_mse

    def model(self, state: Mapping[str, Any]) -> Any:
        """The float64 model of a single-model state."""
        return BatchedTrainer.from_state(state, self.shared.train).models()[0]

    def train_many(self, requests: Sequence[Request]) -> list[Outcome]:
        """Train every request; one stack per (start epoch, epochs), split over the workers."""
        from verification.experiment.executors import LocalExecutor

        units, where = self._units(requests)
        results: dict[str, list] = {}
        seen: dict[str, float] = {}
        t0 = time.perf_counter()
        total = sum(len(u.ms) * u.epochs for u in units)

        def on_progress(msg: dict[str, Any]) -> None:
            if "epoch" not in msg or self.log is None:
                return
            now = time.perf_counter()
            if now - seen.get(msg["key"], -math.inf) < self.progress_seconds \
                    and msg["epoch"] < msg["last"]:
                return
            seen[msg["key"]] = now
            self.log(f"    {msg['models']} models: epoch {msg['epoch']}/{msg['last']}, "
                     f"ETA {msg['eta'] / 60:.1f} min ({total} model-epochs in this rung, "
                     f"{(now - t0) / 60:.1f} min so far)")

        ex = LocalExecutor(self.workers)
        try:
            for unit, res in ex.run(train_unit, units, on_progress, shared=self.shared):
                results[unit.key] = res
        finally:
            ex.close()
        return [Outcome(*results[key][i]) for key, i in where]

    def _units(self, requests: Sequence[Request]) -> tuple[list[Unit], list[tuple[str, int]]]:
        """Group the requests into units; ``where[i]`` is request ``i``'s unit and index."""
        groups: dict[tuple[int, int], list[int]] = {}
        for i, r in enumerate(requests):
            start = 0 if r.state is None else int(r.state["epoch"])
            groups.setdefault((start, int(r.epochs)), []).append(i)
        units: list[Unit] = []
        where: list[tuple[str, int]] = [("", 0)] * len(requests)
        for (start, epochs), idx in sorted(groups.items()):
            k = max(1, min(self.workers, len(idx)))
            for part in (idx[j::k] for j in range(k)):
                key = f"e{start}+{epochs}_{len(units)}"
                rs = [requests[i] for i in part]
                state = None if start == 0 else stack_states([r.state for r in rs])
                units.append(Unit(key, tuple(r.m for r in rs), tuple(r.seed for r in rs),
                                  state, epochs))
                for j, i in enumerate(part):
                    where[i] = (key, j)
        return units, where
