"""One epoch of each training kind for a stack of models (used by :mod:`systems.batched_train`).

Every kind walks its Adam steps in order; at each step every chunk of models (at most
``max_chunk`` models share one :class:`~systems.batched.BatchedBPTT`) gets its windows, its
parameters and its initial states, and returns its losses and gradients; then one batched Adam
step updates the models still training. What each model sees is what it would see trained
alone (``verification/experiment/study_train.py``):

* ``stateless``: windows of length ``N`` (stride ``stride``), a new permutation per epoch from
  the generator of the model's seed (``rng.permutation(S)``, as :func:`systems.adam.train_adam`),
  minibatches of ``B`` windows sorted within the batch, the last partial batch dropped, each
  window from the zero state, burn-in ``m_k``. Models with the same seed see the same
  minibatches: they share one generator and one gather per step.
* ``stateful`` (the authors' protocol, :func:`systems.adam.train_stateful`): the stride-1
  windows in time order, minibatches of ``B`` consecutive windows (``N`` a multiple of ``B``),
  minibatch ``b`` started from the final states of minibatch ``b - N/B`` under the parameters
  of their step (carried, not differentiated), zero for the first ``N/B`` minibatches of each
  epoch: ``B`` parallel streams of back-to-back windows; all ``N`` positions scored.
* ``bptt``: one window over the whole sequence from the zero state, one Adam step per epoch.

Each epoch returns the mean minibatch loss of every model (before each step), and the models
whose loss or gradient was not finite stop at the parameters that produced it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .batched import BatchedBPTT

#: ``step(V, G, models)``: losses ``V : (k,)``, gradients ``G : (k, n_theta)`` of the models
#: ``models`` (indices into the trainer's ``K``): record, check, update.
StepFn = Callable[[np.ndarray, np.ndarray, np.ndarray], None]


@dataclass
class Chunk:
    """Models run together by one kernel: their indices, weights and data groups.

    Attributes
    ----------
    models : (Kc,) indices into the trainer's models
    w : (N, Kc) per-step weights over the normaliser (:meth:`BatchedBPTT.set_weights`)
    groups : ``(seed, slots)``: the kernel slots of the models of each seed (a slice when
        they are consecutive)
    z : the final states ``(n_z, Kc, B)`` of the last step (when carried), else None
    streams : the states each stream slot carries to its next minibatch (stateful)
    """

    models: np.ndarray
    w: np.ndarray
    groups: list[tuple[int, slice | np.ndarray]]
    z: np.ndarray | None = None
    streams: list[np.ndarray | None] | None = None


def _slots(where: np.ndarray) -> slice | np.ndarray:
    """Consecutive slot indices as a slice (cheaper to assign through), else the array."""
    if where.size and np.array_equal(where, np.arange(where[0], where[0] + where.size)):
        return slice(int(where[0]), int(where[0]) + where.size)
    return where


def plan_chunks(models: np.ndarray, seeds: np.ndarray, w: np.ndarray, max_chunk: int
                ) -> list[Chunk]:
    """Split ``models`` (sorted by seed, so each seed's models are neighbours) into chunks of
    at most ``max_chunk``, sizes differing by at most one; ``w : (N, K)`` all models' weights."""
    order = models[np.argsort(seeds[models], kind="stable")]
    n = max(1, -(-order.size // max_chunk))
    chunks = []
    for part in np.array_split(order, n):
        s = seeds[part]
        groups = [(int(v), _slots(np.flatnonzero(s == v))) for v in np.unique(s)]
        chunks.append(Chunk(part, w[:, part], groups))
    return chunks


def run_chunks(kernels: dict[int, BatchedBPTT], chunks: list[Chunk], Theta: np.ndarray,
               fill: Callable[[BatchedBPTT, Chunk], None], step: StepFn,
               carry: bool = False) -> None:
    """One Adam step: every chunk's loss and gradient (``fill`` loads its data and initial
    states), then ``step`` on all of them at once; with ``carry`` each chunk keeps its final
    states in ``z``."""
    V, G, models = [], [], []
    for ch in chunks:
        ker = kernels[ch.models.size]
        ker.set_weights(ch.w)
        ker.set_params(Theta[ch.models])
        fill(ker, ch)
        v, g = ker.loss_grad()
        if carry:
            ch.z = ker.final_state()
        V.append(v)
        G.append(g)
        models.append(ch.models)
    step(np.concatenate(V), np.concatenate(G), np.concatenate(models))


def stateless_epoch(kernels: dict[int, BatchedBPTT], chunks: list[Chunk], Theta: np.ndarray,
                    XT: np.ndarray, YT: np.ndarray, rngs: dict[int, np.random.Generator],
                    B: int, step: StepFn) -> None:
    """Shuffled minibatches of ``B`` windows ``XT : (N, n_x, S)``, ``YT : (N, n_y, S)``."""
    S = XT.shape[2]
    perms = {seed: rng.permutation(S) for seed, rng in rngs.items()}
    for b in range(S // B):
        batch = {seed: np.sort(p[b * B : (b + 1) * B]) for seed, p in perms.items()}
        xs = {seed: XT[:, :, idx, None].swapaxes(2, 3) for seed, idx in batch.items()}
        ys = {seed: YT[:, :, idx, None].swapaxes(2, 3) for seed, idx in batch.items()}

        def fill(ker: BatchedBPTT, ch: Chunk, xs: dict = xs, ys: dict = ys) -> None:
            for seed, slots in ch.groups:
                ker.x[:, :, slots] = xs[seed]  # (N, n_x, 1, B) over the seed's models
                ker.y[:, :, slots] = ys[seed]
            ker.set_initial(None)

        run_chunks(kernels, chunks, Theta, fill, step)


def stateful_epoch(kernels: dict[int, BatchedBPTT], chunks: list[Chunk], Theta: np.ndarray,
                   XT: np.ndarray, YT: np.ndarray, B: int, step: StepFn) -> None:
    """Minibatches of ``B`` consecutive windows ``XT : (N, n_x, S)``, ``YT : (N, n_y, S)`` in
    time order, each started from the final states ``N / B`` minibatches before (zero for the
    first ``N / B``): ``B`` streams of back-to-back windows."""
    N, _, S = XT.shape
    slots = N // B
    for ch in chunks:
        ch.streams = [None] * slots
    for b in range(S // B):
        x = XT[:, :, b * B : (b + 1) * B, None].swapaxes(2, 3)  # (N, n_x, 1, B): every model
        y = YT[:, :, b * B : (b + 1) * B, None].swapaxes(2, 3)

        def fill(ker: BatchedBPTT, ch: Chunk, b: int = b, x: np.ndarray = x,
                 y: np.ndarray = y) -> None:
            ker.x[...] = x
            ker.y[...] = y
            ker.set_initial(ch.streams[b % slots])

        run_chunks(kernels, chunks, Theta, fill, step, carry=True)
        for ch in chunks:
            ch.streams[b % slots] = ch.z


def bptt_epoch(kernels: dict[int, BatchedBPTT], chunks: list[Chunk], Theta: np.ndarray,
               XT: np.ndarray, YT: np.ndarray, step: StepFn) -> None:
    """One Adam step on the one window ``XT : (T, n_x, 1, 1)``, ``YT : (T, n_y, 1, 1)`` from the
    zero state."""
    def fill(ker: BatchedBPTT, ch: Chunk) -> None:
        ker.x[...] = XT
        ker.y[...] = YT
        ker.set_initial(None)

    run_chunks(kernels, chunks, Theta, fill, step)
