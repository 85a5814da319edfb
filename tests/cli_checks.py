"""One check shared by the CLI tests: an input error is one line, exit 2, and nothing else."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from verification.presentation import cli


def assert_one_line_input_error(argv: Sequence[str], message: str, capsys) -> None:
    """``burnin argv`` exits 2 with ``message`` on one stderr line: no traceback, no warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = cli.main(list(argv))
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not caught, [f"{w.category.__name__}: {w.message}" for w in caught]
