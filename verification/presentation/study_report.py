"""``report.md`` of a burn-in study: the paper-layout table, the claim check, the figures."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from systems.benchmarks import BEST_M_WEIGHTS
from verification.certificates.ondata import FLOOR_GAP
from verification.experiment.study import StudyOutcome
from verification.experiment.study_run import ModelRecord
from verification.experiment.study_table import TABLE_SCALE, PaperRow
from verification.experiment.table import atomic_write
from verification.experiment.zero_state import LEAVES_COLUMNS
from verification.presentation.text import fmt, markdown_table

CAPTIONS = {
    "study_mse_over_m": "Scaled MSE over the burn-in m for each N (mean over seeds; bars: "
    "lowest to highest seed); dashed: stateful TBPTT, dotted: full-sequence BPTT.",
    "study_window_error": "Mean squared output error e_j at window position j, from the zero "
    "state, on training windows, for a few m.",
    "study_predictions": "A stretch of the test split: data and the free-run predictions of "
    "m = 0 and m*.",
}


def _pm(row: PaperRow, key: str, digits: int = 3) -> str:
    v, sd = row.get(key), row.get(f"{key}_sd")
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if row.get("seeds", 1) > 1 and sd is not None and not math.isnan(sd):
        return f"{fmt(v, digits)} ± {fmt(sd, 2)}"
    return fmt(v, digits)


def table_markdown(table: list[PaperRow]) -> str:
    """The paper's table (scaled MSE x 100; change of m* against m = 0 in %, negative =
    better), mean ± sd over seeds."""
    head = ["N", "m*", "m=0 train", "m* train", "stateful train", "BPTT train", "m=0 test",
            "m* test", "stateful test", "BPTT test", "change train %", "change test %"]
    keys = ["m0_train", "m_star_train", "stateful_train", "bptt_train", "m0_test",
            "m_star_test", "stateful_test", "bptt_test", "change_m0_train_pct",
            "change_m0_test_pct"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" for _ in head) + "|"]
    for r in table:
        cells = [str(r.N), str(r.m_star)] + [
            _pm(r, k, 3 if not k.startswith("change") else 2) for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _change(split: str, v: float) -> str:
    return (f"{'lowers' if v <= 0 else 'raises'} the {split} MSE by {abs(v):.1f} %")


def claim(table: list[PaperRow]) -> list[str]:
    """One sentence per N: does tuning m beat m = 0, and by more than the seed spread?"""
    out = []
    for r in table:
        n = r.seeds
        parts = []
        for split in ("train", "test"):
            key = f"change_m0_{split}_pct"
            v, sd = r[key], r[f"{key}_sd"]
            if math.isnan(v):
                parts.append(f"{split}: n/a (no m = 0 model)")
            elif n > 1:
                lo, hi = r[f"{key}_min"], r[f"{key}_max"]
                parts.append(f"{_change(split, v)} ± {sd:.1f} (seeds: {lo:+.1f} .. {hi:+.1f} %)")
            else:
                parts.append(_change(split, v))
        if r.m_star == 0:
            verdict = "m* = 0: no burn-in beats m = 0 here."
        elif n > 1:
            hi = max(r["change_m0_train_pct_max"], r["change_m0_test_pct_max"])
            verdict = ("every seed improves on both splits" if hi < 0 else
                       "not every seed improves on both splits")
        else:
            verdict = "one seed, so the spread over seeds is unknown (use --seeds 0 1 2)"
        out.append(f"* N = {r.N}: against m = 0, m* = {r.m_star} {'; '.join(parts)} "
                   f"— {verdict}.")
    return out


def write_report(outcome: StudyOutcome, figures: list[Path]) -> Path:
    """Write ``report.md`` into the study folder, tying the table, the per-model results, the
    figures and the theory's view together."""
    plan, records, table = outcome.plan, outcome.records, outcome.table
    sp, out = plan.job.splits, plan.out
    sources = sorted({str(Path(r.source).parent) for r in records if r.source})
    trained = [r for r in records if not r.source]
    lines = [f"# Burn-in study: {sp.name}", ""]
    Ts = " / ".join(str(sp.series(k).T) for k in ("train", "val", "test"))
    lines.append(f"Data: train/val/test T = {Ts}, inputs "
                 f"{list(sp.inputs)}, outputs {list(sp.outputs)}; standard scaler fitted on "
                 "the training split. Evaluation: one free run per split from the zero state, "
                 "every step counted.")
    if sources:
        lines.append(f"Models: read from {', '.join(sources)} (not trained here).")
    if trained:
        b = plan.job.budget
        secs = [r.seconds for r in trained]
        cpu = f", {np.sum([r.cpu_seconds for r in trained]) / 60:.1f} min of CPU"
        lines.append(f"Training: budget `{b.name}` (Adam, lr {b.lr:g}, {b.epochs} epochs, batch "
                     f"{b.batch_size}, window stride {b.stride}, {b.dtype}, {b.kernel} kernel); "
                     f"{len(trained)} "
                     f"models, {np.sum(secs) / 60:.1f} min of training (wall) in all{cpu} "
                     f"({np.min(secs):.0f}..{np.max(secs):.0f} s each).")
    cells = sorted({(r.cell, r.n_h) for r in records})
    lines.append(f"Cells: {', '.join(f'{c} (n_h = {h})' for c, h in cells)}; seeds: "
                 f"{sorted({r.seed for r in records})}. This invocation took "
                 f"{outcome.seconds_run:.0f} s (models finished by earlier runs of the same "
                 "study are reused).")
    lines += diverged_lines(outcome.diverged)
    lines += ["", "## The paper's table", ""]
    a, b_ = BEST_M_WEIGHTS
    lines.append(f"Scaled MSE x {TABLE_SCALE:g}; m* minimises {a} x train + {b_} x validation "
                 "MSE; change of m* against m = 0 in %, as the paper reports it (negative = "
                 "better; per seed, then mean ± sd over seeds). "
                 "Also in `table.csv`.")
    lines += ["", table_markdown(table), "", *claim(table), ""]
    lines += ["## Every model", "", "Scaled MSE; data units in `results.csv`.", ""]
    cols = [("N", "N"), ("m", "m"), ("kind", "kind"), ("seed", "seed"),
            ("mse_train_scaled", "train"), ("mse_val_scaled", "val"),
            ("mse_test_scaled", "test"), ("seconds", "seconds"), ("cpu_seconds", "CPU s")]
    lines += [markdown_table([r.to_dict() for r in records], cols), ""]
    lines += ["## Figures", ""]
    for p in figures:
        lines += [f"![{p.stem}]({p.name})", "", CAPTIONS.get(p.stem, ""), ""]
    lines += ["## The theory's view", ""]
    lines += constants_lines(outcome.theory)
    lines += theory_lines(records, table)
    path = out / "report.md"
    atomic_write(path, "\n".join(lines) + "\n")
    return path


