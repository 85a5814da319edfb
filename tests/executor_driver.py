"""A driver for the executor tests, run as a subprocess (``python -m tests.executor_driver``) so
a test can signal or kill it: it runs dummy units and handles interrupts the way ``burnin study``
should (one line on stderr, exit 128 + signal number).

stdout, one line each, flushed: ``driver PID``, ``worker PID`` for each unit that starts,
``finished KEY`` for each result.
"""

from __future__ import annotations

import argparse
import signal
import sys

from tests.executor_jobs import Unit, work
from verification.experiment.executors import (
    DaskExecutor,
    ExecutorError,
    LocalExecutor,
    Terminated,
)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scheduler", default=None)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--first", type=float, default=0.3, help="seconds of the first unit")
    ap.add_argument("--seconds", type=float, default=60.0, help="seconds of the other units")
    ap.add_argument("--units", type=int, default=4)
    ap.add_argument("--flood", type=int, default=0)
    a = ap.parse_args()
    print(f"driver {__import__('os').getpid()}", flush=True)
    units = [Unit(f"u{i}", a.first if i == 0 else a.seconds, flood=0 if i == 0 else a.flood)
             for i in range(a.units)]
    seen: set[int] = set()

    def on_progress(msg: dict) -> None:
        if msg.get("event") == "started" and msg["pid"] not in seen:
            seen.add(msg["pid"])
            print(f"worker {msg['pid']}", flush=True)

    executor = None
    try:
        executor = (DaskExecutor(a.scheduler, timeout=a.timeout) if a.scheduler
                    else LocalExecutor(a.workers))
        for unit, _ in executor.run(work, units, on_progress):
            print(f"finished {unit.key}", flush=True)
    except Terminated as exc:
        print(f"driver: {exc}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("driver: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except ExecutorError as exc:
        print(f"driver: error: {exc}", file=sys.stderr)
        return 1
    finally:
        if executor is not None:
            executor.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
