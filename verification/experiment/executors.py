"""Where the study's units of work run: local worker processes, or a Dask distributed cluster.

The contract of ``run``
-----------------------
Both executors have ``run(fn, units, on_progress, shared=None)``, a generator of
``(unit, result)`` in the order the units finish:

* each unit is run as ``fn(unit, report=report)``, or ``fn(unit, shared, report=report)`` when
  ``shared`` is given; ``fn``, the units, ``shared`` and the results must be picklable, ``fn``
  importable by name (a module-level function or a ``functools.partial`` of one);
* ``shared`` (data every unit needs: the data set, the training budget) is sent once per worker
  (local: once per worker process; Dask: ``client.scatter(shared, broadcast=True)``), not once
  per unit;
* ``report(msg)`` sends a progress ``dict`` to the driver, where ``on_progress(msg)`` sees it
  (local: as soon as the driver reads it; Dask: as a worker event, ``"worker"`` added); it runs in
  the driver's thread for the local executor, in the client's event thread for Dask;
* results come back to the driver, which writes them: workers need the package, not the output
  folder. A unit whose worker dies is run again (local: at most ``retries`` more times; Dask:
  the scheduler's ``allowed-failures``), so ``fn`` must be pure (no files written). A unit is
  yielded at most once per run; a study that is stopped and run again may run it again, so the
  caller writes each result once (skipping what is written already);
* an exception raised by ``fn`` reaches the driver unchanged (with the worker's traceback as its
  ``__cause__`` for local workers) and ends the run; :class:`ExecutorError` means the executor
  itself failed (a unit's worker kept dying, the scheduler cannot be reached or was lost).

Signals and interrupts
----------------------
While ``run`` is active (and run from the main thread), SIGTERM and SIGHUP raise
:class:`Terminated` in the driver, SIGINT raises ``KeyboardInterrupt`` as usual; a handler the
caller installed itself (or ``SIG_IGN``, as under ``nohup``) is left alone. ``Terminated`` is a
``KeyboardInterrupt``, so one ``except KeyboardInterrupt`` reports all three in one line
(``exc.signum`` tells them apart). On any of them, or on any exception leaving ``run``:

* local: every worker process is killed (SIGKILL: the units are pure, nothing of them is worth
  keeping) and reaped; units that were running are lost and run again by the next study. Local
  workers ignore SIGINT and SIGHUP (a terminal sends those to the whole process group; the
  driver decides), die with SIGKILL when the driver dies, even by SIGKILL
  (``prctl(PR_SET_PDEATHSIG)`` on Linux, and everywhere a thread that exits the worker once its
  parent process is gone), and never wait on unread progress messages (they write to a socket the
  driver reads, with no feeder thread);
* Dask: the run's remaining futures are cancelled (tasks already running on a worker finish
  there, and their results are dropped); the cluster stays up.

A second signal while the executor is stopping its workers is ignored, so the driver gets exactly
one exception. The driver must call ``close()`` when it is done (in a ``finally``): it stops a
run the driver left unfinished (a generator it did not exhaust) and, for Dask, disconnects.

Keys (Dask)
-----------
A unit's Dask key is ``f"{unit.key}-{token}"``. The caller must make ``unit.key`` unique for
everything that determines the unit's result (a hash of the data, the budget, the model...):
Dask treats equal keys as the same computation and hands a finished result to every client
that asks for that key. ``token`` is random per call of ``run`` (``private_keys=True``, the
default): two runs never share a task, even when the caller's keys collide, and a unit whose
worker died is re-run by the scheduler under the same key within the run. ``private_keys=False``
uses ``unit.key`` alone, so concurrent runs with equal keys share the work; only for keys that
are complete hashes. The progress topic is private to each run either way.

>>> ex = LocalExecutor(workers=0)
>>> [(u, r) for u, r in ex.run(lambda u, report: u * u, [1, 2, 3], print)]
[(1, 1), (2, 4), (3, 9)]

Why one module of this size: the two executors share the contract, the signal handling and the
exception classes above; the local pool is the part that needs the most care.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing as mp
import numbers
import os
import pickle
import secrets
import signal
import sys
import threading
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from systems.errors import InputError

PROGRESS_TOPIC = "burnin-study-progress"
Progress = Callable[[dict[str, Any]], None]

#: Seconds between two looks at the parent process by a worker's watchdog thread (the portable
#: fallback of ``PR_SET_PDEATHSIG``), and between two looks at the Dask client's connection.
POLL_SECONDS = 0.2
#: Seconds a local worker gets to exit after the last unit before it is killed.
EXIT_GRACE_SECONDS = 5.0
#: Messages read from one worker before the others get their turn (a flooding worker cannot
#: starve the rest).
MAX_MESSAGES_PER_TURN = 64


class ExecutorError(RuntimeError):
    """A unit could not be run (its worker kept dying, or the cluster cannot be reached)."""


class Terminated(KeyboardInterrupt):
    """The driver received SIGTERM or SIGHUP while an executor was running (``signum``)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


