"""The README's Python examples run as written and print what the README says they print."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"```python\n(.*?)```(?:\n\nprints\n\n```\n(.*?)```)?", re.S)
EXAMPLES = BLOCK.findall(README.read_text())


def test_readme_has_examples():
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize(("code", "printed"), EXAMPLES, ids=lambda v: v.split("\n")[0][:40])
def test_readme_example(code, printed, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write here
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})
    if printed:
        assert out.getvalue() == printed


def test_readme_test_command_is_what_ci_runs():
    ci = (README.parent / ".ci" / "run").read_text()
    command = 'python -m pip install ".[test]" && python -m pytest -q'
    assert command in README.read_text()
    assert command in ci.splitlines()
