"""What a person reads: figures, ``report.md`` and the ``burnin`` command line.

* :mod:`~verification.presentation.text` -- the one number formatter (:func:`fmt`) and the
  markdown/terminal tables built on it;
* :mod:`~verification.presentation.figures` -- the figures of a gap table; ``FIGURES`` is the
  one list of figure names, each with its builder and caption;
* :mod:`~verification.presentation.report` -- ``report.md`` of ``burnin reproduce``;
* :mod:`~verification.presentation.cli` -- ``burnin``: a thin ``main(argv)`` that checks every
  input before any work or output and maps input errors to one line and exit code 2.

Imports :mod:`verification.experiment` (the table) and the library below it; nothing imports it.
"""
