"""Exit codes of ``burnin`` and the one place that maps an outcome or an exception to them.

* ``0`` done (certified; every row sound);
* ``1`` not certified, a bound that is not sound, or a study stopped by its cluster;
* ``2`` an input error: a :class:`systems.errors.InputError` (or a subclass) raised while the
  inputs are checked, printed as one line on stderr naming the argument or file;
* ``3`` an internal error: any other exception, printed with its traceback (a bug to report);
* ``130`` interrupted (Ctrl-C, SIGTERM, SIGHUP); finished work is kept.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from systems.errors import InputError

OK, NOT_CERTIFIED, INPUT_ERROR, INTERNAL_ERROR, INTERRUPTED = 0, 1, 2, 3, 130


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its class name if it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class UserError(InputError):
    """An error the user can fix, found by the command line itself; one line, exit code 2."""


@contextmanager
def validating(prefix: str = "") -> Iterator[None]:
    """While the inputs are checked, a ``ValueError``, ``TypeError`` or ``OSError`` from a
    library check is an input error (:class:`UserError`, ``prefix`` + its first line); after
    this block the same exceptions are bugs."""
    try:
        yield
    except InputError:
        raise
    except (ValueError, TypeError, OSError) as exc:
        raise UserError(f"{prefix}{first_line(exc)}") from exc


def guarded(name: str, run: Callable[[], int],
            extra: Callable[[BaseException], str | None] | None = None) -> int:
    """Run a command and map what happens to an exit code (module docstring).

    ``extra(exc)`` may turn another exception into an input error by returning its one-line
    message (``burnin bound``/``certify``: float64 overflow of a model or data set too large).
    """
    try:
        return run()
    except InputError as exc:
        print(f"burnin {name}: error: {first_line(exc)}", file=sys.stderr)
        return INPUT_ERROR
    except KeyboardInterrupt:
        print(f"burnin {name}: interrupted; finished work is kept (rerun to resume)",
              file=sys.stderr)
        return INTERRUPTED
    except Exception as exc:  # noqa: BLE001  (every other exception is reported, then exit 3)
        msg = extra(exc) if extra is not None else None
        if msg is not None:
            print(f"burnin {name}: error: {msg}", file=sys.stderr)
            return INPUT_ERROR
        traceback.print_exc()
        print(f"burnin {name}: internal error ({type(exc).__name__}); this is a bug: please "
              "report it with the traceback above", file=sys.stderr)
        return INTERNAL_ERROR
