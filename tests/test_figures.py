"""Figures: each one is checked for what it draws (lines, markers, scales, labels, notes).

The fixture is a small synthetic table with the documented shapes (``N = 6``, ``T = 20``,
stride 1, so ``S = T - N + 1 = 15`` windows; ``m in {0, 2, 4}``). Its values are random but
consistent in kind: ``e_j`` decays, bounds lie above gaps, and a few cells are NaN or
non-positive on purpose (``T1_bound`` not certified at ``m = 4``, ``gap_T2 < 0`` at
``m = 2``, no certified curve at ``m = 4``) so the notes are exercised.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.text import Text

from verification.experiment.table import GapTable
from verification.presentation import figures

N, T, T_TEST, STRIDE, MS = 6, 20, 25, 1, (0, 2, 4)
S = (T - N) // STRIDE + 1
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN_FONT_PT = 7.0


def synthetic_table(seed: int = 0) -> GapTable:
    """A GapTable with the contract's keys and shapes (see the module docstring)."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, T + 1)
    tt = np.arange(1, T_TEST + 1)
    x_train = (np.sin(0.1 * t) + np.sin(0.05 * t + 2))[:, None] / 2
    x_test = (-1.4 * np.cos(0.1 * tt) + 0.5 * np.cos(0.5 * tt + 1))[:, None] / 2
    y_train = np.roll(x_train, 1, axis=0) + 0.1 * rng.standard_normal((T, 1))
    y_test = np.roll(x_test, 1, axis=0) + 0.3 * rng.standard_normal((T_TEST, 1))
    meta = {
        "N": N, "stride": STRIDE, "T": T, "model": "linear", "n_h": 1, "eps": 2.0,
        "train_name": "synthetic-train", "test_name": "synthetic-test",
        "x_train": x_train.tolist(), "y_train": y_train.tolist(),  # lists, as from JSON
        "x_test": x_test, "y_test": y_test,
    }
    table = GapTable(meta=meta)
    lam = 0.6
    j = np.arange(1, N + 1)
    for m in MS:
        V_inf = 0.01 * (1 + 0.1 * m)
        gap_T1 = 0.05 * lam**m
        gap_T2 = -1e-4 if m == 2 else 0.02 * lam**m
        row = {
            "m": m, "V_star": V_inf + gap_T1, "V_b": V_inf + 0.5 * gap_T1, "V_inf": V_inf,
            "R0": True, "gap_T1": gap_T1,
            "T1_bound": math.nan if m == 4 else 3 * gap_T1, "T1_bound_emp": 1.5 * gap_T1,
            "gap_T1c": 0.5 * gap_T1, "T1c_bound": 2 * gap_T1,
            "P_star": 0.02 + gap_T1, "P_b": 0.02, "P_star_test": 0.3 + gap_T1,
            "P_b_test": 0.29, "gap_T2": gap_T2, "T2a_bound": 0.1 * lam**m,
            "T2a_bound_emp": 0.05 * lam**m, "T2b_bound": 0.5 * lam ** (m / 2),
            "A_J": 0.1, "B": 0.01, "coercive": True, "acc_gap": 0.01, "T1d_bound": 0.1,
            "lam_cert": lam, "C_cert": 2.0, "certified": m != 4,
            "lam_emp": 0.55, "C_emp": 1.2, "sound_T1": True, "sound_T2": True,
            "sound": True, "tight_T1": 3.0, "tight_T2": 5.0,
        }
        Y_b = rng.standard_normal((S, N, 1)) * 0.5
        Y_star = Y_b + (lam**j)[None, :, None] * rng.standard_normal((S, N, 1))
        lam_curve = np.linspace(lam, 0.95, 8) if m != 4 else np.array([])
        trace = {
            "e_j": np.mean(np.sum((Y_star - Y_b) ** 2, axis=2), axis=0),
            "y_star_windows": Y_star, "y_b_windows": Y_b,
            "y_star_free_train": y_train + 0.05 * rng.standard_normal((T, 1)),
            "y_b_free_train": y_train + 0.05 * rng.standard_normal((T, 1)),
            "y_star_free_test": y_test + 0.2 * rng.standard_normal((T_TEST, 1)),
            "y_b_free_test": y_test + 0.2 * rng.standard_normal((T_TEST, 1)),
            "lam_curve": lam_curve,
            "C_curve": 2.0 * (lam_curve[0] / lam_curve) ** 3 if lam_curve.size else lam_curve,
            "lam_emp_point": np.array(0.55), "C_emp_point": np.array(1.2),
        }
        table.add(row, trace)
    return table


