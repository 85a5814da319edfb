"""Free-run error of ``K`` models at once: one run per sequence from the zero state.

For model ``k`` and a sequence ``(x, y)`` of length ``T`` (the evaluation of
:func:`systems.benchmarks.free_run_error`, in the sequence's units)::

    MSE_k = 1/(T n_y) sum_{t=1..T} ||psi_t(0; theta_k, x) - y_t||^2

The sequences run side by side as the windows of one :class:`~systems.batched.BatchedBPTT`
(shorter ones padded with zeros at the end, which cannot change their earlier steps, and not
scored), in slices of at most ``steps`` time steps with the state carried from one slice to
the next, so memory does not grow with ``T``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .batched import make_kernel
from .blas import single_thread_blas
from .cells import CELLS
from .data import Sequence
from .errors import InputError

#: Time steps per slice of the free run.
STEPS = 1000


def free_run_mse(cell: str, n_h: int, Theta: np.ndarray, sequences: Mapping[str, Sequence], *,
                 activation: str = "tanh", dtype: object = "float64", steps: int = STEPS
                 ) -> dict[str, np.ndarray]:
    """Mean squared free-run error of every model on every sequence.

    Parameters
    ----------
    cell, n_h : the models' cell and hidden size
    Theta : (K, n_theta) their parameters (flat ``theta`` of :mod:`systems.cells`)
    sequences : name -> :class:`~systems.data.Sequence` (e.g. the scaled train and validation
        splits); all with the same ``n_x`` and ``n_y``
    activation : Elman only
    dtype : arithmetic of the runs (float64 by default, whatever the training dtype)
    steps : time steps per slice

    Returns
    -------
    name -> ``(K,)`` MSE (mean over steps and outputs); not finite where a model blows up
    """
    if not sequences:
        raise InputError("sequences must name at least one Sequence")
    seqs = list(sequences.values())
    n_x, n_y = seqs[0].n_x, seqs[0].n_y
    if any((q.n_x, q.n_y) != (n_x, n_y) for q in seqs):
        raise InputError("sequences must share n_x and n_y")
    Theta = np.atleast_2d(np.asarray(Theta, dtype=np.float64))
    if Theta.shape[1] != CELLS[cell].n_params(n_x, n_h, n_y):
        raise InputError(f"Theta has {Theta.shape[1]} parameters per model; a {cell} with "
                         f"n_x={n_x}, n_h={n_h}, n_y={n_y} has "
                         f"{CELLS[cell].n_params(n_x, n_h, n_y)}")
    K, B = Theta.shape[0], len(seqs)
    T = np.array([q.T for q in seqs])
    L = int(min(steps, T.max()))
    ker = make_kernel(cell, n_x, n_h, n_y, K, B, L, dtype, activation)
    ker.set_params(Theta)
    ker.set_weights(np.zeros((L, K)))
    sse = np.zeros((K, B))
    z = None  # the state carried from one slice to the next
    with single_thread_blas():
        for lo in range(0, int(T.max()), L):
            ker.x[...] = 0.0
            for b, q in enumerate(seqs):
                xs = q.x[lo : lo + L]
                ker.x[: len(xs), :, :, b] = xs[:, :, None]
            ker.set_initial(z)
            ker.forward()
            z = ker.final_state()
            for b, q in enumerate(seqs):
                ys = q.y[lo : lo + L]
                r = ker.outputs()[: len(ys), :, :, b] - ys[:, :, None]  # (<= L, n_y, K)
                sse[:, b] += np.einsum("toK,toK->K", r, r, dtype=np.float64)
    mse = sse / (T * n_y)[None, :]
    return {name: mse[:, b] for b, name in enumerate(sequences)}
