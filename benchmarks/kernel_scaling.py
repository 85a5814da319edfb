"""Where the batched LSTM kernel's time goes as the work is cut differently.

The study trains ``K`` models per process, each Adam step one minibatch of ``B = 100`` windows
of ``N = 100`` steps (LSTM ``n_h = 8``, float32). This prints the kernel's time per model and
minibatch (one :meth:`~systems.batched.BatchedBPTT.loss_grad`, forward and backward) for:

* ``K`` models in one kernel, ``K`` in ``--K`` (is the cost per model flat in ``K``, i.e. does
  per-call overhead still matter?);
* ``K = 30`` with each minibatch split into ``s`` sub-batches of ``100 / s`` windows whose
  gradients are summed (the same gradient; the stored slab ``(N + 1) x rows x K x B`` shrinks
  from ~60 MB towards what the caches hold: is the kernel bound by memory traffic?);
* two processes running the same ``K = 30`` kernel at the same time (do they slow each other
  down through the shared caches and memory?).

Random windows and the models' initial parameters (the arithmetic does not depend on the
values). With ``--profile``: where the time of whole epochs goes, a ``cProfile`` of
:class:`~systems.batched_train.BatchedTrainer` training 30 LSTMs (burn-ins 0..99, seeds 0-2) on
the packaged RLC data for 3 epochs after one warm-up epoch: each function's share of the time.
Each kernel figure is the median (and minimum) of ``--repeats`` minibatches after one warm-up.
The CPU and its SIMD flags are printed first; OpenBLAS is held at one thread.

``--kernels numpy numba`` runs every figure for each kernel (NumPy's passes, and the
numba-compiled ones of :mod:`systems.batched_lstm_numba`), alternating, with the ratio.

Run from the project root:
``python benchmarks/kernel_scaling.py [--repeats 20] [--profile] [--kernels numpy numba]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.sweep_speed import cpu_info  # noqa: E402
from systems.batched import burn_in_weights, make_kernel  # noqa: E402
from systems.batched_train import init_theta  # noqa: E402
from systems.blas import single_thread_blas  # noqa: E402

N, N_H, B = 100, 8, 100


def minibatch_ms(K: int, sub: int, repeats: int, kernel: str = "numpy"
                 ) -> tuple[float, float]:
    """Median and minimum ms of one minibatch of ``B`` windows for ``K`` models, in ``sub``
    sub-batches, on ``kernel``."""
    b = B // sub
    ker = make_kernel("lstm", 1, N_H, 1, K, b, N, "float32", kernel=kernel)
    rng = np.random.default_rng(0)
    ker.set_params(np.stack([init_theta("lstm", 1, N_H, 1, s) for s in range(K)]))
    ker.set_weights(burn_in_weights(N, B, np.linspace(0, N - 1, K).astype(int)))
    X = rng.standard_normal((sub, N, 1, K, b)).astype(np.float32)
    Y = rng.standard_normal((sub, N, 1, K, b)).astype(np.float32)

    def one() -> None:
        grad = np.zeros((K, ker.n_theta))
        for s in range(sub):
            ker.x[...] = X[s]
            ker.y[...] = Y[s]
            ker.set_initial(None)
            grad += ker.loss_grad()[1]

    times = []
    with single_thread_blas():
        one()
        for _ in range(repeats):
            t0 = time.perf_counter()
            one()
            times.append(1e3 * (time.perf_counter() - t0))
    return float(np.median(times)), float(np.min(times))


def _child(args: tuple[int, int, int, str]) -> tuple[float, float]:
    return minibatch_ms(*args)


def line(label: str, K: int, ms: tuple[float, float], note: str = "") -> None:
    print(f"  {label:<46} {ms[0]:7.1f} ms per minibatch (min {ms[1]:.1f}), "
          f"{ms[0] / K:.3f} ms per model{note}", flush=True)


def profile_epochs(epochs: int = 3, kernel: str = "numpy") -> None:
    """Shares of the time of ``epochs`` RLC epochs of 30 models, by function (own time)."""
    import cProfile
    import pstats

    from systems.batched_train import BatchedTrainer
    from systems.benchmarks import load_benchmark

    K = 30
    tr = BatchedTrainer("lstm", N_H, load_benchmark("rlc").scaled["train"], N=N,
                        ms=np.linspace(0, N - 1, K).astype(int).tolist(),
                        seeds=[k % 3 for k in range(K)], lr=3e-4, batch_size=B, kernel=kernel)
    tr.run(1)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    tr.run(epochs)
    prof.disable()
    wall = time.perf_counter() - t0
    stats = pstats.Stats(prof).stats  # (file, line, name) -> (cc, nc, own, cumulative, callers)
    total = sum(v[2] for v in stats.values())
    print(f"RLC, {K} models, {epochs} epochs, {kernel} kernel: {wall:.2f} s, "
          f"{1e3 * wall / epochs / K:.1f} ms per model-epoch; own time by function:")
    for (path, ln, name), v in sorted(stats.items(), key=lambda kv: -kv[1][2])[:8]:
        print(f"  {100 * v[2] / total:5.1f} %  {name} ({Path(path).name}:{ln})")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--K", type=int, nargs="+", default=[10, 20, 30, 60, 90])
    p.add_argument("--profile", action="store_true",
                   help="also profile whole training epochs (RLC, 30 models)")
    p.add_argument("--kernels", nargs="+", default=["numpy"], choices=("numpy", "numba"),
                   help="the kernels to time, alternating (default numpy)")
    a = p.parse_args(argv)
    print(cpu_info())
    if "numba" in a.kernels:
        import numba

        print(f"numba {numba.__version__}")
    if a.profile:
        with single_thread_blas():
            for kernel in a.kernels:
                profile_epochs(kernel=kernel)
    print(f"numpy {np.__version__}; LSTM n_h = {N_H}, N = {N}, B = {B}, float32")

    def each(label: str, K: int, sub: int) -> None:
        first = None
        for kernel in a.kernels:
            ms = minibatch_ms(K, sub, a.repeats, kernel)
            first = first or ms
            ratio = "" if ms is first else f"  ({first[0] / ms[0]:.2f}x {a.kernels[0]})"
            line(f"{label}, {kernel}", K, ms, ratio)

    print("models per kernel (one process):")
    for K in a.K:
        each(f"K = {K}", K, 1)
    print("K = 30, the minibatch in sub-batches (one process):")
    for sub in (1, 2, 4):
        each(f"{sub} sub-batch(es) of {B // sub} windows", 30, sub)
    print("K = 30, two processes at the same time:")
    for kernel in a.kernels:
        with mp.get_context("spawn").Pool(2) as pool:
            for i, ms in enumerate(pool.map(_child, [(30, 1, a.repeats, kernel)] * 2)):
                line(f"process {i + 1} of 2, {kernel}", 30, ms)


if __name__ == "__main__":
    main()
