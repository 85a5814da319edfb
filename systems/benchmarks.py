"""Real benchmarks as the paper's authors used them: loading, scaling, free-run evaluation.

Datasets (CSV files ``<name>_{train,val,test}.csv``, or ``.csv.gz``, in one folder; the three
benchmarks ship with the package, see :func:`data_root` and ``systems/datasets/PROVENANCE.md``):

* ``silverbox``, ``wiener_hammerstein``: input ``u``, output ``y``;
* ``rlc``: input ``u``, outputs ``(i_l, v_c)`` in that order (the authors' models predict the
  inductor current first).

Evaluation (the authors', read from their code): a standard scaler (mean, population
standard deviation) per signal fitted on the training split only and applied unchanged to
validation and test; one free run of the model over each whole split from the zero state, every
step counted; the mean squared error over all steps and outputs

    MSE = 1/(T n_y) sum_{t=1..T} ||psi_t(0; theta, x) - y_t||^2

in scaled units and, after undoing the output scaling, in the data's units. The best burn-in
of a family of models is the ``m`` minimising ``0.7 MSE_train + 0.3 MSE_val`` (scaled).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cells import Model, load_model
from .data import Sequence, SequenceScaler, load_csv
from .errors import InputError


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the toolkit knows about one benchmark, in one place.

    Attributes
    ----------
    name : ``"silverbox"``, ``"wiener_hammerstein"`` or ``"rlc"``
    inputs, outputs : column names of ``x`` and ``y`` (RLC: the authors' order ``(i_l, v_c)``)
    model_folder : the folder of the authors' published models (``models/<model_folder>``)
    paper_lr, paper_epochs : the authors' Adam protocol (learning rate, epochs)
    quick_epochs : epochs of the shortened ``quick`` budget (about 4000 Adam steps at
        ``N = 100``: Silverbox/Wiener-Hammerstein 199 minibatches per epoch, RLC 65)
    """

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    model_folder: str
    paper_lr: float
    paper_epochs: int
    quick_epochs: int


#: The benchmarks, by name.
DATASETS: dict[str, DatasetSpec] = {d.name: d for d in (
    DatasetSpec("silverbox", ("u",), ("y",), "silverbox", 1e-4, 400, 20),
    DatasetSpec("wiener_hammerstein", ("u",), ("y",), "wienerhammerstein", 1e-4, 400, 20),
    DatasetSpec("rlc", ("u",), ("i_l", "v_c"), "rlc", 3e-4, 1500, 60),
)}
SPLITS = ("train", "val", "test")
#: Weights of train and validation MSE in the authors' choice of the best burn-in.
BEST_M_WEIGHTS = (0.7, 0.3)


def criterion(mse_train: float, mse_val: float) -> float:
    """What the authors' best burn-in ``m*`` minimises: ``0.7 MSE_train + 0.3 MSE_val``
    (scaled units; :data:`BEST_M_WEIGHTS`).

    >>> criterion(2.0, 1.0)
    1.7
    """
    a, b = BEST_M_WEIGHTS
    return a * float(mse_train) + b * float(mse_val)


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


#: The data shipped with the package: the three benchmarks and the paper's synthetic series,
#: gzip-compressed CSVs (source, licence, preprocessing and checksums in ``PROVENANCE.md``).
PACKAGED_ROOT = Path(__file__).resolve().parent / "datasets"
#: Environment variable naming another folder of benchmark CSVs (``--data-root`` wins over it).
ROOT_VARIABLE = "BURNIN_DATA_ROOT"


def data_root(root: str | Path | None = None) -> Path:
    """The folder benchmark CSVs are read from: ``root`` if given, else ``$BURNIN_DATA_ROOT``
    if set, else the packaged copy (:data:`PACKAGED_ROOT`). Never relative to anything but the
    current directory for a path the user gives.

    >>> data_root() == PACKAGED_ROOT or ROOT_VARIABLE in os.environ
    True
    """
    if root is not None:
        return Path(root)
    env = os.environ.get(ROOT_VARIABLE)
    return Path(env) if env else PACKAGED_ROOT


