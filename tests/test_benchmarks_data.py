"""Benchmark data (the packaged copy) and the authors' evaluation protocol (systems.benchmarks)."""

from __future__ import annotations

import csv
import gzip

import numpy as np
import pytest

from systems.benchmarks import (
    PACKAGED_ROOT,
    BurnInRow,
    FreeRunError,
    authors_models,
    best_burn_in,
    free_run_error,
    load_benchmark,
)
from systems.cells import load_model
from systems.errors import InputError

SCALE_RTOL = 1e-12  # mean/std of 20000 values against their definition: summation round-off
SIM_ATOL = 1e-12  # the same simulation, batched with padding vs alone


@pytest.fixture(scope="module")
def rlc():
    return load_benchmark("rlc")


def _column(split: str, name: str) -> np.ndarray:
    """One column of the packaged ``rlc_<split>.csv.gz``, read with the csv module alone."""
    with gzip.open(PACKAGED_ROOT / f"rlc_{split}.csv.gz", "rt", newline="") as f:
        rows = list(csv.DictReader(f))
    return np.array([float(r[name]) for r in rows])


def test_standard_scaler_fitted_on_train_only(rlc):
    """Population std (ddof = 0) and mean of the training split, applied to val unchanged."""
    i_tr = _column("train", "i_l")
    i_va = _column("val", "i_l")
    mu, sd = i_tr.mean(), np.sqrt(np.mean((i_tr - i_tr.mean()) ** 2))
    np.testing.assert_allclose(rlc.scaled["train"].y[:, 0], (i_tr - mu) / sd, rtol=SCALE_RTOL,
                               atol=SCALE_RTOL)
    np.testing.assert_allclose(rlc.scaled["val"].y[:, 0], (i_va - mu) / sd, rtol=SCALE_RTOL,
                               atol=SCALE_RTOL)
    assert abs(rlc.scaled["val"].y[:, 0].std() - 1) > 1e-3  # val is not re-fitted


def test_rlc_outputs_are_current_then_voltage(rlc):
    np.testing.assert_array_equal(rlc.raw["test"].y[:, 0], _column("test", "i_l"))
    np.testing.assert_array_equal(rlc.raw["test"].y[:, 1], _column("test", "v_c"))


def test_free_run_error_by_hand_and_output_order(rlc, shared_models):
    """MSE of one free run per split (simulated alone here, batched with padding there); the
    authors' rlc model predicts (i_l, v_c): the swapped order fits far worse."""
    files = authors_models(shared_models / "authors_lstm" / "rlc")
    assert sorted(files) == [0, 5, 10, 16, 21, 26, 31, 36, 42, 47, 52, 57, 63, 68, 73, 78, 83,
                             89, 94, 99]
    model = load_model(files[0])
    err = free_run_error(model, rlc)
    for s in ("train", "val", "test"):
        _, y = model.simulate(rlc.scaled[s].x)  # from the zero state, every step
        mse = np.mean((y - rlc.scaled[s].y) ** 2)
        assert err.scaled[s] == pytest.approx(mse, rel=SIM_ATOL)
        units = np.mean((y * rlc.scaler.y.scale + rlc.scaler.y.shift - rlc.raw[s].y) ** 2)
        assert err.units[s] == pytest.approx(units, rel=SIM_ATOL)
        swapped = np.mean((y[:, ::-1] - rlc.scaled[s].y) ** 2)
        assert swapped > 5 * mse


def test_best_burn_in_weighs_train_and_validation():
    def row(m, tr, va):
        return BurnInRow(m, FreeRunError({"train": tr, "val": va, "test": 0.0}, {}))

    rows = [row(0, 1.0, 1.0), row(5, 0.5, 2.0), row(10, 0.9, 0.9)]
    # scores 1.0, 0.95, 0.9: m = 10; with val ignored m = 5 would win
    assert best_burn_in(rows).m == 10
    assert best_burn_in(rows[:2]).m == 5
    with pytest.raises(ValueError, match="empty"):
        best_burn_in([])


def test_bad_dataset_name(tmp_path):
    with pytest.raises(ValueError, match="name must be one of"):
        load_benchmark("cascaded_tanks", tmp_path)
    with pytest.raises(InputError, match="N100"):
        authors_models(tmp_path)
