"""The data of a study: a benchmark's splits or a user's CSV files, scaled as the authors did, and
their fingerprint (what a rerun compares before it reuses anything).

A standard scaler per signal is fitted on the training split and applied unchanged to the
validation and test splits; the models work in scaled units (:mod:`systems.benchmarks`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from systems.benchmarks import DATASETS, SPLITS, Benchmark, load_benchmark
from systems.data import Sequence as Series
from systems.data import SequenceScaler, load_csv, read_columns
from systems.errors import InputError

#: Share of a user's ``--train`` file that stays training data when no ``--val`` is given.
TRAIN_SHARE = 0.7


class StudyError(InputError):
    """Input the user can fix (dataset, folders, grids, models); one line, raised before work."""


@dataclass(frozen=True, eq=False)
class Splits:
    """A :class:`systems.benchmarks.Benchmark` (train/val/test, the scaler fitted on train)
    with the names of its input and output columns.
    """

    bench: Benchmark
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.bench.name

    @property
    def scaler(self) -> SequenceScaler:
        return self.bench.scaler

    @property
    def train(self) -> Series:
        return self.bench.raw["train"]

    def series(self, split: str) -> Series:
        """One split in data units, ``x : (T, n_x)``, ``y : (T, n_y)``."""
        return self.bench.raw[split]

    def scaled(self, split: str) -> Series:
        """One split in the scaled units the models work in."""
        return self.bench.scaled[split]

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of every split's numbers (data units, float64) and the column names: two
        data sets with the same fingerprint give the same models."""
        h = hashlib.sha256()
        h.update(repr((self.inputs, self.outputs)).encode())
        for split in SPLITS:
            seq = self.series(split)
            for a in (seq.x, seq.y):
                a = np.ascontiguousarray(a, dtype=np.float64)
                h.update(repr(a.shape).encode())
                h.update(a.tobytes())
        return h.hexdigest()


def load_splits(
    dataset: str,
    data_root: str | Path | None = None,
    *,
    files: Mapping[str, str | Path] | None = None,
    inputs: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
) -> Splits:
    """Read a benchmark (``<dataset>_{train,val,test}.csv[.gz]`` in ``data_root``, default
    ``$BURNIN_DATA_ROOT`` or the packaged data) or a user's CSVs.

    ``files`` maps ``train``/``test`` (and optionally ``val``) to CSV paths with the named
    ``inputs``/``outputs`` columns; without ``val`` the last 30 % of ``train`` is the
    validation split. Errors are :class:`StudyError` naming the argument, raised before any work.
    """
    if files:
        return _user_splits(dataset, files, inputs, outputs)
    if dataset not in DATASETS:
        raise StudyError(f"DATASET {dataset!r} is not one of {sorted(DATASETS)} "
                         "(or give --train/--test CSV files for your own data)")
    try:
        bench = load_benchmark(dataset, data_root)
    except InputError as exc:
        raise StudyError(f"--data-root: {exc}") from exc
    spec = DATASETS[dataset]
    return Splits(bench, spec.inputs, spec.outputs)


def _user_splits(dataset: str, files: Mapping[str, str | Path], inputs: Sequence[str] | None,
                 outputs: Sequence[str] | None) -> Splits:
    if dataset in DATASETS:
        raise StudyError(f"DATASET {dataset!r} is a built-in benchmark; give your own data "
                         "another name")
    if not inputs or not outputs:
        raise StudyError("--inputs and --outputs must name the columns of your CSV files")
    named = [*inputs, *outputs]
    twice = sorted({c for c in named if named.count(c) > 1})
    if twice:
        raise StudyError(f"--inputs/--outputs name the column(s) {twice} more than once")
    if "train" not in files or "test" not in files:
        raise StudyError("a user's dataset needs --train and --test CSV files")
    for k in files:
        if not Path(files[k]).is_file():
            raise StudyError(f"--{k} {str(files[k])!r}: no such file")
    seqs = {k: _read(files[k], inputs, outputs, f"--{k}") for k in files}
    if "val" not in seqs:
        tr = seqs["train"]
        cut = int(round(TRAIN_SHARE * tr.T))
        if cut < 2 or tr.T - cut < 2:
            raise StudyError(f"--train has T = {tr.T} steps: too short to split off a "
                             "validation part (give --val)")
        seqs["train"] = Series(tr.x[:cut], tr.y[:cut], tr.name)
        seqs["val"] = Series(tr.x[cut:], tr.y[cut:], tr.name + "/val")
    scaler = SequenceScaler.fit(seqs["train"], "standard")
    bench = Benchmark(dataset, {k: seqs[k] for k in SPLITS}, scaler,
                      {k: scaler.transform(seqs[k]) for k in SPLITS})
    return Splits(bench, tuple(inputs), tuple(outputs))


def _read(path: str | Path, inputs: Sequence[str], outputs: Sequence[str], arg: str) -> Series:
    try:
        read_columns(path)
        return load_csv(path, inputs=list(inputs), outputs=list(outputs))
    except InputError as exc:
        raise StudyError(f"{arg}: {exc}") from exc


@dataclass(frozen=True)
class DataOptions:
    """The data and the model a user names (``burnin study`` and ``burnin tune``), before any
    check: a benchmark ``dataset`` (from ``data_root``, default the shipped copy) or the user's
    ``train``/``val``/``test`` CSVs with their ``inputs``/``outputs`` columns; the ``cell`` and
    its hidden size ``n_h``."""

    dataset: str
    data_root: str | None = None
    train: str | None = None
    val: str | None = None
    test: str | None = None
    inputs: tuple[str, ...] | None = None
    outputs: tuple[str, ...] | None = None
    cell: str = "lstm"
    n_h: int = 8