def diverged_lines(diverged: list[ModelRecord]) -> list[str]:
    """A warning naming every trained model whose training failed (a non-finite loss, or a
    training MSE far above that of predicting the mean)."""
    if not diverged:
        return []
    what = "; ".join(
        f"N = {r.N}, m = {r.m}, {r.kind}, seed {r.seed}: "
        + (f"loss not finite from epoch {r.diverged}" if r.diverged is not None else
           f"training MSE {r.mse_train_scaled:.3g} (scaled)")
        for r in diverged)
    return ["", f"**Warning: training failed for {len(diverged)} model(s)** ({what}); their "
            "errors are not comparable with the others'. A smaller learning rate (`--lr`) "
            "usually helps."]


def theory_lines(rows: list[ModelRecord], table: list[PaperRow]) -> list[str]:
    """What the measured window error says about the burn-in the theory asks for.

    The bounds of docs/theory.md shrink with ``C lam^m``: how fast a model forgets its initial
    state.
    Certified constants for LSTM/GRU are another issue, and sampled constants are estimates; what
    the study measures directly is ``e_j``, the error at position ``j`` of windows started from
    the zero state. A least-squares line through ``log e_j`` gives a measured forgetting rate
    ``lam_e`` (``e_j ~ c lam_e^(2 j)``), and ``j_e``, where that line meets the model's free-run
    error level (its train MSE), is the burn-in that removes the zero-state transient.
    """
    out = []
    for t in table:
        r = next((r for r in rows if r.kind == "stateless" and r.N == t.N
                  and r.m == t.m_star and r.e_j), None)
        if r is None:
            continue
        e = np.array(r.e_j, dtype=float)
        j = np.arange(1, len(e) + 1)
        ok = np.isfinite(e) & (e > 0)
        if ok.sum() < 2:
            continue
        slope, icpt = np.polyfit(j[ok], np.log(e[ok]), 1)
        level = float(r.mse_train_scaled)
        lam_e = float(np.exp(slope / 2))
        if slope < 0:
            j_e = (np.log(level) - icpt) / slope
            reach = (f"the fitted line reaches the free-run error level {level:.3g} at "
                     f"j_e = {j_e:.0f}")
        else:
            reach = "the error does not decay along the window"
        out.append(f"* N = {t.N}, m* = {t.m_star}: e_j falls from {e[0]:.3g} (j = 1) to "
                   f"{e[-1]:.3g} (j = {len(e)}); measured forgetting rate lam_e = {lam_e:.4f} "
                   f"per step; {reach}. A burn-in shorter than that leaves part of the "
                   "zero-state transient in the loss.")
    if not out:
        out.append("No window errors were recorded (no stateless models).")
    out += ["", "lam_e is measured on the data (a fit through e_j, not a certificate); the "
            "constants above are certified on the stated pairs only."]
    return out


