"""What a person reads: figures, ``report.md`` and the ``burnin`` command line."""
