"""The README's examples run as written: Python blocks print what the README says they print
(numbers within a tolerance), and every ``burnin`` command line parses."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from verification.presentation import cli

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text()
BLOCK = re.compile(r"```python\n(.*?)```(?:\n\nprints\n\n```\n(.*?)```)?", re.S)
EXAMPLES = BLOCK.findall(TEXT)
COMMANDS = [re.split(r"\s+#", line)[0].strip()
            for block in re.findall(r"```bash\n(.*?)```", TEXT, re.S)
            for line in block.splitlines() if line.startswith("burnin ")]
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
#: Printed numbers agree to this relative tolerance (other CPUs, BLAS and solver versions)...
RTOL = 2e-3
#: ... or to this many units in the last digit the README prints.
LAST_DIGITS = 2


def _same_printout(got: str, want: str) -> bool:
    """Equal text around the numbers; integers equal; other numbers within ``RTOL`` or
    ``LAST_DIGITS`` units in the README's last printed digit."""
    if NUMBER.split(got) != NUMBER.split(want):
        return False
    g, w = NUMBER.findall(got), NUMBER.findall(want)
    if len(g) != len(w):
        return False
    for a, b in zip(g, w, strict=True):
        if re.fullmatch(r"[-+]?\d+", b):  # integers (counts, shapes, m) are exact
            if a != b:
                return False
            continue
        mantissa = re.split(r"[eE]", b)[0]
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        exponent = int(re.split(r"[eE]", b)[1]) if re.search(r"[eE]", b) else 0
        unit = 10.0 ** (exponent - decimals)
        x, y = float(a), float(b)
        if abs(x - y) > max(RTOL * abs(y), LAST_DIGITS * unit):
            return False
    return True


def test_readme_has_examples():
    assert len(EXAMPLES) >= 3 and len(COMMANDS) >= 6


def test_printout_comparison_tolerates_the_last_digit_only():
    assert _same_printout("m= 0 T1 1.02e-02 True", "m= 0 T1 1.01e-02 True")
    assert not _same_printout("m= 0 T1 1.05e-02 True", "m= 0 T1 1.01e-02 True")
    assert not _same_printout("m= 0 T1 1.01e-02 False", "m= 0 T1 1.01e-02 True")
    assert not _same_printout("8 (101, 8) (100, 1) 100", "8 (101, 8) (100, 2) 100")


@pytest.mark.parametrize(("code", "printed"), EXAMPLES, ids=lambda v: v.split("\n")[0][:40])
def test_readme_example(code, printed, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write here
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})
    if printed:
        assert _same_printout(out.getvalue(), printed), out.getvalue()


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_parses(command):
    """Every ``burnin ...`` line of the README is a valid command line (stale flags fail)."""
    argv = shlex.split(command)[1:]
    if argv[0] == "study":
        from verification.presentation import study_cli

        study_cli.build_parser().parse_args(argv[1:])
    else:
        cli.build_parser().parse_args(argv)


def test_readme_test_command_is_what_ci_runs():
    ci = (README.parent / ".ci" / "run").read_text()
    command = 'python -m pip install ".[test]" && python -m pytest -q'
    assert command in TEXT
    assert command in ci.splitlines()
