"""Training one model of the study with Adam (the authors' protocol, ``../shared/models``).

Three kinds, all on the scaled training split, all with the exact gradients of
:class:`systems.bptt.WindowBatch` (any cell):

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

from systems.bptt import WindowBatch
from systems.cells import CELLS, Model
from systems.windows import Windows


def init_model(cell: str, n_x: int, n_h: int, n_y: int, seed: int) -> Model:
    """torch's default initialisation: every parameter ``U(-1/sqrt(n_h), 1/sqrt(n_h))``."""
    cls = CELLS[cell]
    k = 1.0 / math.sqrt(n_h)
    theta = np.random.default_rng([seed, 0]).uniform(-k, k, cls.n_params(n_x, n_h, n_y))
    return cls.from_theta(theta, n_x=n_x, n_h=n_h, n_y=n_y)


class Adam:
    """Adam (Kingma & Ba) with torch's defaults ``betas = (0.9, 0.999)``, ``eps = 1e-8``.

    ``step(theta, grad)`` updates ``theta : (n,)`` in place with bias-corrected moments.
    """

    def __init__(self, n: int, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.lr, (self.b1, self.b2), self.eps = float(lr), betas, float(eps)
        self.m1, self.m2, self.t = np.zeros(n), np.zeros(n), 0

    def step(self, theta: np.ndarray, grad: np.ndarray) -> None:
        self.t += 1
        self.m1 *= self.b1
        self.m1 += (1.0 - self.b1) * grad
        self.m2 *= self.b2
        self.m2 += (1.0 - self.b2) * grad * grad
        step = self.lr / (1.0 - self.b1**self.t)
        denom = np.sqrt(self.m2 / (1.0 - self.b2**self.t)) + self.eps
        theta -= step * self.m1 / denom


def train(task: Any, job: Any, report: Any) -> tuple[Model, dict[str, Any]]:
    """Train the model of ``task`` under ``job.budget``; returns ``(model, history)``.

    ``history``: ``epochs`` run, ``loss`` (the mean minibatch loss of each epoch) and
    ``diverged`` (the epoch at which the loss stopped being finite, else ``None``; training
    then stops with the last finite parameters).
    """
    seq = job.splits.scaled("train")
    b = job.budget
    model = init_model(task.cell, seq.n_x, task.n_h, seq.n_y, task.seed)
    theta = model.theta.copy()
    adam = Adam(theta.size, b.lr)
    rng = np.random.default_rng([task.seed, 1])
    steps = _schedule(task, seq, b, rng)
    history: dict[str, Any] = {"loss": [], "diverged": None, "epochs": 0}
    t0 = time.perf_counter()
    for epoch in range(1, b.epochs + 1):
        losses = []
        for V in steps(theta, adam):
            if not math.isfinite(V):
                history["diverged"] = epoch
                break
            losses.append(V)
        if history["diverged"]:
            theta = steps.last_good
            break
        history["loss"].append(float(np.mean(losses)))
        history["epochs"] = epoch
        report({"key": task.key, "epoch": epoch, "epochs": b.epochs,
                "loss": history["loss"][-1], "elapsed": time.perf_counter() - t0})
    return model.with_theta(theta), history


class _Steps:
    """One epoch of Adam steps as a generator of minibatch losses (``V`` before the step)."""

    def __init__(self, task: Any, batches: Any) -> None:
        self.task, self.batches, self.last_good = task, batches, None

    def __call__(self, theta: np.ndarray, adam: Adam):
        for batch, z, carry in self.batches():
            self.last_good = theta.copy()
            if carry is not None:  # stateful: the final state under the current parameters
                carry(batch.forward(theta, z)[-1].copy())
            V, grad, _ = batch.loss_grad(theta, z)
            if not (math.isfinite(V) and np.all(np.isfinite(grad))):
                yield math.nan
                return
            adam.step(theta, grad)
            yield V


def _schedule(task: Any, seq: Any, b: Any, rng: np.random.Generator) -> _Steps:
    cell, n_h = task.cell, task.n_h

    def batch_of(X: np.ndarray, Y: np.ndarray, m: int) -> WindowBatch:
        return WindowBatch(X, Y, m, n_h=n_h, cell=cell)

    if task.kind == "bptt":
        whole = batch_of(seq.x[None], seq.y[None], 0)

        def batches():
            yield whole, None, None

        return _Steps(task, batches)
    if task.kind == "stateful":
        K = seq.T // task.N
        parts = [batch_of(seq.x[None, k * task.N:(k + 1) * task.N],
                          seq.y[None, k * task.N:(k + 1) * task.N], 0) for k in range(K)]

        def batches():
            state = {"z": None}

            def carry(z_end: np.ndarray) -> None:
                state["next"] = z_end

            for part in parts:
                yield part, state["z"], carry
                state["z"] = state["next"]

        return _Steps(task, batches)
    w = Windows(seq.T, task.N, b.stride)
    X, Y = w.stack(seq.x), w.stack(seq.y)  # (S, N, n_x), (S, N, n_y)
    size = min(b.batch_size, w.S)

    def batches():
        order = rng.permutation(w.S)
        for k in range(w.S // size):
            idx = np.sort(order[k * size:(k + 1) * size])
            yield batch_of(X[idx], Y[idx], task.m), None, None

    return _Steps(task, batches)
