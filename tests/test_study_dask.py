"""The Dask path: a real ``LocalCluster`` (worker processes and the dashboard on 127.0.0.1); a
worker killed mid-task; the study still completes with every result written once."""

from __future__ import annotations

import json

import distributed  # the test extra has it: missing is an error, not a skip
import pytest
from test_study import write_pair
from test_study_runs import killer, small_study, user_models

from verification.experiment import study as st
from verification.presentation import study_cli


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes behind nannies (a killed worker is restarted)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                  silence_logs=50) as c:
        yield c


def test_study_on_a_dask_cluster_survives_a_killed_worker(cluster, tmp_path):
    from verification.experiment.executors import DaskExecutor

    tasks, hashes, job = small_study(tmp_path)
    store, started, killed, lines = st.Store(tmp_path / "out"), [], [], []
    executor = DaskExecutor(cluster.scheduler_address)
    try:
        ran = st.run_study(tasks, hashes, job, store, executor, log=lines.append,
                           observer=killer(started, killed))
    finally:
        executor.close()
    assert len(ran) == 4 and all(store.done(t, hashes[t.key]) for t in tasks)
    assert started.count(killed[0]) >= 2, started  # the scheduler ran the killed task again
    assert len(list((store.out / "metrics").glob("*.json"))) == 4
    assert not any("duplicate" in s for s in lines)
    for t in tasks:  # every result is a full training
        assert json.loads(store.metrics_path(t).read_text())["epochs"] == job.budget.epochs
    # the finished study reruns as a no-op: nothing left to do, nothing rewritten
    stamps = {p: p.stat().st_mtime_ns for p in (store.out / "metrics").glob("*.json")}
    executor = DaskExecutor(cluster.scheduler_address)
    try:
        assert st.run_study(tasks, hashes, job, store, executor, log=lines.append) == []
    finally:
        executor.close()
    assert stamps == {p: p.stat().st_mtime_ns for p in stamps}


def test_cli_scheduler_option_runs_the_study_there(cluster, tmp_path):
    pair = write_pair(tmp_path)
    models = user_models(tmp_path / "models_in", N=20, ms=(0, 5))
    out = tmp_path / "out"
    code = study_cli.main(["mine", "--train", str(pair["train"]), "--test", str(pair["test"]),
                           "--inputs", "u", "--outputs", "y", "--from-models", str(models),
                           "--scheduler", cluster.scheduler_address, "--out", str(out)])
    assert code == 0
    rows = json.loads((out / "results.json").read_text())
    assert sorted((r["kind"], r["m"]) for r in rows) == [
        ("stateful", 0), ("stateless", 0), ("stateless", 5)]
