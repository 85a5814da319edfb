r"""The results of docs/theory.md sections 3-6, stated once, in sympy.

Every bound the toolkit evaluates is written here exactly once as a :class:`Statement`
(tags A1, L1, T1a, T1b, T1c, T1d, T2a, T2b, as in docs/theory.md); ``bounds.numeric`` turns
these expressions into vectorised numpy functions with ``sympy.lambdify`` and never
re-types a formula.

SymPy conventions (see the SymPy best-practices guide):

* every symbol is declared once, below, with the assumptions the theory gives it
  (``positive``, ``nonnegative``, ``integer``); hypotheses that are not assumptions
  (``lam < 1``, ``m < N``, ``eps > 1``, ``o_min >= m``) are kept as sympy relations in
  :attr:`Statement.relations`;
* exact constants (``Rational``/integers), no floats;
* the finite geometric sums of A1 are the function :class:`geom`, whose ``doit()`` is the
  closed form and whose ``rewrite(Sum)`` is the defining sum, so the closed forms
  ``Gamma_m``, ``Lambda_m`` (docs/theory.md §3) can be checked against ``summation``;
* numeric evaluation only through ``lambdify`` (in ``bounds.numeric``), which maps
  :class:`geom` to a cancellation-free numpy implementation.

Example
-------
>>> from bounds.symbolic import STATEMENTS
>>> STATEMENTS["T1b"].kind
'upper bound'
>>> print(STATEMENTS["T1b"].latex())  # doctest: +ELLIPSIS
V^{*} - V^{\infty} \leq ...
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

__all__ = [
    "Statement",
    "geom",
    "Gamma_m",
    "Lambda_m",
    "GAMMA_M",
    "LAMBDA_M",
    "STATEMENTS",
    "T2A_ROOT",
    "T1E",
    "T1E_CROSS",
    "T1E_STATEMENTS",
    "GAMMA_G",
    "LAMBDA_G",
    "SYMBOLS",
    "LATEX_NAMES",
    "regret_identity",
    "headline_latex",
]

# --------------------------------------------------------------------------------------
# Symbols (declared once; docs/theory.md §1, §3-§6)
# --------------------------------------------------------------------------------------

lam = sp.Symbol("lam", positive=True)  # A1 rate; the hypothesis lam < 1 is a relation
C = sp.Symbol("C", positive=True)  # A1 constant for theta^inf
N = sp.Symbol("N", integer=True, positive=True)  # window length
m = sp.Symbol("m", integer=True, nonnegative=True)  # burn-in, 0 <= m < N
S = sp.Symbol("S", integer=True, positive=True)  # number of windows
T = sp.Symbol("T", integer=True, positive=True)  # sequence length
o_min = sp.Symbol("o_min", integer=True, nonnegative=True)  # smallest overlap
eps = sp.Symbol("eps", positive=True)  # coercivity level, eps > 1
j = sp.Symbol("j", integer=True, positive=True)  # position in a window
k = sp.Symbol("k", integer=True, nonnegative=True)  # number of terms of a geometric sum

V_inf = sp.Symbol("V_inf", nonnegative=True)  # relaxed optimum
V_star = sp.Symbol("V_star", nonnegative=True)  # TBPTT (zero init) optimum
V_b = sp.Symbol("V_b", nonnegative=True)  # benchmark optimum
V_z = sp.Symbol("V_z", nonnegative=True)  # L1: objective from initial states z
V_zp = sp.Symbol("V_zp", nonnegative=True)  # L1: objective from initial states z'
Delta = sp.Symbol("Delta", nonnegative=True)  # L1: RMS initial-state mismatch
Delta_0 = sp.Symbol("Delta_0", nonnegative=True)  # RMS of ||z^inf_i||
Delta_01 = sp.Symbol("Delta_01", nonnegative=True)  # mean of ||z^inf_i||
Delta_b = sp.Symbol("Delta_b", nonnegative=True)  # RMS benchmark-vs-relaxed state gap
Delta_b1 = sp.Symbol("Delta_b1", nonnegative=True)  # mean benchmark-vs-relaxed state gap
rho = sp.Symbol("rho", nonnegative=True)  # max relaxed residual norm
dpsi = sp.Symbol("dpsi", nonnegative=True)  # A1: ||psi_j(z) - psi_j(z')||
dz = sp.Symbol("dz", nonnegative=True)  # A1: ||z - z'||
acc = sp.Symbol("acc", nonnegative=True)  # T1d: (1/K) ||Y* - Y^inf||^2
U = sp.Symbol("U", nonnegative=True)  # T1d: any valid upper bound on V* - V^inf

P_star = sp.Symbol("P_star", nonnegative=True)  # P(0, theta*)
P_b = sp.Symbol("P_b", nonnegative=True)  # P(h_0^b, theta^b)
A = sp.Symbol("A", nonnegative=True)  # T2b: all scored positions
A_J = sp.Symbol("A_J", nonnegative=True)  # T2a: blocks J_i only
B = sp.Symbol("B", nonnegative=True)  # T2a: free run vs zero-init windows
C_star = sp.Symbol("C_star", positive=True)  # A1 constant for theta*
lam_star = sp.Symbol("lam_star", positive=True)  # A1 rate for theta*, < 1
H = sp.Symbol("H", nonnegative=True)  # max_i ||phi_{s_i}(0; theta*)||

# Named intermediate quantities (each has a definition inside the statements).
Gamma = sp.Symbol("Gamma_m", positive=True)
Lambda = sp.Symbol("Lambda_m", positive=True)
B_1 = sp.Symbol("B_1", nonnegative=True)
C_2 = sp.Symbol("C_2", nonnegative=True)
C_2b = sp.Symbol("C_2b", nonnegative=True)
a = sp.Symbol("a", nonnegative=True)
E = sp.Symbol("E", nonnegative=True)
K_A = sp.Symbol("K_A", nonnegative=True)
K_B = sp.Symbol("K_B", nonnegative=True)
lam_bar = sp.Symbol("lam_bar", positive=True)

# T2a: per-window quantities for i = 2..S (norm of phi_{s_i}(0; theta*) and overlap o_i).
i = sp.Symbol("i", integer=True, positive=True)
phi_norm = sp.IndexedBase("phi_norm", nonnegative=True)
o = sp.IndexedBase("o", integer=True, nonnegative=True)

SYMBOLS: dict[str, sp.Symbol] = {
    s.name: s
    for s in (
        lam, C, N, m, S, T, o_min, eps, j, k, V_inf, V_star, V_b, V_z, V_zp, Delta,
        Delta_0, Delta_01, Delta_b, Delta_b1, rho, dpsi, dz, acc, U, P_star, P_b, A, A_J, B,
        C_star, lam_star, H, Gamma, Lambda, B_1, C_2, C_2b, a, E, K_A, K_B, lam_bar, i,
    )
}
"""Every symbol of this module by name (the names are docs/theory.md's symbols)."""

LATEX_NAMES: dict[sp.Basic, str] = {
    lam: r"\lambda",
    lam_star: r"\lambda^{*}",
    lam_bar: r"\bar{\lambda}",
    C_star: r"C^{*}",
    o_min: r"o_{\min}",
    eps: r"\varepsilon",
    V_inf: r"V^{\infty}",
    V_star: r"V^{*}",
    V_b: r"V^{b}",
    V_z: r"V(z)",
    V_zp: r"V(z')",
    Delta: r"\Delta",
    Delta_0: r"\Delta_0",
    Delta_01: r"\Delta_{0,1}",
    Delta_b: r"\Delta_b",
    Delta_b1: r"\Delta_{b,1}",
    rho: r"\rho",
    dpsi: r"\|\psi_j(z) - \psi_j(z')\|",
    dz: r"\|z - z'\|",
    acc: r"\frac{1}{K}\|Y^{*} - Y^{\infty}\|^{2}",
    U: r"U(m)",
    P_star: r"P(0, \theta^{*})",
    P_b: r"P(h_0^{b}, \theta^{b})",
    A_J: r"A_J",
    Gamma: r"\Gamma_m",
    Lambda: r"\Lambda_m",
    B_1: r"B_1(m)",
    C_2: r"C_2",
    C_2b: r"C_2^{b}",
    K_A: r"K_A",
    K_B: r"K_B",
    phi_norm.label: r"\|\phi\|",
}
"""LaTeX for each symbol, restricted to matplotlib's mathtext subset."""


# --------------------------------------------------------------------------------------
# The geometric sums of A1 (docs/theory.md §3)
# --------------------------------------------------------------------------------------


class geom(sp.Function):
    r"""Finite geometric sum ``geom(q, p, k) = sum_{l<k} q**(p l) = (1 - q**(p k)) / (1 - q**p)``.

    The rate ``q`` and the power ``p`` are separate arguments so that the numeric
    implementation can work with ``p * log(q)`` (never with a rounded ``q**p``): that is
    what keeps ``bounds.numeric`` accurate for ``q`` within 1e-13 of 1. At ``q = 1`` the
    sum is ``k`` (evaluated automatically).

    ``doit()`` gives the closed form, ``rewrite(sp.Sum)`` the defining sum.
    """

    nargs = 3

    @classmethod
    def eval(cls, q, p, kk):  # noqa: D102 - sympy hook
        if kk.is_zero:
            return sp.S.Zero
        if q == 1 or p.is_zero:
            return kk
        return None

    def doit(self, deep: bool = True, **hints):  # noqa: D102 - sympy hook
        q, p, kk = (arg.doit(deep=deep, **hints) if deep else arg for arg in self.args)
        return (1 - q ** (p * kk)) / (1 - q**p)

    def _eval_rewrite_as_Sum(self, q, p, kk, **kwargs):
        l_ = sp.Dummy("l", integer=True, nonnegative=True)
        return sp.Sum(q ** (p * l_), (l_, 0, kk - 1))

    def _latex(self, printer):
        q, p, kk = self.args
        exponent = kk if p == 1 else sp.Mul(p, kk, evaluate=False)
        num = printer._print(sp.Pow(q, exponent, evaluate=False))
        den = printer._print(q**p)
        return rf"\frac{{1 - {num}}}{{1 - {den}}}"


def Gamma_m(lam_: sp.Expr, m_: sp.Expr, N_: sp.Expr) -> sp.Expr:
    r"""``Gamma_m = sum_{j=m+1..N} lam**(2j) = lam**(2(m+1)) (1 - lam**(2(N-m))) / (1 - lam**2)``.

    Definition (docs/theory.md §3). Symbols are passed in; the result keeps the sum as
    :class:`geom` (call ``.doit()`` for the closed form).
    """
    return lam_ ** (2 * (m_ + 1)) * geom(lam_, 2, N_ - m_)


def Lambda_m(lam_: sp.Expr, m_: sp.Expr, N_: sp.Expr) -> sp.Expr:
    r"""``Lambda_m = sum_{j=m+1..N} lam**j = lam**(m+1) (1 - lam**(N-m)) / (1 - lam)``.

    Definition (docs/theory.md §3), with :class:`geom` as in :func:`Gamma_m`.
    """
    return lam_ ** (m_ + 1) * geom(lam_, 1, N_ - m_)


GAMMA_M = Gamma_m(lam, m, N)
LAMBDA_M = Lambda_m(lam, m, N)


# --------------------------------------------------------------------------------------
# Statement
# --------------------------------------------------------------------------------------

_RELATION_LATEX = {"upper bound": r"\leq", "identity": "=", "definition": ":="}


@dataclass(frozen=True)
class Statement:
    r"""One result of docs/theory.md as sympy expressions.

    Attributes
    ----------
    tag : str
        docs/theory.md equation tag ("A1", "L1", "T1a", ..., "T2b").
    title : str
        A few words saying what it is.
    kind : str
        ``"upper bound"`` (``lhs <= chain... <= rhs``), ``"identity"`` (``lhs = rhs``) or
        ``"definition"``.
    hypotheses : tuple of str
        The hypotheses in words.
    relations : tuple of sympy relations
        The hypotheses that are relations between symbols (``lam < 1``, ``m < N``, ...);
        sign and integrality hypotheses are symbol assumptions instead.
    lhs, rhs : sympy.Expr
        The two sides. Named intermediate symbols (``Gamma_m``, ``C_2``, ``a``, ...) are
        expanded by :meth:`explicit`.
    chain : tuple of sympy.Expr
        Intermediate bounds: ``lhs <= chain[0] <= ... <= rhs``.
    definitions : tuple of (Symbol, Expr)
        Definitions of the named intermediate symbols used in ``rhs``/``chain``.
    """

    tag: str
    title: str
    kind: str
    hypotheses: tuple[str, ...]
    relations: tuple[sp.Basic, ...]
    lhs: sp.Expr
    rhs: sp.Expr
    chain: tuple[sp.Expr, ...] = ()
    definitions: tuple[tuple[sp.Symbol, sp.Expr], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in _RELATION_LATEX:
            raise ValueError(f"kind = {self.kind!r} must be one of {sorted(_RELATION_LATEX)}")

    @property
    def defs(self) -> dict[sp.Symbol, sp.Expr]:
        """The definitions as a dict."""
        return dict(self.definitions)

    def explicit(self, expr: sp.Expr | None = None) -> sp.Expr:
        """``expr`` (default ``rhs``) with named intermediate symbols replaced by definitions."""
        out = self.rhs if expr is None else sp.sympify(expr)
        defs = self.defs
        for _ in range(len(defs) + 1):
            new = out.xreplace(defs)
            if new == out:
                return out
            out = new
        return out

    def latex(self) -> str:
        r"""The statement in LaTeX (mathtext subset: no environments, no ``\operatorname``).

        Definitions follow the inequality, separated by ``\quad``.
        """
        rel = _RELATION_LATEX[self.kind]
        sides = [self.lhs, *self.chain, self.rhs]
        # the lhs in stored order ("V^* - V^inf", not sympy's "-V^inf + V^*")
        body = f" {rel} ".join(
            _latex(s, order="none" if n == 0 else None) for n, s in enumerate(sides)
        )
        parts = [body] + [f"{_latex(s)} = {_latex(d)}" for s, d in self.definitions]
        return r",\quad ".join(parts)


def _latex(expr: sp.Expr, order: str | None = None) -> str:
    return sp.latex(expr, symbol_names=LATEX_NAMES, order=order)


# --------------------------------------------------------------------------------------
# The statements (docs/theory.md §3-§6)
# --------------------------------------------------------------------------------------

_A1_WORDS = "A1 for theta^inf: ||psi_j(z) - psi_j(z')|| <= C lam**j ||z - z'||, C > 0, 0 < lam < 1"
_BURN_IN = "burn-in 0 <= m < N (integers)"
_R_A1 = (sp.Lt(lam, 1),)
_R_M = (sp.Lt(m, N),)

_DEF_GAMMA = (Gamma, GAMMA_M)
_DEF_LAMBDA = (Lambda, LAMBDA_M)

_C2 = lam * (2 * rho * C * Delta_01 / (1 - lam) + C**2 * Delta_0**2 * lam / (1 - lam**2))

_T1A_RHS = (sp.sqrt(V_inf) + C * Delta_0 * sp.sqrt(Gamma) / sp.sqrt(N - m)) ** 2 - V_inf
_T1B_MID = (2 * rho * C * Delta_01 * Lambda + C**2 * Delta_0**2 * Gamma) / (N - m)

A1 = Statement(
    tag="A1",
    title="exponential incremental output stability",
    kind="upper bound",
    hypotheses=(
        "for all initial states z, z' in the relevant set, all windows i, positions j >= 1",
        "C > 0 and 0 < lam < 1",
    ),
    relations=_R_A1,
    lhs=dpsi,
    rhs=C * lam**j * dz,
)

L1 = Statement(
    tag="L1",
    title="initial-state mismatch",
    kind="upper bound",
    hypotheses=(
        "A1 for the parameters theta (optimal or not) with constants (C, lam)",
        "Delta**2 = (1/S) sum_i ||z_i - z'_i||**2",
        _BURN_IN,
    ),
    relations=_R_A1 + _R_M,
    lhs=sp.Abs(sp.sqrt(V_z) - sp.sqrt(V_zp)),
    rhs=C * Delta * sp.sqrt(Gamma) / sp.sqrt(N - m),
    definitions=(_DEF_GAMMA,),
)

T1A = Statement(
    tag="T1a",
    title="training regret, root form",
    kind="upper bound",
    hypotheses=(
        _A1_WORDS,
        "V* <= V(theta^inf; 0) (theta* optimal, or warm-started from theta^inf)",
        "Delta_0**2 = (1/S) sum_i ||z^inf_i||**2",
        "the lower bound 0 <= V* - V^inf needs (R0)",
        _BURN_IN,
    ),
    relations=_R_A1 + _R_M,
    lhs=V_star - V_inf,
    rhs=_T1A_RHS,
    definitions=(_DEF_GAMMA,),
)

T1B = Statement(
    tag="T1b",
    title="training regret, paper form",
    kind="upper bound",
    hypotheses=(
        _A1_WORDS,
        "V* <= V(theta^inf; 0) (theta* optimal, or warm-started from theta^inf)",
        "Delta_0**2 = (1/S) sum_i ||z^inf_i||**2, Delta_01 = (1/S) sum_i ||z^inf_i||",
        "rho = max_ij ||r_ij(z^inf_i, theta^inf)||",
        "the lower bound 0 <= V* - V^inf needs (R0)",
        _BURN_IN,
    ),
    relations=_R_A1 + _R_M,
    lhs=V_star - V_inf,
    chain=(_T1B_MID,),
    rhs=C_2 * lam**m / (N - m),
    definitions=(_DEF_LAMBDA, _DEF_GAMMA, (C_2, _C2)),
)

T1C = Statement(
    tag="T1c",
    title="benchmark regret",
    kind="upper bound",
    hypotheses=(
        _A1_WORDS,
        "V^b <= V^b(theta^inf, z^inf_1) (benchmark optimal, or warm-started there)",
        "Delta_b**2 = (1/S) sum_i ||phi_{s_i}(z^inf_1; theta^inf) - z^inf_i||**2",
        "T1b's form holds as well with Delta_b for Delta_0 and "
        "Delta_b1 = (1/S) sum_i ||phi_{s_i}(z^inf_1; theta^inf) - z^inf_i|| <= Delta_b "
        "for Delta_01",
        _BURN_IN,
    ),
    relations=_R_A1 + _R_M,
    lhs=V_b - V_inf,
    rhs=_T1A_RHS.xreplace({Delta_0: Delta_b}),
    definitions=(_DEF_GAMMA,),
)

T1D = Statement(
    tag="T1d",
    title="accuracy of the TBPTT outputs",
    kind="upper bound",
    hypotheses=(
        "(C_eps): 2 <R^inf, Y* - Y^inf> >= -(1/eps) ||Y* - Y^inf||**2 with eps > 1",
        "identity K (V - V^inf) = ||Y - Y^inf||**2 + 2 <R^inf, Y - Y^inf>, R^inf = Y^inf - Y^d",
        "U(m) any valid upper bound on V* - V^inf (T1a, T1b or their minimum)",
    ),
    relations=(sp.Gt(eps, 1),) + _R_M,
    lhs=acc,
    chain=(eps / (eps - 1) * (V_star - V_inf),),
    rhs=eps / (eps - 1) * U,
)

_A_DEF = (sp.sqrt(A_J) + sp.sqrt(B)) / sp.sqrt(T - m)
_B_DEF = C_star**2 * sp.Sum(
    phi_norm[i] ** 2 * Gamma_m(lam_star, o[i], N), (i, 2, S)
)
_T2_HYP = (
    "the windows cover the sequence: s_S + N = T",
    "every overlap o_i >= m (every time after m is scored)",
)

T2A = Statement(
    tag="T2a",
    title="performance regret, a posteriori",
    kind="upper bound",
    hypotheses=(
        "A1 for theta* with constants (C*, lam*)",
        *_T2_HYP,
        "A_J = sum_i sum_{j in J_i} ||y*_ij - y^b_ij||**2 on the blocks J_1 = {m+1..N}, "
        "J_i = {o_i+1..N}",
        "B = C***2 sum_{i>=2} ||phi_{s_i}(0; theta*)||**2 sum_{j=o_i+1..N} lam***(2j)",
        "valid for any theta*, theta^b, h_0^b",
    ),
    relations=(sp.Lt(lam_star, 1), sp.Lt(m, T), sp.Ge(o_min, m)),
    lhs=P_star - P_b,
    rhs=2 * a * sp.sqrt(P_b) + a**2,
    definitions=((a, _A_DEF), (B, _B_DEF)),
)

T2A_ROOT = Statement(
    tag="T2a",
    title="performance regret, a posteriori, root form",
    kind="upper bound",
    hypotheses=T2A.hypotheses,
    relations=T2A.relations,
    lhs=sp.sqrt(P_star),
    rhs=sp.sqrt(P_b) + a,
    definitions=T2A.definitions,
)
"""Root form of T2a: ``sqrt(P(0, theta*)) <= sqrt(P(h_0^b, theta^b)) + a``."""

_C2B = _C2.xreplace({Delta_0: Delta_b, Delta_01: Delta_b})

T2B = Statement(
    tag="T2b",
    title="performance regret, a priori shape",
    kind="upper bound",
    hypotheses=(
        "A1 for theta^inf with (C, lam) and for theta* with (C*, lam*); lam_bar = max(lam, lam*)",
        *_T2_HYP,
        "(C_eps) for both the TBPTT and the benchmark solution",
        "S windows, K = S (N - m) scored outputs, o_min = min_i o_i",
        "H = max_{i>=2} ||phi_{s_i}(0; theta*)||",
        "A <= 2 eps/(eps-1) K (T1b(m) + T1c-paper(m)) <= K_A S lam**m "
        "(T1b's paper form, not B1(m) = T1a, which can exceed C2 lam**m/(N-m))",
        "C_2b = C_2 with Delta_b for Delta_0 and Delta_01 (Delta_b1 <= Delta_b by Cauchy-Schwarz)",
        "B <= K_B (S-1) lam***(2 o_min)",
    ),
    relations=(sp.Lt(lam, 1), sp.Lt(lam_star, 1), sp.Gt(eps, 1), sp.Lt(m, N), sp.Ge(o_min, m)),
    lhs=a,
    rhs=E * sp.sqrt((S - 1) * lam_bar ** (2 * o_min) + S * lam_bar**m) / sp.sqrt(T - m),
    definitions=(
        (E, sp.sqrt(2 * sp.Max(K_A, K_B))),
        (K_A, 2 * eps / (eps - 1) * (C_2 + C_2b)),
        (K_B, C_star**2 * H**2 * lam_star**2 / (1 - lam_star**2)),
        (C_2, _C2),
        (C_2b, _C2B),
        (lam_bar, sp.Max(lam, lam_star)),
    ),
)

STATEMENTS: dict[str, Statement] = {
    s.tag: s for s in (A1, L1, T1A, T1B, T1C, T1D, T2A, T2B)
}
"""The statements of docs/theory.md §3-§6 by tag."""


# --------------------------------------------------------------------------------------
# T1e: T1 from the certified envelope itself
# --------------------------------------------------------------------------------------

G_env = sp.IndexedBase("G", nonnegative=True)  # certified envelope G_j of (A1-D), j = 1..N
Gamma_G = sp.Symbol("Gamma_G", nonnegative=True)  # sum_{j=m+1..N} G_j**2
Lambda_G = sp.Symbol("Lambda_G", nonnegative=True)  # sum_{j=m+1..N} G_j
GAMMA_G = sp.Sum(G_env[j] ** 2, (j, m + 1, N))
LAMBDA_G = sp.Sum(G_env[j], (j, m + 1, N))
SYMBOLS.update({s.name: s for s in (Gamma_G, Lambda_G)})
LATEX_NAMES.update({Gamma_G: r"\Gamma^{G}_m", Lambda_G: r"\Lambda^{G}_m", G_env.label: "G"})

_A1D_WORDS = ("A1-D on exactly the pairs T1 compares: ||psi_j(z^inf_i) - psi_j(0)|| <= "
              "G_j ||z^inf_i|| for every window i and every scored j = m+1..N (the on-data "
              "certificate's envelope; no fitted (C, lam) is needed)")

T1E = Statement(
    tag="T1e",
    title="training regret from the certified envelope, root form",
    kind="upper bound",
    hypotheses=(
        _A1D_WORDS,
        "V* <= V(theta^inf; 0) (theta* optimal, or warm-started from theta^inf)",
        "Delta_0**2 = (1/S) sum_i ||z^inf_i||**2",
        "the lower bound 0 <= V* - V^inf needs (R0)",
        "with G_j = C lam**j it is T1a; any A1 pair (C, lam) has C lam**j >= G_j, so it is "
        "never looser than T1a",
        _BURN_IN,
    ),
    relations=_R_M,
    lhs=V_star - V_inf,
    rhs=(sp.sqrt(V_inf) + Delta_0 * sp.sqrt(Gamma_G) / sp.sqrt(N - m)) ** 2 - V_inf,
    definitions=((Gamma_G, GAMMA_G),),
)

T1E_CROSS = Statement(
    tag="T1e",
    title="training regret from the certified envelope, T1b's form",
    kind="upper bound",
    hypotheses=(
        _A1D_WORDS,
        "V* <= V(theta^inf; 0) (theta* optimal, or warm-started from theta^inf)",
        "Delta_0**2 = (1/S) sum_i ||z^inf_i||**2, Delta_01 = (1/S) sum_i ||z^inf_i||",
        "rho = max_ij ||r_ij(z^inf_i, theta^inf)||",
        "the lower bound 0 <= V* - V^inf needs (R0)",
        "with G_j = C lam**j it is T1b's first inequality; never looser than it",
        _BURN_IN,
    ),
    relations=_R_M,
    lhs=V_star - V_inf,
    rhs=(2 * rho * Delta_01 * Lambda_G + Delta_0**2 * Gamma_G) / (N - m),
    definitions=((Lambda_G, LAMBDA_G), (Gamma_G, GAMMA_G)),
)

T1E_STATEMENTS: tuple[Statement, Statement] = (T1E, T1E_CROSS)
"""T1e, T1 with the certified envelope ``G_j`` in place of ``C lam**j`` (root form, T1b's form).

Proof (L1's proof, with A1 used pointwise in ``j``). Write ``e_ij = psi_j(0) - psi_j(z_i)`` for
window ``i`` and scored position ``j > m`` (parameters ``theta^inf``, ``z_i = z^inf_i``), so
that the zero-state residual is ``r_ij(0) = r_ij(z_i) + e_ij``. The only place A1 enters L1 is
the bound ``||e_ij|| <= C lam**j ||z_i||``, one ``j`` at a time; (A1-D) gives
``||e_ij|| <= G_j ||z_i||`` in the same place. Hence

* ``||e||**2 = sum_i sum_(j>m) ||e_ij||**2 <= sum_i ||z_i||**2 sum_(j>m) G_j**2
  = S Delta_0**2 Gamma^G_m``; the triangle inequality on the stacked residuals gives
  ``sqrt(K V(theta^inf; 0)) <= sqrt(K V^inf) + ||e||`` with ``K = S (N - m)``, i.e.
  ``sqrt(V(theta^inf; 0)) <= sqrt(V^inf) + Delta_0 sqrt(Gamma^G_m / (N - m))`` (root form);
* ``K (V(theta^inf; 0) - V^inf) = 2 <r(z), e> + ||e||**2 <= 2 rho sum_i ||z_i|| sum_(j>m) G_j
  + S Delta_0**2 Gamma^G_m = S (2 rho Delta_01 Lambda^G_m + Delta_0**2 Gamma^G_m)``
  (T1b's form);

and ``V* <= V(theta^inf; 0)`` ends both. Any A1 pair has ``C lam**j >= G_j`` for every ``j``,
so ``Gamma^G_m <= C**2 Gamma_m`` and ``Lambda^G_m <= C Lambda_m``; both right-hand sides
increase in these sums, so T1e is never looser than T1a/T1b at any fit of the envelope.
"""


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def regret_identity(Y: sp.MatrixBase, Y_inf: sp.MatrixBase, Y_d: sp.MatrixBase) -> tuple:
    r"""Both sides of the identity behind T1d (docs/theory.md §5).

    ``K (V - V^inf) = ||Y - Y^inf||**2 + 2 <R^inf, Y - Y^inf>`` with ``R^inf = Y^inf - Y^d``,
    ``K V = ||Y - Y^d||**2`` and ``K V^inf = ||Y^inf - Y^d||**2`` (identity; Frobenius inner
    product over the stacked scored outputs).

    Parameters
    ----------
    Y, Y_inf, Y_d : sympy matrices of equal shape ``(K, n_y)``
        Stacked scored outputs of a solution, of the relaxed solution, and the data.

    Returns
    -------
    (lhs, rhs) : tuple of sympy.Expr
        ``K (V - V^inf)`` and ``||Y - Y^inf||**2 + 2 <R^inf, Y - Y^inf>``.

    Examples
    --------
    >>> import sympy as sp
    >>> Y, Yi, Yd = (sp.Matrix(2, 1, sp.symbols(f"{c}0:2")) for c in "abc")
    >>> lhs, rhs = regret_identity(Y, Yi, Yd)
    >>> sp.expand(lhs - rhs)
    0
    """

    def sq(M: sp.MatrixBase) -> sp.Expr:
        return sum(M.multiply_elementwise(M))

    R_inf = Y_inf - Y_d
    D = Y - Y_inf
    lhs = sq(Y - Y_d) - sq(R_inf)
    rhs = sq(D) + 2 * sum(R_inf.multiply_elementwise(D))
    return lhs, rhs


def headline_latex() -> dict[str, str]:
    """LaTeX of the two headline bounds, T1b (paper form) and T2b, for the README.

    Examples
    --------
    >>> sorted(headline_latex())
    ['T1b', 'T2b']
    """
    return {tag: STATEMENTS[tag].latex() for tag in ("T1b", "T2b")}
