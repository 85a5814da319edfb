"""The cells, their BPTT and the Adam trainer against torch 2.13's own numbers.

The fixtures were written once by ``benchmarks/make_torch_reference.py`` (with torch
installed); these tests read them with torch blocked. What torch computed: float64 forward
passes of ``nn.RNN``/``nn.LSTM``/``nn.GRU`` + ``nn.Linear`` from given initial states, autograd
gradients of the burn-in loss, and ``torch.optim.Adam`` over shuffled minibatches.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from systems import GRU, LSTM, ElmanRNN, load_model
from systems.adam import train_adam
from systems.bptt import WindowBatch
from systems.data import Sequence
from systems.torch_io import read_state_dict
from systems.windows import WindowedData

FIXTURES = Path(__file__).resolve().parent / "fixtures"
#: torch's float64 kernels vs ours: the same arithmetic in another order, ~1e-15 per step,
#: tanh/sigmoid via exp here vs torch's own; over 15 steps well below this.
TORCH_ATOL = 1e-12
#: Adam after 6 steps: the steps are sign-like, so a relative error of eps in a gradient
#: entry near 0 can move that entry by up to lr; such near-ties are not in this fixture, and
#: otherwise the parameters agree to round-off amplified by 1/sqrt(nu).
ADAM_ATOL = 1e-10

KINDS = {"rnn": ElmanRNN, "lstm": LSTM, "gru": GRU}


@pytest.fixture(autouse=True)
def _no_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)


@pytest.fixture(scope="module")
def ref() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "torch_reference.npz") as f:
        return {k: f[k] for k in f.files}


def _z0(ref, kind):
    return np.concatenate([ref["h0"], ref["c0"]], axis=1) if kind == "lstm" else ref["h0"]


@pytest.mark.parametrize("kind", KINDS)
def test_simulate_matches_torch(ref, kind):
    model = load_model(FIXTURES / f"torch_{kind}.pt")
    assert type(model) is KINDS[kind] and (model.n_x, model.n_h, model.n_y) == (2, 3, 2)
    _, y = model.simulate(ref["X"], _z0(ref, kind))
    np.testing.assert_allclose(y, ref[f"y_{kind}"], rtol=0, atol=TORCH_ATOL)


def _torch_grad(ref, kind, model) -> np.ndarray:
    """torch's gradients arranged as our theta."""
    g = {k[len(f"grad_{kind}_"):]: v for k, v in ref.items() if k.startswith(f"grad_{kind}_")}
    if kind == "rnn":  # b_h = bias_ih + bias_hh: each has the gradient of b_h
        np.testing.assert_allclose(g["rnn.bias_ih_l0"], g["rnn.bias_hh_l0"], atol=1e-15)
        parts = [g["rnn.weight_hh_l0"], g["rnn.weight_ih_l0"], g["rnn.bias_ih_l0"]]
    else:
        parts = [g["rnn.weight_ih_l0"], g["rnn.weight_hh_l0"], g["rnn.bias_ih_l0"],
                 g["rnn.bias_hh_l0"]]
    return np.concatenate([p.ravel() for p in parts + [g["fc.weight"], g["fc.bias"]]])


@pytest.mark.parametrize("kind", KINDS)
def test_bptt_matches_torch_autograd(ref, kind):
    model = load_model(FIXTURES / f"torch_{kind}.pt")
    batch = WindowBatch.for_model(model, ref["X"], ref["Yd"], int(ref["m"]))
    V, g, dz = batch.loss_grad(model.theta, _z0(ref, kind))
    assert V == pytest.approx(float(ref[f"L_{kind}"]), rel=1e-13)
    np.testing.assert_allclose(g, _torch_grad(ref, kind, model), rtol=0, atol=TORCH_ATOL)
    dz_ref = _z0({"h0": ref[f"dh0_{kind}"], "c0": ref.get(f"dc0_{kind}")}, kind)
    np.testing.assert_allclose(dz, dz_ref, rtol=0, atol=TORCH_ATOL)


def test_torch_views_offsets_and_dtypes():
    sd = read_state_dict(FIXTURES / "torch_views.pt")
    np.testing.assert_array_equal(sd["transposed"], np.arange(12.0).reshape(3, 4).T)
    np.testing.assert_array_equal(sd["slice"], (np.arange(10, dtype=np.float16) / 4)[3:7])
    np.testing.assert_array_equal(sd["ints"], np.arange(5))
    assert (sd["transposed"].dtype, sd["slice"].dtype, sd["ints"].dtype) == (
        np.float64, np.float16, np.int64)


def test_adam_matches_torch_optim_adam(ref):
    start = {k[len("adam_start_"):]: v for k, v in ref.items() if k.startswith("adam_start_")}
    end = {k[len("adam_end_"):]: v for k, v in ref.items() if k.startswith("adam_end_")}
    names = ["rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0",
             "fc.weight", "fc.bias"]
    model = LSTM(*(start[k] for k in names))
    data = WindowedData(Sequence(ref["adam_x"], ref["adam_y"]), N=8, m=2)
    seen = []
    trained, hist = train_adam(model, data, epochs=2, lr=0.01, batch_size=4, seed=5,
                               progress=lambda e, v: seen.append((e, v)))
    assert hist.steps == 2 * (14 // 4) and [e for e, _ in seen] == [1, 2]
    expected = np.concatenate([end[k].ravel() for k in names])
    np.testing.assert_allclose(trained.theta, expected, rtol=0, atol=ADAM_ATOL)
    assert np.abs(trained.theta - model.theta).max() > 100 * ADAM_ATOL  # it did move