def floor_notes(models: list[dict[str, Any]]) -> list[str]:
    """A note for each model whose certified envelope ends at its float-error enclosure (the
    certificate's own criterion, ``ondata.FLOOR_GAP`` times above the simulated pairs).

    There ``G_N`` is many times the simulated ratio of the same pairs. The certificate then
    chooses ``lam`` by the fewest steps to 1 % over the whole envelope
    (:func:`verification.certificates.ondata.fewest_steps_fit`; its reason says so): sound,
    but looser than the decay itself.
    """
    out = []
    for m in models:
        G, w = m.get("envelope") or [], m.get("witness") or []
        if not (G and w) or not G[-1] > FLOOR_GAP * w[-1]:
            continue
        out.append(f"* N = {m['N']}, m = {m['m']}: at j = {m['N']} the certified envelope "
                   f"is {fmt(G[-1])} where the simulated pairs give {fmt(w[-1])}: the "
                   "float-error enclosure sets the tail, so lam is the one with the fewest "
                   "steps to 1 % that still covers it (sound, looser than the decay itself).")
    return [*out, ""] if out else []


def leaves_lines(theory: dict[str, Any]) -> list[str]:
    """The table "what the burn-in leaves": per ``N``, the ``m = 0`` and ``m*`` models at
    ``m = 0`` and ``m*``, the price of the zero state beside T1 in both forms."""
    rows = []
    for m in sorted(theory["models"], key=lambda m: (m["N"], m["seed"], m["m"])):
        if not m.get("leaves"):
            continue
        model = f"m = {m['m']}" + (" (m*)" if "m_star" in m["roles"] else "")
        rows += [{"N": m["N"], "seed": m["seed"], "model": model, **r}
                 for r in m["leaves"]["rows"]]
    if not rows:
        return []
    which = sorted({f"N = {m['N']}: {m['leaves']['windows']}" for m in theory["models"]
                    if m.get("leaves")})
    cols = [("N", "N"), ("seed", "seed"), ("model", "model"),
            *[c for c in LEAVES_COLUMNS if c[0] != "ratio_fit"]]
    return ["### What the burn-in leaves", "",
            "The price of the zero state, `V(theta; 0) - V(theta; z*)` with `z*` the best "
            "initial state of each window (what a perfect initial-state estimator would gain "
            "at that burn-in), beside T1 at `(theta, z*)` from the on-data certificate of the "
            "pairs `(z*_i, 0)`: certified envelope and fitted `(lam, C)`. Windows: "
            + "; ".join(which) + ".", "", markdown_table(rows, cols), ""]


