"""The one error class for input a user can fix, shared by every layer above ``systems``.

The command line maps it to one line on stderr and exit code 2; any other exception is a bug
and ends in a traceback with exit code 3 (see ``verification.presentation.cli``). Raise it (or a
subclass) from validation only: where a file, an argument or a data set is wrong, and the
message names that file or argument and what would be accepted.

>>> issubclass(InputError, ValueError)
True
"""

from __future__ import annotations


class InputError(ValueError):
    """Input the user can fix (a file, an argument, data); the message is one line naming it.

    A ``ValueError``, so callers that catch ``ValueError`` keep working.
    """
