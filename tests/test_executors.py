"""The executors stop cleanly, never hang, never orphan a worker, never share a result.

Drivers that get signalled or killed run as subprocesses (:mod:`tests.executor_driver`) over
the dummy units of :mod:`tests.executor_jobs`; a process counts as gone when ``/proc`` has no
entry for it or shows a zombie (nothing reaps orphans in some containers). Dask runs on
127.0.0.1 only (the scheduler's dashboard on a free loopback port).
"""

from __future__ import annotations

import http.server
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import distributed  # the test extra has it: missing is an error, not a skip
import pytest

from systems.errors import InputError
from tests.executor_jobs import Poison, Shared, Unit, copies, work, work_shared
from verification.experiment import executors as ex

REPO = Path(__file__).resolve().parents[1]
#: Seconds a signalled driver and all its processes get to be gone (reaping a few processes
#: takes milliseconds; the margin is for a loaded machine).
GONE_SECONDS = 5.0
#: Seconds a driver subprocess gets to start its workers and finish its first unit.
START_SECONDS = 60.0
#: Seconds past ``timeout`` a connection to something that is not a scheduler may take.
CONNECT_MARGIN_SECONDS = 2.0


# --------------------------------------------------------------------------- processes
def alive(pid: int) -> bool:
    """``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def descendants(pid: int) -> set[int]:
    """Every living process below ``pid`` (from the parent links in ``/proc``)."""
    parent = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                parent[int(p.name)] = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {c for c, pp in parent.items() if pp in frontier} - found
        found |= frontier
    return {p for p in found if alive(p)}


def wait_gone(pids: set[int], seconds: float = GONE_SECONDS) -> set[int]:
    """The pids still alive after ``seconds``."""
    deadline = time.monotonic() + seconds
    while (left := {p for p in pids if alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def _default_signals() -> None:
    """In the driver's child before it execs: SIGINT and SIGHUP back to their defaults, as a
    shell starts a foreground job. A test suite started with ``nohup`` or as a background job
    of a script inherits them ignored, and an ignored signal stays ignored across ``exec`` (the
    executor rightly leaves it so): the driver would never see the signal the test sends."""
    for s in (signal.SIGINT, signal.SIGHUP):
        signal.signal(s, signal.SIG_DFL)


class Driver:
    """:mod:`tests.executor_driver` in a session of its own, its stdout read by a thread."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.executor_driver", *args], cwd=REPO,
            start_new_session=True, preexec_fn=_default_signals,  # noqa: PLW1509
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(s) for s in self.proc.stdout],
                         daemon=True).start()
        self.workers: set[int] = set()

    def until(self, prefix: str) -> None:
        """Read stdout up to a line starting with ``prefix`` (noting worker pids)."""
        deadline = time.monotonic() + START_SECONDS
        while True:
            assert self.proc.poll() is None, self.proc.stderr.read()
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            if line.startswith("worker "):
                self.workers.add(int(line.split()[1]))
            if line.startswith(prefix):
                return

    def stop(self) -> tuple[int | None, str]:
        """Exit code (``None``: still running after ``GONE_SECONDS``) and stderr."""
        try:
            code = self.proc.wait(GONE_SECONDS)
        except subprocess.TimeoutExpired:
            code = None
        if code is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        return code, self.proc.stderr.read()


@pytest.mark.parametrize("sig,group", [(signal.SIGINT, True), (signal.SIGTERM, False),
                                       (signal.SIGHUP, False)], ids=["INT", "TERM", "HUP"])
