"""Training a stack of models at once with Adam: the study's sweeps and the burn-in tuner.

:class:`BatchedTrainer` trains ``K`` models of one cell and size on one training sequence,
model ``k`` with its own burn-in ``m_k`` and seed ``s_k``, side by side: the parameters and
Adam's moments carry a leading model axis, every Adam step runs the ``K`` models' BPTT
together (:mod:`systems.batched`), and every model gets exactly what training it alone gets
(``verification/experiment/study_train.py``):

* initialisation as torch's defaults, every parameter ``U(-1/sqrt(n_h), 1/sqrt(n_h))`` from
  ``default_rng([s_k, 0])`` (:func:`init_theta`; the same for every ``m``);
* shuffles from ``default_rng([s_k, 1])``, one permutation per epoch (stateless kind);
* the loss, the kinds (``stateless``, ``stateful``, ``bptt``) and Adam of
  :mod:`systems.batched_kinds` and :class:`systems.batched_adam.BatchedAdam`.

In float64 each model's parameters agree with :func:`systems.adam.train_adam` (and the study's
stateful trainer) to rounding; ``dtype="float32"`` trains in single precision, as torch does.
Training continues across :meth:`~BatchedTrainer.run` calls, :meth:`~BatchedTrainer.select`
keeps survivors, :meth:`~BatchedTrainer.state` / :meth:`~BatchedTrainer.from_state` save and
resume bit for bit, and :meth:`~BatchedTrainer.evaluate` scores all models by free runs.

Examples
--------
>>> from systems.data import Sequence
>>> t = np.arange(400.0)
>>> seq = Sequence(np.sin(0.1 * t), np.sin(0.1 * t - 0.5))
>>> tr = BatchedTrainer("lstm", 4, seq, N=20, ms=[0, 5, 10], seeds=[0, 0, 1], lr=1e-2,
...                     batch_size=50, dtype="float64")
>>> tr.run(3).losses.shape, tr.epoch
((3, 3), 3)
>>> bool(np.all(tr.losses[-1] < tr.losses[0]))
True
>>> [type(m).__name__ for m in tr.select([2, 0]).models()]
['LSTM', 'LSTM']
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Mapping
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from typing import Any

import numpy as np

from .adam import check_stream_batch
from .batched import BatchedBPTT, burn_in_weights, check_dtype, make_kernel
from .batched_adam import BatchedAdam, check_constants
from .batched_eval import free_run_mse
from .batched_kinds import bptt_epoch, plan_chunks, stateful_epoch, stateless_epoch
from .batched_lstm_numba import check_kernel
from .blas import single_thread_blas
from .cells import CELLS, Model
from .data import Sequence
from .errors import InputError
from .rnn import check_activation
from .windows import WindowedData

KINDS = ("stateless", "stateful", "bptt")
#: Most models one kernel runs at once (more are split into chunks run one after another).
MAX_CHUNK = 32
FORMAT_VERSION = 1


def init_theta(cell: str, n_x: int, n_h: int, n_y: int, seed: int) -> np.ndarray:
    """torch's default initialisation: every parameter ``U(-1/sqrt(n_h), 1/sqrt(n_h))``, drawn
    from ``default_rng([seed, 0])`` (``verification.experiment.study_train.init_model``)."""
    k = 1.0 / math.sqrt(n_h)
    return np.random.default_rng([seed, 0]).uniform(-k, k, CELLS[cell].n_params(n_x, n_h, n_y))


@dataclass(frozen=True)
class EpochReport:
    """What :meth:`BatchedTrainer.run` reports after each epoch.

    Attributes
    ----------
    epoch : epochs trained so far (over all runs)
    last : the epoch this run ends at
    losses : (K,) mean minibatch loss of each model in this epoch (NaN once it stopped)
    diverged : (K,) bool, models stopped because their loss or gradient was not finite
    elapsed : seconds since this run started
    eta : seconds this run still needs at the pace so far
    """

    epoch: int
    last: int
    losses: np.ndarray
    diverged: np.ndarray
    elapsed: float
    eta: float


class BatchedTrainer:
    """``K`` models trained together by Adam; each as if alone (see the module docstring).

    Parameters
    ----------
    cell : ``"lstm"``, ``"gru"`` or ``"elman"``
    n_h : hidden size (``n_x``, ``n_y`` are the data's)
    data : the training :class:`~systems.data.Sequence` (scaled)
    N : window length (``stateless``, ``stateful``); ``bptt`` uses ``T``
    ms : (K,) burn-ins ``0 <= m_k < N`` (``stateless``; the other kinds have ``m = 0``)
    seeds : (K,) seeds of the initialisation and of the shuffles
    lr : Adam's learning rate
    kind : ``"stateless"``, ``"stateful"`` or ``"bptt"``
    batch_size : windows per minibatch (``stateless``; ``stateful``: a divisor of ``N``)
    stride : window stride (``stateless``)
    dtype : ``"float32"`` (as torch) or ``"float64"``: the arithmetic, parameters and moments
    betas, eps : Adam's constants
    activation : Elman only, ``"tanh"`` or ``"linear"``
    init : (K, n_theta) starting parameters instead of :func:`init_theta` (e.g. models from
        another run); the shuffles still follow ``seeds``
    max_chunk : most models one kernel runs at once
    kernel : ``"numpy"`` (the reference passes) or ``"numba"`` (LSTM, float32: the elementwise
        passes compiled, :mod:`systems.batched_lstm_numba`; needs numba)

    Attributes
    ----------
    K, cell, kind, N, n_x, n_h, n_y, dtype, ms, seeds : as given
    epoch : epochs trained so far
    """

    def __init__(self, cell: str, n_h: int, data: Sequence, *, N: int | None = None,
                 ms: Seq[int] | None = None, seeds: Seq[int], lr: float,
                 kind: str = "stateless", batch_size: int = 100, stride: int = 1,
                 dtype: object = "float32", betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, activation: str = "tanh", init: np.ndarray | None = None,
                 max_chunk: int = MAX_CHUNK, kernel: str = "numpy") -> None:
        cfg = _config(cell, n_h, data, N, ms, seeds, lr, kind, batch_size, stride, dtype,
                      betas, eps, activation, max_chunk, kernel)
        K, P = len(cfg["seeds"]), CELLS[cell].n_params(data.n_x, n_h, data.n_y)
        if init is None:
            theta = np.stack([init_theta(cell, data.n_x, n_h, data.n_y, s) for s in cfg["seeds"]])
        else:
            theta = np.asarray(init, dtype=np.float64)
            if theta.shape != (K, P) or not np.all(np.isfinite(theta)):
                raise InputError(f"init must be a finite array of shape (K, n_theta)=({K}, {P})")
        state = {**cfg, "version": FORMAT_VERSION, "theta": theta.astype(cfg["dtype"]),
                 "adam": BatchedAdam(K, P, lr, betas, eps, cfg["dtype"]).state(),
                 "epoch": 0, "losses": np.zeros((0, K)), "diverged": np.zeros(K, np.int64),
                 "rngs": {s: np.random.default_rng([s, 1]).bit_generator.state
                          for s in sorted(set(cfg["seeds"]))},
                 "data": fingerprint(data)}
        self._restore(state, data)

    # ------------------------------------------------------------------ state
    def _restore(self, state: dict[str, Any], data: Sequence) -> None:
        if state.get("version") != FORMAT_VERSION:
            raise InputError(f"state has format version {state.get('version')!r}; this "
                             f"trainer reads {FORMAT_VERSION}")
        if state["data"] != fingerprint(data):
            raise InputError("data is not the sequence this state was trained on "
                             f"(fingerprint {state['data']} vs {fingerprint(data)})")
        self.data = data
        self._cfg = {k: state.get(k, "numpy") if k == "kernel" else state[k]
                     for k in _CONFIG_KEYS}  # states written before kernels had a name
        self.cell, self.kind, self.N, self.n_h = (state[k] for k in ("cell", "kind", "N", "n_h"))
        self.n_x, self.n_y = data.n_x, data.n_y
        self.dtype = np.dtype(state["dtype"])
        self.ms = np.array(state["ms"], dtype=np.int64)
        self.seeds = np.array(state["seeds"], dtype=np.int64)
        self.K = self.seeds.size
        self.epoch = int(state["epoch"])
        self._theta = np.array(state["theta"], dtype=self.dtype)
        self._adam = BatchedAdam.from_state(state["adam"])
        self._losses = [row for row in np.asarray(state["losses"], dtype=np.float64)]
        self._diverged = np.array(state["diverged"], dtype=np.int64)
        self._rngs = {}
        if self.kind == "stateless":
            for s, st in state["rngs"].items():
                bits = getattr(np.random, st["bit_generator"])()  # PCG64 for default_rng
                bits.state = st
                self._rngs[int(s)] = np.random.Generator(bits)
        self._kernels: dict[int, BatchedBPTT] = {}
        self._chunks: list = []
        self._planned: tuple = ()
        self._data_arrays()

    def state(self) -> dict[str, Any]:
        """Everything needed to resume exactly (plain dicts, lists and arrays; picklable).

        The training data are not included: pass them again to :meth:`from_state`, which
        checks them against the fingerprint stored here.
        """
        return {**{k: _copy(v) for k, v in self._cfg.items()}, "version": FORMAT_VERSION,
                "theta": self._theta.copy(), "adam": self._adam.state(), "epoch": self.epoch,
                "losses": self.losses, "diverged": self._diverged.copy(),
                "rngs": {s: rng.bit_generator.state for s, rng in self._rngs.items()},
                "data": fingerprint(self.data)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any], data: Sequence) -> BatchedTrainer:
        """Resume from :meth:`state` on the same training ``data``."""
        tr = cls.__new__(cls)
        tr._restore(dict(state), data)
        return tr

    def select(self, indices: Seq[int]) -> BatchedTrainer:
        """A new trainer holding the models ``indices`` (in that order) with all their state:
        parameters, moments, step counts, histories and shuffle generators."""
        rows = np.asarray(indices, dtype=np.int64)
        if rows.ndim != 1 or rows.size == 0 or rows.min() < 0 or rows.max() >= self.K:
            raise InputError(f"indices must be a non-empty list of model indices in "
                             f"0..{self.K - 1}")
        st = self.state()
        adam = st["adam"]
        st.update(ms=[st["ms"][i] for i in rows], seeds=[st["seeds"][i] for i in rows],
                  theta=st["theta"][rows], losses=st["losses"][:, rows],
                  diverged=st["diverged"][rows],
                  adam={**adam, "mu": adam["mu"][rows], "nu": adam["nu"][rows],
                        "k": adam["k"][rows]})
        st["rngs"] = {s: v for s, v in st["rngs"].items() if s in set(st["seeds"])}
        return BatchedTrainer.from_state(st, self.data)

    # ------------------------------------------------------------------ results
    @property
    def losses(self) -> np.ndarray:
        """``(epoch, K)`` mean minibatch loss of every model in every epoch (NaN once stopped)."""
        return np.array(self._losses).reshape(len(self._losses), self.K)

    @property
    def diverged(self) -> np.ndarray:
        """``(K,)`` the epoch in which a model's loss or gradient was first not finite (it has
        not been updated since), 0 for models still training."""
        return self._diverged.copy()

    @property
    def theta(self) -> np.ndarray:
        """``(K, n_theta)`` the parameters in float64 (a copy)."""
        return self._theta.astype(np.float64)

    def models(self) -> list[Model]:
        """The ``K`` models as float64 model objects (:mod:`systems.cells`)."""
        cls, opts = CELLS[self.cell], self._model_options()
        return [cls.from_theta(th, n_x=self.n_x, n_h=self.n_h, n_y=self.n_y, **opts)
                for th in self.theta]

    def evaluate(self, sequences: Mapping[str, Sequence], dtype: object = "float64"
                 ) -> dict[str, np.ndarray]:
        """Free-run MSE of every model from the zero state over each sequence (e.g. the scaled
        train and validation splits): name -> ``(K,)``
        (:func:`systems.batched_eval.free_run_mse`)."""
        return free_run_mse(self.cell, self.n_h, self.theta, sequences, dtype=dtype,
                            **self._model_options())

    def _model_options(self) -> dict[str, str]:
        return {"activation": self._cfg["activation"]} if self.cell == "elman" else {}

    # ------------------------------------------------------------------ training
    def run(self, epochs: int, progress: Callable[[EpochReport], None] | None = None
            ) -> BatchedTrainer:
        """Train ``epochs`` more epochs (continuing moments, step counts and shuffles); call
        ``progress`` after each; return ``self``."""
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise InputError(f"epochs must be an integer >= 1, got {epochs!r}")
        t0, last = time.perf_counter(), self.epoch + int(epochs)
        # a diverging model overflows: it is detected and reported (``diverged``), not warned
        with single_thread_blas(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for done in range(1, int(epochs) + 1):
                losses = self._epoch()
                self.epoch += 1
                self._losses.append(losses)
                elapsed = time.perf_counter() - t0
                if progress is not None:
                    progress(EpochReport(self.epoch, last, losses.copy(), self._diverged > 0,
                                         elapsed, elapsed / done * (epochs - done)))
        return self

    def _epoch(self) -> np.ndarray:
        """One epoch of every model still training; their mean minibatch losses (NaN else)."""
        active = self._diverged == 0
        self._plan(np.flatnonzero(active))
        sums, count = np.zeros(self.K), [0]
        theta, adam, dvg, epoch = self._theta, self._adam, self._diverged, self.epoch + 1

        def step(V: np.ndarray, G: np.ndarray, models: np.ndarray) -> None:
            sums[models] += V
            ok = np.isfinite(V) & np.isfinite(G).all(axis=1)
            dvg[models[~ok & (dvg[models] == 0)]] = epoch
            Gk = np.zeros_like(theta)
            Gk[models] = G
            adam.step(theta, Gk, dvg == 0)
            count[0] += 1

        if self.kind == "stateless":
            stateless_epoch(self._kernels, self._chunks, theta, self._XT, self._YT, self._rngs,
                            self._cfg["batch_size"], step)
        elif self.kind == "stateful":
            stateful_epoch(self._kernels, self._chunks, theta, self._XT, self._YT,
                           self._cfg["batch_size"], step)
        else:
            bptt_epoch(self._kernels, self._chunks, theta, self._XT, self._YT, step)
        losses = sums / max(count[0], 1)
        losses[~active] = np.nan
        return losses

    def _plan(self, models: np.ndarray) -> None:
        """Chunks and kernels for ``models`` (kept while the set does not change)."""
        key = tuple(models.tolist())
        if key == self._planned:
            return
        B = self._B
        w = burn_in_weights(self.N, B, self.ms)
        self._chunks = plan_chunks(models, self.seeds, w, self._cfg["max_chunk"])
        sizes = {ch.models.size for ch in self._chunks}
        self._kernels = {
            Kc: self._kernels.get(Kc) or make_kernel(
                self.cell, self.n_x, self.n_h, self.n_y, Kc, B, self.N, self.dtype,
                self._cfg["activation"], self._cfg["kernel"])
            for Kc in sizes}
        self._planned = key

    def _data_arrays(self) -> None:
        """The training data as the kinds read them, in the training dtype."""
        seq, N, dt = self.data, self.N, self.dtype
        if self.kind != "bptt":  # the stride-1 windows (stateful: in time order)
            wd = WindowedData(seq, N, 0, self._cfg["stride"])
            self._XT = np.ascontiguousarray(wd.X.transpose(1, 2, 0), dtype=dt)  # (N, n_x, S)
            self._YT = np.ascontiguousarray(wd.Y.transpose(1, 2, 0), dtype=dt)
            self._B = self._cfg["batch_size"]
        else:  # one window of length T
            self._XT = seq.x.reshape(N, self.n_x, 1, 1).astype(dt)
            self._YT = seq.y.reshape(N, self.n_y, 1, 1).astype(dt)
            self._B = 1


_CONFIG_KEYS = ("cell", "n_h", "kind", "N", "ms", "seeds", "lr", "batch_size", "stride",
                "dtype", "betas", "eps", "activation", "max_chunk", "kernel")


def _copy(v: Any) -> Any:
    return list(v) if isinstance(v, (list, tuple)) else v


def fingerprint(data: Sequence) -> str:
    """A short hash of a sequence's shape and values (to check a resumed state's data)."""
    h = hashlib.sha256()
    for a in (data.x, data.y):
        a = np.ascontiguousarray(a, dtype=np.float64)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _config(cell, n_h, data, N, ms, seeds, lr, kind, batch_size, stride, dtype, betas, eps,
            activation, max_chunk, kernel) -> dict[str, Any]:
    """Check every argument of :class:`BatchedTrainer` (before any work) and return them."""
    if cell not in CELLS:
        raise InputError(f"cell must be one of {tuple(CELLS)}, got {cell!r}")
    if kind not in KINDS:
        raise InputError(f"kind must be one of {KINDS}, got {kind!r}")
    if not isinstance(data, Sequence):
        raise InputError(f"data must be a systems.data.Sequence, got {type(data).__name__}")
    for name, v, lo in (("n_h", n_h, 1), ("batch_size", batch_size, 1), ("stride", stride, 1),
                        ("max_chunk", max_chunk, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise InputError(f"{name} must be an integer >= {lo}, got {v!r}")
    seeds = [int(s) for s in np.atleast_1d(np.asarray(seeds, dtype=np.int64))]
    K = len(seeds)
    if K == 0:
        raise InputError("seeds must name at least one model")
    if kind == "bptt":
        if N not in (None, data.T):
            raise InputError(f"kind 'bptt' trains on one window of length T = {data.T}; "
                             f"leave N out (got N = {N})")
        N = data.T
    if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or not 1 <= N <= data.T:
        raise InputError(f"N must be an integer with 1 <= N <= T = {data.T}, got {N!r}")
    ms = [0] * K if ms is None and kind != "stateless" else ms
    if ms is None:
        raise InputError("ms (one burn-in per model) is required for kind 'stateless'")
    ms = [int(m) for m in np.atleast_1d(np.asarray(ms, dtype=np.int64))]
    if len(ms) != K:
        raise InputError(f"ms and seeds must have one entry per model, got {len(ms)} and {K}")
    if any(not 0 <= m < N for m in ms) or (kind != "stateless" and any(ms)):
        raise InputError(f"ms must satisfy 0 <= m < N = {N} (and m = 0 for kind {kind!r}), "
                         f"got {ms}")
    if kind == "stateful" and stride != 1:
        raise InputError(f"kind 'stateful' runs the stride-1 windows, got stride = {stride}")
    S = (data.T - N) // stride + 1
    if kind == "stateless" and batch_size > S:
        raise InputError(f"batch_size = {batch_size} must be <= S = {S} (the number of windows)")
    if kind == "stateful":
        check_stream_batch(N, batch_size, S)
    lr, betas, eps = check_constants(lr, betas, eps)
    try:
        dt = check_dtype(dtype).name
        act = check_activation(activation)
        kernel = check_kernel(kernel, cell, dt)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    return {"cell": cell, "n_h": int(n_h), "kind": kind, "N": int(N), "ms": ms, "seeds": seeds,
            "lr": lr, "batch_size": int(batch_size), "stride": int(stride), "dtype": dt,
            "betas": betas, "eps": eps, "activation": act,
            "max_chunk": int(max_chunk), "kernel": kernel}
