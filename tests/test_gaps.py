"""The bound-vs-gap sweep on the authors' data: every row sound, the paper's picture, resume."""

from __future__ import annotations

import numpy as np
import pytest

from systems.data import load_csv, paper_lti
from verification.experiment.gaps import measure

PAPER_MS = (0, 4, 8, 12, 16, 20)


@pytest.fixture(scope="module")
def authors_table(shared_data):
    d = shared_data / "paper_synthetic"
    train = load_csv(d / "train.csv", ["x"], ["y"], name="authors/train")
    test = load_csv(d / "test.csv", ["x"], ["y"], name="authors/test")
    return measure(train, test, N=21, ms=PAPER_MS, model="linear", n_h=1, bias=False,
                   w_hh_max=0.999)


def test_every_row_sound_with_certified_constants(authors_table):
    for r in authors_table.rows:
        assert r["certified"], r["cert_reason"]
        assert r["R0"] and r["warm_start_ok"], r["m"]
        # T1 (a bound on V* - V^inf >= 0) and T2a, with certified constants.
        assert 0 <= r["gap_T1"] <= r["T1_bound"] * (1 + 1e-7) + 1e-10, r
        assert r["gap_T1c"] <= r["T1c_bound"] * (1 + 1e-7) + 1e-10, r
        assert r["gap_T2"] <= r["T2a_bound"] * (1 + 1e-7) + 1e-10, r
        if r["coercive"]:
            assert r["acc_gap"] <= r["T1d_bound"] * (1 + 1e-7) + 1e-10, r
            assert r["gap_T2"] <= r["T2b_bound"] * (1 + 1e-7) + 1e-10, r
        assert r["sound"] is True and r["sound_T1"] and r["sound_T2"]


def test_tightness_is_reported(authors_table):
    t1, t2 = authors_table.column("tight_T1"), authors_table.column("tight_T2")
    assert np.all(t1[np.isfinite(t1)] >= 1 - 1e-7) and np.all(t2[np.isfinite(t2)] >= 1 - 1e-7)
    assert np.isfinite(t1).sum() >= 4  # the gap is positive for most m


def test_the_papers_picture(authors_table):
    """m = 0: TBPTT far worse than the benchmark on training data; the gap closes with m;
    e_j flat for m = 0 and decaying by orders of magnitude over j for the largest m."""
    rows = {r["m"]: r for r in authors_table.rows}
    assert rows[0]["P_star"] > 10 * rows[0]["P_b"]
    gaps = [rows[m]["P_star"] - rows[m]["P_b"] for m in PAPER_MS]
    assert gaps[-1] < 0.05 * gaps[0]
    e0, e20 = authors_table.traces[0]["e_j"], authors_table.traces[20]["e_j"]
    tail = e0[len(e0) // 3 :]  # m = 0: after a short transient, flat at the level of the bias
    assert tail.max() / tail.min() < 1.5
    assert e20[0] / e20[-1] > 1e3  # m = 20: decays by orders of magnitude over the window
    assert e20[-1] < 1e-3 * e0[-1]


def test_resume_skips_finished_m(tmp_path):
    train, test = paper_lti("train", T=40), paper_lti("test", T=40)
    lines: list[str] = []
    first = measure(train, test, N=8, ms=[0, 4], out_dir=tmp_path, progress=lines.append)
    assert (tmp_path / "gaps.csv").exists() and (tmp_path / "gaps.json").exists()
    lines.clear()
    again = measure(train, test, N=8, ms=[0, 4, 6], out_dir=tmp_path, progress=lines.append)
    assert any("resuming: m = [0, 4]" in s for s in lines)
    assert sum("solving relaxed" in s for s in lines) == 1  # only m = 6 is new
    assert again.rows[:2] == first.rows


def test_bad_arguments_fail_early():
    train, test = paper_lti("train", T=40), paper_lti("test", T=40)
    with pytest.raises(ValueError, match="m = 8 must satisfy 0 <= m < N = 8"):
        measure(train, test, N=8, ms=[0, 8])
    with pytest.raises(ValueError, match="N = 50 must satisfy 1 <= N <= T = 40"):
        measure(train, test, N=50, ms=[0])
    with pytest.raises(ValueError, match="eps"):
        measure(train, test, N=8, ms=[0], eps=1.0)
