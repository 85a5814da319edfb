"""Training the models of one unit of work of the study: one batched computation.

All models of a :class:`~verification.experiment.study_plan.Group` share the kind, the window
length ``N``, the cell and the budget; they differ in the burn-in ``m`` and the seed. They are
trained together by :class:`systems.batched_train.BatchedTrainer`, each exactly as if alone (the
authors' protocol, on the scaled training split, with the exact gradients of the hand-written
BPTT and torch's Adam update):

* ``stateless`` TBPTT: windows of length ``N`` at stride ``budget.stride`` (1: every window,
  ``S = T - N + 1``), shuffled each epoch, minibatches of ``budget.batch_size`` (the last partial
  batch dropped), each window from the zero state; the loss is the mean squared error over the
  positions ``m+1..N``.
* ``stateful`` TBPTT (``m = 0``), the authors' ``LSTM_Stateful``: the stride-1 windows in time
  order (not shuffled), minibatches of ``B`` consecutive windows, each window started from the
  final state of the window ``N`` steps before it (carried, not differentiated through; zero at
  the start of each epoch): ``B`` parallel streams. ``B`` divides ``N`` (the authors assert
  it): the budget's batch size when it does, else its largest divisor below it.
* ``bptt``: one window over the whole training split from the zero state, one Adam step per
  epoch, for as many Adam steps as a stateless model takes at ``N = 100`` (the authors' count:
  79,600 on Silverbox and Wiener-Hammerstein, 97,500 on RLC; :func:`bptt_steps`).

Initialisation as torch's defaults for ``nn.LSTM``/``nn.GRU``/``nn.RNN`` plus ``nn.Linear``:
every parameter uniform on ``[-1/sqrt(n_h), 1/sqrt(n_h)]``, from the seed alone
(:func:`systems.batched_train.init_theta`), so every ``m`` starts from the same model (as the
authors do). Training runs in the budget's precision (float32 by default, as torch); the models
that come out are float64 objects, and everything that evaluates, certifies or bounds them runs
in float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from systems.batched_train import BatchedTrainer, EpochReport
from systems.cells import Model
from verification.experiment.study_plan import Task

#: The window length whose stateless step count the full-BPTT kind matches (the authors': their
#: BPTT ran as many Adam steps as their ``N = 100`` models).
BPTT_REFERENCE_N = 100


def bptt_steps(budget: Any, T: int) -> int:
    """Adam steps (= epochs) of the full-BPTT kind: ``epochs x floor(S / B)`` of stateless
    training at ``N = 100`` (``S = T - 99`` windows), at least one.

    >>> from verification.experiment.study_plan import Budget
    >>> bptt_steps(Budget("paper", 400, 1e-4), 20000), bptt_steps(Budget("paper", 1500, 3e-4), 6667)
    (79600, 97500)
    """
    S = max(T - min(BPTT_REFERENCE_N, T) + 1, 1)
    return budget.epochs * max(S // min(budget.batch_size, S), 1)


def train_group(tasks: Sequence[Task], job: Any, report: Callable[[dict[str, Any]], None]
                ) -> list[tuple[Model, dict[str, Any]]]:
    """Train the models of ``tasks`` (one kind, ``N``, cell, size) under ``job.budget`` as one
    batch; returns ``(model, history)`` per task, in order.

    ``history``: ``epochs`` trained, ``loss`` (each epoch's mean minibatch loss; NaN after the
    model stopped) and ``diverged`` (the first epoch whose loss or gradient was not finite, or
    ``None``). ``report`` gets one message per epoch: ``epoch``, ``epochs``, ``loss`` (the mean
    over the models still training), ``elapsed``.
    """
    seq = job.splits.scaled("train")
    b = job.budget
    t = tasks[0]
    windows = (seq.T - t.N) // b.stride + 1  # S, the stateless windows
    batch = min(b.batch_size, windows)
    if t.kind == "stateful":  # a divisor of N: B streams of back-to-back windows
        batch = max(d for d in range(1, min(batch, t.N) + 1) if t.N % d == 0)
    trainer = BatchedTrainer(
        t.cell, t.n_h, seq, N=None if t.kind == "bptt" else t.N,
        ms=[x.m for x in tasks] if t.kind == "stateless" else None,
        seeds=[x.seed for x in tasks], lr=b.lr, kind=t.kind, batch_size=batch,
        stride=1 if t.kind == "stateful" else b.stride, dtype=b.dtype, kernel=b.kernel)
    epochs = bptt_steps(b, seq.T) if t.kind == "bptt" else b.epochs

    def progress(r: EpochReport) -> None:
        live = r.losses[np.isfinite(r.losses)]
        report({"epoch": r.epoch, "epochs": r.last, "elapsed": r.elapsed,
                "loss": float(live.mean()) if live.size else math.nan})

    trainer.run(epochs, progress=progress)
    losses, diverged = trainer.losses, trainer.diverged
    return [(model, {"epochs": trainer.epoch, "loss": losses[:, k].tolist(),
                     "diverged": int(diverged[k]) or None})
            for k, model in enumerate(trainer.models())]
