"""``burnin certify`` / ``burnin bound`` on LSTM and GRU models (issue 11 item 4), in-process.

The certificates the command reports are checked against brute-force simulation of the pairs
they cover, computed here from the model and the data independently of the command.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_checks import assert_one_line_input_error

from systems.benchmarks import load_benchmark
from systems.cells import load_model
from systems.gru import GRU
from systems.lstm import LSTM
from systems.rnn import ElmanRNN
from verification.presentation import cli

#: float64 slack of a simulated ratio against the certified envelope (both ~1; the
#: certificate already encloses its own rounding, the simulation here does not)
SIM_RTOL = 1e-9

FIELDS = ("verified", "kind", "lam", "C", "lam_empirical", "C_empirical", "region")


def _gated(cell: str, scale: float, seed: int = 0) -> LSTM | GRU:
    """A small random LSTM/GRU (n_x = 1, n_h = 3, n_y = 1) with weights of size ``scale``."""
    rng = np.random.default_rng(seed)
    cls, G = (LSTM, 4) if cell == "lstm" else (GRU, 3)
    n_h = 3
    return cls(scale * rng.standard_normal((G * n_h, 1)),
               scale * rng.standard_normal((G * n_h, n_h)),
               scale * rng.standard_normal(G * n_h), None,
               rng.standard_normal((1, n_h)), None)


def _csv(tmp_path: Path, T: int = 300, n_x: int = 1, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, n_x))
    y = np.tanh(np.cumsum(x[:, :1], axis=0) / 10)
    names = [f"x{k}" for k in range(n_x)] if n_x > 1 else ["x"]
    path = tmp_path / "data.csv"
    np.savetxt(path, np.c_[x, y], delimiter=",", header=",".join([*names, "y"]), comments="")
    return path


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def _pair_ratios(model, X: np.ndarray, za: np.ndarray, zb: np.ndarray) -> np.ndarray:
    """``||y_j(za) - y_j(zb)|| / ||za - zb||`` per window (rows) and step ``j = 1..N``; windows
    with ``za = zb`` (e.g. the first, whose ``z_i = 0``) are left out."""
    d = np.linalg.norm(za - zb, axis=1)
    keep = d > 0
    _, ya = model.simulate(X[keep], za[keep])
    _, yb = model.simulate(X[keep], zb[keep])
    return np.linalg.norm(ya - yb, axis=2) / d[keep, None]


def _windows(u: np.ndarray, N: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    starts = np.arange(0, u.shape[0] - N + 1, stride)
    return np.stack([u[s:s + N] for s in starts]), starts


def _check_envelope(lam: float, C: float, ratios: np.ndarray) -> None:
    j = np.arange(1, ratios.shape[1] + 1)
    assert np.all(ratios <= C * lam ** j * (1 + SIM_RTOL)), float(
        np.max(ratios / (C * lam ** j)))


@pytest.mark.parametrize(("cell", "scale", "kind"), [
    ("gru", 0.1, "global"), ("lstm", 0.1, "global"),  # small weights: delta-ISS holds
    ("gru", 1.0, "on-data"), ("lstm", 1.0, "on-data"),  # delta-ISS fails, contracts on data
])
def test_certify_contracting_model_and_simulation_never_beats_it(cell, scale, kind, tmp_path,
                                                                  capsys):
    model = _gated(cell, scale)
    path = str(model.save(tmp_path / "model.npz"))
    data = _csv(tmp_path)
    N, stride = 30, 7
    argv = ["certify", path, "--data", str(data), "--inputs", "x", "--outputs", "y",
            "--N", str(N), "--stride", str(stride), "--json"]
    assert cli.main(argv) == 0
    doc = _json(capsys)
    assert all(k in doc for k in FIELDS)
    assert doc["verified"] is True and doc["kind"] == kind
    assert 0 < doc["lam"] < 1 and doc["C"] > 0
    assert doc["empirical"]["certified"] is False
    u = np.loadtxt(data, delimiter=",", skiprows=1)[:, :1]
    X, starts = _windows(u, N, stride)
    assert doc["windows"] == len(starts) and f"stride {stride}" in doc["on_data"]["region"]
    ond = doc["on_data"]
    z, _ = model.simulate(u)
    z0 = z[starts]
    if kind == "global":  # the global certificate holds: no time spent on the on-data one
        assert ond["verified"] is False and ond["reason"].startswith("not computed")
    else:  # the on-data certificate: the pairs (z_i, 0), z_i the state of the run from 0
        assert ond["verified"] is True
        _check_envelope(ond["lam"], ond["C"], _pair_ratios(model, X, z0, np.zeros_like(z0)))
    # the reported certificate on random pairs it covers (global: anywhere in its invariant set)
    rng = np.random.default_rng(2)
    if doc["kind"] == "global":
        bounds = doc["global"]["state_bounds"]
        n_h = model.n_h
        box = np.repeat(bounds, n_h)  # (h_bar,) or (h_bar, c_bar), each n_h entries
        za, zb = (rng.uniform(-1, 1, (len(starts), model.n_z)) * box for _ in range(2))
    else:  # the on-data certificate covers exactly the pairs (z_i, 0)
        za, zb = z0, np.zeros_like(z0)
    _check_envelope(doc["lam"], doc["C"], _pair_ratios(model, X, za, zb))


def test_certify_text_says_which_windows(tmp_path, capsys):
    path = str(_gated("gru", 0.3).save(tmp_path / "model.npz"))
    assert cli.main(["certify", path, "--data", str(_csv(tmp_path)), "--inputs", "x",
                     "--outputs", "y", "--N", "30", "--stride", "50"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("certified (")
    assert "every 50th window (stride 50): 6 of the 271 windows" in out
    assert "not a certificate" in out


def _window_loss(model, X: np.ndarray, Y: np.ndarray, z: np.ndarray | None, m: int) -> float:
    """``V`` by simulating every window on its own (a plain reference): mean over windows and
    scored positions ``j > m`` of ``||y_hat - y||**2``."""
    V = [np.sum((model.simulate(X[i], None if z is None else z[i])[1][m:] - Y[i, m:]) ** 2)
         for i in range(X.shape[0])]
    return float(np.sum(V) / (X.shape[0] * (X.shape[1] - m)))


def test_bound_gated_json(tmp_path, capsys):
    model = _gated("lstm", 0.3)
    path = str(model.save(tmp_path / "model.npz"))
    data = _csv(tmp_path)
    N, stride, ms = 30, 5, [0, 5, 10, 20]
    argv = ["bound", path, "--data", str(data), "--inputs", "x", "--outputs", "y",
            "--N", str(N), "--stride", str(stride), "--m", *map(str, ms), "--json"]
    assert cli.main(argv) == 0
    doc = _json(capsys)
    assert all(k in doc for k in FIELDS) and doc["verified"] is True
    assert [r["m"] for r in doc["rows"]] == ms == [r["m"] for r in doc["price"]]
    assert doc["recommendation"]["m"] in ms and doc["recommendation"]["certified"] is True
    u = np.loadtxt(data, delimiter=",", skiprows=1)
    X, starts = _windows(u[:, :1], N, stride)
    Y, _ = _windows(u[:, 1:], N, stride)
    for r in doc["price"]:
        # the measured price against per-window brute force (V(0) here; V(z*) is the solver's:
        # no state beats it by more than the solver tolerance, and the free-run state does not)
        assert r["V_zero"] == pytest.approx(_window_loss(model, X, Y, None, r["m"]), rel=1e-9)
        free = next(f for f in doc["rows"] if f["m"] == r["m"])
        assert r["V_point"] <= free["V_point"] * (1 + 1e-9)
        assert 0 <= r["gap"] <= r["T1_env"] <= r["T1_fit"] * (1 + 1e-12)
        assert r["sound"] is True


def test_strided_bound_is_certified_only_over_the_certified_windows(tmp_path, capsys):
    """A strided ``bound`` whose global certificate fails: the on-data constants are proven on
    the strided windows only, so a bound labelled certified must sum over exactly those windows
    (its ``V`` and ``Delta_0`` recomputed here on them by simulation), never over every window."""
    model = _gated("lstm", 1.0)
    path = str(model.save(tmp_path / "model.npz"))
    data = _csv(tmp_path)
    N, stride = 30, 7
    assert cli.main(["bound", path, "--data", str(data), "--inputs", "x", "--outputs", "y",
                     "--N", str(N), "--stride", str(stride), "--m", "0", "10", "--json"]) == 0
    doc = _json(capsys)
    assert doc["kind"] == "on-data" and doc["global"]["verified"] is False
    assert doc["recommendation"]["certified"] is True
    u = np.loadtxt(data, delimiter=",", skiprows=1)
    X, starts = _windows(u[:, :1], N, stride)
    Y, _ = _windows(u[:, 1:], N, stride)
    z0 = model.simulate(u[:, :1])[0][starts]
    assert doc["windows"] == len(starts) < u.shape[0] - N + 1
    for r in doc["rows"]:
        assert r["S"] == len(starts)
        assert r["Delta_0"] == pytest.approx(np.sqrt(np.mean(np.sum(z0**2, axis=1))), rel=1e-12)
        assert r["V_point"] == pytest.approx(_window_loss(model, X, Y, z0, r["m"]), rel=1e-9)
        assert r["T1"] <= r["T1_fit"] and r["lam"] == doc["on_data"]["lam"]


def test_authors_lstm_certifies_on_data(shared_models, capsys):
    path = shared_models / "authors_lstm" / "rlc" / "model_N100_m0_stateless.pt"
    argv = ["certify", str(path), "--benchmark", "rlc", "--stride", "200", "--json"]
    assert cli.main(argv) == 0
    doc = _json(capsys)
    assert doc["verified"] is True and doc["kind"] == "on-data"
    assert doc["global"]["verified"] is False  # the delta-ISS condition fails on these models
    assert "stride 200" in doc["region"] and doc["N"] == 100
    model = load_model(path)
    u = load_benchmark("rlc").scaled["train"].x
    X, starts = _windows(u, 100, 200)
    assert doc["windows"] == len(starts)
    z, _ = model.simulate(u)
    z0 = z[starts]
    _check_envelope(doc["lam"], doc["C"], _pair_ratios(model, X, z0, np.zeros_like(z0)))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["certify", "{gru}", "--N", "30"], "give either --data FILE.csv"),
        (["certify", "{gru}", "--data", "{csv}", "--benchmark", "rlc", "--data-root", "{tmp}"],
         "give either --data FILE.csv"),
        (["certify", "{gru}", "--benchmark", "rlc"], "the model has n_x = 1, n_y = 1; the data"),
        (["certify", "{gru}", "--benchmark", "rlc", "--data-root", "{tmp}/nowhere"],
         "nowhere' does not exist"),
        (["certify", "{gru}", "--benchmark", "rlc", "--data-root", "{tmp}"],
         "lacks ['rlc_train.csv', 'rlc_val.csv', 'rlc_test.csv']"),
        (["certify", "{gru}", "--data", "{csv}", "--inputs", "x"], "--data needs --outputs"),
        (["certify", "{gru}", "--data", "{csv}", "--inputs", "x", "--outputs", "y",
          "--N", "0"], "N = 0 must be >= 1"),
        (["certify", "{gru}", "--data", "{csv}", "--inputs", "x", "--outputs", "y",
          "--N", "301"], "N = 301 must satisfy 1 <= N <= T = 300"),
        (["certify", "{gru}", "--data", "{csv}", "--inputs", "x", "--outputs", "y",
          "--N", "30", "--stride", "0"], "stride"),
        (["certify", "{gru}", "--data", "{csv2}", "--inputs", "x0", "x1", "--outputs", "y"],
         "the model has n_x = 1, n_y = 1"),
        (["certify", "{elman}", "--data", "{csv}", "--inputs", "x", "--outputs", "y"],
         "--data/--benchmark are for LSTM/GRU models"),
        (["bound", "{lstm}", "--data", "{csv}", "--inputs", "x", "--outputs", "y",
          "--N", "30", "--m", "30"], "m = 30 must satisfy 0 <= m < N = 30"),
        (["certify", "{nan}", "--data", "{csv}", "--inputs", "x", "--outputs", "y"],
         "NaN or inf"),
    ],
)
def test_bad_inputs_are_one_line_errors(tmp_path, capsys, argv, message):
    (tmp_path / "two").mkdir()
    nan = _gated("gru", 0.3)
    nan.W_hy[0, 0] = np.nan  # written around the constructor's check, as a corrupt file would be
    fill = {"gru": str(_gated("gru", 0.3).save(tmp_path / "gru.npz")),
            "lstm": str(_gated("lstm", 0.3).save(tmp_path / "lstm.npz")),
            "elman": str(ElmanRNN([[0.5]], [[1.0]], None, [[1.0]], None).save(
                tmp_path / "elman.npz")),
            "nan": str(nan.save(tmp_path / "nan.npz")),
            "csv": str(_csv(tmp_path)), "csv2": str(_csv(tmp_path / "two", n_x=2)),
            "tmp": str(tmp_path)}
    assert_one_line_input_error([a.format(**fill) for a in argv], message, capsys)


def test_authors_lstm_bound_prints_the_price_beside_the_bounds(shared_models, capsys):
    """``bound`` on an authors' LSTM: the price of the zero state per m, checked here window by
    window (V(0) by simulating each window; V(z*) no larger than with the free-run states),
    never above either T1 form."""
    path = shared_models / "authors_lstm" / "rlc" / "model_N100_m0_stateless.pt"
    stride, ms = 1000, [0, 50]
    assert cli.main(["bound", str(path), "--benchmark", "rlc", "--N", "100", "--stride",
                     str(stride), "--m", *map(str, ms), "--json"]) == 0
    doc = _json(capsys)
    model = load_model(path)
    data = load_benchmark("rlc").scaled["train"]
    X, starts = _windows(data.x, 100, stride)
    Y, _ = _windows(data.y, 100, stride)
    z0 = model.simulate(data.x)[0][starts]
    assert doc["price_windows"] == doc["window_starts"] and doc["windows"] == len(starts)
    for r, m in zip(doc["price"], ms, strict=True):
        assert r["m"] == m and r["S"] == len(starts)
        assert r["V_zero"] == pytest.approx(_window_loss(model, X, Y, None, m), rel=1e-9)
        assert r["V_point"] <= _window_loss(model, X, Y, z0, m) * (1 + 1e-9)
        assert 0 < r["gap"] <= min(r["T1_env"], r["T1_fit"]) and r["sound"] is True
