"""Training in the study: the three kinds' losses against brute-force free runs (with a
vanishing learning rate nothing moves, so the reported epoch loss must be the plain MSE the kind
defines), stateful TBPTT with one window against full BPTT by systems.adam, a tiny training
study end to end and its no-op rerun."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from test_study import write_pair
from tolerances import SUM_RTOL

from systems.adam import train_adam, train_stateful
from systems.batched_train import init_theta
from systems.lstm import LSTM
from systems.windows import WindowedData
from verification.experiment import study as st
from verification.experiment.study_train import bptt_steps, train_group
from verification.presentation import study_cli


def init_model(cell, n_x, n_h, n_y, seed):
    assert cell == "lstm"
    return LSTM.from_theta(init_theta(cell, n_x, n_h, n_y, seed), n_x=n_x, n_h=n_h, n_y=n_y)


def train(task, job, report):
    """One model of the study, trained as the study trains a group of one."""
    ((model, history),) = train_group([task], job, report)
    return model, history


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    pair = write_pair(tmp_path_factory.mktemp("pair"), T_train=300, T_test=100)
    return st.load_splits("mine", files=pair, inputs=["u"], outputs=["y"])


def test_stateful_with_one_window_is_full_bptt(splits):
    """With N = T there is one window, started from zero every epoch: stateful TBPTT is then
    full BPTT, so our Adam loop must retrace systems.adam.train_adam step for step."""
    seq = splits.scaled("train")
    start = init_model("lstm", 1, 3, 1, seed=5)
    a, hist_a = train_stateful(start, seq, seq.T, epochs=12, lr=1e-2, batch_size=1)
    b, hist = train_adam(start, WindowedData(seq, seq.T, 0), epochs=12, lr=1e-2, batch_size=1)
    np.testing.assert_allclose(hist_a.loss, hist.loss, rtol=SUM_RTOL)
    np.testing.assert_allclose(a.theta, b.theta, rtol=SUM_RTOL, atol=1e-13)


def test_init_is_torch_default_range_and_seeded():
    a, b = init_model("lstm", 1, 8, 2, seed=3), init_model("lstm", 1, 8, 2, seed=3)
    np.testing.assert_array_equal(a.theta, b.theta)  # same seed, same model: the property
    assert np.abs(a.theta).max() <= 1 / np.sqrt(8)
    assert not np.array_equal(a.theta, init_model("lstm", 1, 8, 2, seed=4).theta)


def _zero_lr_loss(splits, kind, N, m):
    task = st.Task("mine", "lstm", 3, N, m, kind, 0, "quick")
    # lr = 1e-300: each Adam step moves theta by ~1e-300, far below an ulp of its entries, so
    # nothing moves and the epoch loss is the plain loss of the initial model (lr = 0 is refused)
    job = st.Job(splits, st.Budget("t", epochs=1, lr=1e-300, batch_size=7, dtype="float64"))
    model, h = train(task, job, lambda _: None)
    return model, h["loss"][0]


def test_stateless_loss_is_the_mean_window_error_after_the_burn_in(splits):
    N, m = 20, 6
    model, loss = _zero_lr_loss(splits, "stateless", N, m)
    seq = splits.scaled("train")
    S = seq.T - N + 1
    per_window = np.array([np.mean((model.simulate(seq.x[s:s + N])[1][m:] - seq.y[s:s + N][m:])
                                   ** 2) for s in range(S)])
    # batches of 7, the last partial one dropped: the epoch loss is the mean over the S - d
    # windows used (all batches the same size); which d are dropped depends on the shuffle, so
    # the loss lies between dropping the d largest and the d smallest window errors
    d = S % 7
    srt = np.sort(per_window)
    lo, hi = srt[-d:].sum() if d else 0.0, srt[:d].sum()
    total = per_window.sum()
    assert (total - lo) / (S - d) * (1 - SUM_RTOL) <= loss <= (total - hi) / (S - d) * (
        1 + SUM_RTOL)


def test_stateful_loss_is_the_error_of_streams_of_back_to_back_windows(splits):
    """The authors' stateful protocol with parameters that do not move: window ``i`` continues
    stream ``i mod N``, one free run from zero at time ``i mod N``; the budget's batch of 7 is cut
    to 5, the largest divisor of ``N = 40``."""
    N, B = 40, 5
    model, loss = _zero_lr_loss(splits, "stateful", N, 0)
    seq = splits.scaled("train")
    S = seq.T - N + 1
    used = (S // B) * B  # the last partial minibatch is dropped
    runs = [model.simulate(seq.x[k:])[1] for k in range(N)]  # stream k starts at time k
    errors = [np.mean((runs[i % N][i - i % N : i - i % N + N] - seq.y[i : i + N]) ** 2)
              for i in range(used)]
    np.testing.assert_allclose(loss, np.mean(errors), rtol=SUM_RTOL)


def test_bptt_loss_is_the_free_run_error_of_the_whole_split(splits):
    T = splits.train.T
    model, loss = _zero_lr_loss(splits, "bptt", T, 0)
    seq = splits.scaled("train")
    _, y = model.simulate(seq.x)
    np.testing.assert_allclose(loss, np.mean((y - seq.y) ** 2), rtol=SUM_RTOL)


@pytest.mark.parametrize("kind,N,m,epochs", [("stateless", 20, 5, 15), ("stateful", 20, 0, 15),
                                             ("bptt", 210, 0, 12)])
def test_training_lowers_the_loss(splits, kind, N, m, epochs):
    task = st.Task("mine", "lstm", 3, N, m, kind, 0, "quick")
    job = st.Job(splits, st.Budget("t", epochs=epochs, lr=1e-2, batch_size=20))  # float32
    _, h = train(task, job, lambda _: None)
    # bptt: one Adam step per epoch, as many as stateless training at N = 100 (12 x 5 = 60)
    steps = bptt_steps(job.budget, splits.train.T) if kind == "bptt" else epochs
    assert h["diverged"] is None and h["epochs"] == steps
    assert h["loss"][-1] < 0.7 * h["loss"][0]


def test_tiny_training_study_end_to_end_and_rerun_is_a_no_op(tmp_path, capsys):
    pair = write_pair(tmp_path, T_train=300, T_test=100)
    out = tmp_path / "out"
    argv = ["mine", "--train", str(pair["train"]), "--test", str(pair["test"]), "--inputs", "u",
            "--outputs", "y", "--N", "20", "--m", "0", "5", "10", "--seeds", "0", "1",
            "--n-h", "3", "--epochs", "2", "--kinds", "stateless", "stateful", "bptt",
            "--workers", "0", "--out", str(out)]
    assert study_cli.main(argv) == 0
    log = capsys.readouterr().out
    assert "epoch 2/2" in log and ", ETA" in log and "study ETA" in log
    rows = json.loads((out / "results.json").read_text())
    # 3 burn-ins + stateful per seed, one bptt per seed
    assert len(rows) == 10 and all(r["epochs"] == 2 for r in rows)
    (t,) = st.paper_table([st.ModelRecord.from_dict(r) for r in rows])
    assert t["seeds"] == 2 and t["m_star"] in (0, 5, 10)
    stamps = {p: p.stat().st_mtime_ns for p in (out / "metrics").glob("*.json")}
    assert study_cli.main(argv) == 0
    assert "0 to run" in capsys.readouterr().out
    assert stamps == {p: p.stat().st_mtime_ns for p in stamps}


def test_budgets():
    p = st.budget_for("paper", "rlc")
    assert (p.lr, p.epochs, p.batch_size) == (3e-4, 1500, 100)
    p = st.budget_for("paper", "silverbox")
    assert (p.lr, p.epochs) == (1e-4, 400)
    assert replace(st.budget_for("quick", "silverbox"), epochs=1).epochs == 1
    # quick: about 4000 Adam steps at N = 100 on each benchmark (T_train from the data README)
    for name, T in (("silverbox", 20000), ("wiener_hammerstein", 20000), ("rlc", 6667)):
        q = st.budget_for("quick", name)
        assert 3800 <= q.epochs * ((T - 100 + 1) // q.batch_size) <= 4200, name
