"""Model-epochs per second of a burn-in sweep: batched NumPy vs one model at a time vs torch.

The workload is the study's Silverbox grid: LSTM ``n_h = 8``, ``N = 100``, the 20 burn-ins
``authors_grid(100)``, seed 0, Adam lr 1e-4, minibatches of 100 windows. To run in minutes,
every trainer sees the first ``--batches`` minibatches' worth of the training split (a prefix
of ``100 b + 99`` samples: ``S = 100 b`` windows, ``b`` minibatches per epoch instead of 199);
an epoch's cost is linear in its minibatches, so the rates below are converted to full epochs
(x ``b / 199``). Printed, all in one run:

* torch float32 (when importable; not a dependency: ``pip install torch``), ``nn.LSTM(1, 8)``
  and ``nn.Linear(8, 1)``, the 20 models one after another, with torch's default threads (the
  reference of the targets) and with one thread (on a shared machine a team of threads waits
  for its slowest member: compare with both);
* our single-model trainer (:func:`systems.adam.train_adam`, float64), the 20 models in turn;
* batched float32 and float64 (:class:`systems.batched_train.BatchedTrainer`, the 20 models as
  one batch, one process), and float32 on the numba kernel (``--kernel numba``,
  :mod:`systems.batched_lstm_numba`) where numba is installed;
* the same batch split over two processes of 10 models each, run at the same time (the
  2-core figure: the throughput of the pair);
* the peak memory (tracemalloc) of the batch on the full training split;
* the study's float32 training time on 2 cores, per kernel: 20 burn-ins x 3 seeds x
  ``--study-epochs`` plus stateful TBPTT (3 seeds, one full epoch measured here), the kinds a
  study trains by default; and apart, full BPTT (3 seeds, one Adam step over the whole split
  measured here, times the steps of the paper's budget).

Each figure is the best of ``--repeats`` runs of ``--epochs`` epochs (spread printed), with
wall and CPU seconds; on a shared machine compare the ratios measured in the same run. The
CPU flags, thread counts and load average are printed first. Targets: batched float32 >= 5x
torch float32 and float64 >= 2x, peak memory <= 2 GB, the study <= 45 min on 2 cores.

Run from the project root: ``python benchmarks/sweep_speed.py [--batches 20] [--epochs 1]
[--repeats 3] [--data-root DIR] [--no-torch] [--study-epochs 400]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from systems.adam import train_adam  # noqa: E402
from systems.batched_lstm_numba import available  # noqa: E402
from systems.batched_train import BatchedTrainer, init_theta  # noqa: E402
from systems.benchmarks import load_benchmark  # noqa: E402
from systems.blas import single_thread_blas  # noqa: E402
from systems.cells import CELLS  # noqa: E402
from systems.data import Sequence  # noqa: E402
from systems.windows import WindowedData  # noqa: E402

N, N_H, B, LR, FULL_BATCHES = 100, 8, 100, 1e-4, 199


def grid() -> list[int]:
    """The study's burn-ins for ``N = 100`` (``authors_grid``, imported at use: it lives in the
    verification room)."""
    from verification.experiment.study import authors_grid

    return authors_grid(N)


def timed(fn: Callable[[], object], repeats: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of ``repeats`` calls of ``fn``."""
    walls, cpus = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return walls, cpus


def batched(seq: Sequence, ms: list[int], dtype: str, epochs: int, kernel: str = "numpy"
            ) -> Callable[[], object]:
    tr = BatchedTrainer("lstm", N_H, seq, N=N, ms=ms, seeds=[0] * len(ms), lr=LR, dtype=dtype,
                        kernel=kernel)
    tr.run(1)  # first touch of the buffers
    return lambda: tr.run(epochs)


def _half(args: tuple) -> tuple[float, float]:
    """Worker of :func:`two_processes`: train half the models; wall and CPU seconds."""
    seq, ms, dtype, epochs, start, kernel = args
    run = batched(seq, ms, dtype, epochs, kernel)
    while time.time() < start:  # start together
        time.sleep(0.001)
    w, c = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - w, time.process_time() - c


