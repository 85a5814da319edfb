"""``burnin tune`` against the full grid, Optuna and the bound's recommendation.

For each dataset and window length ``N``, every method picks a burn-in with the same trainer
(the batched LSTM trainer, the tuner's learning-rate cycles) and is judged by what its ``m`` gives
at the paper's budget: **regret** = test MSE of the full grid's paper-budget model(s) at the
chosen ``m`` / the grid's best test MSE (averaged over the grid's seeds where there are several).
Two reference grids: the authors' published per-``m`` results (``results_<dataset>_h8.csv`` of
github.com/jdschille/rnn-training, one seed) and a three-seed ``burnin study --budget paper``
grid, each where given. Methods:

* ``tune``: :func:`verification.experiment.tune.tune` (the theory's candidates, a search at one
  fidelity with a bisection, seeds at the last rung), one run per tuner seed, with ``--share``
  of the grid's model-epochs (default: the tuner's);
* ``notheory``: the same without the theory's candidates (the whole grid): what the theory
  contributes;
* ``optuna``: TPE over the grid's burn-ins (categorical) with a successive-halving pruner
  (reduction factor 2) at a quarter, half and all of the tuner's search epochs, completed at the
  tuner's last-rung epochs (each stretch one learning-rate cycle, as the tuner's rungs), a new
  model seed per trial, run until it has used the model-epochs of the tuner run with the same
  tuner seed (needs ``pip install optuna``; skipped without it);
* ``bound``: the bound's recommendation from the tuner's ``m = 0`` model (no extra compute).

Every run is kept in ``--out`` (tuner runs resume from their folders; a finished Optuna run is
read back), so the script can be stopped and rerun. Prints and writes ``summary.md``/``.json``.

Run: ``python benchmarks/tune_compare.py --datasets silverbox --N 100 --tuner-seeds 0 1 2
--authors-results PATH --grid silverbox:100=STUDY_FOLDER --out tune_compare``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from systems.batched_lstm_numba import KERNELS  # noqa: E402
from verification.experiment import tune_run  # noqa: E402
from verification.experiment.table import atomic_write, plain  # noqa: E402
from verification.experiment.tune import SEED_STRIDE  # noqa: E402
from verification.experiment.tune_batched import BatchedTuneTrainer  # noqa: E402
from verification.experiment.tune_protocol import criterion  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from study_vs_authors import authors_rows  # noqa: E402

from verification.presentation.tune_report import write_all  # noqa: E402

AUTHORS_NAME = {"wiener_hammerstein": "wienerhammerstein"}


# --------------------------------------------------------------------------- references
def authors_test(src: str | None, ds: str, N: int) -> tuple[dict[int, float], int | None]:
    """The authors' per-``m`` test MSE (scaled) at ``N`` and the ``m`` their 0.7 train + 0.3
    validation criterion picks: from a folder of their results CSVs or their git repository
    (:func:`study_vs_authors.authors_rows`); empty when not given or not found."""
    if not src:
        return {}, None
    try:
        rows = {m: v for (kind, m), v in authors_rows(Path(src), ds, N).items()
                if kind == "stateless"}
    except SystemExit:
        return {}, None
    test = {m: v["test"] for m, v in rows.items()}
    crit = {m: criterion(v["train"], v["val"]) for m, v in rows.items()}
    return test, (min(crit, key=crit.get) if crit else None)


def grid_folders(specs: list[str]) -> dict[tuple[str, int], Path]:
    """``DATASET:N=FOLDER`` (a ``burnin study --budget paper`` folder) per reference grid."""
    out = {}
    for spec in specs:
        key, sep, folder = spec.partition("=")
        ds, _, n = key.partition(":")
        if not sep or not n.isdigit():
            raise SystemExit(f"--grid {spec}: expected DATASET:N=FOLDER")
        out[(ds, int(n))] = Path(folder)
    return out


def grid_test(folder: Path | None, N: int) -> tuple[dict[int, float], int, int | None]:
    """Mean over seeds of a ``burnin study`` grid's test MSE per ``m`` (stateless, ``N``), the
    number of seeds and the ``m`` of the lowest mean criterion; empty when absent or unfinished
    (no ``results.csv`` yet)."""
    p = None if folder is None else folder / "results.csv"
    if p is None or not p.is_file():
        return {}, 0, None
    by: dict[int, list[tuple[float, float]]] = {}
    with open(p) as f:
        for r in csv.DictReader(f):
            if r["kind"] == "stateless" and int(r["N"]) == N:
                by.setdefault(int(r["m"]), []).append((
                    float(r["mse_test_scaled"]),
                    criterion(float(r["mse_train_scaled"]), float(r["mse_val_scaled"]))))
    n = min((len(v) for v in by.values()), default=0)
    crit = {m: float(np.mean([c for _, c in v])) for m, v in by.items()}
    return ({m: float(np.mean([t for t, _ in v])) for m, v in by.items()}, n,
            min(crit, key=crit.get) if crit else None)


def regret(m: int | None, test: dict[int, float]) -> float:
    if m is None or not test or m not in test:
        return math.nan
    return test[m] / min(test.values())


# --------------------------------------------------------------------------- methods
def _cpu() -> float:
    """CPU seconds of this process and its finished children (the worker processes)."""
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def run_tuner(ds: str, N: int, seed: int, theory: bool, out: Path,
              args: Any) -> dict[str, Any] | None:
    """One ``burnin tune`` run (resumed from its folder); with ``--summary-only`` only read."""
    if args.summary_only:
        return tuner_row(out)
    cfg = tune_run.TuneConfig(dataset=ds, N=N, tuner_seed=seed, theory=theory,
                              share=args.share, workers=args.workers, out=str(out),
                              progress_seconds=120, lr=args.lr, kernel=args.kernel)
    plan = tune_run.configure(cfg)
    t0, c0 = time.perf_counter(), _cpu()
    res = tune_run.execute(plan, log=lambda s: print(f"    {s}", flush=True))
    cpu = _cpu() - c0
    write_all(res, plan)
    # CPU time adds up over the calls that trained this run; a run whose earlier calls were
    # not measured gets none (a call that only reads adds ~0)
    wall, path = time.perf_counter() - t0, out / "cpu.json"
    if path.is_file() or wall >= 0.9 * res.seconds:
        cpu_doc = json.loads(path.read_text()) if path.is_file() else {}
        atomic_write(path, json.dumps({
            "cpu_seconds": cpu_doc.get("cpu_seconds", 0.0) + cpu,
            "wall_seconds": cpu_doc.get("wall_seconds", 0.0) + wall}))
    return tuner_row(out)


def tuner_row(out: Path) -> dict[str, Any] | None:
    """A finished tuner run's row, read from its ``result.json`` (``None`` when unfinished)."""
    if not (out / "result.json").is_file():
        return None
    res = json.loads((out / "result.json").read_text())
    cpu_doc = json.loads((out / "cpu.json").read_text()) if (out / "cpu.json").is_file() else {}
    th, pl = res.get("theory") or {}, res["plan"]
    return {"m": res["m"], "model_epochs": res["model_epochs"], "share": res["share_of_grid"],
            "seconds": res["seconds"], "cpu_seconds": cpu_doc.get("cpu_seconds", math.nan),
            "improvement": res["improvement_over_m0"], "improvement_sd": res["improvement_sd"],
            "candidates": list(res["candidates"]),
            "epochs": sorted({max(1, pl["e_search"] // 4), max(1, pl["e_search"] // 2),
                              pl["e_search"], pl["e_final"]}),
            "m_rec": th.get("m_rec"), "m_cap": th.get("m_cap"), "lam": th.get("lam"),
            "steps": th.get("steps")}


def run_optuna(ds: str, N: int, seed: int, budget: int, rungs: list[int], out: Path,
               args: Any) -> dict[str, Any] | None:
    """TPE + successive-halving pruner with the tuner's trainer and rungs, ``budget``
    model-epochs (module docstring)."""
    path = out / "optuna.json"
    if path.is_file():
        doc = json.loads(path.read_text())
        if doc.get("lr", tune_run.LR) != args.lr:  # runs from before the rate was kept: default
            raise SystemExit(f"{path}: an Optuna run with rate {doc.get('lr', tune_run.LR):g}, "
                             f"not --lr {args.lr:g}; use another --out")
        return doc
    if args.summary_only:
        return None
    try:
        import optuna
    except ImportError:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # the tuner's trainer: its rate, and its kernel (the same results, only faster or not)
    plan = tune_run.configure(tune_run.TuneConfig(dataset=ds, N=N, out=str(out), lr=args.lr,
                                                  kernel=args.kernel))
    s = plan.splits
    trainer = BatchedTuneTrainer(s.scaled("train"), s.scaled("val"), plan.train, workers=0)
    grid = list(plan.settings.grid)
    used, count = [0], Counter()
    t0, c0 = time.perf_counter(), _cpu()

    def objective(trial: Any) -> float:
        m = trial.suggest_categorical("m", grid)
        mseed = seed * SEED_STRIDE + count[m]
        count[m] += 1
        state, have, c = None, 0, math.inf
        for step in rungs:
            if used[0] + step - have > budget:
                raise optuna.TrialPruned()
            state, tr, va = trainer.train(m, mseed, step - have, state)
            used[0] += step - have
            have, c = step, criterion(tr, va)
            trial.report(c, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return c

    study = optuna.create_study(
        direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=rungs[0],
                                                      reduction_factor=2))
    while used[0] + rungs[0] <= budget:
        study.optimize(objective, n_trials=1)
    m = _optuna_choice(study, optuna)
    doc = {"m": m, "model_epochs": used[0], "seconds": time.perf_counter() - t0,
           "cpu_seconds": _cpu() - c0, "lr": args.lr, "kernel": args.kernel,
           "trials": len(study.trials),
           "complete": sum(t.state.name == "COMPLETE" for t in study.trials)}
    atomic_write(path, json.dumps(plain(doc)))
    return doc


def _optuna_choice(study: Any, optuna: Any) -> int | None:
    """The best completed trial's ``m``; without one, the best value at the furthest step."""
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if done:
        return int(min(done, key=lambda t: t.value).params["m"])
    seen = [(max(t.intermediate_values), t.intermediate_values[max(t.intermediate_values)], t)
            for t in study.trials if t.intermediate_values]
    if not seen:
        return None
    far = max(x[0] for x in seen)
    return int(min((x for x in seen if x[0] == far), key=lambda x: x[1])[2].params["m"])


# --------------------------------------------------------------------------- the table
def case(ds: str, N: int, args: Any) -> dict[str, Any]:
    """Every method and tuner seed for one dataset and ``N``."""
    root = Path(args.out) / f"{ds}_N{N}"
    authors, pick_authors = authors_test(args.authors_results, ds, N)
    ours, n_seeds, pick_ours = grid_test(grid_folders(args.grid).get((ds, N)), N)
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in args.methods}
    for seed in args.tuner_seeds:
        base = None
        if "tune" in args.methods or "bound" in args.methods or "optuna" in args.methods:
            print(f"{ds} N={N} tune seed {seed}", flush=True)
            base = run_tuner(ds, N, seed, True, root / f"tune_s{seed}", args)
            if base is not None and "tune" in args.methods:
                runs["tune"].append(base)
            if base is not None and "bound" in args.methods:
                runs["bound"].append({"m": base["m_rec"], "model_epochs": 0, "share": 0.0,
                                      "seconds": 0.0, "cpu_seconds": 0.0})
        if "notheory" in args.methods:
            print(f"{ds} N={N} notheory seed {seed}", flush=True)
            nt = run_tuner(ds, N, seed, False, root / f"notheory_s{seed}", args)
            if nt is not None:
                runs["notheory"].append(nt)
        if "optuna" in args.methods and base is not None:
            print(f"{ds} N={N} optuna seed {seed}", flush=True)
            o = run_optuna(ds, N, seed, base["model_epochs"], base["epochs"],
                           root / f"optuna_s{seed}", args)
            if o is not None:
                o["share"] = o["model_epochs"] / (base["model_epochs"] / base["share"])
                runs["optuna"].append(o)
    rows = []
    for method, rs in runs.items():
        if not rs:
            continue
        ra = [regret(r["m"], authors) for r in rs]
        ro = [regret(r["m"], ours) for r in rs]
        rows.append({"dataset": ds, "N": N, "method": method, "ms": [r["m"] for r in rs],
                     "regret_authors": ra, "regret_ours": ro,
                     "share": float(np.mean([r["share"] for r in rs])),
                     "seconds": float(np.mean([r["seconds"] for r in rs])),
                     "cpu_seconds": _mean([r.get("cpu_seconds", math.nan) for r in rs]),
                     "improvement": [r.get("improvement") for r in rs],
                     "theory": [{k: r.get(k) for k in ("m_rec", "m_cap", "lam", "steps",
                                                       "candidates")} for r in rs]})
    return {"dataset": ds, "N": N, "grid_seeds": n_seeds, "rows": rows,
            "best_authors": min(authors, key=authors.get) if authors else None,
            "best_ours": min(ours, key=ours.get) if ours else None,
            # the full grid's own choice (its 0.7 / 0.3 criterion at the paper's budget)
            "grid_pick_authors": pick_authors, "grid_pick_ours": pick_ours,
            "grid_regret_authors": regret(pick_authors, authors),
            "grid_regret_ours": regret(pick_ours, ours)}


