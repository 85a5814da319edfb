"""The paper's authors' LSTMs evaluated as they evaluated them.

For each dataset (silverbox, wiener_hammerstein, rlc) and the N = 100 models trained by TBPTT
with burn-in m (``stateless``; plus the ``stateful`` m = 0 model for comparison): the standard
scaler fitted on the training split, one free run over each whole split from the zero state,
the MSE in scaled units (train / val / test) and in data units (test), and the best m by
0.7 train + 0.3 val (scaled). Library: :mod:`systems.benchmarks`; models are read without
torch.

Run: ``python benchmarks/authors_models.py [--shared ../shared] [--N 100] [--datasets ...]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from systems.benchmarks import (  # noqa: E402
    DATASETS,
    BurnInRow,
    authors_models,
    best_burn_in,
    evaluate_burn_in,
    free_run_error,
    load_benchmark,
)
from systems.cells import load_model  # noqa: E402


def table(name: str, rows: list[BurnInRow], stateful: BurnInRow | None) -> str:
    best = best_burn_in(rows)
    lines = [f"## {name}  (N = 100; MSE of one free run from zero; best m by 0.7 train + 0.3 val)",
             "",
             "| m | train (scaled) | val (scaled) | test (scaled) | test (data units) | score |",
             "|---|---|---|---|---|---|"]
    for r in rows + ([stateful] if stateful else []):
        e = r.error
        label = f"{r.m}" + (" (best)" if r is best else "") + (" stateful" if r is stateful
                                                                 else "")
        lines.append(f"| {label} | {e.scaled['train']:.4g} | {e.scaled['val']:.4g} | "
                     f"{e.scaled['test']:.4g} | {e.units['test']:.4g} | {r.score:.4g} |")
    zero, ratio = rows[0], best.error.scaled["test"] / rows[0].error.scaled["test"]
    lines += ["", f"m = 0: test {zero.error.scaled['test']:.4g} scaled, "
              f"{zero.error.units['test']:.4g} data units; best m = {best.m}: test "
              f"{best.error.scaled['test']:.4g} scaled, {best.error.units['test']:.4g} data units "
              f"(test MSE ratio best/m=0: {ratio:.3f})", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path,
                    default=Path(__file__).resolve().parents[2] / "shared")
    ap.add_argument("--N", type=int, default=100)
    ap.add_argument("--datasets", nargs="*", default=list(DATASETS))
    args = ap.parse_args(argv)
    for name in args.datasets:
        t0 = time.perf_counter()
        bench = load_benchmark(name)
        folder = args.shared / "models" / "authors_lstm" / DATASETS[name].model_folder
        rows = evaluate_burn_in(bench, authors_models(folder, args.N))
        stateful = None
        if (f := authors_models(folder, args.N, "stateful")):
            stateful = BurnInRow(0, free_run_error(load_model(f[0]), bench))
        print(table(name, rows, stateful))
        print(f"({len(rows)} models in {time.perf_counter() - t0:.1f} s)\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
