"""Training one model of the study with Adam (the paper's authors' protocol).

Three kinds, all on the scaled training split, all with the exact gradients of
:class:`systems.bptt.WindowBatch` (any cell) and torch's Adam update; ``stateless`` and ``bptt``
run :func:`systems.adam.train_adam`, ``stateful`` :func:`train_stateful` (``train_adam`` starts
every window from zero):

* ``stateless`` TBPTT: windows of length ``N`` at stride ``budget.stride`` (1: every window,
  ``S = T - N + 1``), shuffled each epoch, minibatches of ``budget.batch_size`` (the last partial
  batch dropped), each window from the zero state; the loss is the mean squared error over the
  positions ``m+1..N``.
* ``stateful`` TBPTT (``m = 0``): consecutive windows ``[kN, (k+1)N)`` in time order, one Adam
  step per window, each window started from the final state of the previous one (carried, not
  differentiated through); the state is reset to zero at the start of each epoch. The authors'
  code for this kind was not available to us: this is the classical TBPTT(N, N).
* ``bptt``: one window over the whole training split from the zero state, one Adam step per
  epoch.

Initialisation as torch's defaults for ``nn.LSTM``/``nn.GRU``/``nn.RNN`` plus ``nn.Linear``:
every parameter uniform on ``[-1/sqrt(n_h), 1/sqrt(n_h)]``, from ``seed`` alone, so every ``m``
starts from the same model (as the authors do).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from systems.adam import train_adam, train_stateful
from systems.cells import CELLS, Model
from systems.windows import WindowedData


def init_model(cell: str, n_x: int, n_h: int, n_y: int, seed: int) -> Model:
    """torch's default initialisation: every parameter ``U(-1/sqrt(n_h), 1/sqrt(n_h))``."""
    cls = CELLS[cell]
    k = 1.0 / math.sqrt(n_h)
    theta = np.random.default_rng([seed, 0]).uniform(-k, k, cls.n_params(n_x, n_h, n_y))
    return cls.from_theta(theta, n_x=n_x, n_h=n_h, n_y=n_y)


def train(task: Any, job: Any, report: Any) -> tuple[Model, dict[str, Any]]:
    """Train the model of ``task`` under ``job.budget``; returns ``(model, history)``.

    ``stateless`` and ``bptt`` go through :func:`systems.adam.train_adam` (windows of
    :class:`systems.windows.WindowedData`; ``bptt`` is its one window of length ``T``);
    ``stateful`` through :func:`train_stateful`. ``history``: ``epochs`` run, ``loss`` (mean
    minibatch loss of each epoch) and ``diverged`` (first epoch whose loss is not finite).
    """
    seq = job.splits.scaled("train")
    b = job.budget
    model = init_model(task.cell, seq.n_x, task.n_h, seq.n_y, task.seed)
    t0 = time.perf_counter()

    def progress(epoch: int, loss: float) -> None:
        report({"key": task.key, "epoch": epoch, "epochs": b.epochs, "loss": loss,
                "elapsed": time.perf_counter() - t0})

    if task.kind == "stateful":
        model, hist = train_stateful(model, seq, task.N, epochs=b.epochs, lr=b.lr,
                                     progress=progress)
    else:
        N, m, stride = (seq.T, 0, 1) if task.kind == "bptt" else (task.N, task.m, b.stride)
        data = WindowedData(seq, N, m, stride)
        model, hist = train_adam(model, data, epochs=b.epochs, lr=b.lr,
                                 batch_size=min(b.batch_size, data.S),
                                 seed=np.random.default_rng([task.seed, 1]), progress=progress)
    losses = hist.loss
    bad = [k for k, v in enumerate(losses, 1) if not math.isfinite(v)]
    return model, {"epochs": len(losses), "loss": losses, "diverged": bad[0] if bad else None}