def test_signal_right_after_a_unit_stops_driver_and_workers(sig, group):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it), SIGTERM or SIGHUP to
    the driver, while one worker floods progress messages and the other has just finished a
    unit: the driver exits with one line and no traceback, and leaves no process behind."""
    d = Driver("--workers", "2", "--flood", "2000", "--seconds", "60")
    d.until("finished u0")
    below = descendants(d.proc.pid)
    assert d.workers <= below and len(d.workers) == 2
    (os.killpg if group else os.kill)(d.proc.pid, sig)
    code, err = d.stop()
    assert code == 128 + sig, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not wait_gone(below), "processes left behind"


def test_sigkill_of_the_driver_takes_its_workers_along():
    d = Driver("--workers", "2", "--flood", "2000", "--seconds", "60")
    d.until("finished u0")
    below = descendants(d.proc.pid)
    assert d.workers <= below
    os.kill(d.proc.pid, signal.SIGKILL)
    d.proc.wait()
    assert not wait_gone(below), "orphaned workers"


def test_watchdog_thread_exits_a_worker_whose_parent_died():
    """The portable fallback alone (no ``PR_SET_PDEATHSIG``): a grandchild of this test that
    watches its parent exits once that parent is SIGKILLed."""
    child = ("from verification.experiment.executors import _die_with_parent\n"
             "import os, time\n_die_with_parent(os.getppid(), pdeathsig=False)\n"
             "print('watching', flush=True)\ntime.sleep(60)\n")
    parent = ("import subprocess, sys, time\n"
              f"p = subprocess.Popen([sys.executable, '-c', {child!r}])\n"
              "print(p.pid, flush=True)\ntime.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", parent], cwd=REPO, stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        grandchild = int(proc.stdout.readline())
        assert proc.stdout.readline().strip() == "watching"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert not wait_gone({grandchild}), "the watchdog did not exit the process"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)


# --------------------------------------------------------------------------- local, in-process
def test_worker_killed_mid_unit_is_rerun_and_returned_once():
    units = [Unit(f"u{i}", 0.4) for i in range(4)]
    started: list[tuple[str, int]] = []

    def on_progress(msg):
        if msg.get("event") == "started":
            started.append((msg["key"], msg["pid"]))
            if msg["key"] == "u1" and len([k for k, _ in started if k == "u1"]) == 1:
                os.kill(msg["pid"], signal.SIGKILL)  # a worker we started, mid-unit

    got = list(ex.LocalExecutor(workers=2).run(work, units, on_progress))
    assert sorted(u.key for u, _ in got) == [u.key for u in units]  # each exactly once
    pids_u1 = [p for k, p in started if k == "u1"]
    assert len(pids_u1) == 2 and pids_u1[0] != pids_u1[1]
    assert dict((u.key, r["pid"]) for u, r in got)["u1"] == pids_u1[1]
    assert not wait_gone({p for _, p in started})


def test_unit_whose_worker_keeps_dying_is_an_executor_error():
    pids: set[int] = set()

    def on_progress(msg):
        if msg.get("event") == "started":
            pids.add(msg["pid"])
            os.kill(msg["pid"], signal.SIGKILL)

    with pytest.raises(ex.ExecutorError, match=r"unit u0: its worker process died 2 times"):
        list(ex.LocalExecutor(workers=1, retries=1).run(work, [Unit("u0", 5.0)], on_progress))
    assert len(pids) == 2


def test_exception_in_fn_reaches_the_driver_and_the_workers_are_stopped():
    pids: set[int] = set()

    def on_progress(msg):
        pids.update([msg["pid"]] if msg.get("event") == "started" else [])

    units = [Unit("bad", 0.1, fail=True), Unit("long", 30.0)]
    with pytest.raises(ValueError, match="unit bad failed on purpose") as info:
        list(ex.LocalExecutor(workers=2).run(work, units, on_progress))
    assert isinstance(info.value.__cause__, ex.RemoteTraceback)
    assert "in work" in str(info.value.__cause__)  # the worker's own traceback
    assert not wait_gone(pids)


def test_shared_data_a_worker_cannot_load_is_one_executor_error():
    with pytest.raises(ex.ExecutorError, match=r"could not load .* RuntimeError: this data"):
        list(ex.LocalExecutor(workers=1).run(work_shared, [Unit("u0")], print, Poison()))


def test_close_stops_a_run_the_driver_left_unfinished():
    pids: set[int] = set()

    def on_progress(msg):
        pids.update([msg["pid"]] if msg.get("event") == "started" else [])

    executor = ex.LocalExecutor(workers=2)
    results = executor.run(work, [Unit("u0", 0.1), Unit("u1", 30.0), Unit("u2", 30.0)],
                           on_progress)
    assert next(results)[0].key == "u0"
    executor.close()
    assert pids and not wait_gone(pids)


def test_shared_is_sent_once_per_worker_process(tmp_path):
    shared = Shared("a", tmp_path / "copies")
    units = [Unit(f"u{i}", 0.4) for i in range(6)]
    got = list(ex.LocalExecutor(workers=2).run(work_shared, units, lambda m: None, shared))
    assert sorted(u.key for u, _ in got) == [u.key for u in units]
    assert all(r["tag"] == "a" for _, r in got)
    ran_in = {r["pid"] for _, r in got}
    got_copies = copies(shared.log)
    assert len(got_copies) == len(set(got_copies)) == 2  # one copy per worker process
    assert ran_in == set(got_copies) and os.getpid() not in got_copies
    # each process used its one copy for all its units
    for pid in ran_in:
        assert len({r["shared_id"] for _, r in got if r["pid"] == pid}) == 1


def test_in_process_executor_passes_shared_and_progress(tmp_path):
    shared, seen = Shared("b", tmp_path / "copies"), []
    got = list(ex.LocalExecutor(workers=0).run(work_shared, [Unit("u0")], seen.append, shared))
    assert got[0][1]["tag"] == "b" and got[0][1]["pid"] == os.getpid()
    assert seen == [{"key": "u0", "event": "started", "pid": os.getpid()}]
    assert copies(shared.log) == []  # nothing was pickled


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"),
                    reason="os.sched_setaffinity is not available on this platform (Linux only)")
def test_default_size_follows_cpu_affinity():
    saved = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(saved)})
        assert ex.LocalExecutor().workers == 1
    finally:
        os.sched_setaffinity(0, saved)
    assert ex.LocalExecutor().workers == len(saved)


@pytest.mark.parametrize("workers", [-1, 1.5, True, "2"])
def test_bad_worker_count_is_an_input_error(workers):
    with pytest.raises(InputError, match="--workers") as info:
        ex.LocalExecutor(workers)
    assert len(str(info.value).splitlines()) == 1


# --------------------------------------------------------------------------- Dask
@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes on 127.0.0.1."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                  silence_logs=50) as c:
        yield c


@pytest.mark.parametrize("timeout", [float("inf"), float("nan"), 0, -1.0, "soon"])
def test_scheduler_timeout_must_be_finite_and_positive(timeout):
    with pytest.raises(InputError, match="--scheduler-timeout") as info:
        ex.DaskExecutor("tcp://127.0.0.1:1", timeout=timeout)
    assert len(str(info.value).splitlines()) == 1


def _silent_server() -> socket.socket:
    """Accepts connections and never says a word."""
    s = socket.create_server(("127.0.0.1", 0))
    accepted = []
    threading.Thread(target=lambda: [accepted.append(s.accept()) for _ in iter(int, 1)],
                     daemon=True).start()
    return s


def _http_server() -> http.server.ThreadingHTTPServer:
    """An HTTP server, as at a dashboard's port."""

    class Quiet(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

    h = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=h.serve_forever, daemon=True).start()
    return h


