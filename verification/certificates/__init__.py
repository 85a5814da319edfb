"""Certificates of Assumption A1 and of Lipschitz constants (THEORY.md §7).

* :mod:`~verification.certificates.lmi_c` -- LMI-C: contraction rate ``lam`` and ``C`` of an
  Elman RNN, the certified ``(lam, C)`` curve;
* :mod:`~verification.certificates.lmi_l` -- LMI-L: incremental l2 gain and one-step constants;
* :mod:`~verification.certificates.sampled` -- sampled constants from simulated pairs: a lower
  estimate, never a certificate.

Every certificate is re-checked in float64 outside the solver and reports its margin.
"""