class RemoteTraceback(Exception):
    """The traceback of an exception raised by ``fn`` in a worker process (its ``__cause__``)."""

    def __str__(self) -> str:
        return "\n" + str(self.args[0])


def _name(unit: Any) -> str:
    return str(getattr(unit, "key", unit))


# --------------------------------------------------------------------------- signals
_STOP_SIGNALS = tuple(getattr(signal, s) for s in ("SIGTERM", "SIGHUP") if hasattr(signal, s))


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def _stop_signals_raise() -> Iterator[None]:
    """SIGTERM/SIGHUP raise :class:`Terminated` (where their handler is the default)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.getsignal(s) for s in _STOP_SIGNALS}
    for s, h in saved.items():
        if h == signal.SIG_DFL:
            signal.signal(s, _raise_terminated)
    try:
        yield
    finally:
        for s, h in saved.items():
            if signal.getsignal(s) is _raise_terminated:
                signal.signal(s, h)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT/SIGTERM/SIGHUP are ignored for the duration (the executor is stopping)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    sigs = (signal.SIGINT, *_STOP_SIGNALS)
    saved = {s: signal.getsignal(s) for s in sigs}
    for s in sigs:
        signal.signal(s, signal.SIG_IGN)
    try:
        yield
    finally:
        for s, h in saved.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)


def _call(fn: Callable[..., Any], unit: Any, shared: Any, report: Progress) -> Any:
    return fn(unit, report=report) if shared is None else fn(unit, shared, report=report)


# --------------------------------------------------------------------------- local worker side
def _die_with_parent(parent_pid: int, pdeathsig: bool = True) -> None:
    """Exit when the process ``parent_pid`` (the driver) is gone, however it ended.

    On Linux (``pdeathsig``) the kernel kills us; everywhere a daemon thread also watches the
    parent pid and exits the process within ``POLL_SECONDS`` of a change.
    """
    if pdeathsig and sys.platform.startswith("linux"):
        import ctypes

        try:  # the kernel sends SIGKILL when the parent (the thread that spawned us) exits
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(POLL_SECONDS)
        os._exit(1)

    if os.getppid() != parent_pid:  # the driver died before we got here
        os._exit(1)
    threading.Thread(target=watch, name="watch-driver", daemon=True).start()


def _worker_main(conn: Connection, parent_pid: int) -> None:
    """A local worker: receive ``(fn, shared)`` once, then ``(index, unit)`` until ``None``.

    Sends ``("ready",)``, ``("progress", msg)``, ``("result", index, value)``,
    ``("error", index, exception, traceback_text)`` or ``("fatal", traceback_text)``.
    """
    _die_with_parent(parent_pid)
    for name in ("SIGINT", "SIGHUP"):  # a terminal's signals: the driver decides
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    try:
        fn, shared = pickle.loads(conn.recv_bytes())
    except EOFError:
        return
    except BaseException:
        conn.send(("fatal", traceback.format_exc()))
        return
    lock = threading.Lock()

    def report(msg: dict[str, Any]) -> None:
        with lock:
            conn.send(("progress", msg))

    conn.send(("ready",))
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        i, unit = msg
        try:
            out = ("result", i, _call(fn, unit, shared, report))
            with lock:
                conn.send(out)
        except Exception as exc:
            tb = traceback.format_exc()
            try:
                pickle.dumps(exc)
            except Exception:
                exc = ExecutorError(f"unit {_name(unit)}: {type(exc).__name__}: {exc}")
            with lock:
                conn.send(("error", i, exc, tb))


# --------------------------------------------------------------------------- local driver side
@dataclass
class _Worker:
    proc: Any
    conn: Connection
    ready: bool = False
    unit: int | None = None  # index of the unit it runs


class _Pool:
    """Spawned worker processes, each with one socket to the driver (units in, messages out)."""

    def __init__(self, payload: bytes, on_progress: Progress) -> None:
        self.ctx = mp.get_context("spawn")
        self.payload, self.on_progress = payload, on_progress
        self.workers: list[_Worker] = []

    def spawn(self) -> None:
        ours, theirs = self.ctx.Pipe(duplex=True)
        proc = self.ctx.Process(target=_worker_main, args=(theirs, os.getpid()),
                                name="burnin-worker", daemon=True)
        proc.start()
        theirs.close()
        w = _Worker(proc, ours)
        self.workers.append(w)
        # (fn, shared) in a thread: a large payload must not hold up the other workers
        threading.Thread(target=_send_quietly, args=(ours, self.payload), daemon=True).start()

    def read(self, w: _Worker, limit: int | None) -> Iterator[tuple]:
        """Up to ``limit`` messages of ``w`` that are there now (all if ``None``); progress is
        handed to ``on_progress``, the rest yielded."""
        n = 0
        while limit is None or n < limit:
            try:
                if not w.conn.poll():
                    return
                msg = w.conn.recv()
            except (EOFError, OSError):
                return
            n += 1
            if msg[0] == "progress":
                self.on_progress(msg[1])
            elif msg[0] == "ready":
                w.ready = True
            else:
                yield msg

    def stop(self, graceful: bool) -> None:
        """Ask idle workers to exit (``graceful``), kill the others, reap all."""
        with _signals_held():
            for w in self.workers:
                if graceful and w.ready and w.unit is None:
                    with contextlib.suppress(OSError):
                        w.conn.send(None)
                else:
                    w.proc.kill()
            deadline = time.monotonic() + (EXIT_GRACE_SECONDS if graceful else 0)
            for w in self.workers:
                w.proc.join(max(0.0, deadline - time.monotonic()))
                if w.proc.exitcode is None:
                    w.proc.kill()
                    w.proc.join()
                w.conn.close()
            self.workers = []


def _send_quietly(conn: Connection, payload: bytes) -> None:
    """Send ``payload`` unless the worker died or was stopped meanwhile (then its socket is
    broken or closed under us, and its sentinel tells the driver)."""
    with contextlib.suppress(Exception):
        conn.send_bytes(payload)


def _run_pool(pool: _Pool, units: Sequence[Any], size: int, retries: int
              ) -> Iterator[tuple[Any, Any]]:
    """Run ``units`` on ``pool`` with at most ``size`` workers; yield ``(unit, result)``.

    Each loop: top up the workers, hand pending units to ready idle ones, wait for a message or
    a death (``multiprocessing.connection.wait`` on sockets and process sentinels), handle it.
    A dead worker's socket is read to the end first (its result may be there); its unit goes
    back to the front of the queue.
    """
    pending, done, deaths = deque(range(len(units))), set(), Counter()
    early_deaths = 0
    while len(done) < len(units):
        while len(pool.workers) < min(size, len(units) - len(done)):
            pool.spawn()
        for w in pool.workers:
            if w.ready and w.unit is None and pending:
                w.unit = pending.popleft()
                with contextlib.suppress(OSError):  # it just died: its sentinel tells
                    w.conn.send((w.unit, units[w.unit]))
        objs = [o for w in pool.workers for o in (w.conn, w.proc.sentinel)]
        ready = set(wait(objs))
        for w in list(pool.workers):
            dead = w.proc.sentinel in ready
            if not dead and w.conn not in ready:
                continue
            for msg in pool.read(w, None if dead else MAX_MESSAGES_PER_TURN):
                if msg[0] == "fatal":
                    raise ExecutorError("a worker process could not load the function or the "
                                        "shared data: " + msg[1].strip().splitlines()[-1])
                i = msg[1]
                w.unit = None
                if msg[0] == "error":
                    raise msg[2] from RemoteTraceback(msg[3])
                if i not in done:
                    done.add(i)
                    yield units[i], msg[2]
            if not dead:
                continue
            w.proc.join()
            w.conn.close()
            pool.workers.remove(w)
            if not w.ready:
                early_deaths += 1
                if early_deaths > retries:
                    raise ExecutorError(f"worker processes exited (code {w.proc.exitcode}) "
                                        f"before they could start, {early_deaths} times")
            if w.unit is not None and w.unit not in done:
                deaths[w.unit] += 1
                if deaths[w.unit] > retries:
                    raise ExecutorError(
                        f"unit {_name(units[w.unit])}: its worker process died "
                        f"{deaths[w.unit]} times (last exit code {w.proc.exitcode})")
                pending.appendleft(w.unit)


def _count(name: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
        raise InputError(f"{name} {v!r} must be an integer >= 0")
    return int(v)


class _Runs:
    """The run a driver may leave unfinished: ``close()`` stops it (its ``finally`` runs now)."""

    _active: Any = None

    def _start(self, gen: Iterator[tuple[Any, Any]]) -> Iterator[tuple[Any, Any]]:
        self._stop()
        self._active = gen
        return gen

    def _stop(self) -> None:
        gen, self._active = self._active, None
        if gen is not None:
            gen.close()


class LocalExecutor(_Runs):
    """Run units in ``workers`` local processes (default: one per CPU of this process's
    affinity mask, ``os.sched_getaffinity``, as the BPTT threads are sized).

    ``workers=0`` runs them in this process, one after the other (no pool; for debugging).
    A unit whose worker process dies is run again in a fresh one, at most ``retries`` times.
    """

    def __init__(self, workers: int | None = None, retries: int = 2) -> None:
        from systems.blas import cpu_count  # the CPUs of this process's affinity mask

        self.workers = cpu_count() if workers is None else _count("--workers", workers)
        self.retries = _count("retries", retries)

    def __str__(self) -> str:
        if self.workers == 0:
            return "this process"
        return f"{self.workers} local worker process{'es' if self.workers != 1 else ''}"

    def close(self) -> None:
        """Stop the run still active, if any (kills its workers); the executor stays usable."""
        self._stop()

    def run(self, fn: Callable[..., Any], units: Iterable[Any], on_progress: Progress,
            shared: Any = None) -> Iterator[tuple[Any, Any]]:
        """``(unit, fn(unit[, shared], report=...))`` as units finish (see the module)."""
        return self._start(self._run(fn, list(units), on_progress, shared))

    def _run(self, fn: Callable[..., Any], units: list[Any], on_progress: Progress,
             shared: Any) -> Iterator[tuple[Any, Any]]:
        with _stop_signals_raise():
            if self.workers == 0:
                for u in units:
                    yield u, _call(fn, u, shared, on_progress)
                return
            if not units:
                return
            pool = _Pool(pickle.dumps((fn, shared), protocol=pickle.HIGHEST_PROTOCOL),
                         on_progress)
            try:
                yield from _run_pool(pool, units, min(self.workers, len(units)), self.retries)
            except BaseException:
                pool.stop(graceful=False)
                raise
            pool.stop(graceful=True)


# --------------------------------------------------------------------------- Dask
#: Loggers silenced while a Dask client is connecting, running or closing: a lost scheduler
#: otherwise prints dozens of reconnection lines and tracebacks around the one error we raise.
QUIET_LOGGERS = ("distributed", "tornado", "asyncio")


@contextlib.contextmanager
def _quiet_distributed() -> Iterator[None]:
    names = [n for n in logging.root.manager.loggerDict
             if n.split(".")[0] in QUIET_LOGGERS] + list(QUIET_LOGGERS)
    loggers = [logging.getLogger(n) for n in dict.fromkeys(names)]
    saved = [lg.disabled for lg in loggers]
    for lg in loggers:
        lg.disabled = True
    try:
        yield
    finally:
        for lg, d in zip(loggers, saved, strict=True):
            lg.disabled = d


def check_timeout(timeout: float) -> float:
    """``timeout`` as a float, if it is a finite number of seconds > 0."""
    try:
        t = float(timeout)
    except (TypeError, ValueError):
        t = math.nan
    if not (math.isfinite(t) and t > 0) or isinstance(timeout, bool):
        raise InputError(f"--scheduler-timeout {timeout!r} must be a finite number of "
                         "seconds > 0")
    return t


def _probe(address: str, timeout: float) -> None:
    """Raise :class:`ExecutorError` unless a Dask scheduler answers at ``address`` within
    ``timeout`` seconds (``distributed.Client`` waits forever for a server that accepts the
    connection and never answers its handshake)."""
    import asyncio

    from distributed.comm import connect

    async def identity() -> dict:
        comm = await connect(address, timeout=timeout)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    outcome: list[Any] = []

    def probe() -> None:  # a thread of its own: the caller may be inside an event loop
        try:
            # a little longer than ``connect``'s own timeout, so that a refused connection
            # ends in its error (which says so) rather than in ours
            outcome.append(asyncio.run(asyncio.wait_for(identity(), timeout + 0.5)))
        except BaseException as exc:  # reported below, in one line
            outcome.append(exc)

    t = threading.Thread(target=probe, name="probe-scheduler", daemon=True)
    t.start()
    t.join(timeout + 1.5)
    got = outcome[0] if outcome else None
    if isinstance(got, dict) and got.get("type") == "Scheduler":
        return
    if got is None or isinstance(got, asyncio.TimeoutError | TimeoutError) and not str(got):
        why = f"no answer in {timeout:g} s"
    elif isinstance(got, BaseException):
        why = f"{type(got).__name__}: {got}"
    else:
        why = f"the server there is not a scheduler but {str(got.get('type'))[:40]!r}"
    raise ExecutorError(f"--scheduler {address!r}: cannot reach the Dask scheduler "
                        f"({why})".replace("\n", " "))


def _dask_call(fn: Callable[..., Any], unit: Any, topic: str, *shared: Any) -> Any:
    from distributed import get_worker

    w = get_worker()

    def report(msg: dict[str, Any]) -> None:
        w.log_event(topic, {**msg, "worker": w.address})

    return fn(unit, *shared, report=report)


class DaskExecutor(_Runs):
    """Run units on the Dask distributed cluster whose scheduler listens at ``address``.

    Connecting happens here, so an unreachable scheduler (or a server there that is not one)
    fails before any work, within ``timeout`` seconds (a finite number > 0), with an
    :class:`ExecutorError`. ``private_keys``: see the module docstring (keys). Needs the
    optional extra: ``pip install "burnin[dask]"``.
    """

    def __init__(self, address: str, timeout: float = 10.0, private_keys: bool = True) -> None:
        self.timeout = check_timeout(timeout)
        try:
            from distributed import Client
        except ImportError as exc:
            raise ExecutorError("--scheduler needs Dask: pip install \"burnin[dask]\"") from exc
        self.address, self.private_keys = address, private_keys
        with _quiet_distributed():
            t0 = time.monotonic()
            _probe(address, self.timeout)
            left = max(1.0, self.timeout - (time.monotonic() - t0))
            try:
                self.client = Client(address, timeout=left, set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                raise ExecutorError(f"--scheduler {address!r}: cannot reach the Dask scheduler "
                                    f"({type(exc).__name__}: {exc})".replace("\n", " ")
                                    ) from None

    @property
    def workers(self) -> int:
        info = self.client.scheduler_info()
        return max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))

    def __str__(self) -> str:
        return f"the Dask cluster at {self.address} ({self.workers} worker threads)"

    def close(self) -> None:
        """Stop the run still active, if any; disconnect (quietly, also when the scheduler is
        gone)."""
        self._stop()
        with _quiet_distributed(), contextlib.suppress(Exception):
            self.client.close(timeout=self.timeout)

    def _lost(self) -> ExecutorError:
        return ExecutorError(f"lost the Dask scheduler at {self.address}")

    def run(self, fn: Callable[..., Any], units: Iterable[Any], on_progress: Progress,
            shared: Any = None) -> Iterator[tuple[Any, Any]]:
        """``(unit, fn(unit[, shared], report=...))`` as units finish (see the module)."""
        return self._start(self._run(fn, units, on_progress, shared))

    def _run(self, fn: Callable[..., Any], units: Iterable[Any], on_progress: Progress,
             shared: Any) -> Iterator[tuple[Any, Any]]:
        from concurrent.futures import CancelledError

        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        token = secrets.token_hex(8)
        topic, lock = f"{PROGRESS_TOPIC}-{token}", threading.Lock()

        def handler(event: tuple[float, dict[str, Any]]) -> None:
            with lock:
                on_progress(event[1])

        futures: dict[Any, Any] = {}
        with _quiet_distributed(), _stop_signals_raise():
            if self.client.status != "running":
                raise self._lost()
            self.client.subscribe_topic(topic, handler)
            try:
                args = ()
                if shared is not None:
                    try:
                        args = (self.client.scatter(shared, broadcast=True, hash=False),)
                    except TimeoutError as exc:
                        raise ExecutorError(f"the Dask cluster at {self.address}: cannot send "
                                            f"the shared data ({exc})") from None
                for u in units:
                    key = f"{u.key}-{token}" if self.private_keys else str(u.key)
                    fut = self.client.submit(_dask_call, fn, u, topic, *args, key=key,
                                             pure=False)
                    futures[fut] = u
                finished = as_completed(futures, loop=self.client.loop)
                while not finished.is_empty():
                    while not finished.has_ready():
                        if self.client.status != "running":
                            raise self._lost()
                        time.sleep(POLL_SECONDS / 4)
                    fut = next(finished)
                    unit = futures.pop(fut)
                    try:
                        result = fut.result()
                    except CancelledError:
                        raise self._lost() from None
                    except KilledWorker as exc:
                        raise ExecutorError(f"unit {_name(unit)}: its Dask workers kept dying "
                                            f"({exc})".replace("\n", " ")) from None
                    fut.release()
                    yield unit, result
            finally:
                with _signals_held(), contextlib.suppress(Exception):
                    if futures and self.client.status == "running":
                        self.client.cancel(list(futures))
                    self.client.unsubscribe_topic(topic)