@pytest.mark.parametrize("server", ["silent", "http"])
def test_a_server_that_is_not_a_scheduler_fails_within_timeout(server):
    s = _silent_server() if server == "silent" else _http_server()
    port = (s.getsockname() if server == "silent" else s.server_address)[1]
    timeout, t0 = 1.0, time.monotonic()
    try:
        with pytest.raises(ex.ExecutorError, match="cannot reach the Dask scheduler") as info:
            ex.DaskExecutor(f"tcp://127.0.0.1:{port}", timeout=timeout)
    finally:
        if server == "http":
            s.shutdown()
            s.server_close()
        else:
            s.close()
    assert time.monotonic() - t0 < timeout + CONNECT_MARGIN_SECONDS
    assert len(str(info.value).splitlines()) == 1


def test_dask_shared_reaches_every_unit_once_per_worker(cluster, tmp_path):
    shared = Shared("a", tmp_path / "copies")
    units = [Unit(f"u{i}-{tmp_path.name}", 0.02) for i in range(12)]
    executor = ex.DaskExecutor(cluster.scheduler_address)
    try:
        got = list(executor.run(work_shared, units, lambda m: None, shared))
    finally:
        executor.close()
    assert sorted(u.key for u, _ in got) == sorted(u.key for u in units)
    assert all(r["tag"] == "a" for _, r in got)
    got_copies = copies(shared.log)
    # Sent once per worker, not once per unit: 2 workers, 12 units. Dask may deserialise a
    # broadcast copy a second time on a busy machine (a dependency fetched again after a slow
    # heartbeat), so allow two per worker: still far from one per unit.
    assert len(got_copies) <= 4 < len(units)
    assert {r["pid"] for _, r in got} <= set(got_copies) and os.getpid() not in got_copies


