"""The study's theory view (verification.experiment.study_theory): certified and sampled A1
constants of the m = 0 and m* models, the recommended burn-in, resume, ``--certify-windows 0``.

Independent references: the pairs are rebuilt here from the model's own ``simulate`` over the
scaled training split (not from ``training_pairs``), and the certified envelope is checked as
an upper bound on the ratios of those simulated pairs (``<= bound * (1 + UPPER_RTOL)``).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from test_study import record, small_lstm, write_pair

from systems import load_model
from tests.tolerances import SUM_RTOL, UPPER_RTOL
from verification.experiment import study as st
from verification.experiment import study_theory as th
from verification.presentation import study_cli

N, MS, K = 20, (0, 5, 10), 30


def _study(tmp_path: Path, cell: str, *extra: str) -> tuple[Path, dict]:
    pair = write_pair(tmp_path, T_train=300, T_test=100)
    out = tmp_path / "out"
    argv = ["mine", "--train", str(pair["train"]), "--test", str(pair["test"]), "--inputs", "u",
            "--outputs", "y", "--cell", cell, "--n-h", "3", "--N", str(N),
            "--m", *map(str, MS), "--kinds", "stateless", "--epochs", "2", "--lr", "1e-2",
            "--workers", "0", "--out", str(out), *extra]
    assert study_cli.main(argv) == 0
    return out, pair


def pairs_by_simulation(model, u: np.ndarray, starts: np.ndarray, N: int = N) -> np.ndarray:
    """``||y_j(z_i) - y_j(0)|| / ||z_i||`` on the windows at ``starts``, from ``simulate``:
    (K, N), NaN where ``z_i = 0`` (the first window)."""
    z, _ = model.simulate(u)
    z0 = z[starts]
    X = u[starts[:, None] + np.arange(N)[None, :]]
    _, ya = model.simulate(X, z0)
    _, yb = model.simulate(X)
    nrm = np.linalg.norm(z0, axis=1)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(nrm > 0, np.linalg.norm(ya - yb, axis=-1) / nrm, np.nan)


@pytest.mark.parametrize("cell", ["elman", "lstm", "gru"])
def test_trained_study_theory_is_certified_and_never_beaten(cell, tmp_path):
    out, pair = _study(tmp_path, cell, "--certify-windows", str(K))
    theory = json.loads((out / "theory.json").read_text())
    u = st.load_splits("mine", files=pair, inputs=["u"], outputs=["y"]).scaled("train").x
    S = u.shape[0] - N + 1  # 210 steps: the last 30 % of the 300 are the validation split
    assert theory["windows"] == K and theory["models"]
    for rec in theory["models"]:
        assert {"verified", "lam", "C", "region", "sampled_lam", "sampled_C"} <= set(rec)
        assert rec["verified"] is True, rec["reason"]
        assert f"{K} of the {S} windows of length N = {N}, spread evenly" in rec["region"]
        starts = np.array(rec["starts"])
        assert starts.size == K and starts[0] == 0 and starts[-1] == S - 1
        sim = pairs_by_simulation(load_model(out / "models" / f"{rec['key']}.npz"), u, starts)
        G = np.array(rec["envelope"])
        assert np.all(np.nan_to_num(sim) <= G * (1 + UPPER_RTOL))  # never beaten
        j = np.arange(1, N + 1)
        assert np.all(G <= rec["C"] * rec["lam"] ** j * (1 + UPPER_RTOL))  # (lam, C) covers G
        assert 0 < rec["lam"] < 1
        # T1 and the recommendation rest on exactly the certified windows
        assert rec["certified"] is True and rec["windows"] == K == len(rec["starts"])
        assert [r["m"] for r in rec["rows"]] == list(MS)
        assert all(r["T1"] <= r["T1_env"] for r in rec["rows"])
        # what the burn-in leaves: the model at m = 0 and m*, every price under its bounds
        leaves = rec["leaves"]["rows"]
        assert {r["m"] for r in leaves} <= set(MS) and 0 in {r["m"] for r in leaves}
        assert all(r["sound"] is True and r["gap"] >= 0 for r in leaves), leaves
        assert f"{th.LEAVES_WINDOWS} of the {S} windows" in rec["leaves"]["windows"]
    (row,) = list(csv.DictReader(open(out / "theory.csv")))
    assert list(row) == list(th.THEORY_COLUMNS)
    assert int(row["m_rec"]) in MS and row["constants"] == "certified"
    assert row["m0_verified"] == "True" and float(row["m0_lam"]) < 1
    table = list(csv.DictReader(open(out / "table.csv")))
    assert row["m_star"] == table[0]["m_star"]
    results = {int(r["m"]): r for r in csv.DictReader(open(out / "results.csv"))}
    np.testing.assert_allclose(float(row["test_m_rec"]),
                               float(results[int(row["m_rec"])]["mse_test_scaled"]), rtol=1e-5)
    report = (out / "report.md").read_text()
    assert "certified constants recommends m = " in report
    assert "### What the burn-in leaves" in report and "price of z = 0" in report
    assert "gated-certificate issue" not in report


def test_rerun_reads_the_constants_back_and_zero_windows_disables(tmp_path):
    out, _ = _study(tmp_path, "lstm", "--certify-windows", str(K))
    cache = sorted((out / "theory").glob("*.json"))
    assert len(cache) in (1, 2)  # m = 0 and m* (the same model when m* = 0)
    stamps = {p: p.stat().st_mtime_ns for p in cache}
    first = json.loads((out / "theory.json").read_text())
    out2, _ = _study(tmp_path, "lstm", "--certify-windows", str(K))  # resume: all done
    assert {p: p.stat().st_mtime_ns for p in cache} == stamps  # nothing recomputed
    assert json.loads((out2 / "theory.json").read_text()) == first
    _study(tmp_path, "lstm", "--certify-windows", "0")
    assert not (out / "theory.json").exists() and not (out / "theory.csv").exists()
    report = (out / "report.md").read_text()
    assert "were not computed (`--certify-windows 0`)" in report


def test_negative_certify_windows_is_a_one_line_error(tmp_path, capsys):
    pair = write_pair(tmp_path, T_train=300, T_test=100)
    code = study_cli.main(["mine", "--train", str(pair["train"]), "--test", str(pair["test"]),
                           "--inputs", "u", "--outputs", "y", "--N", "20", "--m", "0",
                           "--certify-windows", "-1", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--certify-windows -1 must be >= 0" in err and "\n" not in err
    assert not (tmp_path / "o").exists()


def test_training_pairs_are_the_free_run_states_at_window_starts():
    model = small_lstm(3)
    u = np.random.default_rng(0).standard_normal((120, 1))
    p = th.training_pairs(model, u, N=20, K=7)
    assert p.S == 101 and p.starts.tolist() == [0, 17, 33, 50, 67, 83, 100]
    for i, s in enumerate(p.starts):  # each z_i by its own run over u[:s]
        z_s = model.simulate(u[:s])[0][-1] if s else np.zeros(model.n_z)
        # the same recursion over a prefix; the batched input product may round differently
        np.testing.assert_allclose(p.z0[i], z_s, rtol=SUM_RTOL, atol=SUM_RTOL)
        np.testing.assert_array_equal(p.X[i], u[s:s + 20])
    z = model.simulate(u)[0][:101]
    np.testing.assert_allclose(p.Delta_0, np.sqrt(np.mean(np.sum(z**2, axis=1))),
                               rtol=SUM_RTOL)
    assert th.training_pairs(model, u, N=20, K=500).starts.size == 101  # K >= S: every window


def test_a_diverging_model_is_reported_not_certified():
    from systems.data import Sequence
    from systems.rnn import ElmanRNN

    model = ElmanRNN([[50.0]], [[1.0]], None, [[1.0]], None, activation="linear")
    u = np.ones((300, 1))  # the free run overflows: 50**t
    rec = th.theory_record(model, Sequence(u, np.zeros((300, 1))), 20, 5, [0], [0])
    assert rec["verified"] is False and "not finite" in rec["reason"]
    assert rec["certified"] is False and rec["m_rec"] is None


def _record(certified: bool, m_rec: int | None) -> dict:
    return {"verified": certified, "lam": 0.5, "C": 1.0, "steps": 1.0, "sampled_lam": 0.6,
            "sampled_C": 2.0, "sampled_steps": 1.0, "Delta_0": 1.0, "S": 100, "region": "r",
            "reason": "the enclosure diverged", "certified": certified, "m_rec": m_rec,
            "bound_m_rec": 0.01, "rec_reason": "the rule", "loss_level": 0.1}


@pytest.mark.parametrize("certified, m_rec, constants", [
    (True, 10, "certified"),                   # from the certified T1
    (False, 10, "sampled (not certified)"),    # else the sampled constants, said so
    (False, None, "sampled (not certified)"),  # no finite curve: no recommendation
])
def test_recommendation_row_says_which_constants(certified, m_rec, constants):
    rows = {m: record(50, m, "stateless", 0, 0.01, 0.01, 0.1 + m, key=f"k{m}")
            for m in (0, 10, 40)}
    models = {"k0": _record(certified, m_rec), "k40": _record(True, 0)}
    rec = th._recommendation(50, 0, 40, rows, models, K=7)
    assert rec["test_m_star"] == 40.1 and rec["test_m0"] == 0.1
    assert rec["constants"] == constants and rec["m_rec"] == m_rec
    if m_rec is None:
        assert rec["reason"].startswith("no recommendation: the rule")
    else:
        assert rec["test_m_rec"] == rows[m_rec].mse_test_scaled and rec["reason"] == "the rule"


def test_a_float_floored_envelope_tail_is_pointed_out():
    from verification.presentation.study_report import floor_notes

    clean = {"N": 3, "m": 0, "envelope": [0.5, 0.1, 0.0200001], "witness": [0.5, 0.1, 0.02]}
    floored = {"N": 3, "m": 7, "envelope": [0.5, 1e-6, 1e-8], "witness": [0.5, 1e-6, 1e-14]}
    assert floor_notes([clean]) == []
    (note, blank) = floor_notes([clean, floored])
    assert note.startswith("* N = 3, m = 7:") and "1e-08" in note and blank == ""
