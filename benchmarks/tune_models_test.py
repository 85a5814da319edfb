"""What the tuner's own models give on test: its recipe's burn-ins judged on held-out data.

``burnin tune`` ranks burn-ins by the criterion of its own short training (learning-rate cycles,
a tenth of the compute) and is judged (``tune_compare.py``) by the paper-budget test MSE at the
chosen ``m``. Where the two disagree, this script asks which of them a burn-in's quality
depends on: it reads a finished tuner run's last-rung models (every finalist and ``m = 0``,
every seed, as stored in the run's folder), runs each freely over the **test** split and prints
their test MSE (scaled) beside the criterion the tuner chose by and, with ``--grid``, the
paper-budget grid's mean test MSE at the same ``m``. A diagnostic of the tuner's recipe, never
part of its choice (which reads no test data).

    python benchmarks/tune_models_test.py RUN_FOLDER [RUN_FOLDER ...] [--grid STUDY_FOLDER]

``RUN_FOLDER``: a ``burnin tune`` output folder of one of the built-in benchmarks (e.g.
``tune_compare.py``'s ``<out>/rlc_N200/tune_s0``); ``STUDY_FOLDER``: a ``burnin study --budget
paper`` folder of the same dataset and ``N``. ``--train M [M ...]``: also train burn-ins the run
did not take to its last rung, with the run's own recipe (its trainer settings, the last rung's
seeds; the first seed through the search's epochs and then the rest, as a finalist's first seed,
the others from their start) and judge them alike: the tuner's recipe at the paper budget's best
burn-in, on the same model seeds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tune_compare import grid_test  # noqa: E402

from systems.batched_train import BatchedTrainer  # noqa: E402
from verification.experiment.study_data import load_splits  # noqa: E402
from verification.experiment.tune_batched import BatchedTuneTrainer, TrainConfig  # noqa: E402
from verification.experiment.tune_protocol import Request, criterion  # noqa: E402
from verification.experiment.tune_store import TuneStore  # noqa: E402


def last_rung_test(folder: Path, extra: Sequence[int] = ()) -> tuple[dict, list[dict]]:
    """The run's settings and, per last-rung candidate (and per burn-in of ``extra``, trained
    here with the run's recipe), ``m``, the criterion per seed and the test MSE (scaled) per
    seed of its model."""
    store = TuneStore.existing(folder, log=lambda s: None)
    settings = store.settings()
    splits = load_splits(settings["dataset"])
    if splits.fingerprint != settings["data"]:
        raise SystemExit(f"{folder}: its data are not the built-in {settings['dataset']!r}")
    res = json.loads((folder / "result.json").read_text())
    last = res["rungs"][-1]
    train, test = splits.scaled("train"), splits.scaled("test")

    def test_mse(state: dict) -> float:
        with np.errstate(all="ignore"):
            return float(BatchedTrainer.from_state(state, train).evaluate({"test": test})
                         ["test"][0])

    rows = []
    for c in last["candidates"]:
        crit, mse = [], []
        for s in c["seeds"]:
            ok, state = store.read_state(c["m"], s["seed"], last["epochs"])
            if not ok:
                raise SystemExit(f"{folder}: the model m = {c['m']}, seed {s['seed']} after "
                                 f"{last['epochs']} epochs is not stored")
            crit.append(s["criterion"])
            mse.append(test_mse(state))
        rows.append({"m": c["m"], "criterion": crit, "test": mse, "epochs": last["epochs"],
                     "trained_here": False})
    seeds = [s["seed"] for s in last["candidates"][0]["seeds"]]
    for m in extra:
        models = recipe(settings, splits, m, seeds, res["plan"]["e_search"], last["epochs"])
        crit = [criterion(tr, va) for _, tr, va in models]
        mse = [test_mse(state) for state, _, _ in models]
        rows.append({"m": m, "criterion": crit, "test": mse, "epochs": last["epochs"],
                     "trained_here": True})
    return {**settings, "chosen": res["m"]}, rows


def recipe(settings: dict, splits, m: int, seeds: list[int], e_search: int, e_final: int
           ) -> list[tuple[dict, float, float]]:
    """Burn-in ``m`` trained as a finalist of the run would be: ``(state, train MSE, val MSE)``
    per seed (the first seed ``e_search`` epochs and then ``e_final - e_search`` more, each one
    cycle of the run's rate; the others ``e_final`` epochs, one cycle)."""
    config = TrainConfig(**settings["train"])
    t = BatchedTuneTrainer(splits.scaled("train"), splits.scaled("val"), config)
    first, *rest = seeds
    out = t.train_many([Request(m, first, e_search, None)]
                       + [Request(m, s, e_final, None) for s in rest])
    out[0] = t.train_many([Request(m, first, e_final - e_search, out[0].state)])[0]
    return [(o.state, o.train_mse, o.val_mse) for o in out]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--grid", type=Path, default=None,
                   help="a burnin study --budget paper folder of the same dataset and N")
    p.add_argument("--train", type=int, nargs="+", default=[], metavar="M",
                   help="burn-ins to train with the run's recipe and judge alike")
    args = p.parse_args(argv)
    for folder in args.runs:
        settings, rows = last_rung_test(folder, args.train)
        N = settings["train"]["N"]
        grid, n_seeds, _ = grid_test(args.grid, N)
        best = min(grid.values()) if grid else None
        print(f"\n{folder}: {settings['dataset']}, N = {N}, chosen m = {settings['chosen']}; "
              f"last rung {rows[0]['epochs']} epochs (x 1e3, scaled MSE)")
        head = "| m | criterion per seed | test per seed | test mean |"
        if grid:
            head += f" paper-budget grid test ({n_seeds} seeds) | its best |"
        print(head)
        for r in rows:
            tag = " (trained here)" if r["trained_here"] else ""
            line = (f"| {r['m']}{tag} | {', '.join(f'{1e3 * v:.2f}' for v in r['criterion'])} | "
                    f"{', '.join(f'{1e3 * v:.2f}' for v in r['test'])} | "
                    f"{1e3 * statistics.mean(r['test']):.2f} |")
            if grid:
                g = grid.get(r["m"])
                line += (f" {'n/a' if g is None else f'{1e3 * g:.2f}'} | {1e3 * best:.2f} "
                         f"(m = {min(grid, key=grid.get)}) |")
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