def two_processes(seq: Sequence, ms: list[int], dtype: str, epochs: int, kernel: str = "numpy"
                  ) -> tuple[float, float]:
    """Wall seconds until both halves of the batch, each in its own process started at the
    same time, are trained, and the CPU seconds of both."""
    halves = [ms[: len(ms) // 2], ms[len(ms) // 2 :]]
    start = time.time() + 2.0 + 0.2 * len(ms)  # after both have built their trainers
    with mp.get_context("fork").Pool(2) as pool:
        out = pool.map(_half, [(seq, h, dtype, epochs, start, kernel) for h in halves])
    return max(w for w, _ in out), sum(c for _, c in out)


def single(seq: Sequence, ms: list[int], epochs: int) -> Callable[[], object]:
    n_x, n_y = seq.n_x, seq.n_y
    start = CELLS["lstm"].from_theta(init_theta("lstm", n_x, N_H, n_y, 0), n_x=n_x, n_h=N_H,
                                     n_y=n_y)
    data = {m: WindowedData(seq, N, m) for m in ms}
    return lambda: [train_adam(start, data[m], epochs=epochs, lr=LR, batch_size=B,
                               seed=np.random.default_rng([0, 1])) for m in ms]


def torch_models(seq: Sequence, ms: list[int], epochs: int, threads: int | None = None
                 ) -> Callable[[], object] | None:
    """torch float32, the models one after another (None when torch is not importable);
    ``threads`` fixes torch's intra-op threads (default: torch's own choice)."""
    try:
        import torch
    except ImportError:
        return None
    w = WindowedData(seq, N, 0)
    X = torch.tensor(w.X, dtype=torch.float32)
    Y = torch.tensor(w.Y, dtype=torch.float32)

    def train_one(m: int, epochs: int) -> None:
        torch.manual_seed(0)
        lstm, fc = torch.nn.LSTM(1, N_H, batch_first=True), torch.nn.Linear(N_H, 1)
        opt = torch.optim.Adam([*lstm.parameters(), *fc.parameters()], lr=LR)
        rng = np.random.default_rng([0, 1])
        for _ in range(epochs):
            order = torch.from_numpy(rng.permutation(w.S))
            for k in range(w.S // B):
                idx = order[k * B : (k + 1) * B].sort().values
                out, _ = lstm(X[idx])
                loss = torch.mean((fc(out)[:, m:] - Y[idx][:, m:]) ** 2)
                opt.zero_grad()
                loss.backward()
                opt.step()

    def run() -> None:
        saved = torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        try:
            for m in ms:
                train_one(m, epochs)
        finally:
            torch.set_num_threads(saved)

    train_one(ms[0], 1)  # warm-up: torch's one-time initialisation is not a model's cost
    return run


def kind_epoch(full: Sequence, kind: str, dtype: str, seeds: int, kernel: str = "numpy"
               ) -> float:
    """CPU seconds of one epoch of ``kind`` for ``seeds`` models on the full split (after a
    first epoch that builds the kernel)."""
    tr = BatchedTrainer("lstm", N_H, full, N=N if kind == "stateful" else None,
                        seeds=list(range(seeds)), lr=LR, kind=kind, dtype=dtype,
                        kernel=kernel).run(1)
    c = time.process_time()
    tr.run(1)
    return time.process_time() - c


def peak_memory(seq: Sequence, ms: list[int], dtype: str) -> float:
    """Peak bytes allocated (tracemalloc) building the batch on ``seq`` and running one epoch."""
    tracemalloc.start()
    BatchedTrainer("lstm", N_H, seq, N=N, ms=ms, seeds=[0] * len(ms), lr=LR,
                   dtype=dtype).run(1)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def report(name: str, walls: list[float], cpus: list[float], model_epochs: float,
           batches: int, base: float | None = None) -> float:
    """Print one line; return the best model-epochs per second (full epochs)."""
    scale = batches / FULL_BATCHES
    rate = model_epochs * scale / min(walls)
    spread = (max(walls) - min(walls)) / min(walls)
    line = (f"  {name:<34} {rate:7.2f} model-epochs/s  (best {min(walls):.2f} s wall, "
            f"spread {100 * spread:.0f}%, CPU {min(cpus):.2f} s; "
            f"{1e3 / rate:.0f} ms per model-epoch)")
    if base:
        line += f"  = {rate / base:.2f}x torch float32"
    print(line, flush=True)
    return rate


def cpu_info() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        return "CPU flags: unknown"
    model = next((ln.split(":", 1)[1].strip() for ln in info.splitlines()
                  if ln.startswith("model name")), "?")
    flags = next((ln.split(":", 1)[1].split() for ln in info.splitlines()
                  if ln.startswith("flags")), [])
    simd = [f for f in flags if f.startswith(("avx", "fma", "sse4"))]
    return f"CPU: {model}; SIMD flags: {' '.join(sorted(simd))}"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, default=20, help="minibatches per epoch (of 199)")
    p.add_argument("--epochs", type=int, default=1, help="epochs per timed run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--data-root", default=None,
                   help="a folder of benchmark CSVs (default: the packaged data)")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--study-epochs", type=int, default=400, help="epochs of the estimate")
    a = p.parse_args(argv)
    full = load_benchmark("silverbox", a.data_root).scaled["train"]
    T = B * a.batches + N - 1
    seq = Sequence(full.x[:T], full.y[:T], "silverbox train prefix")
    ms = grid()
    K, E = len(ms), a.epochs
    print(cpu_info())
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}; NumPy {np.__version__}"
          f" (BLAS held at 1 thread while training)")
    print(f"Silverbox N = {N}, LSTM n_h = {N_H}, {K} burn-ins, seed 0; {a.batches} of "
          f"{FULL_BATCHES} minibatches per epoch (a {T}-sample prefix), {E} epoch(s) per run, "
          f"best of {a.repeats}; rates in full epochs")
    base = base1 = cpu1 = None
    torch_threads = 0
    if a.no_torch or torch_models(seq, ms[:1], 1) is None:
        print("  torch: skipped (not importable or --no-torch); no ratios")
    else:
        import torch

        torch_threads = torch.get_num_threads()
        print(f"  torch {torch.__version__}: {torch_threads} threads by default")
        base = report("torch float32, 20 models in turn", *timed(torch_models(seq, ms, E),
                                                                 a.repeats), K * E, a.batches)
        walls, cpus = timed(torch_models(seq, ms, E, 1), a.repeats)
        base1 = report("torch float32, 1 thread", walls, cpus, K * E, a.batches, base)
        cpu1 = min(cpus) * FULL_BATCHES / a.batches / (K * E)
    with single_thread_blas():
        one = report("ours, one model at a time (f64)",
                     *timed(single(seq, ms, E), a.repeats), K * E, a.batches, base)
    variants = {"float32": ("float32", "numpy"), "float64": ("float64", "numpy")}
    if available():
        import numba

        print(f"  numba {numba.__version__}: the compiled float32 kernel is timed too")
        variants["numba"] = ("float32", "numba")
    else:
        print('  numba: not installed (pip install "burnin[fast]"); its kernel is not timed')
    rates, cpu = {}, {}
    for v, (dt, kernel) in variants.items():
        walls, cpus = timed(batched(seq, ms, dt, E, kernel), a.repeats)
        rates[v] = report(f"batched {dt}, {kernel}, one batch of {K}", walls, cpus, K * E,
                          a.batches, base)
        cpu[v] = min(cpus) * FULL_BATCHES / a.batches / (K * E)  # CPU s per model-epoch
    pair = {}
    for v, (dt, kernel) in variants.items():
        walls, cpus = zip(*[two_processes(seq, ms, dt, E, kernel) for _ in range(a.repeats)],
                          strict=True)
        pair[v] = report(f"batched {dt}, {kernel}, 2 processes x {K // 2}", list(walls),
                         list(cpus), K * E, a.batches, base)
    if "numba" in variants:
        print(f"  numba kernel vs NumPy's, float32: {rates['numba'] / rates['float32']:.2f}x "
              f"(one process), {pair['numba'] / pair['float32']:.2f}x (2 processes)")
    print(f"  batched float32 vs ours one at a time: {rates['float32'] / one:.2f}x")
    for dt in ("float32", "float64"):
        peak = peak_memory(full, ms, dt)
        print(f"  peak memory, batch of {K} on the full split ({full.T} samples), {dt}: "
              f"{peak / 2**20:.0f} MiB (target <= 2048)")
    for v, (dt, kernel) in variants.items():
        if dt == "float32":
            study_estimate(full, cpu[v], pair[v], a.study_epochs, kernel)
    if base:
        for dt, goal in (*((("numba", 5),) if "numba" in variants else ()), ("float32", 5),
                         ("float64", 2)):
            print(f"target batched {dt} >= {goal}x torch float32: {pair[dt] / base:.2f}x on equal "
                  f"cores (2 processes vs torch at its {torch_threads} default threads), "
                  f"{rates[dt] / base:.2f}x for one process vs torch at default threads, "
                  f"{rates[dt] / base1:.2f}x one process vs torch at 1 thread (wall), "
                  f"{cpu1 / cpu[dt]:.2f}x by CPU seconds per model-epoch (torch 1 thread)")


