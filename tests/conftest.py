"""Shared test configuration: hypothesis profiles, tolerances, and the path to ../shared/data.

Hypothesis profiles (select with ``BURNIN_HYPOTHESIS_PROFILE``):

* ``ci`` (default): derandomized, modest example counts, sized so the suite stays fast.
* ``thorough``: many thousands of examples per property, for a long local run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=60,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=5000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("BURNIN_HYPOTHESIS_PROFILE", "ci"))

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """``../shared/data`` next to the checkout (or ``BURNIN_SHARED_DATA``), if present."""
    env = os.environ.get("BURNIN_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The authors' data directory; skips in a user's clone, fails in CI (which always has it)."""
    d = shared_data_dir()
    if d is None:
        msg = (
            "../shared/data (the authors' series and the benchmarks) is not next to this "
            "checkout; set BURNIN_SHARED_DATA to its path to run these tests"
        )
        if os.environ.get("CI"):
            pytest.fail("CI must have ../shared/data: " + msg)
        pytest.skip(msg)
    return d
