"""``burnin study`` under a careless or hostile user: stale reruns, copied and damaged files,
mixed model folders, bad settings. Every case either refuses in one line naming what is wrong
(exit 2, nothing written) or recomputes; none reuses a result made under other settings."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from test_study import small_lstm, write_pair

from systems import GRU
from verification.experiment.study_plan import FORMAT_VERSION
from verification.presentation import cli, study_cli


@pytest.fixture()
def pair(tmp_path):
    return write_pair(tmp_path, T_train=300, T_test=100)


def study(pair, out, *extra, outputs=("y",), N="20"):
    """The shortest study: two burn-ins, 3 hidden units, one epoch, certificates on 5 windows."""
    return ["mine", "--train", str(pair["train"]), "--test", str(pair["test"]), "--inputs",
            "u", "--outputs", *outputs, "--N", N, "--m", "0", "5", "--n-h", "3", "--epochs",
            "1", "--workers", "0", "--certify-windows", "5", "--kinds", "stateless", "--out",
            str(out), *extra]


def run(argv, capsys):
    code = study_cli.main(argv)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def one_line_error(code, err, *needles):
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, err


def metrics(out):
    return {p.name: json.loads(p.read_text()) for p in sorted((out / "metrics").glob("*.json"))}


# --------------------------------------------------------------------------- stale reruns
def test_rerun_with_other_epochs_refuses_then_retrains_with_no_resume(pair, tmp_path, capsys):
    out = tmp_path / "s"
    assert run(study(pair, out), capsys)[0] == 0
    argv = [a if a != "1" else "3" for a in study(pair, out)]  # --epochs 3
    assert "--epochs" in argv and argv[argv.index("--epochs") + 1] == "3"
    code, _, err = run(argv, capsys)
    one_line_error(code, err, "budget.epochs: 1 there, 3 now", "--no-resume")
    assert all(m["epochs"] == 1 for m in metrics(out).values())  # nothing touched
    code, log, _ = run([*argv, "--no-resume"], capsys)
    assert code == 0 and "0 done already, 2 to run" in log
    assert all(m["epochs"] == 3 for m in metrics(out).values())
    report = (out / "report.md").read_text()
    assert "3 epochs" in report
    # the theory's cache follows the model: the cached records carry the new models' hashes
    hashes = {m["key"]: m["model_hash"] for m in metrics(out).values()}
    for p in (out / "theory").glob("*.json"):
        rec = json.loads(p.read_text())
        assert rec["model_hash"] == hashes[rec["key"]]


def test_other_data_under_the_same_name_refuses(pair, tmp_path, capsys):
    out = tmp_path / "s"
    assert run(study(pair, out), capsys)[0] == 0
    (tmp_path / "other").mkdir()
    other = write_pair(tmp_path / "other", T_train=300, T_test=100, seed=7)
    code, _, err = run(study(other, out), capsys)
    one_line_error(code, err, "data: other data", "--no-resume")


def test_other_outputs_refuse_and_named_twice_is_an_input_error(pair, tmp_path, capsys):
    out = tmp_path / "s"
    for split in ("train", "test"):  # a second output column y2 = 2 y
        p = pair[split]
        rows = np.loadtxt(p, delimiter=",", skiprows=1)
        np.savetxt(p, np.c_[rows, 2 * rows[:, 1]], delimiter=",", header="u,y,y2", comments="")
    assert run(study(pair, out), capsys)[0] == 0
    code, _, err = run(study(pair, out, outputs=("y", "y2")), capsys)
    one_line_error(code, err, "outputs: ['y'] there, ['y', 'y2'] now")
    code, _, err = run(study(pair, tmp_path / "t", outputs=("y", "y")), capsys)
    one_line_error(code, err, "['y'] more than once")
    assert not (tmp_path / "t").exists()


# --------------------------------------------------------------------------- copied, damaged
def test_copied_metrics_file_refuses_naming_it(pair, tmp_path, capsys):
    out = tmp_path / "s"
    assert run(study(pair, out), capsys)[0] == 0
    a, b = sorted((out / "metrics").glob("*.json"))
    shutil.copy(a, b)  # b now names a's model
    code, _, err = run(study(pair, out), capsys)
    one_line_error(code, err, b.name, "a copied file?")


@pytest.mark.parametrize("content", ["", "{", "{}", '{"key": 1}', "[1, 2]"])
def test_damaged_metrics_file_is_named_and_recomputed(pair, tmp_path, capsys, content):
    out = tmp_path / "s"
    assert run(study(pair, out), capsys)[0] == 0
    victim = sorted((out / "metrics").glob("*.json"))[0]
    good = json.loads(victim.read_text())
    victim.write_text(content)
    code, log, _ = run(study(pair, out), capsys)
    assert code == 0 and f"{victim}' is damaged" in log and "1 to run" in log
    assert json.loads(victim.read_text())["format"] == FORMAT_VERSION
    assert json.loads(victim.read_text())["model_hash"] == good["model_hash"]


def test_damaged_settings_file_refuses(pair, tmp_path, capsys):
    out = tmp_path / "s"
    assert run(study(pair, out), capsys)[0] == 0
    (out / "study.json").write_text("{not json")
    code, _, err = run(study(pair, out), capsys)
    one_line_error(code, err, "study.json", "is damaged", "--no-resume")


def test_models_folder_mixing_cells_or_sizes_refuses(pair, tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    small_lstm(0, n_h=3).save(folder / "model_h3_N20_m0_stateless.npz")
    small_lstm(1, n_h=4).save(folder / "model_h3_N20_m5_stateless.npz")  # named h3, holds h4
    rng = np.random.default_rng(2)
    GRU.from_theta(0.3 * rng.standard_normal(GRU.n_params(1, 3, 1)), n_x=1, n_h=3,
                   n_y=1).save(folder / "model_h3_N20_m10_stateless.npz")
    argv = ["mine", "--train", str(pair["train"]), "--test", str(pair["test"]), "--inputs", "u",
            "--outputs", "y", "--from-models", str(folder), "--workers", "0", "--out",
            str(tmp_path / "o")]
    code, _, err = run(argv, capsys)
    one_line_error(code, err, "mixes cells or sizes", "gru n_h = 3", "lstm n_h = 4",
                   "model_h3_N20_m5_stateless.npz")
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- settings, files
@pytest.mark.parametrize(("extra", "needle"), [
    (["--lr", "inf"], "--lr inf must be a finite number > 0"),
    (["--lr", "-1"], "--lr -1.0 must be a finite number > 0"),
    (["--epochs", "0"], "--epochs 0 must be an integer >= 1"),
    (["--scheduler-timeout", "inf"], "--scheduler-timeout inf must be a finite number"),
])
def test_bad_settings_refuse_before_out_exists(pair, tmp_path, capsys, extra, needle):
    out = tmp_path / "never"
    code, _, err = run([*study(pair, out), *extra], capsys)
    one_line_error(code, err, needle)
    assert not out.exists()


@pytest.mark.parametrize("part", ["models", "metrics", "study.json"])
def test_a_file_or_folder_in_the_way_refuses_before_training(pair, tmp_path, capsys, part):
    out = tmp_path / "s"
    out.mkdir()
    (out / part).mkdir() if part.endswith(".json") else (out / part).write_text("mine")
    code, log, err = run(study(pair, out), capsys)
    one_line_error(code, err, "is in the way")
    assert "epoch" not in log


def test_diverged_training_is_said_in_the_report(pair, tmp_path, capsys):
    out = tmp_path / "s"
    code, _, _ = run([*study(pair, out), "--lr", "1e10"], capsys)
    assert code == 0
    report = (out / "report.md").read_text()
    assert "training failed for 2 model(s)" in report and "`--lr`" in report


# --------------------------------------------------------------------------- exit codes
def test_a_bug_after_validation_is_exit_3_with_a_traceback(pair, tmp_path, capsys,
                                                           monkeypatch):
    from verification.experiment import study as experiment

    def broken(*args, **kwargs):
        raise ValueError("a bug, not an input error")

    monkeypatch.setattr(experiment, "summarize", broken)
    code = cli.main(["study", *study(pair, tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 3
    assert "Traceback" in err and "a bug, not an input error" in err and "internal error" in err
