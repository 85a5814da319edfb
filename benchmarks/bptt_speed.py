"""Seconds per loss+gradient evaluation of :class:`systems.bptt.WindowBatch`.

Three cases (``n_x = n_y = 1``, float64, seeded random data, no burn-in):

* (a) ``S = 80``,    ``N = 21``,  ``n_h = 1``,  linear
* (b) ``S = 19901``, ``N = 100``, ``n_h = 8``,  tanh
* (c) ``S = 2000``,  ``N = 100``, ``n_h = 64``, tanh

For each: the median wall time of repeated ``loss_grad`` calls on a batch built once, the
plain reference kernel of :mod:`systems.bptt_reference` (the equations as loops, no buffer
reuse; timed on a subset of the windows and scaled to ``S``, since it is linear in ``S``; its
gradient is checked against ``WindowBatch`` first), and, when PyTorch is installed,
``torch.nn.RNN`` forward + backward of the same MSE (float64, CPU, default threads; tanh cases
only, ``nn.RNN`` has no linear activation). Ratios are "other / WindowBatch".

Gated cells at the paper's authors' size (the Silverbox training split, stride 1):

* (d) LSTM, ``S = 19901``, ``N = 100``, ``n_h = 8``, ``m = 0``
* (e) GRU, the same sizes

For each: the median seconds of one loss + full gradient in float64, the reference kernel's
(timed as above, scaled to ``S``), the peak memory that the batch and one evaluation allocate
(NumPy allocations traced by ``tracemalloc``; beside it the growth of the process' peak
resident size from just before the batch was built, for the first of these cases only: it is
a high-water mark), and, when PyTorch is installed, ``nn.LSTM``/``nn.GRU`` + ``nn.Linear``
forward + backward of the same loss in float32 and in float64 (CPU, default threads) with the
ratios "torch / ours".
Targets: LSTM <= 1.5 s, >= 2.5x torch float32, peak <= 1 GB.

Run: ``python benchmarks/bptt_speed.py [--repeats R] [--cases a b c d e]``.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from systems import bptt_reference  # noqa: E402
from systems.bptt import WindowBatch  # noqa: E402
from systems.spec import Spec  # noqa: E402

CASES = {
    "a": dict(S=80, N=21, n_h=1, activation="linear"),
    "b": dict(S=19901, N=100, n_h=8, activation="tanh"),
    "c": dict(S=2000, N=100, n_h=64, activation="tanh"),
}
REF_WINDOWS = 500  # the reference kernel is timed on this many windows and scaled to S
GATED = {
    "d": dict(cell="lstm", S=19901, N=100, n_h=8),
    "e": dict(cell="gru", S=19901, N=100, n_h=8),
}


def median_seconds(f, repeats: int) -> float:
    f()  # warm up: buffers, thread pool
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def problem(S: int, N: int, n_h: int, activation: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(S, N, 1)), rng.normal(size=(S, N, 1))
    spec = Spec("elman", 1, n_h, 1, activation)
    batch = WindowBatch.for_model(spec, X, Y, 0)
    theta = rng.normal(size=batch.n_theta) * (0.5 / np.sqrt(n_h))
    z = rng.normal(size=(S, n_h)) * 0.1
    return X, Y, spec.model(theta), batch, theta, z


def reference_seconds(model, X, Y, z, repeats: int) -> float:
    """Seconds of the reference kernel on the first windows, scaled to all ``S``, after
    checking its ``(V, dV/dtheta, dV/dz)`` against ``WindowBatch`` on those windows."""
    S = X.shape[0]
    k = min(S, REF_WINDOWS)
    Xk, Yk, zk = X[:k], Y[:k], None if z is None else z[:k]
    V0, g0, dz0 = WindowBatch.for_model(model, Xk, Yk, 0).loss_grad(model.theta, zk)
    V1, g1, dz1 = bptt_reference.loss_grad(model, Xk, Yk, 0, zk)
    assert abs(V0 - V1) <= 1e-12 * abs(V0) and np.abs(g0 - g1).max() <= 1e-10 * np.abs(g0).max()
    assert np.abs(dz0 - dz1).max() <= 1e-10 * np.abs(dz0).max()
    ref = median_seconds(lambda: bptt_reference.loss_grad(model, Xk, Yk, 0, zk),
                         max(1, repeats // 3))
    return ref * S / k


def torch_seconds(X, Y, batch, theta, z, repeats: int) -> float | None:
    """``nn.RNN`` (+ a linear readout) forward and backward of the same MSE, or None."""
    try:
        import torch
    except ImportError:
        return None
    if batch.activation != "tanh":
        return None  # nn.RNN has no linear activation
    p = batch.unpack(theta)
    rnn = torch.nn.RNN(1, batch.n_h, nonlinearity="tanh", batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(torch.from_numpy(p["W_hh"]))
        rnn.weight_ih_l0.copy_(torch.from_numpy(p["W_xh"]))
        rnn.bias_ih_l0.copy_(torch.from_numpy(p["b_h"]))
        rnn.bias_hh_l0.zero_()
    W_hy = torch.tensor(p["W_hy"], requires_grad=True)
    b_y = torch.tensor(p["b_y"], requires_grad=True)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    h0 = torch.tensor(z[None], requires_grad=True)

    def step():
        for q in (*rnn.parameters(), W_hy, b_y, h0):
            q.grad = None
        out, _ = rnn(Xt, h0)
        loss = ((out @ W_hy.T + b_y - Yt) ** 2).mean()
        loss.backward()
        return loss

    assert abs(float(step().detach()) - batch.loss(theta, z)) < 1e-10  # the same model and loss
    return median_seconds(step, repeats)


def gated_problem(cell: str, S: int, N: int, n_h: int, seed: int = 0):
    """Seeded data (stored as (S, N, 1), as windows of a sequence would be) and a model."""
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(S, N, 1)), rng.normal(size=(S, N, 1))
    spec = Spec(cell, 1, n_h, 1)
    theta = rng.uniform(-1, 1, size=spec.n_theta) / np.sqrt(n_h)  # torch's initialisation range
    return X, Y, spec.model(theta)


def torch_gated_seconds(cell: str, X, Y, theta, batch, dtype_name: str,
                        repeats: int) -> float | None:
    """torch ``nn.LSTM``/``nn.GRU`` + linear readout, forward + backward of the same loss."""
    try:
        import torch
    except ImportError:
        return None
    dtype = getattr(torch, dtype_name)
    p = batch.unpack(theta)
    layer = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    rnn = layer(1, batch.n_h, batch_first=True, dtype=dtype)
    fc = torch.nn.Linear(batch.n_h, 1, dtype=dtype)
    with torch.no_grad():
        for name, key in (("weight_ih_l0", "W_ih"), ("weight_hh_l0", "W_hh"),
                          ("bias_ih_l0", "b_ih"), ("bias_hh_l0", "b_hh")):
            getattr(rnn, name).copy_(torch.from_numpy(p[key]))
        fc.weight.copy_(torch.from_numpy(p["W_hy"]))
        fc.bias.copy_(torch.from_numpy(p["b_y"]))
    Xt, Yt = torch.from_numpy(X).to(dtype), torch.from_numpy(Y).to(dtype)

    def step():
        for q in (*rnn.parameters(), *fc.parameters()):
            q.grad = None
        out, _ = rnn(Xt)
        loss = ((fc(out) - Yt) ** 2).mean()
        loss.backward()
        return loss

    tol = 1e-10 if dtype_name == "float64" else 1e-4
    V = batch.loss(theta, None)
    assert abs(float(step().detach()) - V) <= tol * max(1.0, V)  # the same model and loss
    return median_seconds(step, repeats)


def _rss_mib() -> float:
    """Resident set size now (Linux ``/proc/self/statm``), MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def gated_row(name: str, c: dict, repeats: int, first: bool) -> None:
    X, Y, model = gated_problem(**c)
    theta = model.theta
    rss0 = _rss_mib()
    tracemalloc.start()
    batch = WindowBatch.for_model(model, X, Y, 0)
    batch.loss_grad(theta, None)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    ours = median_seconds(lambda: batch.loss_grad(theta, None), repeats)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss0  # ru_maxrss: kB
    rss_txt = f"{rss:9.0f}" if first else f"{'-':>9}"  # the high-water mark of earlier cases
    ref = reference_seconds(model, X, Y, None, repeats)
    txt = ""
    for dt in ("float32", "float64"):
        s = torch_gated_seconds(c["cell"], X, Y, theta, batch, dt, max(1, repeats // 2))
        txt += "       -         -" if s is None else f" {s:8.3f} {s / ours:8.2f}x"
    print(f"({name})  {c['cell']:>4} {c['S']:6d} {c['N']:4d} {c['n_h']:4d} {ours:9.3f} "
          f"{ref:9.3f} {ref / ours:8.1f}x {peak:9.0f} {rss_txt}{txt}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--cases", nargs="*", default=[*CASES, *GATED])
    args = parser.parse_args(argv)
    try:
        import torch

        torch_note = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    except ImportError:
        torch_note = "torch not installed"
    print(f"numpy {np.__version__}; {torch_note}; median of {args.repeats} calls")
    print(f"{'case':4} {'S':>6} {'N':>4} {'n_h':>4} {'act':>6} {'WindowBatch s':>14} "
          f"{'ref s':>9} {'ref/WB':>9} {'torch s':>9} {'torch/WB':>9}")
    for name, c in CASES.items():
        if name not in args.cases:
            continue
        X, Y, model, batch, theta, z = problem(**c)
        ours = median_seconds(lambda b=batch, t=theta, z=z: b.loss_grad(t, z), args.repeats)
        ref = reference_seconds(model, X, Y, z, args.repeats)

        torch_s = torch_seconds(X, Y, batch, theta, z, args.repeats)
        torch_txt = "-" if torch_s is None else f"{torch_s:9.4f} {torch_s / ours:9.2f}"
        print(f"({name})  {c['S']:6d} {c['N']:4d} {c['n_h']:4d} {c['activation']:>6} "
              f"{ours:14.4f} {ref:9.3f} {ref / ours:9.1f} {torch_txt}")
    gated = [n for n in GATED if n in args.cases]
    if gated:
        print(f"\n{'case':4} {'cell':>5} {'S':>6} {'N':>4} {'n_h':>4} {'ours s':>9} "
              f"{'ref s':>9} {'ref/ours':>9} {'peak MiB':>9} {'+RSS MiB':>9} "
              f"{'torch32 s':>9} {'t32/ours':>9} {'torch64 s':>9} {'t64/ours':>9}")
    for k, name in enumerate(gated):  # RSS growth is meaningful for the first case only
        gated_row(name, GATED[name], args.repeats, first=k == 0)


if __name__ == "__main__":
    main()
