"""Dummy units of work for the executor tests, in a module of their own so that spawned worker
processes and Dask workers can import them: they sleep, report, flood and return; nothing else."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Unit:
    """``key`` names it; the unit sleeps ``seconds``; ``flood`` > 0 sends progress messages of
    that many bytes as fast as it can meanwhile; ``fail`` raises a ``ValueError``."""

    key: str
    seconds: float = 0.0
    flood: int = 0
    fail: bool = False


class Shared:
    """Data shared by all units. Each unpickling appends this process's pid to ``log`` (one
    line per copy received), so a test can count how often it was sent."""

    def __init__(self, tag: str, log: str | os.PathLike) -> None:
        self.tag, self.log = tag, str(log)

    def __getstate__(self) -> dict:
        return {"tag": self.tag, "log": self.log}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        with open(self.log, "a") as f:
            f.write(f"{os.getpid()}\n")


def copies(log: str | os.PathLike) -> list[int]:
    """The pids that received a copy of a :class:`Shared` logging to ``log``."""
    p = Path(log)
    return [int(s) for s in p.read_text().split()] if p.exists() else []


def work(unit: Unit, report) -> dict:
    """Report ``started`` (with the pid), sleep (or flood), return what ran where."""
    report({"key": unit.key, "event": "started", "pid": os.getpid()})
    t_end = time.monotonic() + unit.seconds
    pad = "x" * unit.flood
    while time.monotonic() < t_end:
        if unit.flood:
            report({"key": unit.key, "pad": pad})
        else:
            time.sleep(min(0.05, max(0.0, t_end - time.monotonic())))
    if unit.fail:
        raise ValueError(f"unit {unit.key} failed on purpose")
    return {"key": unit.key, "pid": os.getpid()}


def work_shared(unit: Unit, shared: Shared, report) -> dict:
    """:func:`work`, returning also the tag of the shared data it received."""
    return {**work(unit, report), "tag": shared.tag, "shared_id": id(shared)}


class Poison:
    """Shared data that cannot be loaded in a worker process (unpickling raises)."""

    def __getstate__(self) -> dict:
        return {"poison": True}  # a state, so that unpickling calls __setstate__

    def __setstate__(self, state: dict) -> None:
        raise RuntimeError("this data cannot be loaded here")
