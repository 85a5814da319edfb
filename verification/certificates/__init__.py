"""Certificates of Assumption A1 and of Lipschitz constants (docs/theory.md §7).

* :mod:`~verification.certificates.lmi_c` -- LMI-C: contraction rate ``lam`` and ``C`` of an
  Elman RNN, the certified ``(lam, C)`` curve;
* :mod:`~verification.certificates.rate` -- the smallest LMI-C rate from eigenvalues alone (the
  numerical radius of ``D W_hh D^-1``, minimised over the multiplier): no SDP, no certificate;
* :mod:`~verification.certificates.lmi_l` -- LMI-L: incremental l2 gain and one-step constants;
* :mod:`~verification.certificates.sampled` -- sampled constants from simulated pairs: a lower
  estimate, never a certificate.

* :mod:`~verification.certificates.ondata` -- A1 on the data, for every cell: the pairs
  ``(z_i, 0)`` (or segments) the theorems compare, under each window's inputs, with rounding
  enclosed (:mod:`~verification.certificates.tube`, :mod:`~verification.certificates.interval`);
* :mod:`~verification.certificates.gated_global` -- global incremental-ISS conditions for the
  LSTM and GRU (not certified, with the failing quantity, where they fail);
* :mod:`~verification.certificates.sampled_cells` -- sampled constants for every cell (estimates);
* :mod:`~verification.certificates.burn_in` -- a burn-in from one model's constants and bounds.

* :mod:`~verification.certificates.sdp` -- the SDP plumbing every LMI shares: solver order and
  fallback, one rounding-aware float64 PSD re-check, the nudge, the input check.

Every certificate is re-checked in float64 outside the solver and reports its margin; each
result has ``to_dict()`` (plain JSON-ready values). The public API is re-exported here.
"""

from verification.certificates.burn_in import BurnInAdvice, recommend_m
from verification.certificates.gated_global import GlobalCertificate, certify_global
from verification.certificates.lmi_c import (
    Certificate,
    certify,
    curve,
    minimise_over_curve,
)
from verification.certificates.lmi_l import Gain, OneStep, certify_gain, one_step
from verification.certificates.ondata import (
    OnDataCertificate,
    certify_on_data,
    pair_bounds,
    segment_bounds,
    steps_to,
)
from verification.certificates.sampled import Empirical, empirical_constants
from verification.certificates.sampled_cells import sampled_constants, sampled_on_pairs

__all__ = [
    "BurnInAdvice",
    "Certificate",
    "GlobalCertificate",
    "OnDataCertificate",
    "certify_global",
    "certify_on_data",
    "pair_bounds",
    "recommend_m",
    "sampled_constants",
    "sampled_on_pairs",
    "segment_bounds",
    "steps_to",
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