@pytest.fixture()
def table() -> GapTable:
    return synthetic_table()


def render(fig: Figure) -> bytes:
    """Draw the figure for real (layout, mathtext parsing) and return the PNG bytes.

    Rendering is slow (constrained layout); the full figures are rendered once, by the
    ``save_all`` test, to PNG and PDF.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=50)
    return buf.getvalue()


def labelled(ax, prefix: str) -> list:
    return [ln for ln in ax.get_lines() if ln.get_label().startswith(prefix)]


# ------------------------------------------------------------------------------ (i)
def test_output_error_has_one_log_line_per_m(table):
    fig = figures.output_error(table)
    (ax,) = fig.axes
    lines = labelled(ax, "m = ")
    assert len(lines) == len(table.ms)
    assert [ln.get_label() for ln in lines] == [f"m = {m}" for m in table.ms]
    assert ax.get_yscale() == "log"
    assert "$e_j$" in ax.get_ylabel() and "$j$" in ax.get_xlabel()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [f"m = {m}" for m in table.ms]
    for m, ln in zip(table.ms, lines, strict=True):  # the data are e_j at j = 1..N
        np.testing.assert_array_equal(ln.get_xdata(), np.arange(1, N + 1))
        np.testing.assert_allclose(ln.get_ydata(), table.traces[m]["e_j"])
    assert len({ln.get_color() for ln in lines}) == len(lines)  # colour by m
    assert figures.notes(fig) == []


def test_output_error_with_many_m_uses_a_colorbar(table):
    for m in range(5, 5 + figures.MAX_LEGEND_M):
        table.add(dict(table.rows[0], m=m), dict(table.traces[0]))
    fig = figures.output_error(table)
    ax, cbar = fig.axes
    assert len(labelled(ax, "m = ")) == len(table.ms)
    assert ax.get_legend() is None and "$m$" in cbar.get_ylabel()


# ------------------------------------------------------------------------------ (ii)
def test_performance_marks_tbptt_with_circles_and_benchmark_with_crosses(table):
    fig = figures.performance(table)
    assert len(fig.axes) == 2
    for ax, (k_star, k_b) in zip(fig.axes, [("P_star", "P_b"), ("P_star_test", "P_b_test")],
                                 strict=True):
        by_marker = {ln.get_marker(): ln for ln in ax.get_lines()}
        assert set(by_marker) == {"o", "x"}
        np.testing.assert_array_equal(by_marker["o"].get_xdata(), table.ms)
        np.testing.assert_allclose(by_marker["o"].get_ydata(), table.column(k_star))
        np.testing.assert_allclose(by_marker["x"].get_ydata(), table.column(k_b))
        assert "$P" in ax.get_ylabel() and "$m$" in ax.get_xlabel()
    assert "training" in fig.axes[0].get_title() and "test" in fig.axes[1].get_title()


# ------------------------------------------------------------------------------ (iii)
def test_predictions_draw_windows_at_their_times_and_both_free_runs(table):
    fig = figures.predictions(table)
    axes = np.array(fig.axes).reshape(-1, 2)
    assert axes.shape == (3, 2)  # data row + smallest and largest m
    assert "$m = 0$" in axes[1, 0].get_title() and "$m = 4$" in axes[2, 0].get_title()
    for r, m in ((1, 0), (2, 4)):
        train, test = axes[r]
        (lc,) = [c for c in train.collections if isinstance(c, LineCollection)]
        segs = lc.get_segments()
        assert len(segs) == S
        for i, seg in enumerate(segs):  # window i (0-based) at times i*stride + 1..N
            np.testing.assert_array_equal(seg[:, 0], i * STRIDE + np.arange(1, N + 1))
            np.testing.assert_allclose(seg[:, 1], table.traces[m]["y_star_windows"][i, :, 0])
        assert 0 < lc.get_alpha() < 1
        labels = [ln.get_label() for ln in train.get_lines()]
        assert any("TBPTT free run" in s for s in labels)
        assert any("benchmark free run" in s for s in labels)
        assert not [c for c in test.collections if isinstance(c, LineCollection)]
        assert len(test.get_lines()) == 3  # test data + two free runs
        assert "$t$" in test.get_xlabel() or r == 1
    data_train = axes[0, 0]
    np.testing.assert_allclose(data_train.get_lines()[0].get_ydata(),
                               np.asarray(table.meta["x_train"])[:, 0])
    assert fig.legends, "one figure-level legend"


def test_predictions_rejects_unknown_m(table):
    with pytest.raises(ValueError, match="ms contains m = 3"):
        figures.predictions(table, ms=[0, 3])
    fig = figures.predictions(table, ms=[2])
    assert len(fig.axes) == 4


# ------------------------------------------------------------------------------ (iv)
def by_gid(ax) -> dict:
    return {ln.get_gid(): ln for ln in ax.get_lines() if ln.get_gid()}


def test_bounds_vs_gaps_log_scale_and_non_positive_gaps_at_the_floor(table):
    fig = figures.bounds_vs_gaps(table)
    ax1, ax2 = fig.axes
    assert ax1.get_yscale() == ax2.get_yscale() == "log"
    assert r"$V^\star - V^\infty$" in ax1.get_ylabel()
    assert r"\theta^\star" in ax2.get_ylabel()
    assert "$m$" in ax1.get_xlabel() and "$m$" in ax2.get_xlabel()
    t1, t2 = by_gid(ax1), by_gid(ax2)
    assert set(t1) == {"gap_T1", "T1_bound", "T1_bound_emp"}
    assert set(t2) == {"gap_T2", "gap_T2_floor", "T2a_bound", "T2a_bound_emp", "T2b_bound"}
    np.testing.assert_allclose(t1["gap_T1"].get_ydata(), table.column("gap_T1"))
    assert t1["gap_T1"].get_marker() == "o"
    cert = t1["T1_bound"].get_ydata()
    assert np.isnan(cert[-1]) and np.all(np.isfinite(cert[:-1]))  # m = 4: not certified
    np.testing.assert_allclose(t2["T2b_bound"].get_ydata(), table.column("T2b_bound"))
    np.testing.assert_array_equal(t2["gap_T2"].get_xdata(), [0, 4])  # m = 2 has gap < 0
    np.testing.assert_array_equal(t2["gap_T2_floor"].get_xdata(), [2])
    text = " ".join(figures.notes(fig))
    assert "gap_T2 <= 0 at m = 2" in text
    assert "T1_bound not available for m = 4" in text
    assert "VIOLATED" not in text
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert figures.GAP_LABEL in legend and figures.FLOOR_LABEL in legend
    assert len(legend) == len(set(legend))  # shared entries appear once


def test_bounds_vs_gaps_flags_a_violated_bound(table):
    table.rows[1]["sound_T1"] = False
    fig = figures.bounds_vs_gaps(table)
    assert "VIOLATED at m = 2" in " ".join(figures.notes(fig))
    (ring,) = [ln for ln in fig.axes[0].get_lines() if ln.get_label() == "violated"]
    np.testing.assert_array_equal(ring.get_xdata(), [2])


# ------------------------------------------------------------------------------ (v)
def test_lam_C_curve_draws_certified_curve_and_empirical_point(table):
    fig = figures.lam_C_curve(table, m=0)
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    assert r"$\lambda$" in ax.get_xlabel() and "$C" in ax.get_ylabel()
    (curve,) = labelled(ax, "certified curve")
    np.testing.assert_allclose(curve.get_xdata(), table.traces[0]["lam_curve"])
    np.testing.assert_allclose(curve.get_ydata(), table.traces[0]["C_curve"])
    (star,) = [ln for ln in ax.get_lines() if ln.get_marker() == "*"]
    np.testing.assert_allclose(star.get_xydata(), [[0.55, 1.2]])
    (used,) = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    np.testing.assert_allclose(used.get_xydata(), [[0.6, 2.0]])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["certified curve", "certified point used", "empirical constants"]
    fig_all = figures.lam_C_curve(table)  # every m; m = 4 has no certified curve
    assert len(labelled(fig_all.axes[0], "m = ")) == 2
    assert "no certified (lambda, C) curve for m = 4" in " ".join(figures.notes(fig_all))
    with pytest.raises(ValueError, match="m = 7"):
        figures.lam_C_curve(table, m=7)


def test_lam_C_curve_without_anything_is_a_note(table):
    fig = figures.lam_C_curve(table, m=4)  # no curve, but the empirical point exists
    assert any(ln.get_marker() == "*" for ln in fig.axes[0].get_lines())
    for m in table.ms:
        table.traces[m] = {}
        table.row(m).update(lam_cert=math.nan, C_cert=math.nan, lam_emp=math.nan,
                            C_emp=math.nan)
    notes = figures.notes(figures.lam_C_curve(table))
    assert len(notes) == 1 and notes[0].startswith("no certified (lambda, C) curve")


# ------------------------------------------------------------------------------ robustness
def test_missing_traces_give_notes_not_crashes(table):
    del table.traces[2]["e_j"]
    del table.traces[4]["y_star_windows"]
    del table.meta["x_test"]
    fig = figures.output_error(table)
    assert len(labelled(fig.axes[0], "m = ")) == 2
    assert "no e_j trace for m = 2" in figures.notes(fig)[0]
    fig = figures.predictions(table)
    text = " ".join(figures.notes(fig))
    assert "y_star_windows" in text and "x_test" in text


def test_empty_table_gives_a_note_in_every_figure(tmp_path):
    for name, spec in figures.FIGURES.items():
        fig = spec.build(GapTable())
        assert figures.notes(fig), name
        render(fig)  # the notes and labels parse and lay out


def test_json_round_trip_table_draws_the_same(table, tmp_path):
    back = GapTable.from_json(table.to_json(tmp_path / "gaps.json"))
    for spec in figures.FIGURES.values():
        a, b = spec.build(table), spec.build(back)
        assert len(a.axes) == len(b.axes)
        assert [len(ax.get_lines()) for ax in a.axes] == [len(ax.get_lines()) for ax in b.axes]
        assert figures.notes(a) == figures.notes(b)


def test_text_is_at_least_7_pt_and_widths_fit_a_column(table):
    widths = {}
    for name, spec in figures.FIGURES.items():
        fig = spec.build(table)
        small = [
            (t.get_text(), t.get_fontsize()) for t in fig.findobj(Text)
            if t.get_visible() and t.get_text().strip() and t.get_fontsize() < MIN_FONT_PT
        ]
        assert not small, (name, small)
        widths[name] = fig.get_figwidth()
    assert widths["fig1_output_error"] == widths["fig5_lam_C"] == figures.SINGLE
    assert widths["fig2_performance"] == widths["fig3_predictions"] == figures.DOUBLE


def test_style_does_not_leak_into_global_rcparams(table):
    before = dict(matplotlib.rcParams)
    figures.performance(table)
    assert dict(matplotlib.rcParams) == before


# ------------------------------------------------------------------------------ saving
def test_save_all_writes_ten_complete_files(table, tmp_path):
    out = tmp_path / "figs"
    paths = figures.save_all(table, out, dpi=40)
    names = [f"{n}.{ext}" for n in figures.FIGURES for ext in ("png", "pdf")]
    assert [p.name for p in paths] == names
    assert sorted(p.name for p in out.iterdir()) == sorted(names)  # no temporary files left
    for p in paths:
        head = Path(p).read_bytes()[:8]
        assert p.stat().st_size > 1000
        if p.suffix == ".png":
            assert head == PNG_SIGNATURE
        else:
            assert head.startswith(b"%PDF-")


def test_save_all_leaves_another_runs_partial_file_alone(table, tmp_path):
    """Issue 12 #9: two runs on one folder collided on a fixed ``.partial`` name."""
    out = tmp_path / "figs"
    out.mkdir()
    foreign = out / ".fig1_output_error.png.partial"  # the name the old code always used
    foreign.write_text("another run is writing this")
    figures.save_all(table, out, formats=("png",), dpi=40)
    assert foreign.read_text() == "another run is writing this"
    assert sorted(p.name for p in out.iterdir() if p != foreign) == sorted(
        f"{n}.png" for n in figures.FIGURES)


def test_save_all_rejects_unknown_formats(table, tmp_path):
    with pytest.raises(ValueError, match="formats"):
        figures.save_all(table, tmp_path, formats=("png", "docx"))
    assert not list(tmp_path.iterdir())
