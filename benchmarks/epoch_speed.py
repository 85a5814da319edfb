"""Seconds per training epoch of the study: Silverbox, N = 100, LSTM n_h = 8.

One epoch = the authors' epoch: 19901 windows of 100 steps (stride 1) shuffled into 199
minibatches of 100 (the last partial batch dropped), one Adam step each, burn-in m = 10 here.
Ours: float64, :func:`verification.experiment.study_train.train` (WindowBatch BPTT).
Reference in the same run when torch is importable (it is not a dependency:
``pip install torch==2.13.0``): ``nn.LSTM(1, 8) + nn.Linear(8, 1)``, float32 and float64.
Target: <= 0.6 s per epoch in float64 and >= 1.8x torch float32.

Also printed, in the same run: the floor of any NumPy float64 LSTM epoch on this machine, the
time of the ``np.exp`` calls alone (``5 n_h`` exponentials per window and step, on arrays of
the per-step size; NumPy has no SIMD float64 ``exp`` without AVX-512), and torch at one thread
(ours runs on one thread).

Run from the project root: ``python benchmarks/epoch_speed.py [--epochs 3] [--data-root DIR]``.
Timings are wall-clock medians over ``--epochs`` epochs; on a shared machine, compare ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from verification.experiment import study as st  # noqa: E402
from verification.experiment.study_train import train  # noqa: E402

N, M, N_H, BATCH, LR = 100, 10, 8, 100, 1e-4


def ours(splits: st.Splits, epochs: int) -> tuple[list[float], float]:
    """Per-epoch wall seconds of our float64 trainer, and its CPU seconds per epoch."""
    task = st.Task("silverbox", "lstm", N_H, N, M, "stateless", 0, "bench")
    job = st.Job(splits, st.Budget("bench", epochs, LR, BATCH))
    stamps: list[float] = []
    c0 = time.process_time()
    train(task, job, lambda msg: stamps.append(msg["elapsed"]) if "epoch" in msg else None)
    cpu = (time.process_time() - c0) / epochs
    return [b - a for a, b in zip([0.0, *stamps[:-1]], stamps, strict=True)], cpu


def torch_epochs(splits: st.Splits, epochs: int, dtype: str, threads: int | None = None
                 ) -> tuple[list[float], float] | None:
    """Per-epoch wall seconds of the same epoch in torch and its median CPU seconds (None when
    torch is not importable)."""
    try:
        import torch
    except ImportError:
        return None
    import numpy as np

    from systems.windows import Windows

    saved = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    dt = getattr(torch, dtype)
    seq = splits.scaled("train")
    w = Windows(seq.T, N)
    X = torch.tensor(w.stack(seq.x), dtype=dt)
    Y = torch.tensor(w.stack(seq.y), dtype=dt)
    lstm = torch.nn.LSTM(1, N_H, batch_first=True).to(dt)
    fc = torch.nn.Linear(N_H, 1).to(dt)
    opt = torch.optim.Adam([*lstm.parameters(), *fc.parameters()], lr=LR)
    rng = np.random.default_rng(0)
    times, cpus = [], []
    for _ in range(epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        order = torch.from_numpy(rng.permutation(w.S))
        for k in range(w.S // BATCH):
            idx = order[k * BATCH:(k + 1) * BATCH]
            out, _ = lstm(X[idx])
            loss = torch.mean((fc(out)[:, M:] - Y[idx][:, M:]) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    torch.set_num_threads(saved)
    return times, statistics.median(cpus)


def exp_floor(S: int, epochs: int) -> float:
    """Median seconds per epoch of the float64 ``exp`` calls an LSTM epoch needs, alone."""
    import numpy as np

    gates, cells = np.full((4 * N_H, BATCH), -0.3), np.full((N_H, BATCH), -0.3)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        for _ in range((S // BATCH) * N):
            np.exp(gates, out=gates)  # values stay in (0, 1): no overflow, no subnormals
            np.exp(cells, out=cells)
            gates *= -1.0
            cells *= -1.0
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--data-root", default=None, help="default: the packaged data")
    a = p.parse_args()
    splits = st.load_splits("silverbox", a.data_root)
    load = os.getloadavg()[0]
    print(f"Silverbox N = {N}, LSTM n_h = {N_H}, batch {BATCH}, median of {a.epochs} epochs; "
          f"load average {load:.1f} on {os.cpu_count()} CPUs")
    mine, cpu = ours(splits, a.epochs)
    t_ours = statistics.median(mine)
    print(f"  ours (NumPy float64):   {t_ours:.3f} s per epoch, {cpu:.3f} CPU s "
          "(target <= 0.6 s)")
    S = splits.scaled("train").T - N + 1
    print(f"  floor: the float64 exps alone: {exp_floor(S, a.epochs):.3f} s per epoch "
          "(+ two sign flips)")
    for dtype, threads in (("float32", None), ("float64", None), ("float32", 1)):
        ref = torch_epochs(splits, a.epochs, dtype, threads)
        if ref is None:
            print("  torch: not importable (pip install torch==2.13.0 for the reference)")
            break
        t_ref, cpu_ref = statistics.median(ref[0]), ref[1]
        th = "1 thread" if threads else "default threads"
        print(f"  torch {dtype} ({th}): {t_ref:.3f} s per epoch, {cpu_ref:.3f} CPU s -> ours "
              f"is {t_ref / t_ours:.2f}x torch {dtype} in wall time"
              + (" (target >= 1.8x)" if dtype == "float32" else ""))


if __name__ == "__main__":
    main()