def _mean(v: list[float]) -> float:
    v = [x for x in v if x is not None and math.isfinite(x)]
    return float(np.mean(v)) if v else math.nan


def _ms(v: list[float]) -> str:
    v = [x for x in v if math.isfinite(x)]
    if not v:
        return "n/a"
    return f"{np.mean(v):.3f} ± {np.std(v, ddof=1):.3f}" if len(v) > 1 else f"{v[0]:.3f}"


def _f(x: float | None, fmt: str = ".3f") -> str:
    """``x`` formatted, ``n/a`` when missing or not finite."""
    return "n/a" if x is None or not math.isfinite(x) else format(x, fmt)


def markdown(cases: list[dict[str, Any]]) -> str:
    lines = ["| dataset | N | method | chosen m (per tuner seed) | regret, authors' grid | "
             "worst | regret, 3-seed grid | worst | share of grid | wall s | CPU s |",
             "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for c in cases:
        if c["grid_pick_authors"] is not None or c["grid_pick_ours"] is not None:
            lines.append(f"| {c['dataset']} | {c['N']} | full grid, its criterion | authors "
                         f"{_f(c['grid_pick_authors'], 'd')}, 3-seed "
                         f"{_f(c['grid_pick_ours'], 'd')} | "
                         f"{_f(c['grid_regret_authors'])} | | {_f(c['grid_regret_ours'])} | | "
                         "100 % | | |")
        for r in c["rows"]:
            worst_a = max((x for x in r["regret_authors"] if math.isfinite(x)), default=math.nan)
            worst_o = max((x for x in r["regret_ours"] if math.isfinite(x)), default=math.nan)
            lines.append(f"| {c['dataset']} | {c['N']} | {r['method']} | {r['ms']} | "
                         f"{_ms(r['regret_authors'])} | {_f(worst_a)} | {_ms(r['regret_ours'])}"
                         f" | {_f(worst_o)} | {100 * r['share']:.1f} % | "
                         f"{_f(r['seconds'], '.0f')} | {_f(r['cpu_seconds'], '.0f')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["silverbox", "wiener_hammerstein", "rlc"])
    p.add_argument("--N", type=int, nargs="+", default=[100, 200])
    p.add_argument("--tuner-seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--methods", nargs="+", default=["tune", "notheory", "optuna", "bound"],
                   choices=["tune", "notheory", "optuna", "bound"])
    p.add_argument("--share", type=float, default=tune_run.SHARE)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--lr", type=float, default=tune_run.LR,
                   help="the learning rate at the start of each rung or stretch (tune, "
                        "notheory, optuna; a run folder keeps one: use another --out for "
                        "another rate)")
    p.add_argument("--kernel", choices=KERNELS, default="numpy",
                   help="the training kernel (tune, notheory, optuna): the same results to "
                        "float32 rounding, faster with numba")
    p.add_argument("--authors-results", default=None,
                   help="folder with the authors' results_<dataset>_h8.csv, or their git repo")
    p.add_argument("--grid", action="append", default=[], metavar="DATASET:N=FOLDER",
                   help="a burnin study --budget paper folder (results.csv) as a reference grid")
    p.add_argument("--out", default="tune_compare")
    p.add_argument("--summary-only", action="store_true",
                   help="train nothing: tabulate the finished runs in --out")
    args = p.parse_args(argv)
    cases = []
    for ds in args.datasets:
        for N in args.N:
            cases.append(case(ds, N, args))
            atomic_write(Path(args.out) / "summary.json", json.dumps(plain(cases), indent=1))
            text = markdown(cases)
            atomic_write(Path(args.out) / "summary.md", text + "\n")
            print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