def study_estimate(full: Sequence, cpu_rate: float, pair_rate: float, epochs: int,
                   kernel: str = "numpy") -> None:
    """Minutes of the study's float32 training on 2 cores, for the kinds it trains by default:
    20 burn-ins x 3 seeds stateless plus stateful (3 seeds), as 2 worker processes. From CPU
    seconds (what a dedicated core delivers; a shared machine stretches wall time, not CPU
    time) and, for the stateless part, from the measured wall time of the 2-process pair.

    Full BPTT (``--kinds ... bptt``, not trained by default) is printed apart: it takes as
    many Adam steps as a stateless model (``epochs`` x the minibatches of an epoch), each one
    pass over the whole split, sequential in time: hours, not minutes."""
    sf = kind_epoch(full, "stateful", "float32", 3, kernel) * epochs
    sl = 60 * epochs * cpu_rate
    by_cpu = (sl + sf) / 2
    print(f"  study estimate, float32, {kernel} kernel, {epochs} epochs, 2 worker processes: "
          f"stateless 60 models {sl / 60:.0f} CPU-min, stateful {sf / 60:.1f} CPU-min -> "
          f"{by_cpu / 60:.0f} min on 2 dedicated cores (target <= 45); with the 2-process wall "
          f"rate measured here: {(60 * epochs / pair_rate + sf) / 60:.0f} min")
    steps = epochs * FULL_BATCHES
    bp = kind_epoch(full, "bptt", "float32", 3, kernel) * steps
    print(f"  full BPTT, {kernel} kernel (--kinds ... bptt, not in the default study): 3 seeds x "
          f"{steps} Adam steps over the whole split: {bp / 3600:.1f} CPU-hours for the three "
          f"batched in one process; split over 2 workers, no less than {bp / 2 / 3600:.1f} h")


if __name__ == "__main__":
    main()