def _concurrent_runs(address: str, units_a, units_b, log: Path, private_keys: bool):
    """Run ``units_a`` with shared data ``a`` and, once they run, ``units_b`` with ``b``."""
    results: dict[str, list] = {"a": [], "b": []}
    a_started = threading.Event()

    def run(tag, units, private_keys):
        executor = ex.DaskExecutor(address, private_keys=private_keys)
        try:
            progress = (lambda m: a_started.set()) if tag == "a" else (lambda m: None)
            for u, r in executor.run(work_shared, units, progress, Shared(tag, log)):
                results[tag].append((u.key, r["tag"]))
        finally:
            executor.close()

    t = threading.Thread(target=run, args=("a", units_a, private_keys))
    t.start()
    assert a_started.wait(START_SECONDS)
    run("b", units_b, private_keys)
    t.join()
    return results


def test_two_runs_with_different_hashes_get_their_own_results(cluster, tmp_path):
    """Equal prefixes (same model), different hashes (different data): keys used as given."""
    units_a = [Unit(f"silverbox-N100-m{m}-aaaa", 0.5) for m in (0, 5)]
    units_b = [Unit(f"silverbox-N100-m{m}-bbbb", 0.5) for m in (0, 5)]
    res = _concurrent_runs(cluster.scheduler_address, units_a, units_b, tmp_path / "log", False)
    assert sorted(res["a"]) == [(u.key, "a") for u in units_a]
    assert sorted(res["b"]) == [(u.key, "b") for u in units_b]


def test_two_runs_with_equal_keys_get_their_own_results_by_default(cluster, tmp_path):
    """The caller forgot the hash: the per-run token still keeps the runs apart."""
    units = [Unit(f"silverbox-N100-m{m}", 0.5) for m in (0, 5)]
    res = _concurrent_runs(cluster.scheduler_address, units, units, tmp_path / "log", True)
    assert sorted(res["a"]) == [(u.key, "a") for u in units]
    assert sorted(res["b"]) == [(u.key, "b") for u in units]


def _dask_process(kind: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", f"distributed.cli.dask_{kind}", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def test_lost_scheduler_is_one_executor_error_line(tmp_path):
    """The scheduler is SIGKILLed mid-run: the driver ends with one line on stderr, none of
    distributed's logging, within seconds."""
    file = tmp_path / "scheduler.json"
    sched = _dask_process("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                          "--scheduler-file", str(file))
    procs = [sched]
    try:
        deadline = time.monotonic() + START_SECONDS
        while not (file.exists() and file.stat().st_size):
            assert time.monotonic() < deadline and sched.poll() is None
            time.sleep(0.05)
        time.sleep(0.1)  # the file is written in one go, but give it a moment to be closed
        address = json.loads(file.read_text())["address"]
        procs.append(_dask_process("worker", "--scheduler-file", str(file), "--nthreads", "1",
                                   "--no-nanny", "--no-dashboard", "--host", "127.0.0.1",
                                   "--death-timeout", "3"))
        d = Driver("--scheduler", address, "--timeout", "10", "--seconds", "5")
        d.until("finished u0")
        sched.kill()
        code, err = d.stop()
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert code == 1, err
    assert err.strip() == f"driver: error: lost the Dask scheduler at {address}", err
