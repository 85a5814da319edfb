"""Numbers as text, once: the cell formatter and the tables built from it.

Every number a person reads (report tables, the ``burnin bound`` table, figure labels) goes
through :func:`fmt`, so ``n/a``, ``inf`` and the number of digits mean the same everywhere.

Examples
--------
>>> [fmt(v) for v in (0.000123456, float("nan"), None, True, 7, float("inf"))]
['0.000123', 'n/a', 'n/a', 'yes', '7', 'inf']
>>> print(text_table([{"m": 0, "V": 0.5}], [("m", "m"), ("V", "V(0)")], width=5))
    m   V(0)
    0    0.5
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["fmt", "markdown_table", "text_table"]

#: A table column: the row key and the heading shown for it.
Column = tuple[str, str]


def fmt(v: Any, digits: int = 3) -> str:
    """A cell: floats in ``digits`` significant digits, NaN/None as 'n/a', booleans as yes/NO."""
    if v is None:
        return "n/a"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "NO"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(f):
        return "n/a"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    return f"{f:.{digits}g}"


def markdown_table(rows: Iterable[Mapping[str, Any]], cols: Sequence[Column]) -> str:
    """A GitHub-markdown table of ``rows`` (one per line), numbers right-aligned."""
    head = "| " + " | ".join(h for _, h in cols) + " |"
    sep = "|" + "|".join("---:" for _ in cols) + "|"
    body = ["| " + " | ".join(fmt(r.get(k)) for k, _ in cols) + " |" for r in rows]
    return "\n".join([head, sep, *body])


def text_table(rows: Iterable[Mapping[str, Any]], cols: Sequence[Column], width: int = 10
               ) -> str:
    """A plain-text table for a terminal: right-aligned columns at least ``width`` wide."""
    widths = [max(len(h), width) for _, h in cols]
    lines = ["  ".join(h.rjust(w) for (_, h), w in zip(cols, widths, strict=True))]
    lines += ["  ".join(fmt(r.get(k)).rjust(w) for (k, _), w in zip(cols, widths, strict=True))
              for r in rows]
    return "\n".join(lines)
