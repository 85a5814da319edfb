"""The tuner's default trainer (the batched LSTM trainer behind the protocol) and ``burnin tune``
end to end on tiny data: stacking, independence of a candidate from its stack, the CLI's
outputs, resume, and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_checks import assert_one_line_input_error

from systems.batched_train import BatchedTrainer
from systems.data import Sequence
from verification.experiment.tune_batched import BatchedTuneTrainer, TrainConfig, stack_states
from verification.experiment.tune_protocol import Request
from verification.presentation import cli


def series(T: int, seed: int) -> Sequence:
    """A first-order system with a saturating output, driven by white noise."""
    u = np.random.default_rng(seed).standard_normal(T)
    z, y = 0.0, np.zeros(T)
    for t in range(T):
        z = 0.8 * z + u[t]
        y[t] = np.tanh(0.4 * z)
    return Sequence(u, y)


TRAIN, VAL = series(240, 1), series(120, 2)
#: Relative difference allowed between a model's free-run MSE computed alone and in a stack.
EVAL_RTOL = 1e-12
#: Relative difference allowed between a model's float32 parameters trained in stacks of
#: different sizes (the stacked products may take another SIMD path: an ulp per step, a few
#: epochs of Adam).
THETA_RTOL = 1e-5


def test_stacked_states_train_exactly_as_the_models_trained_together():
    a = BatchedTrainer("lstm", 3, TRAIN, N=12, ms=[0, 4, 8], seeds=[0, 1, 0], lr=1e-2,
                       batch_size=40).run(2)
    parts = [a.select([k]).state() for k in range(3)]
    b = BatchedTrainer.from_state(stack_states(parts), TRAIN).run(2)
    a.run(2)
    assert np.array_equal(a.theta, b.theta)  # bit for bit, float32


def test_a_candidate_does_not_depend_on_the_others_in_its_rung():
    t = BatchedTuneTrainer(TRAIN, VAL, TrainConfig("lstm", 3, 12, 1e-2, 1e-3, 40), workers=0)
    together = t.train_many([Request(0, 0, 3), Request(5, 1, 3), Request(9, 2, 3)])
    alone = t.train_many([Request(5, 1, 3)])[0]
    np.testing.assert_allclose(together[1].state["theta"], alone.state["theta"], rtol=THETA_RTOL,
                               atol=THETA_RTOL * np.abs(alone.state["theta"]).max())
    # the free runs of a stack differ from one model's in the last bits (summation order)
    assert (together[1].train_mse, together[1].val_mse) == pytest.approx(
        (alone.train_mse, alone.val_mse), rel=EVAL_RTOL)
    # continuing: two more epochs from the state equal a fresh run's next cycle
    more = t.train_many([Request(5, 1, 2, alone.state), Request(0, 0, 2, together[0].state)])
    again = t.train_many([Request(5, 1, 2, alone.state)])[0]
    np.testing.assert_allclose(more[0].state["theta"], again.state["theta"], rtol=THETA_RTOL,
                               atol=THETA_RTOL * np.abs(again.state["theta"]).max())
    assert more[0].state["epoch"] == 5 and np.isfinite(more[0].train_mse)


@pytest.fixture
def csvs(tmp_path):
    paths = {}
    for name, seq in (("train", TRAIN), ("val", VAL), ("test", series(120, 3))):
        p = tmp_path / f"{name}.csv"
        np.savetxt(p, np.c_[seq.x, seq.y], delimiter=",", header="u,y", comments="")
        paths[name] = str(p)
    return paths


def tiny(csvs, out, *extra):
    return ["tune", "toy", "--train", csvs["train"], "--val", csvs["val"], "--test",
            csvs["test"], "--inputs", "u", "--outputs", "y", "--N", "12", "--n-h", "3",
            "--m", "0", "2", "4", "6", "8", "10", "--paper-epochs", "10", "--share", "0.6",
            "--batch-size", "40", "--workers", "0", "--windows", "8", "--out", str(out),
            *extra]


def test_cli_writes_report_json_figure_and_resumes(csvs, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(tiny(csvs, out, "--json")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary) == {"m", "criterion", "improvement_over_m0", "model_epochs",
                            "share_of_grid", "seconds"}
    assert summary["m"] in (0, 2, 4, 6, 8, 10)
    assert summary["model_epochs"] <= 0.6 * 6 * 10
    assert summary["share_of_grid"] == pytest.approx(summary["model_epochs"] / 60)
    doc = json.loads((out / "result.json").read_text())
    assert doc["m"] == summary["m"] and doc["theory"]["windows"] == 8
    refs = doc["theory"]["references"]  # three m = 0 models; the slowest to forget caps
    assert [r["seed"] for r in refs] == [0, 1, 2]
    assert doc["theory"]["steps"] == max(r["steps"] for r in refs)
    last = doc["rungs"][-1]["candidates"]
    assert {c["m"] for c in last} >= {0, summary["m"]}
    assert all(len(c["seeds"]) == 3 for c in last)
    report = (out / "report.md").read_text()
    assert f"**Chosen burn-in: m = {summary['m']}**" in report and "## Rungs" in report
    assert "3 reference models at m = 0" in report
    assert (out / "tune_rungs.png").stat().st_size > 5_000
    # a rerun reads every rung: same answer, no training
    assert cli.main(tiny(csvs, out, "--json")) == 0
    captured = capsys.readouterr()
    again = json.loads(captured.out)
    assert again["m"] == summary["m"]
    assert again["seconds"] == pytest.approx(summary["seconds"], rel=1e-9)  # the same run's time
    assert "models: epoch" not in captured.err
    assert captured.err.count("): read from") == len(doc["rungs"])  # "rung k (kind): ..."
    assert "theory: read from" in captured.err


def test_cli_refuses_other_settings_in_one_line_and_no_resume_starts_afresh(csvs, tmp_path,
                                                                          capsys):
    out = tmp_path / "run"
    assert cli.main(tiny(csvs, out, "--no-theory")) == 0
    capsys.readouterr()
    argv = tiny(csvs, out, "--no-theory", "--lr", "0.02")
    assert_one_line_input_error(argv, "train.lr: 0.003 there, 0.02 now", capsys)
    assert cli.main([*argv, "--no-resume"]) == 0


def test_references_keep_their_rate_when_the_search_changes_its_own(csvs, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(tiny(csvs, out, "--lr", "0.02", "--lr-min", "0.002")) == 0
    capsys.readouterr()
    report = (out / "report.md").read_text()
    assert ("one cosine learning-rate cycle from 0.02 down to 0.002; the theory's reference "
            "models one cycle from 0.003 to 0.002") in report
    # the references' rate is part of the run's settings: another one is refused
    argv = tiny(csvs, out, "--lr", "0.02", "--lr-min", "0.002", "--reference-lr", "0.02")
    assert_one_line_input_error(argv, "reference_lr: 0.003 there", capsys)
    # and a run whose references train as its search (the default) names no second rate
    assert cli.main(tiny(csvs, tmp_path / "plain")) == 0
    assert "reference models one cycle" not in (tmp_path / "plain" / "report.md").read_text()


@pytest.mark.parametrize("argv, message", [
    (["tune", "nosuch"], "DATASET 'nosuch' is not one of"),
    (["tune", "silverbox", "--N", "1"], "--N 1 must be an integer >= 2"),
    (["tune", "silverbox", "--share", "0"], "--share 0.0 must be a number in (0, 1]"),
    (["tune", "silverbox", "--share", "nan"], "--share nan must be a number in (0, 1]"),
    (["tune", "silverbox", "--m", "0", "100"], "--m [0, 100] must be burn-ins 0 <= m < N = 100"),
    (["tune", "silverbox", "--lr", "inf"], "--lr inf and --lr-min 0.0001 must be finite"),
    (["tune", "silverbox", "--lr", "1e-4", "--lr-min", "1e-3"], "0 < lr-min <= lr"),
    (["tune", "silverbox", "--reference-lr", "0"], "--reference-lr 0.0 must be a finite"),
    (["tune", "silverbox", "--seeds", "0"], "--seeds 0 must be an integer >= 1"),
    (["tune", "silverbox", "--tuner-seed", "-1"], "--tuner-seed -1 must be an integer >= 0"),
    (["tune", "silverbox", "--workers", "-2"], "--workers -2 must be >= 0"),
    (["tune", "silverbox", "--N", "30000"], "--N 30000 must satisfy 2 <= N <= T = 20000"),
])
def test_bad_arguments_are_one_line_errors(argv, message, capsys):
    assert_one_line_input_error(argv, message, capsys)


def test_an_out_that_is_a_file_is_refused(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert_one_line_input_error(["tune", "silverbox", "--out", str(f)], "is a file", capsys)


def test_a_budget_too_small_for_the_grid_is_named(csvs, tmp_path, capsys):
    argv = tiny(csvs, tmp_path / "run", "--no-theory")
    argv[argv.index("--share") + 1] = "0.05"
    assert_one_line_input_error(argv, "cannot train 6 burn-ins", capsys)
