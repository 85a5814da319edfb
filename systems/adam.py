"""Adam trainers of any cell: shuffled minibatches of windows, and stateful TBPTT.

:func:`train_adam` is truncated BPTT as the paper's authors trained: for windowed data
(:class:`~systems.windows.WindowedData`: ``S`` windows of length ``N``, burn-in ``m``) each
epoch draws a permutation of the windows from a seeded generator and walks it in minibatches
of ``B`` windows (the last partial batch is dropped, as torch's
``DataLoader(shuffle=True, drop_last=True)``). Each minibatch takes one Adam step on the TBPTT
loss of docs/theory.md §2 over its windows, zero initial state in every window::

    V_B(theta) = 1/(B (N - m)) sum_{i in batch} sum_{j=m+1..N} ||y_ij(0, theta) - y^d_ij||^2

    k = k + 1,   g = dV_B/dtheta          (systems.bptt.WindowBatch, exact)
    mu = b1 mu + (1 - b1) g,   nu = b2 nu + (1 - b2) g^2
    theta = theta - lr (mu / (1 - b1^k)) / (sqrt(nu / (1 - b2^k)) + eps)

which is ``torch.optim.Adam`` with its defaults (``b1, b2 = 0.9, 0.999``, ``eps = 1e-8``, no
weight decay; :class:`Adam` holds ``k, mu, nu``). ``V_B`` sums the squared error over the
``n_y`` outputs where torch's ``MSELoss`` averages it; Adam's step does not depend on that
factor (up to ``eps``). The authors used ``B = 100``, ``lr = 1e-4`` for 400 epochs (Silverbox,
Wiener-Hammerstein) or ``3e-4`` for 1500 epochs (RLC).

:func:`train_stateful` is stateful TBPTT as the authors ran it (their ``LSTM_Stateful``): the
windows in time order, minibatches of ``B`` consecutive windows, each window started from the
final state of the window ``N`` steps before it, so that the ``B`` windows of a minibatch are
``B`` parallel streams of back-to-back windows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .batched_adam import check_constants
from .blas import single_thread_blas
from .bptt import WindowBatch
from .cells import CELLS, Model
from .data import Sequence
from .errors import InputError
from .windows import WindowedData, check_int

Progress = Callable[[int, float], None]


class Adam:
    """Adam's state ``k, mu, nu`` for parameters of size ``n``, and its update (torch's form,
    see the module docstring).

    ``step(theta, g)`` updates ``theta : (n,)`` in place by the gradient ``g : (n,)``:
    ``k += 1``, ``mu = b1 mu + (1 - b1) g``, ``nu = b2 nu + (1 - b2) g^2``,
    ``theta -= lr (mu / (1 - b1^k)) / (sqrt(nu / (1 - b2^k)) + eps)``.
    """

    def __init__(self, n: int, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.lr, self.eps = float(lr), float(eps)
        self.b1, self.b2 = (float(b) for b in betas)
        self.mu, self.nu, self.denom = np.zeros(n), np.zeros(n), np.empty(n)
        self.k = 0

    def step(self, theta: np.ndarray, g: np.ndarray) -> None:
        self.k += 1
        self.mu *= self.b1
        self.mu += (1.0 - self.b1) * g
        self.nu *= self.b2
        self.nu += (1.0 - self.b2) * g * g
        np.sqrt(self.nu / (1.0 - self.b2**self.k), out=self.denom)
        self.denom += self.eps
        theta -= (self.lr / (1.0 - self.b1**self.k)) * self.mu / self.denom


@dataclass
class AdamHistory:
    """What a trainer did.

    Attributes
    ----------
    loss : mean minibatch (or window) loss of each epoch, before each step, ``(epochs,)``
    steps : Adam steps taken
    seconds : wall-clock time
    """

    loss: list[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0


def _adam(model: Model, n_x: int, n_y: int, lr: float, betas: tuple[float, float],
          eps: float) -> Adam:
    """Check what every trainer takes; Adam's state for ``model``'s parameters."""
    if not isinstance(model, tuple(CELLS.values())):
        raise TypeError(f"model must be an ElmanRNN, LSTM or GRU, got {type(model).__name__}")
    if (model.n_x, model.n_y) != (n_x, n_y):
        raise InputError(f"the model has n_x={model.n_x}, n_y={model.n_y} but the data have "
                         f"n_x={n_x}, n_y={n_y}")
    lr, betas, eps = check_constants(lr, betas, eps)
    return Adam(model.theta.size, lr, betas, eps)


def train_adam(model: Model, data: WindowedData, *, epochs: int, lr: float,
               batch_size: int = 100, seed: int | np.random.Generator = 0,
               betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
               progress: Progress | None = None) -> tuple[Model, AdamHistory]:
    """Train ``model`` by Adam on shuffled minibatches of the windows of ``data``.

    Parameters
    ----------
    model : the starting model (any cell); it is not modified
    data : the windows ``X : (S, N, n_x)``, ``Y : (S, N, n_y)`` and the burn-in ``m``
    epochs : number of passes over the windows, ``>= 1``
    lr : learning rate, ``> 0``
    batch_size : windows per minibatch ``B``, ``1 <= B <= S``; ``floor(S / B)`` steps per epoch
    seed : seed or generator of the shuffles (one permutation of ``0..S-1`` per epoch,
        ``rng.permutation(S)``)
    betas, eps : Adam's constants (torch's defaults)
    progress : called after each epoch as ``progress(epoch, mean_loss)`` (``epoch`` from 1)

    Returns
    -------
    (model, history) : the trained model (same cell and sizes) and :class:`AdamHistory`

    Examples
    --------
    >>> from systems import GRU
    >>> t = np.arange(60.0)
    >>> data = WindowedData(Sequence(np.sin(0.3 * t), np.cos(0.3 * t)), N=10, m=2)
    >>> start = GRU.from_theta(np.full(GRU.n_params(1, 2, 1), 0.1), n_x=1, n_h=2, n_y=1)
    >>> trained, hist = train_adam(start, data, epochs=20, lr=0.05, batch_size=8, seed=0)
    >>> hist.steps, hist.loss[-1] < hist.loss[0] / 2
    (120, True)
    """
    t_start = time.perf_counter()
    if not isinstance(data, WindowedData):
        raise TypeError(f"data must be a systems.windows.WindowedData, got {type(data).__name__}")
    adam = _adam(model, data.n_x, data.n_y, lr, betas, eps)
    epochs = check_int("epochs", epochs, 1)
    B = check_int("batch_size", batch_size, 1)
    if B > data.S:
        raise InputError(f"batch_size = {B} must be <= S = {data.S} (the number of windows)")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    batch = WindowBatch.for_model(model, data.X[:B], data.Y[:B], data.m)
    n_batches = data.S // B

    def epoch(theta: np.ndarray) -> float:
        perm = rng.permutation(data.S)
        total = 0.0
        for b in range(n_batches):
            idx = np.sort(perm[b * B : (b + 1) * B])  # order within a batch: irrelevant
            batch.set_windows(data.X[idx], data.Y[idx])
            V, g, _ = batch.loss_grad(theta, None)
            total += V
            adam.step(theta, g)
        return total / n_batches

    return _train(model, adam, epochs, epoch, progress, t_start)


def train_stateful(model: Model, seq: Sequence, N: int, *, epochs: int, lr: float,
                   batch_size: int = 100, progress: Progress | None = None,
                   betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
                   ) -> tuple[Model, AdamHistory]:
    """Stateful TBPTT as the paper's authors ran it: streams of back-to-back windows.

    The windows of length ``N`` at stride 1 (``S = T - N + 1``), in time order, not shuffled,
    in minibatches of ``B`` consecutive windows (the last partial one dropped): minibatch ``b``
    holds windows ``bB .. bB + B - 1``. ``N`` must be a multiple of ``B`` (the authors assert
    it): there are ``N / B`` state slots, and minibatch ``b`` starts from the final states of
    minibatch ``b - N / B`` (window ``i`` from the end of window ``i - N``, which ends where
    ``i`` starts), from zero for the first ``N / B`` minibatches of each epoch; the gradient does
    not flow into the carried states. The loss of a minibatch is its mean squared error over
    all ``N`` positions (``m = 0``); the Adam update is :func:`train_adam`'s. Training stops
    after the first epoch whose mean loss is not finite.

    Parameters
    ----------
    model : the starting model (any cell); it is not modified
    seq : the training sequence, ``x : (T, n_x)``, ``y : (T, n_y)``
    N : window length, ``1 <= N <= T``
    batch_size : ``B``, windows per minibatch, a divisor of ``N`` with ``B <= S``
    epochs, lr, betas, eps, progress : as for :func:`train_adam`

    Returns
    -------
    (model, history) : the trained model and :class:`AdamHistory` (``loss``: each epoch's mean
    minibatch loss)
    """
    t_start = time.perf_counter()
    adam = _adam(model, seq.n_x, seq.n_y, lr, betas, eps)
    epochs = check_int("epochs", epochs, 1)
    data = WindowedData(seq, check_int("N", N, 1), 0)
    B = check_stream_batch(N, batch_size, data.S)
    slots = N // B
    batch = WindowBatch.for_model(model, data.X[:B], data.Y[:B], 0)

    def epoch(theta: np.ndarray) -> float:
        carried: list[np.ndarray | None] = [None] * slots
        total, n_batches = 0.0, data.S // B
        for b in range(n_batches):
            batch.set_windows(data.X[b * B : (b + 1) * B], data.Y[b * B : (b + 1) * B])
            V, g, _ = batch.loss_grad(theta, carried[b % slots])
            carried[b % slots] = batch.final_state()  # (B, n_z): where the next streams go on
            total += V
            adam.step(theta, g)
        return total / n_batches

    return _train(model, adam, epochs, epoch, progress, t_start, stop_if_not_finite=True)


def check_stream_batch(N: int, batch_size: int, S: int) -> int:
    """``B`` for stateful training (:func:`train_stateful`): a divisor of ``N``, ``1 <= B <= S``,
    else an :class:`~systems.errors.InputError` naming the largest divisor that would do."""
    B = check_int("batch_size", batch_size, 1)
    if N % B or B > S:
        ok = max((d for d in range(1, min(N, S) + 1) if N % d == 0), default=1)
        raise InputError(f"stateful training needs batch_size dividing N = {N} and at most "
                         f"S = {S} windows, got {B} (e.g. {ok})")
    return B


def _train(model: Model, adam: Adam, epochs: int, epoch: Callable[[np.ndarray], float],
           progress: Progress | None, t_start: float, stop_if_not_finite: bool = False
           ) -> tuple[Model, AdamHistory]:
    """Run ``epoch(theta)`` (Adam steps on ``theta`` in place; returns the epoch's mean loss)
    ``epochs`` times from ``model.theta``; the trained model and its history."""
    theta = model.theta.copy()
    hist = AdamHistory()
    with single_thread_blas():
        for n_done in range(1, epochs + 1):
            hist.loss.append(epoch(theta))
            if progress is not None:
                progress(n_done, hist.loss[-1])
            if stop_if_not_finite and not math.isfinite(hist.loss[-1]):
                break
    hist.steps = adam.k
    hist.seconds = time.perf_counter() - t_start
    return model.with_theta(theta), hist
