"""Execute every notebook (small settings) so they cannot rot, and keep them free of outputs.

The code cells run in order in one namespace, in the notebook's own folder, with
``BURNIN_NOTEBOOK_QUICK=1``; no Jupyter kernel is needed. Notebooks hold no logic of their
own, so this tests that the library calls they narrate still work as written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_three_notebooks():
    assert [p.name for p in NOTEBOOKS] == [
        "01_theory_figures.ipynb",
        "02_bound_for_your_model.ipynb",
        "03_properties.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_no_stale_outputs(path):
    doc = json.loads(path.read_text())
    assert doc["nbformat"] == 4
    for cell in doc["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, monkeypatch):
    monkeypatch.setenv("BURNIN_NOTEBOOK_QUICK", "1")
    monkeypatch.chdir(path.parent)
    doc = json.loads(path.read_text())
    namespace: dict = {"__name__": "__notebook__"}
    for k, cell in enumerate(doc["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        try:
            exec(compile(source, f"{path.name}[cell {k}]", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the failure message is the point
            raise AssertionError(f"{path.name}, cell {k} failed:\n{source}") from exc
