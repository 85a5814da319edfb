"""Adam over shuffled minibatches of windows: truncated BPTT as the paper's authors trained.

For windowed data (:class:`~systems.windows.WindowedData`: ``S`` windows of length ``N``,
burn-in ``m``) each epoch draws a permutation of the windows from a seeded generator and
walks it in minibatches of ``B`` windows (the last partial batch is dropped, as torch's
``DataLoader(shuffle=True, drop_last=True)``). Each minibatch takes one Adam step on the TBPTT
loss of docs/theory.md §2 over its windows, zero initial state in every window::

    V_B(theta) = 1/(B (N - m)) sum_{i in batch} sum_{j=m+1..N} ||y_ij(0, theta) - y^d_ij||^2

    k = k + 1,   g = dV_B/dtheta          (systems.bptt.WindowBatch, exact)
    mu = b1 mu + (1 - b1) g,   nu = b2 nu + (1 - b2) g^2
    theta = theta - lr (mu / (1 - b1^k)) / (sqrt(nu / (1 - b2^k)) + eps)

which is ``torch.optim.Adam`` with its defaults (``b1, b2 = 0.9, 0.999``, ``eps = 1e-8``, no
weight decay). ``V_B`` sums the squared error over the ``n_y`` outputs where torch's
``MSELoss`` averages it; Adam's step does not depend on that factor (up to ``eps``).
The authors used ``B = 100``, ``lr = 1e-4`` for 400 epochs (Silverbox, Wiener-Hammerstein)
or ``3e-4`` for 1500 epochs (RLC).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .blas import single_thread_blas
from .cells import CELLS, Model
from .windows import WindowedData, check_int


class AdamStep:
    """The Adam update (torch's form, see the module docstring), applied in place.

    ``step(theta, g)``: ``k += 1``, ``mu = b1 mu + (1 - b1) g``, ``nu = b2 nu + (1 - b2) g^2``,
    ``theta -= lr (mu / (1 - b1^k)) / (sqrt(nu / (1 - b2^k)) + eps)``; ``theta, g : (n,)``.
    Shared by :func:`train_adam` and the stateful trainer of the study.
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
    """What :func:`train_adam` did.

    Attributes
    ----------
    loss : mean minibatch loss ``V_B`` of each epoch (before each step), ``(epochs,)``
    steps : Adam steps taken (``epochs * floor(S / B)``)
    seconds : wall-clock time
    """

    loss: list[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0


def train_adam(
    model: Model,
    data: WindowedData,
    *,
    epochs: int,
    lr: float,
    batch_size: int = 100,
    seed: int | np.random.Generator = 0,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    progress: Callable[[int, float], None] | None = None,
) -> tuple[Model, AdamHistory]:
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
    >>> from systems.data import Sequence
    >>> t = np.arange(60.0)
    >>> data = WindowedData(Sequence(np.sin(0.3 * t), np.cos(0.3 * t)), N=10, m=2)
    >>> start = GRU.from_theta(np.full(GRU.n_params(1, 2, 1), 0.1), n_x=1, n_h=2, n_y=1)
    >>> trained, hist = train_adam(start, data, epochs=20, lr=0.05, batch_size=8, seed=0)
    >>> hist.steps, hist.loss[-1] < hist.loss[0] / 2
    (120, True)
    """
    t_start = time.perf_counter()
    if not isinstance(model, tuple(CELLS.values())):
        raise TypeError(f"model must be an ElmanRNN, LSTM or GRU, got {type(model).__name__}")
    if not isinstance(data, WindowedData):
        raise TypeError(f"data must be a systems.windows.WindowedData, got {type(data).__name__}")
    if (model.n_x, model.n_y) != (data.n_x, data.n_y):
        raise ValueError(f"the model has n_x={model.n_x}, n_y={model.n_y} but the data have "
                         f"n_x={data.n_x}, n_y={data.n_y}")
    epochs = check_int("epochs", epochs, 1)
    B = check_int("batch_size", batch_size, 1)
    if B > data.S:
        raise ValueError(f"batch_size = {B} must be <= S = {data.S} (the number of windows)")
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr = {lr} must be a finite number > 0")
    b1, b2 = (float(b) for b in betas)
    if not (0 <= b1 < 1 and 0 <= b2 < 1):
        raise ValueError(f"betas = {betas} must lie in [0, 1)")
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps = {eps} must be a finite number > 0")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    from .problems import Spec  # problems imports this module's neighbours; import at use

    batch = Spec.of(model).batch(data.X[:B], data.Y[:B], data.m)
    theta = model.theta.copy()
    adam = AdamStep(theta.size, lr, (b1, b2), eps)
    hist = AdamHistory()
    n_batches = data.S // B
    with single_thread_blas():
        for epoch in range(1, epochs + 1):
            perm = rng.permutation(data.S)
            total = 0.0
            for b in range(n_batches):
                idx = np.sort(perm[b * B : (b + 1) * B])  # order within a batch: irrelevant
                batch.set_windows(data.X[idx], data.Y[idx])
                V, g, _ = batch.loss_grad(theta, None)
                total += V
                adam.step(theta, g)
            hist.loss.append(total / n_batches)
            if progress is not None:
                progress(epoch, hist.loss[-1])
    hist.steps = adam.k
    hist.seconds = time.perf_counter() - t_start
    return model.with_theta(theta), hist
