"""Certificates of Assumption A1 and of Lipschitz constants (THEORY.md §7).

* :mod:`~verification.certificates.lmi_c` -- LMI-C: contraction rate ``lam`` and ``C`` of an
  Elman RNN, the certified ``(lam, C)`` curve;
* :mod:`~verification.certificates.lmi_l` -- LMI-L: incremental l2 gain and one-step constants;
* :mod:`~verification.certificates.sampled` -- sampled constants from simulated pairs: a lower
  estimate, never a certificate.

* :mod:`~verification.certificates.sdp` -- the SDP plumbing every LMI shares: solver order and
  fallback, one rounding-aware float64 PSD re-check, the nudge, the input check.

Every certificate is re-checked in float64 outside the solver and reports its margin; each
result has ``to_dict()`` (plain JSON-ready values). The public API is re-exported here.
"""

from verification.certificates.lmi_c import (
    Certificate,
    certify,
    curve,
    minimise_over_curve,
)
from verification.certificates.lmi_l import Gain, OneStep, certify_gain, one_step
from verification.certificates.sampled import Empirical, empirical_constants

__all__ = [
    "Certificate",
    "Empirical",
    "Gain",
    "OneStep",
    "certify",
    "certify_gain",
    "curve",
    "empirical_constants",
    "minimise_over_curve",
    "one_step",
]
