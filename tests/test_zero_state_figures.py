"""The zero-state figure: arrays in, every series drawn, every caveat written on the figure."""

from __future__ import annotations

import numpy as np
import pytest

from verification.presentation.figures import notes
from verification.presentation.zero_state_figures import price_figure


def _lines(fig):
    return {ln.get_label(): ln for ln in fig.axes[0].get_lines()}


def test_gap_and_both_forms_are_drawn_on_a_log_axis():
    ms, gap = [0, 5, 10], [0.1, 0.01, 0.001]
    fig = price_figure(ms, gap, [1.0, 0.1, 0.01], [2.0, 0.2, 0.02], T1_witness=[0.5, 0.05, 0.005],
                       sound=[True, True, True], title="silverbox")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    lines = _lines(fig)
    assert len(lines) == 4 and notes(fig) == []
    gap_line = next(ln for lab, ln in lines.items() if "V(" in lab)
    np.testing.assert_array_equal(gap_line.get_ydata(), gap)
    assert ax.get_title() == "silverbox"


def test_caveats_are_written_not_hidden():
    fig = price_figure([0, 5, 10], [0.1, 0.0, 0.5], [1.0, np.nan, 0.1], [np.nan] * 3,
                       sound=[True, None, False])
    text = " ".join(notes(fig))
    assert "gap <= 0 at m = 5" in text
    assert "VIOLATED at m = 10" in text
    assert "fitted" in text and "not available" in text


def test_nothing_to_draw_and_bad_lengths():
    assert notes(price_figure([], [], [], [])) == ["no burn-ins: nothing to draw"]
    with pytest.raises(ValueError, match="T1_fit has 1 values"):
        price_figure([0, 1], [0.1, 0.1], [1.0, 1.0], [1.0])
