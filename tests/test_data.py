"""systems.data.load_csv: every malformed file is one clear ValueError naming the file.

Regression tests for issue 12 #9 (a header-only file gave a numpy warning and then a
misleading message; duplicate column names were accepted; a directory "did not exist";
values near 1e200 passed the loader and overflowed later).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from systems.data import Sequence, load_csv, read_columns
from systems.errors import InputError


def _write(tmp_path, text: str, name: str = "d.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_reads_columns_by_name_and_skips_blank_lines(tmp_path):
    p = _write(tmp_path, "t, x ,y\n1,0.5,-2\n\n2,1e-3,4\n")
    seq = load_csv(p, ["x"], ["y", "t"])
    # parsed decimal literals: the same strings give the same doubles, bit for bit
    np.testing.assert_array_equal(seq.x, [[0.5], [1e-3]])
    np.testing.assert_array_equal(seq.y, [[-2.0, 1.0], [4.0, 2.0]])
    assert read_columns(p) == ["t", "x", "y"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x,y\n", r"d\.csv' has a header row \(x, y\) but no data rows"),
        ("x,y\n\n\n", r"has a header row \(x, y\) but no data rows"),
        ("", r"d\.csv' is empty; expected a header row"),
        ("x,y,y\n1,2,3\n", r"duplicate column name\(s\) \['y'\]; names must be unique"),
        ("x, y,x \n1,2,3\n", r"duplicate column name\(s\) \['x'\]"),
        ("x,y\n1,2\n3\n", r"line 3 has 1 values but the header names 2 columns"),
        ("x,y\n1,2\n\n3,abc\n", r"line 4, column 'y': 'abc' is not a number"),
        ("x,y\n1,nan\n", r"d\.csv': y contains NaN or inf"),
        ("x,y\n1e200,1\n", r"d\.csv': x has entries up to 1e\+200 in magnitude .* scale the data"),
        ("x,y\n1,-1e101\n", r"y has entries up to 1e\+101"),
    ],
)
def test_malformed_files_give_one_clear_error_and_no_warning(tmp_path, text, message):
    p = _write(tmp_path, text)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match=message) as err:
            load_csv(p, ["x"], ["y"])
    assert not caught, [str(w.message) for w in caught]
    assert "\n" not in str(err.value)


def test_a_directory_is_named_as_such(tmp_path):
    with pytest.raises(InputError, match="is a directory; give a CSV file"):
        load_csv(tmp_path, ["x"], ["y"])
    with pytest.raises(InputError, match="does not exist"):
        load_csv(tmp_path / "missing.csv", ["x"], ["y"])


def test_largest_accepted_magnitude_is_inclusive():
    from systems.data import MAX_ABS

    Sequence(np.array([MAX_ABS, -MAX_ABS]), np.zeros(2))  # the limit itself is data
    with pytest.raises(ValueError, match=r"\|x\| <= 1e\+100"):
        Sequence(np.array([np.nextafter(MAX_ABS, np.inf)]), np.zeros(1))
