"""Where the study's tasks run: local worker processes, or a Dask distributed cluster.

Both executors have one method, ``run(fn, tasks, on_progress)``, a generator of
``(task, result)`` in the order tasks finish, with ``fn(task, report=...)`` a picklable function
(:func:`verification.experiment.study.run_task` with the job bound). Tasks return their results
to the driver, which writes them (:class:`verification.experiment.study.Store`): workers need
the package, not the study folder, and a task that ran twice (its worker died, the scheduler
ran it again) is written once.

* :class:`LocalExecutor`: ``workers`` processes (``spawn``); a worker that dies breaks the pool,
  so the unfinished tasks go to a fresh pool, at most ``retries`` more times each.
* :class:`DaskExecutor`: ``dask.distributed.Client(address)``; the scheduler re-runs a task whose
  worker died (Dask's ``allowed-failures``). Progress travels as worker events
  (``Worker.log_event``) to the client.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_mod
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

PROGRESS_TOPIC = "burnin-study-progress"
Progress = Callable[[dict[str, Any]], None]


class ExecutorError(RuntimeError):
    """A task could not be run (its worker kept dying, or the cluster cannot be reached)."""


# --------------------------------------------------------------------------- local processes
_worker_queue: Any = None


def _init_worker(q: Any) -> None:
    global _worker_queue
    _worker_queue = q


def _put(msg: dict[str, Any]) -> None:
    _worker_queue.put(msg)


def _local_call(fn: Callable[..., Any], task: Any) -> Any:
    return fn(task, report=_put)


def _drain(q: Any, on_progress: Progress) -> None:
    while True:
        try:
            msg = q.get_nowait()
        except queue_mod.Empty:
            return
        on_progress(msg)


class LocalExecutor:
    """Run tasks in ``workers`` local processes (default: one per CPU).

    ``workers=0`` runs them in this process, one after the other (no pool; for debugging).
    """

    def __init__(self, workers: int | None = None, retries: int = 2) -> None:
        if workers is not None and (isinstance(workers, bool) or int(workers) < 0):
            raise ValueError(f"--workers {workers!r} must be an integer >= 0")
        self.workers = (os.cpu_count() or 1) if workers is None else int(workers)
        self.retries = int(retries)

    def __str__(self) -> str:
        if self.workers == 0:
            return "this process"
        return f"{self.workers} local worker process{'es' if self.workers != 1 else ''}"

    def close(self) -> None:
        """Nothing to release (pools live for one :meth:`run`)."""

    def run(self, fn: Callable[..., Any], tasks: Sequence[Any], on_progress: Progress
            ) -> Iterator[tuple[Any, Any]]:
        if self.workers == 0:
            for t in tasks:
                yield t, fn(t, report=on_progress)
            return
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        deaths: Counter = Counter()
        todo = list(tasks)
        while todo:
            pool = ProcessPoolExecutor(max_workers=min(self.workers, len(todo)), mp_context=ctx,
                                       initializer=_init_worker, initargs=(q,))
            try:
                futures = {pool.submit(_local_call, fn, t): t for t in todo}
                todo, left = [], set(futures)
                while left:
                    done, left = wait(left, timeout=0.25, return_when=FIRST_COMPLETED)
                    _drain(q, on_progress)
                    for f in done:
                        task = futures[f]
                        try:
                            result = f.result()
                        except BrokenProcessPool:
                            deaths[task] += 1
                            if deaths[task] > self.retries:
                                raise ExecutorError(
                                    f"task {task.key}: a worker process died {deaths[task]} "
                                    "times while it was pending or running") from None
                            todo.append(task)
                            continue
                        yield task, result
            finally:
                pool.shutdown(wait=False, cancel_futures=True)
            _drain(q, on_progress)


# --------------------------------------------------------------------------- Dask
def _dask_report(msg: dict[str, Any]) -> None:
    from distributed import get_worker

    w = get_worker()
    w.log_event(PROGRESS_TOPIC, {**msg, "worker": w.address})


def _dask_call(fn: Callable[..., Any], task: Any) -> Any:
    return fn(task, report=_dask_report)


class DaskExecutor:
    """Run tasks on the Dask distributed cluster whose scheduler listens at ``address``.

    Connecting happens here, so an unreachable scheduler fails before any work (within
    ``timeout`` seconds). Needs the optional extra: ``pip install "burnin[dask]"``.
    """

    def __init__(self, address: str, timeout: float = 10.0) -> None:
        try:
            from distributed import Client
        except ImportError as exc:
            raise ExecutorError("--scheduler needs Dask: pip install \"burnin[dask]\"") from exc
        self.address = address
        try:
            self.client = Client(address, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ExecutorError(f"--scheduler {address!r}: cannot reach the Dask scheduler "
                                f"({type(exc).__name__}: {exc})".replace("\n", " ")) from None

    @property
    def workers(self) -> int:
        info = self.client.scheduler_info()
        return max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))

    def __str__(self) -> str:
        return f"the Dask cluster at {self.address} ({self.workers} worker threads)"

    def close(self) -> None:
        self.client.close()

    def run(self, fn: Callable[..., Any], tasks: Sequence[Any], on_progress: Progress
            ) -> Iterator[tuple[Any, Any]]:
        from distributed import as_completed

        lock = threading.Lock()

        def handler(event: tuple[float, dict[str, Any]]) -> None:
            with lock:
                on_progress(event[1])

        self.client.subscribe_topic(PROGRESS_TOPIC, handler)
        try:
            futures = {
                self.client.submit(_dask_call, fn, t, key=f"burnin-{t.key}", pure=False): t
                for t in tasks
            }
            for fut in as_completed(futures):
                task = futures[fut]
                try:
                    result = fut.result()
                except Exception as exc:
                    raise ExecutorError(f"task {task.key} failed on the cluster: "
                                        f"{type(exc).__name__}: {exc}") from exc
                yield task, result
        finally:
            self.client.unsubscribe_topic(PROGRESS_TOPIC)