def split_file(root: str | Path, name: str, split: str) -> Path | None:
    """``<root>/<name>_<split>.csv``, else the same with ``.csv.gz``; ``None`` if neither."""
    for suffix in (".csv", ".csv.gz"):
        path = Path(root) / f"{name}_{split}{suffix}"
        if path.is_file():
            return path
    return None


def load_benchmark(name: str, root: str | Path | None = None) -> Benchmark:
    """Read ``<root>/<name>_{train,val,test}.csv[.gz]`` and scale them as the authors did.

    Parameters
    ----------
    name : one of :data:`DATASETS`
    root : the folder; default :func:`data_root` (``$BURNIN_DATA_ROOT`` or the packaged data)

    Raises :class:`~systems.errors.InputError` naming the folder and the missing files.

    >>> load_benchmark("rlc").scaled["train"].y.shape
    (6667, 2)
    """
    if name not in DATASETS:
        raise InputError(f"benchmark name must be one of {tuple(DATASETS)}, got {name!r}")
    folder = data_root(root)
    if not folder.is_dir():
        raise InputError(f"data folder {str(folder)!r} does not exist")
    files = {s: split_file(folder, name, s) for s in SPLITS}
    missing = [f"{name}_{s}.csv" for s, f in files.items() if f is None]
    if missing:
        raise InputError(f"data folder {str(folder)!r} lacks {missing} (.csv or .csv.gz)")
    spec = DATASETS[name]
    raw = {s: load_csv(files[s], spec.inputs, spec.outputs, name=f"{name} {s}") for s in SPLITS}
    scaler = SequenceScaler.fit(raw["train"], "standard")
    return Benchmark(name, raw, scaler, {s: scaler.transform(q) for s, q in raw.items()})


def paper_series(split: str) -> Sequence:
    """The authors' published series of the synthetic experiment (Section 5.1), as shipped.

    ``x, y : (100, 1)``, already scaled to ``[-1, 1]``; the same system and inputs as
    :func:`systems.data.paper_lti`, with the authors' own noise draw.

    >>> paper_series("test").x.shape
    (100, 1)
    """
    if split not in ("train", "test"):
        raise InputError(f"split must be 'train' or 'test', got {split!r}")
    path = PACKAGED_ROOT / f"paper_synthetic_{split}.csv.gz"
    return load_csv(path, ["x"], ["y"], name=f"paper_synthetic/{split}")


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

    The files are named ``model_[h<n_h>_]N<N>_m<m>_<kind>`` as published (folder
    ``02_public_datasets/code/models/<dataset>`` of github.com/jdschille/rnn-training), with
    or without a ``.pt`` suffix.

    Parameters
    ----------
    folder : e.g. ``authors_lstm/silverbox`` of the authors' published models
    N : window length
    kind : ``"stateless"`` (TBPTT with burn-in ``m``), ``"stateful"`` or ``"BPTT"``
    """
    pattern = re.compile(rf"model_(?:h\d+_)?N{int(N)}_m(\d+)_{re.escape(kind)}(?:\.pt)?")
    found = {int(mt.group(1)): p for p in Path(folder).iterdir()
             if (mt := pattern.fullmatch(p.name))}
    if not found:
        raise InputError(f"no model_*N{N}_m*_{kind}[.pt] files in {str(folder)!r}")
    return dict(sorted(found.items()))


@dataclass(frozen=True)
class BurnInRow:
    """The free-run errors of the model trained with burn-in ``m``."""

    m: int
    error: FreeRunError

    @property
    def score(self) -> float:
        """:func:`criterion` of this row (scaled units): what the best burn-in minimises."""
        return criterion(self.error.scaled["train"], self.error.scaled["val"])


def evaluate_burn_in(bench: Benchmark, files: dict[int, Path]) -> list[BurnInRow]:
    """One :class:`BurnInRow` per ``(m, model file)``, in the order of ``m``."""
    return [BurnInRow(m, free_run_error(load_model(p), bench)) for m, p in sorted(files.items())]


def best_burn_in(rows: list[BurnInRow]) -> BurnInRow:
    """The row minimising ``0.7 MSE_train + 0.3 MSE_val`` (first one on ties)."""
    if not rows:
        raise ValueError("rows must not be empty")
    return min(rows, key=lambda r: r.score)
