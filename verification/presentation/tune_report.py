"""What ``burnin tune`` writes: ``report.md``, ``result.json`` and ``tune_rungs.png``.

Everything is read from a :class:`~verification.experiment.tune.TuneResult`; nothing here trains.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from verification.experiment.table import atomic_write, plain
from verification.experiment.tune import TuneResult
from verification.presentation.text import fmt


def result_doc(res: TuneResult) -> dict[str, Any]:
    """The whole result as a JSON-ready dict: the summary, the theory, every rung."""
    s = res.settings
    return plain({
        **res.summary(),
        "criterion_sd": res.criterion_sd, "improvement_sd": res.improvement_sd,
        "improvements": list(res.improvements), "grid_model_epochs": s.grid_model_epochs,
        "candidates": list(res.candidates), "settings": s.__dict__,
        "plan": res.plan.__dict__,
        "theory": None if res.theory is None else res.theory.to_dict(),
        "rungs": [{"rung": r.index + 1, "kind": r.kind, "epochs": r.epochs,
                   "finalists": list(r.kept),
                   "seconds": r.seconds,
                   "candidates": [{"m": m, "mean": r.mean(m), "sd": r.sd(m),
                                   "seeds": [{"seed": v[0], "train_mse": v[1], "val_mse": v[2],
                                              "criterion": v[3]} for v in r.values[m]]}
                                  for m in sorted(r.values)]}
                  for r in res.rungs],
    })


def figure_arrays(res: TuneResult) -> dict[str, Any]:
    """The arrays of :func:`~verification.presentation.tune_figures.rung_figure`."""
    ms, mean, lo, hi = [], [], [], []
    for r in res.rungs:
        m = sorted(r.values)
        ms.append(np.array(m))
        mean.append(np.array([r.mean(k) for k in m]))
        lo.append(np.array([min(v[3] for v in r.values[k]) for k in m]))
        hi.append(np.array([max(v[3] for v in r.values[k]) for k in m]))
    cap = res.theory.m_cap if res.theory is not None else None
    return {"ms": ms, "mean": mean, "lo": lo, "hi": hi,
            "epochs": [r.epochs for r in res.rungs], "kinds": [r.kind for r in res.rungs],
            "chosen": res.m, "cap": cap}


def _rule(res: TuneResult) -> str:
    """How the last rung's burn-in was chosen (:func:`verification.experiment.tune.choose`)."""
    best = res.rungs[-1].ranking()[0]
    why = ("it has the lowest mean criterion at the last rung" if best == res.m else
           f"the lowest mean criterion at the last rung is that of m = {best}; m = {res.m} is "
           "the longest burn-in the seeds cannot tell from it")
    return (f"Choice: {why} (within the noise: mean paired per-seed difference at most its "
            "standard error). The tuner's short training favours short burn-ins, so among "
            "burn-ins within the noise it takes the longest.\n")


def report(res: TuneResult, title: str = "", training: str = "") -> str:
    """``report.md``: the choice, its predicted change, the compute, the theory, every rung;
    ``training``: a line on how the candidates were trained."""
    s = res.settings
    lines = [f"# Burn-in tuning{': ' + title if title else ''}", "",
             f"**Chosen burn-in: m = {res.m}** (N = {s.N}). Criterion 0.7 train + 0.3 "
             f"validation free-run MSE (scaled) {fmt(res.criterion, 4)} (sd {fmt(res.criterion_sd)}"
             f" over {s.seeds} seeds); predicted change against m = 0: "
             f"{fmt(res.improvement_over_m0)} % (sd {fmt(res.improvement_sd)}; per seed "
             + ", ".join(f"{v:+.1f}" for v in res.improvements) + " %; negative = better).", "",
             f"Compute: {res.model_epochs} model-epochs (epochs of one model over the windows of "
             f"length N = {s.N}) = {100 * res.share_of_grid:.2f} % of the full grid at the "
             f"paper's budget ({len(set(s.grid))} burn-ins x {s.paper_epochs} epochs = "
             f"{s.grid_model_epochs}); {res.seconds:.0f} s of training and evaluation.", "",
             *([training, ""] if training else []),
             _rule(res),
             "Selection never reads the test split. The criterion is that of the tuner's "
             "training (its own learning-rate schedule and epochs), not of the paper's budget: "
             "it ranks the burn-ins, its values are not the paper budget's errors.", ""]
    lines += _theory(res)
    lines += ["## Rungs", "",
              "| rung | kind | epochs | m | seeds | mean criterion | sd | train MSE | val MSE |"
              " role |", "|---:|:---|---:|---:|---:|---:|---:|---:|---:|:---|"]
    finalists = {m for r in res.rungs for m in r.kept}
    for r in res.rungs:
        for m in r.ranking():
            v = r.values[m]
            cont = ("chosen" if r.kind == "final" and m == res.m else
                    "finalist" if r.kind != "final" and m in finalists else "")
            lines.append(f"| {r.index + 1} | {r.kind} | {r.epochs} | {m} | {len(v)} | "
                         f"{fmt(r.mean(m), 4)}"
                         f" | {fmt(r.sd(m), 2)} | {fmt(np.mean([x[1] for x in v]), 4)} | "
                         f"{fmt(np.mean([x[2] for x in v]), 4)} | {cont} |")
    lines += ["", "![rungs](tune_rungs.png)", ""]
    return "\n".join(lines)


