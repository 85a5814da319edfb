"""Real benchmarks as the paper's authors used them: loading, scaling, free-run evaluation.

Datasets (CSV files ``<name>_{train,val,test}.csv`` in a folder laid out as
``../shared/data/benchmarks``):

* ``silverbox``, ``wiener_hammerstein``: input ``u``, output ``y``;
* ``rlc``: input ``u``, outputs ``(i_l, v_c)`` in that order (the authors' models predict the
  inductor current first).

Evaluation (the authors', ``../shared/models/README.md``): a standard scaler (mean, population
standard deviation) per signal fitted on the training split only and applied unchanged to
validation and test; one free run of the model over each whole split from the zero state, every
step counted; the mean squared error over all steps and outputs

    MSE = 1/(T n_y) sum_{t=1..T} ||psi_t(0; theta, x) - y_t||^2

in scaled units and, after undoing the output scaling, in the data's units. The best burn-in
of a family of models is the ``m`` minimising ``0.7 MSE_train + 0.3 MSE_val`` (scaled).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cells import Model, load_model
from .data import Sequence, SequenceScaler, load_csv

#: Columns ``(inputs, outputs)`` of each dataset.
DATASETS = {
    "silverbox": (("u",), ("y",)),
    "wiener_hammerstein": (("u",), ("y",)),
    "rlc": (("u",), ("i_l", "v_c")),
}
SPLITS = ("train", "val", "test")
#: Folder of each dataset's models under ``../shared/models/authors_lstm``.
MODEL_FOLDERS = {"silverbox": "silverbox", "wiener_hammerstein": "wienerhammerstein",
                 "rlc": "rlc"}
#: Weights of train and validation MSE in the authors' choice of the best burn-in.
BEST_M_WEIGHTS = (0.7, 0.3)


@dataclass(frozen=True)
class Benchmark:
    """One dataset: its splits in data units, the scaler fitted on train, the scaled splits.

    Attributes
    ----------
    name : ``"silverbox"``, ``"wiener_hammerstein"`` or ``"rlc"``
    raw : split name -> :class:`~systems.data.Sequence` in the data's units
    scaler : standard scaler (population std) fitted on ``raw["train"]``
    scaled : split name -> the split in scaled units (what the models see)
    """

    name: str
    raw: dict[str, Sequence]
    scaler: SequenceScaler
    scaled: dict[str, Sequence]


def load_benchmark(name: str, root: str | Path) -> Benchmark:
    """Read ``<root>/<name>_{train,val,test}.csv`` and scale them as the authors did.

    Parameters
    ----------
    name : one of :data:`DATASETS`
    root : the folder (e.g. ``../shared/data/benchmarks``)
    """
    if name not in DATASETS:
        raise ValueError(f"name must be one of {tuple(DATASETS)}, got {name!r}")
    inputs, outputs = DATASETS[name]
    raw = {s: load_csv(Path(root) / f"{name}_{s}.csv", inputs, outputs, name=f"{name} {s}")
           for s in SPLITS}
    scaler = SequenceScaler.fit(raw["train"], "standard")
    return Benchmark(name, raw, scaler, {s: scaler.transform(q) for s, q in raw.items()})


@dataclass(frozen=True)
class FreeRunError:
    """MSE of one free run from the zero state over each split.

    Attributes
    ----------
    scaled, units : split name -> MSE (mean over steps and outputs) in scaled / data units
    """

    scaled: dict[str, float]
    units: dict[str, float]


def free_run_error(model: Model, bench: Benchmark) -> FreeRunError:
    """Run ``model`` once over each whole split from ``z = 0`` and score every step.

    The splits are simulated together as one batch (shorter ones padded with zeros at the
    end, which cannot change earlier steps of a free run, and not scored).
    """
    if (model.n_x, model.n_y) != (bench.scaled["train"].n_x, bench.scaled["train"].n_y):
        raise ValueError(f"the model has n_x={model.n_x}, n_y={model.n_y}, the {bench.name} "
                         f"data n_x={bench.scaled['train'].n_x}, n_y={bench.scaled['train'].n_y}")
    T_max = max(q.T for q in bench.scaled.values())
    X = np.zeros((len(SPLITS), T_max, model.n_x))
    for k, s in enumerate(SPLITS):
        X[k, : bench.scaled[s].T] = bench.scaled[s].x
    _, Yhat = model.simulate(X)
    scaled, units = {}, {}
    for k, s in enumerate(SPLITS):
        T = bench.scaled[s].T
        scaled[s] = float(np.mean((Yhat[k, :T] - bench.scaled[s].y) ** 2))
        units[s] = float(np.mean((bench.scaler.y.inverse(Yhat[k, :T]) - bench.raw[s].y) ** 2))
    return FreeRunError(scaled, units)


def authors_models(folder: str | Path, N: int = 100, kind: str = "stateless"
                   ) -> dict[int, Path]:
    """The authors' model files of one dataset for window length ``N``: ``{m: path}``.

    Parameters
    ----------
    folder : e.g. ``../shared/models/authors_lstm/silverbox``
    N : window length
    kind : ``"stateless"`` (TBPTT with burn-in ``m``), ``"stateful"`` or ``"BPTT"``
    """
    pattern = re.compile(rf"model_(?:h\d+_)?N{int(N)}_m(\d+)_{re.escape(kind)}\.pt")
    found = {int(mt.group(1)): p for p in Path(folder).glob("*.pt")
             if (mt := pattern.fullmatch(p.name))}
    if not found:
        raise FileNotFoundError(f"no model_*N{N}_m*_{kind}.pt files in {str(folder)!r}")
    return dict(sorted(found.items()))


@dataclass(frozen=True)
class BurnInRow:
    """The free-run errors of the model trained with burn-in ``m``."""

    m: int
    error: FreeRunError

    @property
    def score(self) -> float:
        """``0.7 MSE_train + 0.3 MSE_val`` in scaled units (the authors' selection rule)."""
        a, b = BEST_M_WEIGHTS
        return a * self.error.scaled["train"] + b * self.error.scaled["val"]


def evaluate_burn_in(bench: Benchmark, files: dict[int, Path]) -> list[BurnInRow]:
    """One :class:`BurnInRow` per ``(m, model file)``, in the order of ``m``."""
    return [BurnInRow(m, free_run_error(load_model(p), bench)) for m, p in sorted(files.items())]


def best_burn_in(rows: list[BurnInRow]) -> BurnInRow:
    """The row minimising ``0.7 MSE_train + 0.3 MSE_val`` (first one on ties)."""
    if not rows:
        raise ValueError("rows must not be empty")
    return min(rows, key=lambda r: r.score)
