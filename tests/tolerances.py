"""Named tolerances of the test suite, each with the reason for its size.

Rules: floats computed by different code paths are compared with ``assert_allclose`` and one of
these tolerances, never with ``==``/``array_equal`` (SIMD and scalar ``exp``/``log`` differ by
an ulp between CPUs, e.g. with AVX-512); bit-identity is asserted only where it is the property
under test (same code, same inputs: determinism, resume, thread-count independence).
"""

from __future__ import annotations

import numpy as np

#: float64 machine epsilon.
EPS = float(np.finfo(np.float64).eps)

#: The same closed form evaluated through differently vectorised paths (scalar vs array
#: ``exp``/``log``/``expm1``): a few ulps per elementary function, a handful of them chained.
ULPS = 16 * EPS

#: A value against the sum/definition it equals in exact arithmetic (e.g. a geometric series
#: against its closed form, a single pass against the sum of window passes): summation order
#: round-off, growing with the number of terms (~1e4 here).
SUM_RTOL = 1e-10

#: Central finite differences of a smooth float64 objective with step ~1e-6: truncation
#: O(h^2) ~ 1e-12 relative, cancellation O(eps/h) ~ 1e-10 relative.
FD_RTOL = 1e-6
FD_ATOL = 1e-8

#: An optimum against an independently computed optimum (different solver/tolerances).
OPT_RTOL = 1e-6

#: Slack of an upper bound checked on a float64 simulation:
#: ``measured <= bound * (1 + UPPER_RTOL)``.
UPPER_RTOL = 1e-9

#: Absolute slack per unit of the output scale when a simulated difference of two nearly equal
#: outputs (``||y - y'||``, sums of their squares) is checked against a certificate: the
#: difference cancels to ~eps of the outputs, amplified by the ~1e2 steps and terms summed.
ROUND_ATOL = 1e3 * EPS
