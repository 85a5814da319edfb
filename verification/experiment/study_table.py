"""The paper's table of a study (Section 5.2): per window length ``N`` the best burn-in ``m*``,
the MSE of ``m = 0``, ``m*``, stateful TBPTT and full BPTT, and the change of ``m*`` against
``m = 0``, as means over seeds with their spread.

``m*`` minimises the seed-mean of the authors' criterion ``0.7 x train + 0.3 x validation``
scaled MSE (:func:`systems.benchmarks.criterion`, unconstrained: the paper's own script caps it
for Silverbox, docs/study.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields

import numpy as np

from systems.benchmarks import criterion
from verification.experiment.study_run import ModelRecord

#: Table values are scaled MSE times this factor (the paper's table layout).
TABLE_SCALE = 100.0
#: The paper's columns, in its order.
TABLE_COLUMNS = (
    "N", "m_star", "m0_train", "m_star_train", "stateful_train", "bptt_train",
    "m0_test", "m_star_test", "stateful_test", "bptt_test", "change_m0_train_pct",
    "change_m0_test_pct",
)
LEVELS = ("m0", "m_star", "stateful", "bptt")


def model_criterion(r: ModelRecord) -> float:
    """:func:`systems.benchmarks.criterion` of one model's free-run errors."""
    return criterion(r.mse_train_scaled, r.mse_val_scaled)


def stats(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof = 1``; 0 for one value, NaN for none)."""
    v = np.array(list(values), dtype=float)
    if v.size == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


@dataclass(frozen=True)
class PaperRow:
    """One ``N`` of the paper's table; MSE are scaled MSE x :data:`TABLE_SCALE`, means over
    seeds, ``*_sd`` their sample standard deviation (0 for one seed, NaN for none).

    ``change_m0_<split>_pct = 100 (MSE(m*) - MSE(m = 0)) / MSE(m = 0)``, the paper's change in %
    (negative = better), is computed per seed and then averaged; ``_min``/``_max`` are the
    extreme seeds. ``seeds``: how many seeds trained ``m*``.
    """

    N: int
    m_star: int
    seeds: int
    m0_train: float
    m_star_train: float
    stateful_train: float
    bptt_train: float
    m0_test: float
    m_star_test: float
    stateful_test: float
    bptt_test: float
    change_m0_train_pct: float
    change_m0_test_pct: float
    spread: dict[str, float] = field(default_factory=dict)

    def get(self, name: str, default: float = math.nan) -> float:
        """A column by name: one of :data:`TABLE_COLUMNS` or a spread column (``*_sd``,
        ``change_*_pct_min``/``_max``)."""
        if name in self.spread:
            return self.spread[name]
        return getattr(self, name) if name in _NAMES else default

    def __getitem__(self, name: str) -> float:
        if name not in _NAMES and name not in self.spread:
            raise KeyError(name)
        return self.get(name)

    def to_dict(self) -> dict[str, float | int]:
        """The paper's columns first, then ``seeds`` and the spread columns."""
        return {**{k: getattr(self, k) for k in TABLE_COLUMNS}, "seeds": self.seeds,
                **self.spread}


_NAMES = {f.name for f in fields(PaperRow)}


def paper_table(records: Sequence[ModelRecord]) -> list[PaperRow]:
    """One :class:`PaperRow` per ``N`` of the stateless models, in the order of ``N``."""
    stateless = [r for r in records if r.kind == "stateless"]
    out = []
    for N in sorted({r.N for r in stateless}):
        by_m: dict[int, list[ModelRecord]] = {}
        for r in stateless:
            if r.N == N:
                by_m.setdefault(r.m, []).append(r)
        m_star = min(by_m, key=lambda m: (stats(model_criterion(r) for r in by_m[m])[0], m))
        levels = {
            "m0": by_m.get(0, []), "m_star": by_m[m_star],
            "stateful": [r for r in records if r.kind == "stateful" and r.N == N],
            "bptt": [r for r in records if r.kind == "bptt"],
        }
        values: dict[str, float] = {}
        spread: dict[str, float] = {}
        for split in ("train", "test"):
            for name, rs in levels.items():
                mean, sd = stats(TABLE_SCALE * r.scaled(split) for r in rs)
                values[f"{name}_{split}"], spread[f"{name}_{split}_sd"] = mean, sd
            zero = {r.seed: r.scaled(split) for r in levels["m0"]}
            change = [100.0 * (r.scaled(split) / zero[r.seed] - 1.0)
                      for r in levels["m_star"] if r.seed in zero]
            key = f"change_m0_{split}_pct"
            values[key], spread[f"{key}_sd"] = stats(change)
            spread[f"{key}_min"] = min(change) if change else math.nan
            spread[f"{key}_max"] = max(change) if change else math.nan
        out.append(PaperRow(N=N, m_star=m_star, seeds=len({r.seed for r in by_m[m_star]}),
                            spread=spread, **values))
    return out
