"""The CPUs this process may use, and OpenBLAS held at one thread inside a block (the BPTT
threads and L-BFGS-B need it).

The per-step products of BPTT and the steps of L-BFGS-B are tiny BLAS calls; OpenBLAS threads
that wake for each of them, competing with our own threads for the same two cores, cost far
more than they save (measured: ~8 ms instead of 0.18 ms for a (19901, 8) @ (8, 8) product on a
busy machine, and ~1.4 ms instead of ~10 us for an L-BFGS-B step of a 5-variable problem).
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity mask; ``os.cpu_count()`` elsewhere)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _find_openblas() -> tuple | None:
    """``(get_num_threads, set_num_threads)`` of the OpenBLAS that NumPy loaded, or None."""
    try:
        with open("/proc/self/maps") as f:  # Linux: the shared objects mapped in
            paths = {ln.split()[-1] for ln in f if "openblas" in ln.lower() and ".so" in ln}
    except OSError:
        return None
    names = [
        ("openblas_get_num_threads", "openblas_set_num_threads"),
        ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
        ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
    ]
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for get_name, set_name in names:
            get, set_ = getattr(lib, get_name, None), getattr(lib, set_name, None)
            if get is not None and set_ is not None:
                get.restype, get.argtypes = ctypes.c_int, []
                set_.restype, set_.argtypes = None, [ctypes.c_int]
                return get, set_
    return None


_openblas: tuple | None | bool = False  # False: not looked up yet
_blas_lock = threading.Lock()
_blas_users = 0
_blas_saved = 1


@contextmanager
def single_thread_blas() -> Iterator[None]:
    """Hold OpenBLAS at one thread inside the block (re-entrant across threads).

    A no-op when NumPy's BLAS is not an OpenBLAS found in ``/proc/self/maps``.
    """
    global _openblas, _blas_users, _blas_saved
    with _blas_lock:
        if _openblas is False:
            _openblas = _find_openblas()
        if _openblas is not None:
            if _blas_users == 0:
                _blas_saved = _openblas[0]()
                _openblas[1](1)
            _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            if _openblas is not None:
                _blas_users -= 1
                if _blas_users == 0:
                    _openblas[1](_blas_saved)
