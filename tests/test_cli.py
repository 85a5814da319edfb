"""The ``burnin`` command, in-process (``main(argv)``) and through its --help examples."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_checks import assert_one_line_input_error
from tolerances import OPT_RTOL

from systems.data import paper_lti
from systems.rnn import ElmanRNN
from verification.presentation import cli, figures

FIGS = list(figures.FIGURES)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quick")
    code = cli.main(["reproduce", "--quick", "--out", str(out)])
    return code, out


def test_reproduce_quick_writes_everything(quick_run, capsys):
    code, out = quick_run
    assert code == 0
    expected = ["gaps.csv", "gaps.json", "report.md"]
    expected += [f"{f}.{ext}" for f in FIGS for ext in ("png", "pdf")]
    for name in expected:
        assert (out / name).stat().st_size > 0, name
    assert not list(out.glob("*.partial")) and not list(out.glob(".*.partial"))
    report = (out / "report.md").read_text()
    for f in FIGS:
        assert f"({f}.png)" in report
    assert "Recommended burn-in" in report and "3 of 3 rows sound" in report
    doc = json.loads((out / "gaps.json").read_text())
    assert [r["m"] for r in doc["rows"]] == list(cli.QUICK_MS)


def test_reproduce_resumes(quick_run, capsys):
    _, out = quick_run
    before = json.loads((out / "gaps.json").read_text())["rows"]
    assert cli.main(["reproduce", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "resuming: m = [0, 10, 20]" in printed
    assert "solving relaxed" not in printed
    # bit for bit is the property here: a resumed run reuses the finished rows unchanged
    assert json.loads((out / "gaps.json").read_text())["rows"] == before


def _model(tmp_path: Path, w: float = 0.7) -> Path:
    return ElmanRNN([[w]], [[1.0]], None, [[0.5]], None, activation="linear").save(
        tmp_path / "model.npz")


def _csv(tmp_path: Path) -> Path:
    s = paper_lti("train")
    path = tmp_path / "data.csv"
    np.savetxt(path, np.c_[s.x, s.y], delimiter=",", header="x,y", comments="")
    return path


def test_certify_prints_certificate(tmp_path, capsys):
    assert cli.main(["certify", str(_model(tmp_path))]) == 0
    assert "certified: A1 holds with lam = 0.7" in capsys.readouterr().out


def test_certify_json(tmp_path, capsys):
    assert cli.main(["certify", str(_model(tmp_path)), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    # C = ||W_hy|| sqrt(kappa(P)) = 0.5 with P = 1, computed through a solver: not bit for bit
    assert doc["verified"] is True and abs(doc["lam"] - 0.7) < 1e-6
    assert doc["C"] == pytest.approx(0.5, rel=OPT_RTOL)


def test_bound_table_and_json(tmp_path, capsys):
    model, data = str(_model(tmp_path)), str(_csv(tmp_path))
    args = ["bound", model, "--data", data, "--inputs", "x", "--outputs", "y", "--N", "21",
            "--m", "0", "5", "10"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "certificate (LMI-C): lam = 0.7" in out and "recommended burn-in" in out
    assert cli.main([*args, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["m"] for r in doc["rows"]] == [0, 5, 10]
    for r in doc["rows"]:
        assert r["gap_T1"] <= r["T1_bound"] * (1 + 1e-7) + 1e-10
        assert r["gap_T2"] <= r["T2a_bound"] * (1 + 1e-7) + 1e-10


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["certify", "missing.npz"], "does not exist"),
        (["bound", "{model}", "--data", "missing.csv", "--inputs", "x", "--outputs", "y",
          "--N", "21"], "does not exist"),
        (["bound", "{model}", "--data", "{csv}", "--inputs", "u", "--outputs", "y", "--N", "21"],
         "no column(s) ['u']"),
        (["bound", "{model}", "--data", "{csv}", "--inputs", "x", "--outputs", "y", "--N", "21",
          "--m", "21"], "m = 21 must satisfy 0 <= m < N = 21"),
        (["bound", "{model}", "--data", "{csv}", "--inputs", "x", "--outputs", "y", "--N", "200"],
         "N = 200 must satisfy 1 <= N <= T = 100"),
        (["certify", "{junk}"], "not a readable .npz model file"),
        (["reproduce", "--data", "no/such/dir", "--out", "{tmp}"], "does not exist"),
        # issue 12 #5: overflow and non-finite constants are input errors
        (["certify", "{w308}"], "W_hy has an entry of magnitude 1e+308"),
        (["bound", "{w160}", "--data", "{csv}", "--inputs", "x", "--outputs", "y", "--N", "21"],
         "W_hy has an entry of magnitude 1e+160"),
        (["bound", "{w99}", "--data", "{csv}", "--inputs", "x", "--outputs", "y", "--N", "21",
          "--m", "0"], "float64 overflow"),  # allowed entries, outputs ~1e198: squares overflow
        # issue 12 #9
        (["bound", "{model}", "--data", "{header_only}", "--inputs", "x", "--outputs", "y",
          "--N", "21"], "has a header row (x, y) but no data rows"),
        (["bound", "{model}", "--data", "{huge}", "--inputs", "x", "--outputs", "y",
          "--N", "21"], "x has entries up to 1e+200 in magnitude"),
        (["bound", "{model}", "--data", "{dup}", "--inputs", "x", "--outputs", "y", "--N", "21"],
         "duplicate column name(s) ['y']"),
        (["bound", "{model}", "--data", "{dir}", "--inputs", "x", "--outputs", "y", "--N", "21"],
         "is a directory"),
        (["reproduce", "--data", "{dir}", "--out", "{tmp}"],
         "the directory has no train.csv and no test.csv"),
        (["certify", "{nh0}"], "n_h = 0: a model needs at least one hidden state (n_h >= 1)"),
        (["bound", "{nh0}", "--data", "{csv}", "--inputs", "x", "--outputs", "y", "--N", "21"],
         "n_h = 0: a model needs"),
    ],
)
def test_user_errors_are_one_line(tmp_path, capsys, argv, message):
    junk = tmp_path / "junk.npz"
    junk.write_text("not a zip")
    (tmp_path / "empty").mkdir()
    s = paper_lti("train")
    (tmp_path / "header_only.csv").write_text("x,y\n")
    np.savetxt(tmp_path / "huge.csv", 1e200 * np.c_[s.x, s.y], delimiter=",", header="x,y",
               comments="")
    np.savetxt(tmp_path / "dup.csv", np.c_[s.x, s.y, s.y], delimiter=",", header="x,y,y",
               comments="")
    models = {
        "w308": ElmanRNN([[0.5]], [[1.0]], None, [[1e308]], None),
        "w160": ElmanRNN([[0.5]], [[1.0]], None, [[1e160]], None),
        "w99": ElmanRNN([[0.5]], [[1e99]], None, [[1e99]], None, activation="linear"),
        "nh0": ElmanRNN(np.zeros((0, 0)), np.zeros((0, 1)), None, np.zeros((1, 0)), None),
    }
    fill = {"model": str(_model(tmp_path)), "csv": str(_csv(tmp_path)), "junk": str(junk),
            "tmp": str(tmp_path / "out"), "dir": str(tmp_path / "empty"),
            **{k: str(tmp_path / f"{k}.csv") for k in ("header_only", "huge", "dup")},
            **{k: str(m.save(tmp_path / f"{k}.npz")) for k, m in models.items()}}
    assert_one_line_input_error([a.format(**fill) for a in argv], message, capsys)
    assert not (tmp_path / "out").exists()  # nothing written before the input is checked


def test_reproduce_checks_everything_before_creating_out(tmp_path, capsys):
    """Issue 12 #9: a validation error left an empty --out behind."""
    out = tmp_path / "new" / "out"
    assert cli.main(["reproduce", "--out", str(out), "--ms", "30"]) == 2
    assert "m = 30 must satisfy 0 <= m < N = 21" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_reproduce_unwritable_out_fails_before_any_work(tmp_path, capsys):
    """Issue 12 #9: a read-only --out failed only after the first m was computed."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.access(ro, os.W_OK):  # root ignores modes: /proc is read-only for root too
        ro = Path("/proc")
    try:
        code = cli.main(["reproduce", "--quick", "--ms", "0", "--out", str(ro)])
    finally:
        (tmp_path / "ro").chmod(0o755)
    out, err = capsys.readouterr()
    assert code == 2 and f"--out {str(ro)!r} is not writable" in err
    assert "m = 0:" not in out  # no problem was solved


def test_unstable_model_is_not_certified(tmp_path, capsys):
    model = str(_model(tmp_path, w=1.3))
    assert cli.main(["certify", model]) == 1
    out = capsys.readouterr().out
    assert out.startswith("not certified:") and len(out.strip().splitlines()) == 1
    code = cli.main(["bound", model, "--data", str(_csv(tmp_path)), "--inputs", "x",
                     "--outputs", "y", "--N", "21", "--m", "0", "10", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["certificate"]["verified"] is False
    assert doc["empirical"]["contracting"] is False  # still reported
    assert all(r["T1_bound"] == "nan" for r in doc["rows"])  # not applicable, not a number


@pytest.mark.parametrize("command", ["bound", "certify", "reproduce"])
def test_help_examples_work_as_written(command, tmp_path):
    """Every line of the --help example runs (``burnin`` -> this interpreter's module)."""
    epilog = {"bound": cli.BOUND_EXAMPLE, "certify": cli.CERTIFY_EXAMPLE,
              "reproduce": cli.REPRODUCE_EXAMPLE}[command]
    lines = [ln.split("  #")[0].strip() for ln in epilog.splitlines()[1:] if ln.strip()]
    if command == "reproduce":  # full runs take minutes: parse them; quick_run executes one
        for line in lines:
            args = cli.build_parser().parse_args(shlex.split(line)[1:])
            assert args.command == "reproduce"
        assert any("--quick" in ln for ln in lines)
        return
    repo = Path(cli.__file__).resolve().parents[2]  # verification/presentation/cli.py
    env = {"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"}
    for line in lines:
        argv = shlex.split(line)
        if argv[0] == "burnin":
            argv = [sys.executable, "-m", "verification.presentation.cli", *argv[1:]]
        elif argv[0] == "python":
            argv = [sys.executable, *argv[1:]]
        res = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=300)
        assert res.returncode == 0, f"{line}\n{res.stdout}\n{res.stderr}"
