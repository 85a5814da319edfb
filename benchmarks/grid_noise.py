"""How close the full grid itself comes: the authors' protocol judged on seeds it did not see.

The tuner's target is judged against a paper-budget grid (``burnin study DATASET --budget paper``,
several seeds per burn-in): regret = the grid's mean test MSE at the chosen ``m`` / its best mean
test MSE. This script asks how large that regret is for the **full grid's own protocol** (one
training per burn-in at the paper's budget, ``m*`` by ``0.7 train + 0.3 validation`` free-run
MSE, 100 % of the compute) when it is judged, like the tuner, on trainings it did not choose
with:

* ``one seed chooses``: seed ``s``'s grid chooses ``m*``; the judge is the mean test MSE of the
  other seeds (the authors' protocol, out of sample);
* ``k - 1 seeds choose``: the mean criterion of all seeds but ``s`` chooses; the judge is seed
  ``s``'s test MSE alone.

Both judges are noisier than the tuner's (all seeds' mean), so these regrets are upper
estimates of the protocol's; they show how much of a regret is the reference's own seed noise.
``--choices FOLDER=m,m,...`` (e.g. a tuner's choices, one per tuner seed) judges other choices by
the same judges as ``one seed chooses`` (the mean test MSE of every pair of ``k - 1`` seeds),
so the two compare like for like.

    python benchmarks/grid_noise.py STUDY_FOLDER [STUDY_FOLDER ...] [--tol 1.1] \
        [--choices STUDY_FOLDER=m,m,...]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tune_compare import regret  # noqa: E402

from verification.experiment.tune_protocol import criterion  # noqa: E402


def read(folder: Path, kind: str) -> dict[int, dict[int, tuple[float, float]]]:
    """``{m: {seed: (criterion, test MSE)}}`` (scaled) of a study's trained models of ``kind``."""
    by: dict[int, dict[int, tuple[float, float]]] = defaultdict(dict)
    with open(folder / "results.csv", newline="") as f:
        for r in csv.DictReader(f):
            if r["kind"] != kind or r.get("diverged"):
                continue
            c = criterion(float(r["mse_train_scaled"]), float(r["mse_val_scaled"]))
            by[int(r["m"])][int(r["seed"])] = (c, float(r["mse_test_scaled"]))
    seeds = set.intersection(*(set(v) for v in by.values())) if by else set()
    return {m: {s: v[s] for s in sorted(seeds)} for m, v in sorted(by.items())}


def held_out_judge(grid: dict[int, dict[int, tuple[float, float]]], s: int) -> dict[int, float]:
    """Per ``m``: the mean test MSE of every seed but ``s``."""
    return {m: statistics.fmean(v[1] for t, v in grid[m].items() if t != s) for m in grid}


def protocol(grid: dict[int, dict[int, tuple[float, float]]]) -> dict[str, list[tuple[int, int,
                                                                                        float]]]:
    """Per held-out seed ``s``: ``(s, chosen m, regret)`` for both ways of judging."""
    seeds = list(next(iter(grid.values())))
    one, rest = [], []
    for s in seeds:
        others = [t for t in seeds if t != s]
        m1 = min(grid, key=lambda m: (grid[m][s][0], m))
        one.append((s, m1, regret(m1, held_out_judge(grid, s))))
        m2 = min(grid, key=lambda m: (statistics.fmean(grid[m][t][0] for t in others), m))
        rest.append((s, m2, regret(m2, {m: grid[m][s][1] for m in grid})))
    return {"one seed chooses": one, "k - 1 seeds choose": rest}


def judged(grid: dict[int, dict[int, tuple[float, float]]], ms: list[int]) -> list[float]:
    """The regret of every ``m`` of ``ms`` against every held-out judge of ``one seed
    chooses`` (the mean test MSE of the seeds but one): ``len(ms) * k`` regrets."""
    return [regret(m, held_out_judge(grid, s)) for s in next(iter(grid.values())) for m in ms]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("studies", nargs="+", type=Path, help="burnin study --budget paper folders")
    p.add_argument("--kind", default="stateless", help="the training kind (default stateless)")
    p.add_argument("--tol", type=float, default=1.1, help="the regret target (default 1.1)")
    p.add_argument("--choices", action="append", default=[], metavar="FOLDER=m,m,...",
                   help="other choices to judge like 'one seed chooses' (FOLDER as given)")
    a = p.parse_args(argv)
    choices = {}
    for spec in a.choices:
        folder, _, ms = spec.rpartition("=")
        if not folder or not ms:
            p.error(f"--choices {spec!r} is not FOLDER=m,m,...")
        choices[Path(folder)] = [int(m) for m in ms.split(",")]
    print("| study | N | burn-ins | seeds | judged | chosen m (held-out seed) | regret per "
          f"held-out seed | within {a.tol:g} |")
    print("|---|---:|---:|---:|---|---|---|---:|")
    for folder in a.studies:
        grid = read(folder, a.kind)
        if not grid or len(next(iter(grid.values()))) < 2:
            print(f"| {folder.name} | | | | needs >= 2 seeds per burn-in | | | |")
            continue
        with open(folder / "results.csv", newline="") as f:
            N = next(csv.DictReader(f))["N"]
        k = len(next(iter(grid.values())))
        for how, rows in protocol(grid).items():
            print(f"| {folder.name} | {N} | {len(grid)} | {k} | {how} | "
                  + ", ".join(f"{m} ({s})" for s, m, _ in rows) + " | "
                  + ", ".join(f"{r:.3f}" for _, _, r in rows) + " | "
                  f"{sum(r <= a.tol for _, _, r in rows)} of {len(rows)} |")
            if how == "one seed chooses" and folder in choices:
                ms = choices[folder]
                if any(m not in grid for m in ms):
                    p.error(f"--choices for {folder}: {ms} are not all burn-ins of its grid")
                rs = judged(grid, ms)
                print(f"| {folder.name} | {N} | {len(grid)} | {k} | the given choices, judged "
                      f"alike (mean {statistics.fmean(rs):.3f}) | {', '.join(map(str, ms))} | "
                      f"{min(rs):.3f}-{max(rs):.3f} | {sum(r <= a.tol for r in rs)} of "
                      f"{len(rs)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
