"""On-data certificates of Assumption A1 for Elman, LSTM and GRU cells (docs/theory.md §3).

Where T1/T2 use A1 they compare, window by window, the trajectory started at ``0`` with one
started at a state ``z_i`` (``Delta_0``, ``Delta_b``), under that window's inputs ``X_i``. This
module proves

    ||y_j(a; X_i) - y_j(b; X_i)|| <= G_j ||a - b||,   j = 1..N,                         (A1-D)

for exactly those pairs: ``pairs="pair"``: ``(a, b) = (z_i, 0)``; ``pairs="segment"``: every
``a, b`` on the segment from ``0`` to ``z_i``; for every window ``i``. ``G_j`` is the certified
per-step envelope and ``(lam, C)`` with ``C lam**j >= G_j`` for all ``j <= N`` is A1 on these
pairs.

The proof (all arrays, windows x pieces at once)

1. Mean value form. With ``u = z_i / ||z_i||`` and the tangent ``v_j(s) = dz_j/dz_0 u`` at
   ``s u``, ``y_j(a) - y_j(b) = W_y int_b^a v_j(s) ds``, so
   ``||y_j(a) - y_j(b)|| <= sup_s ||W_y v_j(s)|| ||a - b||`` (segment) and
   ``||y_j(z_i) - y_j(0)|| <= ||mean_s W_y v_j(s)|| ||z_i||`` (pair).
2. Pieces. The segment is cut into ``K`` pieces of half-width ``delta = ||z_i|| / (2K)`` with
   centres ``c_k``; on a piece the initial state is ``c_k + s delta u``, ``|s| <= 1``, and
   ``dz_t / ds = delta v_t(s)``.
3. Taylor model of the tangent (:mod:`~verification.certificates.taylor`, degree ``D = 2`` by
   default). Write ``v_t(s) = P_t(s) + r_t(s)`` with ``P_t(s) = sum_(k<=D) a_(t,k) s**k``:
   ``a_(t,0) = vc_t`` is the tangent at the piece centre, ``a_(t,1) = delta (D^2 f[vc, vc] +
   J w)`` the second directional derivative of the flow along the segment (``w_t =
   D^2 f[vc_(t-1), vc_(t-1)] + J_t w_(t-1)``), ``a_(t,2)`` half the third, all exact and
   signed (no absolute values), computed from the cell's formula by Taylor-model arithmetic:
   ``(P_t, eps_t)`` is the Taylor model of ``J(z_(t-1)(s)) P_(t-1)(s)`` over the tube

       z_(t-1)(s) in zc + delta sum_k a_(t-1,k) s**(k+1) / (k+1) + ball(delta E + R)   (TZ)

   (integrate ``dz/ds = delta v`` from the centre; ``||int r|| <= E``; ``R`` the float error of
   the traced centre), so ``|J(z(s)) P_(t-1)(s) - P_t(s)| <= eps_t`` componentwise for every
   ``|s| <= 1``. With ``Jc_t`` the model's Jacobian at the centre,

       r_t(s) = Jc_t r_(t-1)(s) + rho_t(s),
       rho_t(s) = (J(z_(t-1)(s)) - Jc_t) r_(t-1)(s) + (J(z_(t-1)(s)) P_(t-1)(s) - P_t(s)),

   ``||rho_t|| <= beta_t = Dn_t E_(t-1) + ||eps_t||``, where ``Dn_t`` bounds ``||J(z) - Jc_t||_2``
   over the tube (:mod:`~verification.certificates.tube`). So ``r_t = sum_s Phi(t, s) rho_s``
   with ``Phi`` the signed products of the centre Jacobians, and Cauchy-Schwarz gives

       ||r_t|| <= sqrt(sum_s beta_s) sqrt(tr Q_t),   Q_t = Jc_t Q_(t-1) Jc_t^T + beta_t I

   (:class:`_Ellipsoid`; ``||W_y r_t||`` likewise with ``W_y Q_t W_y^T``): the remainder is
   propagated through the signed centre products, only its size enters in absolute value. Then

       sup_s ||W_y v_t(s)|| <= sup_s ||W_y P_t(s)|| + ||W_y r_t||,

   the first term exact (:func:`_poly_sup`: the norm of an affine function is convex, its
   maximum is at ``s = +-1``; a quadratic with one output peaks at an end or at its vertex).
   ``eps_t`` is of order ``delta**(D+1)``: only the third-order remainder of the flow is
   enclosed (``D = 1`` encloses the second-order one; the plain centred form used before,
   which also enclosed the Jacobian's first-order movement, diverged on the authors' LSTMs at
   64-128 pieces). The traced centre's own float error ``d_t`` obeys ``d_t = Jc_t d_(t-1) +
   (Jbar_t - Jc_t) d_(t-1) + eps_step`` and is bounded by the same ellipsoid.
4. Refinement. All windows start with ``pieces`` pieces; a window whose bound exceeds the
   largest lower bound at some ``j`` (simulated pairs, centre tangents) by more than ``tol`` gets
   its ``K`` doubled, up to ``max_pieces``. Windows that do not set the maximum are never refined.
5. Rounding. Every enclosure step is rounded outward (:mod:`~verification.certificates.interval`).
   The traced states (pairs and piece centres alike) are computed by
   :func:`~verification.certificates.step_error.step`, which returns with each step the bound
   of its float error (``eps_t``; its docstring has the proof: pre-activation with the input and
   bias terms, activations, state update); the float error of the model's ``jacobian`` is part
   of :func:`~verification.certificates.tube.jacobian_deviation`; matrix-vector products by
   Higham's ``gamma_n`` (:func:`~verification.certificates.interval.gamma`); in the Taylor
   models every computed coefficient's error goes to ``eps_t`` (``taylor.RND``, and each
   activation derivative's own bound from :func:`~verification.certificates.interval.derivatives`);
   the remainder's own evaluation is inflated by ``Q_REL``.

The result (:class:`OnDataCertificate`) states its pairs, inputs and region; ``verified`` is True
when at least ``min_pairs`` windows have ``z_i != 0`` (pairs ``(0, 0)`` hold A1 trivially and are
left out of the envelope; none at all certifies nothing), ``N >= 2`` (one step has no rate),
every ``G_j`` is finite and the fitted ``lam < 1`` with a finite ``C``: the ``fit`` rule, or,
where the envelope's tail is its float-error floor (it ends ``FLOOR_GAP`` times above the
witnesses) and that fit follows it, or where that fit gives ``lam >= 1`` although
``G_N < G_1``, :func:`fewest_steps_fit` (``lam`` at least the envelope's net rate). Otherwise
``lam = C = nan`` and ``reason`` says which condition failed.

Examples
--------
>>> import numpy as np
>>> from systems.rnn import ElmanRNN
>>> m = ElmanRNN([[0.5]], [[1.0]], None, [[2.0]], None, activation="linear")
>>> cert = certify_on_data(m, np.zeros((3, 5, 1)), np.ones((3, 1)))
>>> cert.verified, round(cert.lam, 6), round(cert.C, 6)
(True, 0.5, 2.0)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize_scalar

from systems.errors import InputError
from verification.certificates import interval
from verification.certificates.interval import up
from verification.certificates.sampled import fit_envelope
from verification.certificates.step_error import step as step_enclosure
from verification.certificates.taylor import DEGREES, RND, TM, tangent_model
from verification.certificates.tube import cell_of, jacobian_deviation, spectral_upper

EPS = float(np.finfo(np.float64).eps)
#: Relative inflation of the remainder terms (float error of ``Q_t`` and its traces).
Q_REL = 1e-9
PAIRS = ("pair", "segment")
#: The envelope's last value above this many times the largest witness (simulated pair or
#: centre tangent) marks its tail as float-error floor (:func:`certify_on_data`).
FLOOR_GAP = 10.0
#: Decay level of "steps to 1%": the smallest ``j`` with ``C lam**j <= LEVEL``.
LEVEL = 0.01
#: Fewest pairs with a separation (``z_i != 0``) a certificate needs (``min_pairs``).
MIN_PAIRS = 1


@dataclass(frozen=True, eq=False)
class OnDataCertificate:
    """A1 on the pairs the bounds compare, on given input windows (kind ``"on-data"``).

    Attributes
    ----------
    lam, C : float
        ``C lam**j >= envelope[j - 1]`` for ``j = 1..N`` (``nan`` when not verified).
    verified : bool
        At least ``min_pairs`` windows with ``z_i != 0``, ``N >= 2``, every ``envelope`` entry
        finite, ``lam < 1`` and ``C`` finite.
    envelope : (N,) ndarray
        Certified ``G_j`` of (A1-D): the largest ratio over all windows and pairs (windows
        with ``z_i = 0`` left out; all zero if there is no other).
    lower : (N,) ndarray
        Largest ratio of simulated pairs (a witness: ``lower <= envelope`` always).
    pairs : ``"pair"`` or ``"segment"``
    region : str
        The pairs and inputs in words.
    cell : str
    n_windows : int
    pieces : (S,) int ndarray
        Pieces used per window after refinement (1 for ``"pair"``; 0 where ``z_i = 0``: no
        pair to bound).
    seconds : float
    kind : str
        Always ``"on-data"``.
    reason : str
        ``"certified..."`` or why not.
    extra : dict
        ``rounds`` (refinement: pieces, windows, windows still over), ``pairs_separated``
        (windows with ``z_i != 0``), ``fit`` (``"fewest_steps"`` where that fit was taken).
    """

    lam: float
    C: float
    verified: bool
    envelope: np.ndarray
    lower: np.ndarray
    pairs: str
    region: str
    cell: str
    n_windows: int
    pieces: np.ndarray
    seconds: float
    kind: str = "on-data"
    reason: str = ""
    extra: dict = field(default_factory=dict)

    def C_at(self, lam: float) -> float:
        """Smallest ``C`` with ``C lam**j >= envelope_j`` for all ``j`` (any ``lam > 0``)."""
        return cover_C(self.envelope, float(lam))

    @property
    def steps_to_level(self) -> float:
        """Smallest ``j >= 1`` with ``C lam**j <= LEVEL`` (``inf`` if not verified)."""
        return steps_to(self.lam, self.C)


def fewest_steps_fit(G: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """``(lam, C)`` with ``C lam**j >= G_j`` for every ``j = 1..N`` and the fewest steps to
    ``level`` (:func:`steps_to`), over ``lam_net <= lam < 1``; ``C = max_j G_j / lam**j``.
    ``lam_net = (G_N / G_1)**(1 / (N - 1))`` is the envelope's net rate: below it ``C`` is set
    by ``G_N`` alone and grows without bound as ``lam`` falls (fewer "steps" bought with a
    useless ``C``).

    The fallback of :func:`certify_on_data` for a certified envelope that decays and then sits
    on its float-error floor (long windows of fast-forgetting models: the floor ~1e-8 of the
    traced pairs at ``j`` up to 1000): a log-linear fit then follows the floor to
    ``lam >= 1``, while a ``lam`` just below 1 with a moderate ``C`` covers the whole envelope.

    Parameters
    ----------
    G : (N,) finite, non-negative envelope with ``0 < G_N < G_1``, ``N >= 2`` (else
        ``InputError``: an all-zero, non-finite, non-decaying or one-step envelope has no rate)
    level : in ``(0, 1)``

    Returns
    -------
    (lam, C) : ``lam`` in ``(0, 1)`` (``1.0`` only if ``G_N / G_1`` is within rounding of 1:
        no rate); ``C`` rounded up
    """
    G = np.asarray(G, dtype=np.float64)
    if not (G.ndim == 1 and G.size >= 2 and np.all(np.isfinite(G)) and np.all(G >= 0)
            and 0 < G[-1] < G[0]):
        raise InputError("G must be a finite, non-negative envelope of N >= 2 steps with "
                         f"0 < G_N < G_1, got shape {G.shape}")
    if not 0 < level < 1:
        raise InputError(f"level must be in (0, 1), got {level}")
    j = np.arange(1, G.size + 1, dtype=np.float64)
    pos = G > 0
    lg, jp = np.log(G[pos]), j[pos]

    def steps(x: float) -> float:  # x = -log(lam) > 0: (log C - log level) / x, at least 1
        return max(float(np.max(lg + jp * x)) - np.log(level), x) / x

    x_hi = float(np.log(G[0] / G[-1]) / (G.size - 1))  # -log(lam_net)
    xs = np.geomspace(min(1e-9, x_hi / 2), x_hi, 801)
    k = int(np.argmin([steps(x) for x in xs]))
    res = minimize_scalar(steps, bounds=(xs[max(k - 1, 0)], xs[min(k + 1, xs.size - 1)]),
                          method="bounded", options={"xatol": 1e-12})
    x = float(res.x) if res.fun <= steps(xs[k]) else float(xs[k])
    lam = float(np.exp(-x))
    return lam, cover_C(G, lam)


def steps_to(lam: float, C: float, level: float = LEVEL) -> float:
    """Smallest integer ``j >= 1`` with ``C lam**j <= level``; ``inf`` if ``lam >= 1``."""
    if not (np.isfinite(lam) and np.isfinite(C)) or lam >= 1.0:
        return np.inf
    if C <= level:
        return 1.0
    return float(max(1, int(np.ceil(np.log(level / C) / np.log(lam)))))


# ------------------------------------------------------------------------- dynamics
def separations(z0: np.ndarray) -> np.ndarray:
    """``||z0_i||`` per row, (S,): scaled by the largest entry first, so that states below
    ~1e-154 (whose squares underflow: ``np.linalg.norm`` returns 0) keep their separation."""
    z0 = np.asarray(z0, dtype=np.float64)
    top = np.max(np.abs(z0), axis=1)
    safe = np.where(top > 0, top, 1.0)
    return top * np.linalg.norm(z0 / safe[:, None], axis=1)


def dynamics(model: object) -> tuple:
    """``(step, jacobian, W_y, n_z)`` of a cell with the ``systems`` model interface."""
    for name in ("step", "jacobian", "output_matrix", "n_z", "n_x"):
        if not hasattr(model, name):
            raise TypeError(f"model must have the systems model interface; it lacks {name!r}")
    return model.step, model.jacobian, np.asarray(model.output_matrix, float), int(model.n_z)


def simulate_pairs(model: object, X: np.ndarray, z0: np.ndarray) -> np.ndarray:
    """``||y_j(z0_i) - y_j(0)|| / ||z0_i||`` for every window ``i`` and ``j = 1..N``: (S, N).

    Plain float64 simulation (a witness, not a bound); ``0`` where ``z0_i = 0``.
    """
    step, _, W_y, _ = dynamics(model)
    S, N, _ = X.shape
    za, zb = z0.copy(), np.zeros_like(z0)
    out = np.empty((S, N))
    nrm = separations(z0)
    safe = np.where(nrm > 0, nrm, 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(N):
            za, zb = step(za, X[:, t]), step(zb, X[:, t])
            out[:, t] = np.linalg.norm((za - zb) @ W_y.T, axis=1) / safe
    return np.where(nrm[:, None] > 0, out, 0.0)


class _Ellipsoid:
    """Outer ellipsoid of ``e_t = sum_s Phi(t, s) w_s``, ``||w_s|| <= beta_s`` (all ``B`` at once).

    ``Phi(t, s) = J_t ... J_{s+1}`` (exact signed products). For weights ``p_s > 0`` with
    ``sum_s p_s <= 1``, ``|y^T e| <= sum_s beta_s ||Phi^T y|| <= sqrt(y^T Q y)`` with
    ``Q = sum_s beta_s**2 / p_s Phi Phi^T`` (Cauchy-Schwarz), so ``||e|| <= sqrt(lam_max(Q))``
    and ``||W e|| <= sqrt(lam_max(W Q W^T))``. With ``p_s = beta_s gamma**(t-s) / P_t``:
    ``Q_t = P_t M_t``, ``P_t = gamma P_{t-1} + beta_t``,
    ``M_t = J_t M_{t-1} J_t^T / gamma + beta_t I`` (exact for ``||Phi(t, s)|| = gamma**(t-s)``).
    ``lam_max(M) <= max_i (|M| d)_i / d_i`` for any ``d > 0`` (Collatz-Wielandt; ``d`` follows
    the top eigenvector by one power step per ``t``).
    """

    def __init__(self, B: int, n: int, gamma: float) -> None:
        self.M = np.zeros((B, n, n))
        self.P = np.zeros(B)
        self.d = np.ones((B, n))
        self.gamma = float(gamma)
        self._diag = np.eye(n, dtype=bool)

    def push(self, J: np.ndarray, beta: np.ndarray) -> None:
        M = np.matmul(np.matmul(J, self.M), J.transpose(0, 2, 1))
        if self.gamma != 1.0:
            M /= self.gamma
        M[:, self._diag] += beta[:, None]
        self.M = M
        self.P = up(self.gamma * self.P + beta)

    def radius(self) -> np.ndarray:
        """Upper bound of ``||e_t||``: (B,)."""
        A = np.abs(self.M)
        Ad = np.einsum("bij,bj->bi", A, self.d)
        lam = np.max(Ad / self.d, axis=1)
        top = Ad.max(axis=1, keepdims=True)
        self.d = np.maximum(Ad / np.where(top > 0, top, 1.0), 1e-6)
        return up(np.sqrt(self.P * lam * (1.0 + Q_REL)))

    def out_radius(self, W_y: np.ndarray) -> np.ndarray:
        """Upper bound of ``||W_y e_t||`` (trace of ``W_y Q W_y^T``, exact for ``n_y = 1``)."""
        WQW = np.einsum("yi,bij,yj->b", W_y, self.M, W_y)
        return up(np.sqrt(self.P * np.maximum(WQW, 0.0) * (1.0 + Q_REL)))


# --------------------------------------------------------------------------- pair bound
def pair_bounds(model: object, X: np.ndarray, z0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Certified ``||y_j(z0_i) - y_j(0)|| / ||z0_i||`` per window: the two traced trajectories
    plus a rigorous enclosure of their float error.

    The true trajectory ``z_t`` and the computed ``zh_t`` differ by ``d_t`` with
    ``d_t = Jh_t d_{t-1} + w_t``, ``w_t = (Jbar_t - Jh_t) d_{t-1} + eps_t`` (``Jbar`` the
    mean-value Jacobian on ``[zh, z]``, ``eps_t`` the float error of one step,
    :func:`~verification.certificates.step_error.step`), so
    ``||w_t|| <= ||Dev(ball R_{t-1})||_2 R_{t-1} + eps_t`` and ``R_t`` follows from
    :class:`_Ellipsoid`. Then ``||y_j(a) - y_j(b)|| <= ||W_y (zh_a - zh_b)|| + ||W_y||_2
    (R_a + R_b)`` (+ the float error of that product).

    Parameters
    ----------
    model : a cell
    X : (S, N, n_x)
    z0 : (S, n_z)

    Returns
    -------
    bound : (S, N) certified ratios
    simulated : (S, N) the float ratios (witnesses)
    """
    _, jac, W_y, n = dynamics(model)
    S, N, _ = X.shape
    nrm = separations(z0)
    safe = np.where(nrm > 0, nrm, 1.0)
    zh = np.concatenate([z0, np.zeros_like(z0)])  # (2S, n): a-trajectories then b
    xs = np.concatenate([X, X])
    ell = _Ellipsoid(2 * S, n, 1.0)
    R = np.zeros(2 * S)
    W2 = float(up(np.linalg.norm(W_y, 2)))
    WF = float(np.linalg.norm(W_y))
    bound, sim = np.empty((S, N)), np.empty((S, N))
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(N):
            xt = xs[:, t]
            st = step_enclosure(model, zh, xt)
            Dn = spectral_upper(jacobian_deviation(model, zh, xt, np.zeros_like(zh), R,
                                                   crude=True, pre=st.pre))
            ell.push(jac(zh, xt), up(Dn * R + np.linalg.norm(st.err, axis=1)))
            R = ell.radius()
            zh = st.z
            dz = zh[:S] - zh[S:]
            dy = np.linalg.norm(dz @ W_y.T, axis=1)
            sim[:, t] = dy / safe
            # float error of W_y dz, and of dz itself (one subtraction)
            err = 2.0 * interval.gamma(W_y.shape[1]) * WF * np.linalg.norm(dz, axis=1)
            bound[:, t] = up((dy + err + W2 * (R[:S] + R[S:])) / safe * (1.0 + 4 * EPS))
    bound = np.where(np.isnan(bound), np.inf, bound)
    zero = nrm == 0
    bound[zero], sim[zero] = 0.0, 0.0
    return bound, sim