def constants_lines(theory: dict[str, Any] | None) -> list[str]:
    """A1 constants of the ``m = 0`` and ``m*`` models and the burn-in the T1 bound recommends.

    ``theory`` is :func:`verification.experiment.study_theory.study_theory`'s result; ``None``
    (``--certify-windows 0``) says how to get them.
    """
    if theory is None:
        return ["A1 constants were not computed (`--certify-windows 0`); rerun with "
                "`--certify-windows 200` to certify the m = 0 and m* models on 200 training "
                "windows and get the burn-in the bound recommends.", ""]
    out = ["A1 says ||y_j(z) - y_j(z')|| <= C lam^j ||z - z'||. *Certified*: proven on-data "
           "pair constants (`certify_on_data`, outward rounding): they hold for exactly the "
           "region stated, the pairs T1 compares on the training data, and nowhere else. "
           "*Sampled*: visited states of the same windows plus a 10 % margin, 2000 pairs — an "
           "estimate, never a certificate. Steps: smallest j with C lam^j <= 0.01. Also in "
           "`theory.csv`/`theory.json`.", ""]
    regions = sorted({m["region_pairs"] for m in theory["models"]})
    for reg in regions:
        out.append(f"Region: {reg}.")
    out.append("")
    head = ["N", "seed", "m", "max ‖z_i‖", "verified", "certified lam", "C", "steps",
            "sampled lam", "C", "steps", "seconds"]
    out += ["| " + " | ".join(head) + " |", "|" + "|".join("---:" for _ in head) + "|"]
    for m in sorted(theory["models"], key=lambda m: (m["N"], m["seed"], m["m"])):
        role = " (m*)" if "m_star" in m["roles"] else ""
        out.append(f"| {m['N']} | {m['seed']} | {m['m']}{role} | {fmt(m['z_max'])} | "
                   f"{'yes' if m['verified'] else 'no'} | {fmt(m['lam'], 5)} | {fmt(m['C'])} | "
                   f"{fmt(m['steps'])} | {fmt(m['sampled_lam'], 5)} | {fmt(m['sampled_C'])} | "
                   f"{fmt(m['sampled_steps'])} | {m['seconds']:.1f} |")
    out.append("")
    out += floor_notes(theory["models"])
    for r in theory["recommend"]:
        if r.get("m_rec") is None:
            out.append(f"* N = {r['N']}, seed {r['seed']}: {r['reason']}; m* = {r['m_star']}.")
            continue
        ratio = (r["test_m_rec"] / r["test_m_star"] if r.get("test_m_rec") and
                 r.get("test_m_star") else math.nan)
        out.append(
            f"* N = {r['N']}, seed {r['seed']}: the T1 bound from the m = 0 model's "
            f"{r['constants']} constants recommends m = {r['m_rec']} (test MSE "
            f"{fmt(r.get('test_m_rec'), 3)}); the sweep's m* = {r['m_star']} has test MSE "
            f"{fmt(r['test_m_star'], 3)} (m = 0: {fmt(r.get('test_m0'), 3)}); ratio "
            f"{fmt(ratio, 3)}. Rule: {r['reason']}. T1, its loss level "
            f"({fmt(r['loss_level'], 3)}, the model's loss from its free-run states) and "
            f"Delta_0 ({fmt(r['Delta_0'], 3)}) are over exactly the {r['windows']} windows the "
            "constants are proven on.")
    out += ["", *leaves_lines(theory)]
    out += ["", "The measured side: e_j of the m* model.", ""]
    return out
