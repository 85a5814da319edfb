"""Shared test configuration: hypothesis profiles and the paths to ../shared.

The benchmarks ship with the package; only the authors' trained models (``../shared/models``,
not redistributed) and one check that the packaged data equal the shared copy need the shared
folder: those tests skip in a user's clone and fail under ``CI``, which always has it.

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


def shared_dir(sub: str = "data") -> Path | None:
    """``../shared/<sub>`` next to the checkout.

    ``BURNIN_SHARED`` names another shared root (e.g. from a git worktree elsewhere);
    ``BURNIN_SHARED_DATA`` overrides the ``data`` folder alone.
    """
    candidates = []
    if sub == "data" and os.environ.get("BURNIN_SHARED_DATA"):
        candidates.append(Path(os.environ["BURNIN_SHARED_DATA"]))
    if os.environ.get("BURNIN_SHARED"):
        candidates.append(Path(os.environ["BURNIN_SHARED"]) / sub)
    candidates.append(REPO.parent / "shared" / sub)
    for c in candidates:
        if c.is_dir():
            return c
    return None


def shared_data_dir() -> Path | None:
    """``../shared/data`` next to the checkout (or ``BURNIN_SHARED_DATA``), if present."""
    return shared_dir("data")


def require_shared(sub: str) -> Path:
    """``../shared/<sub>``; skips in a user's clone, fails in CI (which always has it)."""
    d = shared_dir(sub)
    if d is None:
        what = "the authors' 405 trained models" if sub == "models" else "the shared data"
        msg = (
            f"../shared/{sub} ({what}) is not next to this checkout; set BURNIN_SHARED to "
            "the shared folder to run these tests"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI must have ../shared/{sub}: " + msg)
        pytest.skip(msg)
    return d


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The authors' data directory; skips in a user's clone, fails in CI (which always has it)."""
    return require_shared("data")


@pytest.fixture(scope="session")
def shared_models() -> Path:
    """``../shared/models`` (the authors' 405 LSTMs); skips in a user's clone, fails in CI."""
    return require_shared("models")


def require_numba() -> None:
    """Skip where numba is absent (the ``fast`` extra is optional); fail under ``CI``, whose
    ``test`` extra installs it."""
    from systems.batched_lstm_numba import available

    if not available():
        msg = 'numba is not installed (the optional kernel: pip install "burnin[fast]")'
        if os.environ.get("CI"):
            pytest.fail("CI installs numba with the test extra: " + msg)
        pytest.skip(msg)


@pytest.fixture(scope="session")
def numba_kernel() -> str:
    """``"numba"``, the compiled kernel's name; skips (fails under CI) where numba is absent."""
    require_numba()
    return "numba"