# ------------------------------------------------------------------ segment bound, K pieces
def segment_bounds(model: object, X: np.ndarray, z0: np.ndarray, K: int,
                   gamma: float = 1.0, degree: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Certified ``sup ||y_j(a) - y_j(b)|| / ||a - b||`` over ``a, b`` in ``[0, z0_i]``, K pieces.

    Parameters
    ----------
    model : a cell (``elman``, ``lstm``, ``gru``)
    X : (S, N, n_x) input windows
    z0 : (S, n_z) the non-zero end of each window's segment
    K : pieces per segment (>= 1)
    gamma : forgetting factor of :class:`_Ellipsoid` in ``(0, 1]`` (best near the rate at which
        products of Jacobians decay; any value gives a valid bound)
    degree : degree of the tangent's Taylor model in the piece's parameter (2: the enclosed
        remainder is third order in the piece width; 1: second order)

    Returns
    -------
    bound : (S, N) certified ratios (``inf`` where the enclosure diverged)
    centre : (S, N) ``max_k ||W_y vc_j||``: the tangents at the piece centres (witnesses, up
        to float error)
    """
    bound, centre, _ = segment_parts(model, X, z0, K, gamma, degree)
    return bound, centre


def _poly_sup(Wa: list[np.ndarray]) -> np.ndarray:
    """Upper bound of ``max_(|s| <= 1) ||sum_k Wa_k s**k||`` for degree 1 or 2: (B,).

    Degree 1: the norm of an affine function is convex, its maximum is at ``s = +-1``.
    Degree 2, one output: ``|a + b s + c s**2|`` peaks at ``s = +-1`` or at the vertex
    ``-b / (2 c)`` (where it is ``|a - b**2 / (4 c)|``); several outputs: ``s**2 = 1/2 + (s**2
    - 1/2)`` gives ``max_(s = +-1) ||a + b s + c / 2|| + ||c|| / 2``. Float error not included.
    """
    if len(Wa) == 2:
        a, b = Wa
        return np.maximum(np.linalg.norm(a + b, axis=1), np.linalg.norm(a - b, axis=1))
    a, b, c = Wa
    if a.shape[1] == 1:
        a, b, c = a[:, 0], b[:, 0], c[:, 0]
        ends = np.maximum(np.abs(a + b + c), np.abs(a - b + c))
        with np.errstate(divide="ignore", invalid="ignore"):
            inside = (np.abs(b) <= 2.0 * np.abs(c)) & (c != 0.0)
            vertex = np.where(inside, np.abs(a - b * b / np.where(inside, 4.0 * c, 1.0)), 0.0)
        return np.maximum(ends, vertex)
    h = a + c / 2.0
    return (np.maximum(np.linalg.norm(h + b, axis=1), np.linalg.norm(h - b, axis=1))
            + np.linalg.norm(c, axis=1) / 2.0)


def segment_parts(model: object, X: np.ndarray, z0: np.ndarray, K: int,
                  gamma: float = 1.0, degree: int = 2
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`segment_bounds` and its polynomial part ``max_k sup_s ||W_y P_k(s)||``.

    ``bound - spread`` is the enclosed remainder (steps 3-4 of the module docstring);
    ``spread - centre`` the spread of the tangent over a piece to order ``degree``.
    Returns ``(bound, centre, spread)``, each (S, N).
    """
    if degree not in DEGREES:
        raise ValueError(f"degree must be one of {DEGREES}, got {degree}")
    _, jac, W_y, n = dynamics(model)
    S, N, _ = X.shape
    nrm = separations(z0)
    safe = np.where(nrm > 0, nrm, 1.0)
    u = z0 / safe[:, None]
    delta = up(safe / (2.0 * K))
    frac = (np.arange(K) + 0.5) / K
    B = S * K
    zc = (z0[:, None, :] * frac[None, :, None]).reshape(B, n)
    vc = np.repeat(u, K, axis=0)
    zero = np.zeros_like(vc)
    V = TM((vc,) + (zero,) * degree, zero)  # the tangent's polynomial part; e is carried by E
    dl = np.repeat(delta, K)[:, None]
    widx = np.repeat(np.arange(S), K)
    # r: tangent remainder (starts at the float error of u); d: state error of the traced centre
    # (starts at the float error of the centres). Both are sums of Phi(t, s) w_s with their
    # own w_s; one ellipsoid with weights beta_s >= rho_s bounds both by Cauchy-Schwarz:
    # sum ||Phi|| rho_s <= sqrt(sum rho_s**2 / beta_s) sqrt(sum beta_s ||Phi||**2).
    beta0 = np.full(B, up(4.0 * EPS * (1.0 + np.sqrt(n))))
    rho0 = np.minimum(up(4.0 * EPS * np.repeat(safe, K)), beta0)
    ell = _Ellipsoid(B, n, gamma)
    ell.push(np.broadcast_to(np.eye(n), (B, n, n)), beta0)
    Rsum = up(rho0 * (rho0 / beta0))
    E = ell.radius()
    R = up(E * np.sqrt(Rsum / ell.P))
    WF = float(np.linalg.norm(W_y))
    bound, centre, spread = np.empty((S, N)), np.empty((S, N)), np.empty((S, N))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for t in range(N):
            xt = X[widx, t]
            # z_{t-1}(s) = zc + delta sum_k a_k s**(k+1) / (k+1) + ball(delta E + R)   (TZ)
            za = [dl * V.a[k] / (k + 1) for k in range(degree + 1)]
            Z = TM((zc,) + tuple(za[:degree]),
                   up(dl * np.abs(V.a[degree]) / (degree + 1)
                      + RND * sum(np.abs(x) for x in za[:degree])))
            ball = up(dl[:, 0] * E + R)
            T = tangent_model(model, xt, Z, ball, V)
            # the Jacobian's movement over (TZ), for the remainder's own feedback
            far = up(ball + np.linalg.norm(Z.e, axis=1)
                     + sum(np.linalg.norm(x, axis=1) for x in Z.a[2:]))
            st = step_enclosure(model, zc, xt)  # the traced centre's next state and its error
            Dn = spectral_upper(jacobian_deviation(model, zc, xt, Z.a[1], far, pre=st.pre))
            J = jac(zc, xt)
            z_new = st.z
            rho = up(np.linalg.norm(st.err, axis=1) + Dn * R)
            beta = up(np.linalg.norm(T.e, axis=1) + Dn * E)
            beta = np.maximum(beta, rho)  # a larger weight is still a bound; keeps rho/beta <= 1
            zc, V = z_new, TM(T.a, zero)
            ell.push(J, beta)
            Rsum = up(gamma * Rsum + rho * (rho / beta))
            E = ell.radius()
            R = up(E * np.sqrt(Rsum / ell.P))
            Wa = [x @ W_y.T for x in V.a]
            size = sum(np.linalg.norm(x, axis=1) for x in V.a)
            sup = up(_poly_sup(Wa) + 2.0 * interval.gamma(n) * WF * size
                     + 4.0 * RND * sum(np.linalg.norm(x, axis=1) for x in Wa))
            rem = ell.out_radius(W_y)
            rem = np.where(np.isfinite(rem), rem, np.inf)
            c_k = np.linalg.norm(Wa[0], axis=1).reshape(S, K)
            centre[:, t] = c_k.max(axis=1)
            spread[:, t] = sup.reshape(S, K).max(axis=1)
            bound[:, t] = up((sup + rem).reshape(S, K).max(axis=1))
    bound = np.where(np.isnan(bound), np.inf, bound)
    zero_w = nrm == 0
    bound[zero_w], centre[zero_w], spread[zero_w] = 0.0, 0.0, 0.0
    return bound, centre, spread


def _check(model, X, z0, pairs, pieces, max_pieces, tol, min_pairs):
    if pairs not in PAIRS:
        raise InputError(f"pairs must be one of {PAIRS}, got {pairs!r}")
    _, _, _, n = dynamics(model)
    X = np.asarray(X, dtype=np.float64)
    z0 = np.asarray(z0, dtype=np.float64)
    if X.ndim != 3 or X.shape[0] < 1 or X.shape[1] < 1 or X.shape[2] != model.n_x:
        raise InputError(f"X must have shape (S, N, n_x={model.n_x}) with S, N >= 1, "
                         f"got {X.shape}")
    if z0.shape != (X.shape[0], n):
        raise InputError(f"z0 must have shape (S={X.shape[0]}, n_z={n}), got {z0.shape}")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(z0))):
        raise InputError("X and z0 must be finite")
    if not (1 <= pieces <= max_pieces):
        raise InputError(f"need 1 <= pieces <= max_pieces, got pieces={pieces}, "
                         f"max_pieces={max_pieces}")
    if not tol > 0:
        raise InputError(f"tol must be > 0, got {tol}")
    if not (isinstance(min_pairs, (int, np.integer)) and min_pairs >= 1):
        raise InputError(f"min_pairs must be an integer >= 1, got {min_pairs!r}")
    return X, z0


