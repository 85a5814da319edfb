"""GapTable: CSV/JSON round trip, resume bookkeeping, atomic writes."""

from __future__ import annotations

import csv
import math

import numpy as np

from verification.experiment.table import GapTable


def _table() -> GapTable:
    t = GapTable(meta={"N": 5, "x_train": np.arange(4.0)[:, None]})
    t.add({"m": 3, "V_star": 0.5, "sound": True, "T1_bound": math.nan}, {"e_j": np.ones(5)})
    t.add({"m": 0, "V_star": 1.5, "sound": False, "T1_bound": math.inf}, {"e_j": np.zeros(5)})
    return t


def test_rows_sorted_and_replaced():
    t = _table()
    assert t.ms == [0, 3]
    t.add({"m": 3, "V_star": 0.25, "sound": True})
    assert t.ms == [0, 3] and t.row(3)["V_star"] == 0.25


def test_json_round_trip_keeps_nan_inf_and_traces(tmp_path):
    t = _table()
    back = GapTable.from_json(t.to_json(tmp_path / "g.json"))
    assert back.ms == [0, 3]
    assert math.isnan(back.row(3)["T1_bound"]) and back.row(0)["T1_bound"] == math.inf
    assert back.row(0)["sound"] is False
    np.testing.assert_array_equal(back.traces[3]["e_j"], np.ones(5))
    np.testing.assert_array_equal(np.asarray(back.meta["x_train"]), np.arange(4.0)[:, None])
    assert not list(tmp_path.glob("*.partial"))


def test_csv_has_one_line_per_m(tmp_path):
    path = _table().to_csv(tmp_path / "g.csv")
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["m"]) for r in rows] == [0, 3]
    assert float(rows[1]["V_star"]) == 0.5


def test_from_json_rejects_foreign_file(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"hello": 1}')
    try:
        GapTable.from_json(p)
    except ValueError as exc:
        assert "not a gap table" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected ValueError")
