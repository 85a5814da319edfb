"""The data shipped with the package: present, unchanged (checksums), and the defaults use it."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
from importlib import metadata

import numpy as np
import pytest

from systems.benchmarks import (
    DATASETS,
    PACKAGED_ROOT,
    ROOT_VARIABLE,
    SPLITS,
    data_root,
    load_benchmark,
    paper_series,
)
from systems.errors import InputError

#: ``| `file` | rows | `sha256` |`` rows of the provenance note.
CHECKSUM_ROW = re.compile(
    r"^\| `(?P<file>[\w.]+\.csv\.gz)` \| (?P<rows>\d+) \| `(?P<sha>[0-9a-f]{64})` \|$"
)


def _checksums() -> dict[str, tuple[int, str]]:
    text = (PACKAGED_ROOT / "PROVENANCE.md").read_text()
    rows = [CHECKSUM_ROW.match(line) for line in text.splitlines()]
    return {r["file"]: (int(r["rows"]), r["sha"]) for r in rows if r}


def test_every_packaged_file_matches_its_checksum():
    sums = _checksums()
    files = sorted(p.name for p in PACKAGED_ROOT.glob("*.csv.gz"))
    expected = sorted([f"{d}_{s}.csv.gz" for d in DATASETS for s in SPLITS]
                      + ["paper_synthetic_train.csv.gz", "paper_synthetic_test.csv.gz"])
    assert files == expected and sorted(sums) == expected
    for name, (rows, sha) in sums.items():
        raw = gzip.decompress((PACKAGED_ROOT / name).read_bytes())
        assert hashlib.sha256(raw).hexdigest() == sha, name
        assert raw.count(b"\n") == rows + 1, name  # the header row, then one row per step


def test_packaged_copy_equals_the_shared_data(shared_data):
    """Byte for byte the CSVs of the project's shared data folder."""
    for d in DATASETS:
        for s in SPLITS:
            raw = gzip.decompress((PACKAGED_ROOT / f"{d}_{s}.csv.gz").read_bytes())
            assert raw == (shared_data / "benchmarks" / f"{d}_{s}.csv").read_bytes(), (d, s)
    for s in ("train", "test"):
        raw = gzip.decompress((PACKAGED_ROOT / f"paper_synthetic_{s}.csv.gz").read_bytes())
        assert raw == (shared_data / "paper_synthetic" / f"{s}.csv").read_bytes(), s


def test_the_installed_distribution_ships_the_data():
    """What `pip install .` put into site-packages lists every data file (the tests themselves
    import the checkout, so this is the one check of the wheel's contents)."""
    try:
        files = metadata.files("burnin")
    except metadata.PackageNotFoundError:
        msg = "burnin is not installed (pip install .): cannot check the installed files"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    shipped = {f.name for f in files or () if f.parent.name == "datasets"}
    assert set(_checksums()) | {"PROVENANCE.md"} <= shipped


def test_defaults_read_the_packaged_data_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ROOT_VARIABLE, raising=False)
    assert data_root() == PACKAGED_ROOT
    bench = load_benchmark("silverbox")
    assert bench.raw["train"].T == 20000 and bench.raw["test"].T == 10000
    assert paper_series("train").T == 100


def test_root_variable_and_argument_override_the_packaged_data(tmp_path, monkeypatch):
    """``$BURNIN_DATA_ROOT`` replaces the packaged copy; an explicit root wins over both.
    Plain ``.csv`` files are read as well as ``.csv.gz``."""
    mine = tmp_path / "mine"
    mine.mkdir()
    for s in SPLITS:  # rlc with its outputs negated: a different data set, same layout
        with gzip.open(PACKAGED_ROOT / f"rlc_{s}.csv.gz", "rt") as f:
            lines = f.read().splitlines()
        head, rows = lines[0], [line.split(",") for line in lines[1:]]
        body = [",".join([t, u, str(-float(v)), str(-float(i))]) for t, u, v, i in rows]
        (mine / f"rlc_{s}.csv").write_text("\n".join([head, *body]) + "\n")
    packaged = load_benchmark("rlc")
    monkeypatch.setenv(ROOT_VARIABLE, str(mine))
    theirs = load_benchmark("rlc")
    np.testing.assert_allclose(theirs.raw["train"].y, -packaged.raw["train"].y, rtol=1e-15)
    explicit = load_benchmark("rlc", PACKAGED_ROOT)
    np.testing.assert_array_equal(explicit.raw["test"].y, packaged.raw["test"].y)


def test_missing_and_damaged_data_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_benchmark("silverbox", tmp_path / "nowhere")
    with pytest.raises(InputError, match=r"lacks \['silverbox_train.csv'"):
        load_benchmark("silverbox", tmp_path)
    for s in SPLITS:
        shutil.copy(PACKAGED_ROOT / f"silverbox_{s}.csv.gz", tmp_path)
    (tmp_path / "silverbox_val.csv.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(InputError, match="silverbox_val.csv.gz' is not a readable CSV file"):
        load_benchmark("silverbox", tmp_path)