def cover_C(G: np.ndarray, lam: float) -> float:
    """Smallest ``C`` with ``C lam**j >= G_j`` for ``j = 1..N`` (``lam > 0``), rounded up.

    Evaluated as ``exp(max_j (log G_j - j log lam))``: no underflow of ``lam**j`` (a tiny ``lam``
    with a long envelope gives an honest overflow to ``inf``, not ``G / 0``). ``0`` for an
    all-zero ``G``.
    """
    G = np.asarray(G, dtype=np.float64)
    if not np.any(G > 0):
        return 0.0
    j = np.arange(1, G.size + 1, dtype=np.float64)
    pos = G > 0
    with np.errstate(over="ignore"):
        return float(up(np.exp(np.max(np.log(G[pos]) - j[pos] * np.log(lam)))))


def _pair_run(model, X, z0, chunk):
    """:func:`pair_bounds` over chunks of windows: ``(bound, lower, K, rounds)``."""
    S, N, _ = X.shape
    bound, lower = np.full((S, N), np.inf), np.empty((S, N))
    for a in range(0, S, chunk):
        bound[a:a + chunk], lower[a:a + chunk] = pair_bounds(model, X[a:a + chunk],
                                                             z0[a:a + chunk])
    return bound, lower, np.ones(S, dtype=int), []


