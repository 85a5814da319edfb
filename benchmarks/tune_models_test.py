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
paper`` folder of the same dataset and ``N``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tune_compare import grid_test  # noqa: E402

from systems.batched_train import BatchedTrainer  # noqa: E402
from verification.experiment.study_data import load_splits  # noqa: E402
from verification.experiment.tune_store import TuneStore  # noqa: E402


def last_rung_test(folder: Path) -> tuple[dict, list[dict]]:
    """The run's settings and, per last-rung candidate, ``m``, the criterion per seed and the
    test MSE (scaled) per seed of its stored model."""
    store = TuneStore.existing(folder, log=lambda s: None)
    settings = store.settings()
    splits = load_splits(settings["dataset"])
    if splits.fingerprint != settings["data"]:
        raise SystemExit(f"{folder}: its data are not the built-in {settings['dataset']!r}")
    res = json.loads((folder / "result.json").read_text())
    last = res["rungs"][-1]
    train, test = splits.scaled("train"), splits.scaled("test")
    rows = []
    for c in last["candidates"]:
        crit, mse = [], []
        for s in c["seeds"]:
            ok, state = store.read_state(c["m"], s["seed"], last["epochs"])
            if not ok:
                raise SystemExit(f"{folder}: the model m = {c['m']}, seed {s['seed']} after "
                                 f"{last['epochs']} epochs is not stored")
            with np.errstate(all="ignore"):
                ev = BatchedTrainer.from_state(state, train).evaluate({"test": test})
            crit.append(s["criterion"])
            mse.append(float(ev["test"][0]))
        rows.append({"m": c["m"], "criterion": crit, "test": mse, "epochs": last["epochs"]})
    return {**settings, "chosen": res["m"]}, rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--grid", type=Path, default=None,
                   help="a burnin study --budget paper folder of the same dataset and N")
    args = p.parse_args(argv)
    for folder in args.runs:
        settings, rows = last_rung_test(folder)
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
            line = (f"| {r['m']} | {', '.join(f'{1e3 * v:.2f}' for v in r['criterion'])} | "
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
