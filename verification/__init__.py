"""verification: certify, measure, compare, show -- three rooms, arrows pointing down.

* :mod:`verification.presentation` -- what a person reads: figures, ``report.md``, the
  ``burnin`` CLI. Imports the two rooms below; nothing imports it.
* :mod:`verification.experiment` -- the inputs of the theorems measured on solutions
  (``Delta_0``, ``Delta_01``, ``rho``, ``Delta_b``, ``A_J``, ``B``, coverage), the bound-vs-gap
  table (one row per burn-in ``m``, written atomically, resumable) and the bounds for a user's
  model. Imports :mod:`verification.certificates`, ``bounds`` and ``systems``.
* :mod:`verification.certificates` -- proofs of Assumption A1 and Lipschitz constants (SDP
  plumbing once; LMI-C, LMI-L) and sampled constants, which are estimates and never called
  certified. Imports ``systems`` only.
"""