def _segment_run(model, X, z0, pieces, max_pieces, tol, fit, chunk, t0, time_limit):
    """:func:`segment_bounds` with refinement (step 4 of the module): ``(bound, lower, K,
    rounds)``; ``rounds`` lists ``(pieces, windows, windows still over the target)``."""
    S, N, _ = X.shape
    lower = simulate_pairs(model, X, z0)
    lam_w, _ = fit_envelope(lower.max(axis=0), fit)
    gamma_ = float(np.clip(lam_w, 0.5, 1.0)) if np.isfinite(lam_w) else 1.0
    K = np.full(S, int(pieces))
    bound = np.full((S, N), np.inf)
    todo, rounds = np.arange(S), []
    while todo.size:
        k = int(K[todo[0]])
        per = max(1, chunk // k)
        for a in range(0, todo.size, per):
            idx = todo[a:a + per]
            b, c = segment_bounds(model, X[idx], z0[idx], k, gamma_)
            bound[idx] = np.minimum(bound[idx], b)
            lower[idx] = np.maximum(lower[idx], c)
        top = lower.max(axis=0)
        floor = 1e-9 * max(float(top.max()), 1e-300)
        target = (1.0 + tol) * np.maximum(top, floor)
        over = np.any(bound > target[None, :], axis=1)
        rounds.append((k, int(todo.size), int(over.sum())))
        out_of_time = time_limit is not None and time.perf_counter() - t0 > time_limit
        todo = np.flatnonzero(over & (K < max_pieces))
        if out_of_time:
            break
        # every window still over the target has the same K (bounds only fall and the
        # target only rises), so each round is one rectangular array
        K[todo] = np.minimum(2 * K[todo], max_pieces)
    return bound, lower, K, rounds


def _rate(G: np.ndarray, lower: np.ndarray, fit: str) -> tuple[float, float, str, dict]:
    """``(lam, C, reason, extra)`` for a finite, positive envelope of ``N >= 2`` steps;
    ``lam < 1`` and a finite ``C`` mean verified (then ``reason`` starts with "certified").

    The ``fit`` rule first. The envelope's tail is float error, not decay, when it ends far
    above the witnesses (``FLOOR_GAP``); a fit through it follows the floor (to ``lam >= 1`` at
    worst): take :func:`fewest_steps_fit`. The same where the fit's tail slope is ``>= 0`` on an
    envelope that still decays over the window (``G_N < G_1``); one that does not decay
    (``G_N >= G_1``) is never verified.
    """
    lam, _ = fit_envelope(G, fit)
    C = cover_C(G, lam)
    reason, extra = "certified", {}
    floored = G[-1] > FLOOR_GAP * max(float(lower[-1]), 1e-300)
    if (floored or not lam < 1.0) and 0 < G[-1] < G[0]:
        lam2, C2 = fewest_steps_fit(G)
        if not lam < 1.0 or steps_to(lam2, C2) < steps_to(lam, C):
            why = ("following the envelope's float-error floor" if floored else
                   "its tail slope is >= 0 though the envelope decays over the window")
            reason = (f"certified; lam by the fewest steps to {LEVEL:g} (the {fit} fit gives "
                      f"lam = {lam:.4g}: {why})")
            lam, C = lam2, C2
            extra["fit"] = "fewest_steps"
    if not lam < 1.0:
        reason = f"the certified envelope does not decay (fitted lam = {lam:.4g} >= 1)"
    elif not np.isfinite(C):
        reason = (f"no finite C covers the envelope at the fitted lam = {lam:.4g} "
                  "(C lam**j overflows)")
    return lam, C, reason, extra


def certify_on_data(model: object, X: np.ndarray, z0: np.ndarray, *, pairs: str = "pair",
                    pieces: int = 2, max_pieces: int = 256, tol: float = 0.02,
                    fit: str = "loglinear", chunk: int = 8192,
                    time_limit: float | None = None,
                    min_pairs: int = MIN_PAIRS) -> OnDataCertificate:
    """Certify A1 on the pairs ``(z0_i, 0)`` (or their segments) under the windows ``X_i``.

    Pairs without separation: a window with ``z0_i = 0`` compares ``(0, 0)``: both sides of
    (A1-D) are 0, so it holds for every ``(lam, C)`` and proves nothing. Such windows are not
    traced and do not enter the envelope or the fit (``pieces`` 0, the region says how many
    there were). At least ``min_pairs`` windows with ``z0_i != 0`` are needed, else the result
    is not verified and the reason says so (no separated pair at all: the certificate would be
    about nothing). ``N = 1`` is never verified either: A1 is about ``j >= 1`` and one step
    gives ``G_1`` but no rate (the envelope is still computed and returned).

    Parameters
    ----------
    model : ``ElmanRNN`` or a cell with the ``systems`` interface (``cell``, ``step``,
        ``jacobian``, ``output_matrix``, parameters)
    X : (S, N, n_x) input windows
    z0 : (S, n_z) per window the state compared with ``0`` (e.g. the benchmark trajectory's
        state at the window's start)
    pairs : ``"pair"`` (the pair ``(z0_i, 0)``) or ``"segment"`` (every pair on ``[0, z0_i]``)
    pieces, max_pieces : first and largest number of pieces per segment
    tol : a window is refined while its bound exceeds the largest witness by more than ``tol``
        (relative) at some ``j``
    fit : rule for ``lam`` from the envelope (``sampled.fit_envelope``); ``C`` then covers every
        ``j``
    chunk : windows x pieces processed at once (memory: ``chunk * n_z**2 * 8`` bytes x ~6)
    time_limit : seconds after which refinement stops (the bound stays sound, only looser)
    min_pairs : fewest windows with ``z0_i != 0`` for a verified certificate (default 1)

    Returns
    -------
    OnDataCertificate (``lam = C = nan`` unless verified)
    """
    t0 = time.perf_counter()
    X, z0 = _check(model, X, z0, pairs, pieces, max_pieces, tol, min_pairs)
    S, N, _ = X.shape
    nrm = separations(z0)
    sep = np.flatnonzero(nrm > 0)
    bound, lower, K = np.zeros((S, N)), np.zeros((S, N)), np.zeros(S, dtype=int)
    rounds: list[tuple[int, int, int]] = []
    if sep.size >= min_pairs:
        Xs, zs = X[sep], z0[sep]
        bound[sep], lower[sep], K[sep], rounds = (
            _pair_run(model, Xs, zs, chunk) if pairs == "pair" else
            _segment_run(model, Xs, zs, pieces, max_pieces, tol, fit, chunk, t0, time_limit))
    G, low = bound.max(axis=0), lower.max(axis=0)
    region = (f"{'the pair (z_i, 0)' if pairs == 'pair' else 'every pair on the segment [0, z_i]'}"
              f" for each of the {sep.size} windows X_i with z_i != 0 among the {S} given "
              f"(N = {N}; the {S - sep.size} with z_i = 0 compare (0, 0): A1 holds there "
              f"trivially); ||z_i|| up to {float(nrm.max()):.4g}")
    extra: dict = {"rounds": rounds, "pairs_separated": int(sep.size)}
    if sep.size < min_pairs:
        reason = ("no pair has a separation (z_i = 0 in every window): a certificate over "
                  "pairs (0, 0) certifies nothing" if sep.size == 0 else
                  f"only {sep.size} of the {S} windows have z_i != 0, fewer than "
                  f"min_pairs = {min_pairs}")
        lam = C = np.nan
    elif not np.all(np.isfinite(G)):
        bad = int(np.sum(~np.isfinite(bound).all(axis=1)))
        reason = (f"the enclosure diverged in {bad} windows; raise max_pieces" if pairs == "segment"
                  else f"the float-error enclosure of the traced pairs is not finite in {bad} "
                  "windows (states or separations beyond float64's range)")
        lam = C = np.nan
    elif N == 1:
        reason = ("N = 1: one step gives the envelope G_1 but no rate (A1 is about "
                  "j >= 1; a rate needs at least two steps)")
        lam = C = np.nan
    else:
        lam, C, reason, more = _rate(G, low, fit)
        extra.update(more)
    ok = bool(lam < 1.0 and np.isfinite(C))  # False for nan
    if not ok:
        lam = C = np.nan
    return OnDataCertificate(float(lam), float(C), ok, G, low, pairs, region, cell_of(model), S,
                             K, time.perf_counter() - t0, reason=reason, extra=extra)
