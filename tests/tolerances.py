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

#: A lambdified sympy statement against the same formula typed out in the test, or a closed
#: form (``expm1``/``log``) against the correctly rounded ``math.fsum`` of its terms: a few
#: dozen ulps (each elementary function ~1 ulp, a handful chained, no cancellation).
FORMULA_RTOL = 1e-12

#: The correctly rounded reference underflowed to 0 (every term below the smallest subnormal);
#: the closed form may keep a subnormal remainder. Far below any value the tests compare.
UNDERFLOW_ATOL = 1e-300

#: Absolute slack of an upper bound checked on a small float64 simulation whose gap can be 0
#: (sums of a few hundred O(1) squares: round-off ~1e-16 each).
UPPER_ATOL = 1e-14

#: A formula with ``1 / (1 - lam)`` (``lam <= 0.999``) against the same formula typed out: the
#: reference's own rounding amplified by up to ``1 / (1 - lam) = 1e3``.
CONDITIONED_RTOL = 1e-9