def _theory(res: TuneResult) -> list[str]:
    th = res.theory
    if th is None:
        return ["## Candidates", "", f"The whole grid: {list(res.candidates)} (no theory: "
                "--no-theory, or a trainer without a model).", ""]
    kind = "certified on data" if th.certified else "sampled (an estimate, not certified)"
    cap = (f"the burn-ins up to {th.m_cap} are kept" if th.m_cap is not None
           else "no burn-in of the grid is beyond it")
    refs = []
    if len(th.references) > 1:
        each = "; ".join(
            f"seed {r['seed']}: lam {fmt(r['lam'], 4)}, C {fmt(r['C'], 3)}, {fmt(r['steps'])} "
            f"steps{'' if r['certified'] else ' (sampled, an estimate)'}" for r in th.references)
        refs = [f"{len(th.references)} reference models at m = 0, trained {th.epochs} epochs "
                f"each ({each}). A burn-in is dropped only if every reference has forgotten "
                "its zero state by then: the slowest to forget sets the cap.", ""]
    return ["## The theory's candidates", "", *refs,
            f"The reference m = 0{' slowest to forget' if refs else ''}, trained {th.epochs} "
            f"epochs: A1 constants lam = "
            f"{th.lam:.5g}, C = {th.C:.4g}, {kind}, on {th.region}. Its zero-state transient "
            f"falls below {100 * th.level:g} % after {fmt(th.steps)} steps: {cap}. The bound's "
            f"recommendation: m = {th.m_rec} ({th.rec_reason}).", "",
            f"Candidates: {list(th.candidates)} of the grid {list(th.grid)}.", ""]


def _training(plan: Any) -> str:
    """How the batched trainer trained the candidates (and the theory's references)."""
    t, ref = plan.train, plan.reference

    def low(c: Any) -> float:
        return c.lr if c.lr_min is None else c.lr_min

    refs = (f"; the theory's reference models one cycle from {ref.lr:g} to {low(ref):g}"
            if ref is not None else "")
    return (f"Training: {t.cell.upper()}, n_h = {t.n_h}, Adam, batch {t.batch_size}, {t.dtype}, "
            f"{t.kernel} kernel; every rung one cosine learning-rate cycle from {t.lr:g} down "
            f"to {low(t):g}{refs}.")


def write_all(res: TuneResult, plan: Any) -> list[Path]:
    """Write ``report.md``, ``result.json`` and ``tune_rungs.png`` into the run's folder."""
    from verification.presentation.tune_figures import rung_figure, save_figure

    out = Path(plan.out)
    title = f"{plan.splits.name}, N = {plan.settings.N}"
    paths = [atomic_write(out / "result.json", json.dumps(result_doc(res), indent=1)),
             atomic_write(out / "report.md", report(res, title, _training(plan)))]
    a = figure_arrays(res)
    fig = rung_figure(a["ms"], a["mean"], a["lo"], a["hi"], a["epochs"], a["kinds"],
                      a["chosen"], a["cap"], title=title)
    paths.append(save_figure(fig, out / "tune_rungs.png"))
    return paths
