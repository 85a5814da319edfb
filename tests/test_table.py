"""GapTable: CSV/JSON round trip, resume bookkeeping, atomic writes."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

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
    with pytest.raises(ValueError, match="not a gap table"):
        GapTable.from_json(p)


def test_atomic_write_uses_a_unique_partial_file(tmp_path, monkeypatch):
    """Two runs writing into one folder must not share a partial file (issue 12 #9)."""
    import os

    from verification.experiment import table

    sources: list[str] = []
    real_replace = os.replace

    def spy(src, dst):
        sources.append(str(src))
        real_replace(src, dst)

    monkeypatch.setattr(table.os, "replace", spy)
    target = tmp_path / "gaps.json"
    table.atomic_write(target, "first")
    table.atomic_write(target, b"second")
    assert len(set(sources)) == 2 and str(target) + ".partial" not in sources
    assert target.read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gaps.json"]


def test_damaged_files_name_the_file_and_the_way_out(tmp_path):
    """Truncated JSON, "rows": null, another format: one message with --no-resume (#4)."""
    from verification.experiment.table import DamagedTable

    good = _table().to_json(tmp_path / "g.json").read_text()
    cases = {
        "truncated": good[: len(good) // 2],
        "rows_null": good.replace('"rows":[', '"rows":null,"x":['),
        "old_format": good.replace('"format":2', '"format":1'),
        "row_without_m": good.replace('"m":3', '"n":3'),
    }
    for name, text in cases.items():
        p = tmp_path / f"{name}.json"
        p.write_text(text)
        with pytest.raises(DamagedTable, match="--no-resume") as info:
            GapTable.from_json(p)
        assert str(p) in str(info.value), name
        assert "\n" not in str(info.value)


def test_differences_name_what_changed():
    from verification.experiment.table import differences

    old = {"N": 21, "fit_options": {"restarts": 1}, "x_train": [[0.0], [1.0]]}
    new = {"N": 21, "fit_options": {"restarts": 3}, "x_train": np.array([[0.0], [1.0]])}
    assert [d[0] for d in differences(old, new, ["N", "fit_options", "x_train"])] == [
        "fit_options"]
    new["x_train"] = np.array([[0.0], [2.0]])
    assert [d[0] for d in differences(old, new, ["x_train"])] == ["x_train"]
