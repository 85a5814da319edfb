"""``report.md`` of ``burnin reproduce``: figures, constants, bound-vs-gap table, burn-in advice."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bounds.recommend import BurnInRecommendation, recommend_burn_in
from verification.experiment.table import GapTable, atomic_write
from verification.presentation.figures import FIGURES
from verification.presentation.text import markdown_table

#: Default tolerance of the training rule: T1 bound <= TOL * min_m V^b.
TOL = 1.0

def recommend(table: GapTable, tol: float = TOL) -> BurnInRecommendation | None:
    """Burn-in advice from the table.

    Training rule: the smallest ``m`` whose T1 bound is at most ``tol`` times the loss level,
    taken as the full-sequence optimum ``min_m V^b`` (the loss that training on the whole
    sequence reaches; ``V^inf`` can be ~0 for a long burn-in and is no yardstick).
    Performance rule: the ``m`` minimising the a priori bound T2b.
    """
    ms = np.array(table.ms)
    t1 = table.column("T1_bound")
    if not np.isfinite(t1).all():
        return None
    level = float(np.nanmin(table.column("V_b")))
    t2b = table.column("T2b_bound")
    return recommend_burn_in(
        ms, t1, loss_level=level, tol=tol,
        performance_bound=t2b if np.isfinite(t2b).all() else None,
    )


GAP_COLUMNS = [
    ("m", "m"), ("V_star", "V*"), ("V_b", "V^b"), ("V_inf", "V^inf"), ("R0", "R0"),
    ("gap_T1", "V*-V^inf"), ("T1_bound", "T1 (cert.)"), ("T1_bound_emp", "T1 (emp.)"),
    ("tight_T1", "T1/gap"), ("gap_T1c", "V^b-V^inf"), ("T1c_bound", "T1c"),
    ("coercive", "C_eps"), ("acc_gap", "|Y*-Y^inf|^2/K"), ("T1d_bound", "T1d"),
]
PERF_COLUMNS = [
    ("m", "m"), ("P_star", "P* train"), ("P_b", "P^b train"), ("P_star_test", "P* test"),
    ("P_b_test", "P^b test"), ("gap_T2", "P*-P^b"), ("A_J", "A_J"), ("B", "B"),
    ("T2a_bound", "T2a (cert.)"), ("T2a_bound_emp", "T2a (emp.)"), ("tight_T2", "T2a/gap"),
    ("T2b_bound", "T2b"), ("sound", "sound"),
]
CONST_COLUMNS = [
    ("m", "m"), ("certified", "certified"), ("lam_cert", "lam (theta^inf)"),
    ("C_cert", "C (theta^inf)"), ("lam_cert_T1", "lam used by T1"), ("C_cert_T1", "C used by T1"),
    ("lam_cert_star", "lam (theta*)"), ("C_cert_star", "C (theta*)"), ("lam_emp", "lam emp."),
    ("C_emp", "C emp."), ("Delta_0", "Delta_0"), ("rho", "rho"), ("Delta_b", "Delta_b"),
]


def write_report(table: GapTable, out_dir: str | Path, *, tol: float = TOL,
                 seconds: dict[str, float] | None = None) -> Path:
    """Write ``report.md`` into ``out_dir`` (atomically) and return its path."""
    out = Path(out_dir)
    meta = table.meta
    rows = table.rows
    sound = [r.get("sound") for r in rows]
    lines = [
        "# Burn-in bounds: reproduction of the synthetic experiment",
        "",
        f"Data: `{meta.get('train_name')}` (training), `{meta.get('test_name')}` (test); "
        f"T = {meta.get('T')}, N = {meta.get('N')}, stride {meta.get('stride')}, "
        f"S = {meta.get('S')} windows, o_min = {meta.get('o_min')}; model: {meta.get('model')} "
        f"Elman RNN, n_h = {meta.get('n_h')}, biases {'on' if meta.get('bias') else 'off'}, "
        f"|W_hh| <= {meta.get('w_hh_max')}; coercivity level eps = {meta.get('eps')}.",
        "",
        f"**Soundness:** {sum(bool(s) for s in sound)} of {len(rows)} rows sound "
        "(every measured gap <= its bound with certified constants)."
        + ("" if all(sound) else " **Rows that are not sound point to a bug: see below.**"),
        "",
        "## Recommended burn-in",
        "",
    ]
    rec = recommend(table, tol)
    if rec is None:
        lines.append("No recommendation: the T1 bound is not available for every m "
                     "(no certificate).")
    else:
        lines.append(f"* Training (T1 bound <= {tol:g} x min_m V^b): {rec.training.reason}")
        if rec.performance is not None:
            lines.append(f"* Performance (T2b minimised): {rec.performance.reason}")
    lines += ["", "## Training regret (docs/theory.md, T1)", "",
              markdown_table(rows, GAP_COLUMNS), "",
              "## Performance regret (docs/theory.md, T2)", "",
              markdown_table(rows, PERF_COLUMNS), "",
              "## Constants (LMI-C certificates and empirical estimates)", "",
              markdown_table(rows, CONST_COLUMNS), "",
              "Bounds are evaluated at the point of the certified (lam, C) curve that makes them "
              "smallest; the empirical constants are sampled lower estimates, not certificates.",
              "", "## Figures", ""]
    for name, spec in FIGURES.items():
        lines += [f"![{spec.caption}]({name}.png)", "", f"*{spec.caption}*", ""]
    if seconds:
        lines += ["## Time", "", ", ".join(f"{k}: {v:.1f} s" for k, v in seconds.items()), ""]
    path = out / "report.md"
    atomic_write(path, "\n".join(lines))
    return path
