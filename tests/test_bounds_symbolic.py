"""bounds.symbolic: the statements of docs/theory.md §3-§6 checked as mathematics.

Closed forms against sympy's own ``summation``, the identity behind T1d with symbolic
matrices, the chains of T1b and T2b (symbolically where it is an identity, on a dense
grid where it is an inequality), and that every ``latex()`` compiles with mathtext.
"""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
import sympy as sp
from matplotlib import mathtext
from tolerances import FORMULA_RTOL

from bounds import symbolic as sy
from bounds.symbolic import STATEMENTS, T2A_ROOT, Gamma_m, Lambda_m, geom

GRID_RTOL = FORMULA_RTOL  # float rounding allowance for inequalities checked on a grid

lam, m, N, j = sy.lam, sy.m, sy.N, sy.j


def _general_branch(expr: sp.Expr) -> sp.Expr:
    """The ``lam != 1`` branch of a Piecewise returned by ``summation``."""
    if isinstance(expr, sp.Piecewise):
        return expr.args[-1][0]
    return expr


# --------------------------------------------------------------------------------------
# Closed forms (docs/theory.md §3)
# --------------------------------------------------------------------------------------


def test_gamma_closed_form_equals_summation():
    ref = _general_branch(sp.summation(lam ** (2 * j), (j, m + 1, N)))
    assert sp.simplify(ref - sy.GAMMA_M.doit()) == 0


def test_lambda_closed_form_equals_summation():
    ref = _general_branch(sp.summation(lam**j, (j, m + 1, N)))
    assert sp.simplify(ref - sy.LAMBDA_M.doit()) == 0


@pytest.mark.parametrize("m_, N_", [(0, 1), (0, 4), (2, 5), (6, 7)])
def test_closed_forms_exact_for_small_windows(m_, N_):
    # exact rational functions of lam: no simplify() needed, cancel() decides
    gam = sum(lam ** (2 * jj) for jj in range(m_ + 1, N_ + 1))
    lmb = sum(lam**jj for jj in range(m_ + 1, N_ + 1))
    assert sp.cancel(Gamma_m(lam, m_, N_).doit() - gam) == 0
    assert sp.cancel(Lambda_m(lam, m_, N_).doit() - lmb) == 0


def test_geom_sum_rewrite_and_limit():
    q, p, k = sp.Symbol("q", positive=True), sp.Integer(2), sp.Symbol("k", integer=True)
    g = geom(q, p, 5)
    assert sp.cancel(g.rewrite(sp.Sum).doit() - g.doit()) == 0
    assert geom(1, p, k) == k  # the lam = 1 limit is exact
    assert geom(q, p, 0) == 0
    assert sp.limit(geom(q, 2, 7).doit(), q, 1) == 7


def test_gamma_decreasing_in_m():
    # Gamma_m - Gamma_{m+1} = lam**(2(m+1)) > 0: the dropped term
    diff = sy.GAMMA_M.doit() - Gamma_m(lam, m + 1, N).doit()
    assert sp.simplify(diff - lam ** (2 * (m + 1))) == 0
    assert (lam ** (2 * (m + 1))).is_positive


# --------------------------------------------------------------------------------------
# Statements: structure and assumptions
# --------------------------------------------------------------------------------------


def test_statement_tags_and_kinds():
    assert list(STATEMENTS) == ["A1", "L1", "T1a", "T1b", "T1c", "T1d", "T2a", "T2b"]
    for tag, s in STATEMENTS.items():
        assert s.tag == tag
        assert s.kind in {"upper bound", "identity", "definition"}
        assert s.hypotheses and all(isinstance(h, str) for h in s.hypotheses)
        assert all(isinstance(r, sp.core.relational.Relational) for r in s.relations)


def test_symbol_assumptions_encode_hypotheses():
    assert lam.is_positive and m.is_integer and m.is_nonnegative
    assert N.is_integer and N.is_positive and sy.C.is_positive
    assert sp.Lt(lam, 1) in STATEMENTS["A1"].relations
    assert sp.Lt(m, N) in STATEMENTS["T1a"].relations
    assert sp.Gt(sy.eps, 1) in STATEMENTS["T1d"].relations
    assert sp.Ge(sy.o_min, m) in STATEMENTS["T2b"].relations


def test_statement_is_frozen():
    with pytest.raises(AttributeError):
        STATEMENTS["T1a"].tag = "X"  # type: ignore[misc]


def test_explicit_removes_named_symbols():
    named = {sy.Gamma, sy.Lambda, sy.C_2, sy.C_2b, sy.E, sy.K_A, sy.K_B, sy.lam_bar, sy.a}
    for s in STATEMENTS.values():
        assert not (s.explicit().free_symbols & named), s.tag


# --------------------------------------------------------------------------------------
# T1d identity (docs/theory.md §5)
# --------------------------------------------------------------------------------------


def test_t1d_identity_with_symbolic_matrices():
    K, n_y = 3, 2
    Y, Y_inf, Y_d = (sp.Matrix(K, n_y, lambda r, c, n=n: sp.Symbol(f"{n}_{r}{c}"))
                     for n in ("y", "yinf", "yd"))
    # independent of bounds.symbolic: V and V^inf from their definitions
    V = sum((Y - Y_d).applyfunc(lambda e: e**2)) / K
    V_inf = sum((Y_inf - Y_d).applyfunc(lambda e: e**2)) / K
    D, R_inf = Y - Y_inf, Y_inf - Y_d
    rhs = (D.T * D).trace() + 2 * (R_inf.T * D).trace()
    assert sp.expand(K * (V - V_inf) - rhs) == 0
    lhs_mod, rhs_mod = sy.regret_identity(Y, Y_inf, Y_d)
    assert sp.expand(lhs_mod - K * (V - V_inf)) == 0
    assert sp.expand(rhs_mod - rhs) == 0


def test_t1d_coercivity_gives_the_factor():
    # K (V - V^inf) = d2 + 2 c with 2 c >= -d2/eps  =>  d2 <= eps/(eps-1) K (V - V^inf)
    d2, eps = sp.Symbol("d2", nonnegative=True), sy.eps
    worst = d2 - d2 / eps  # smallest K (V - V^inf) allowed by (C_eps)
    assert sp.simplify(eps / (eps - 1) * worst - d2) == 0


# --------------------------------------------------------------------------------------
# T1b chain (docs/theory.md §5)
# --------------------------------------------------------------------------------------


def test_t1b_paper_form_gap_is_explicit_and_nonnegative():
    s = STATEMENTS["T1b"]
    C, rho, D0, D01 = sy.C, sy.rho, sy.Delta_0, sy.Delta_01
    gap = (s.explicit() - s.explicit(s.chain[0])) * (N - m)
    expected = (2 * rho * C * D01 * lam ** (N + 1) / (1 - lam)
                + C**2 * D0**2 * (lam ** (m + 2) * (1 - lam**m) + lam ** (2 * N + 2))
                / (1 - lam**2))
    assert sp.simplify(sp.powsimp(sp.expand((gap - expected).doit()))) == 0
    # every factor of `expected` is >= 0 for 0 < lam < 1, m >= 0: 1 - lam**m >= 0 etc.


def test_t1b_chain_on_dense_grid():
    s = STATEMENTS["T1b"]
    args = (sy.C, lam, m, N, sy.rho, sy.Delta_0, sy.Delta_01)
    mid = sp.lambdify(args, s.explicit(s.chain[0]).doit(), "numpy")
    paper = sp.lambdify(args, s.explicit().doit(), "numpy")
    lams = np.linspace(0.01, 0.99, 50)
    for N_ in (1, 2, 7, 40):
        ms = np.arange(N_)
        L, M = np.meshgrid(lams, ms, indexing="ij")
        a, b = mid(1.3, L, M, N_, 0.7, 0.9, 0.5), paper(1.3, L, M, N_, 0.7, 0.9, 0.5)
        assert np.all(a <= b * (1 + GRID_RTOL))


def test_theory_chain_b1_is_not_below_c2():
    """The original contract's T2b chain used B1(m) <= C2 lam**m/(N-m); that fails (docs/theory.md
    §6.3), hence T2b goes through T1b.

    lam = 1/2, C = 1, Delta_0 = Delta_01 = 1, rho = sqrt(V_inf) = 1, m = 0, N = 100:
    B1(0) ~ 0.119 but C2 / N ~ 0.0233.
    """
    vals = {lam: sp.Rational(1, 2), sy.C: 1, sy.Delta_0: 1, sy.Delta_01: 1, sy.rho: 1,
            sy.V_inf: 1, m: 0, N: 100}
    b1 = STATEMENTS["T1a"].explicit().doit().subs(vals)
    paper = STATEMENTS["T1b"].explicit().doit().subs(vals)
    assert b1 > paper
    assert b1 > 5 * paper


# --------------------------------------------------------------------------------------
# T2b chain (docs/theory.md §6)
# --------------------------------------------------------------------------------------


def test_root_sum_inequality():
    x, y = sp.symbols("x y", nonnegative=True)
    assert sp.expand(2 * (x + y) - (sp.sqrt(x) + sp.sqrt(y)) ** 2
                     - (sp.sqrt(x) - sp.sqrt(y)) ** 2) == 0


def test_gamma_overlap_bound_gap_is_explicit():
    # Gamma_o <= lam**2/(1-lam**2) lam**(2 o): the gap is lam**(2N+2)/(1-lam**2) >= 0
    o = sp.Symbol("o", integer=True, nonnegative=True)
    gap = lam**2 / (1 - lam**2) * lam ** (2 * o) - Gamma_m(lam, o, N).doit()
    assert sp.simplify(gap - lam ** (2 * N + 2) / (1 - lam**2)) == 0


def test_t2b_chain_on_dense_grid():
    """Largest A and B allowed by T1d + T1b/T1c and by H, against the T2b bound on a."""
    rng = np.random.default_rng(0)
    s = STATEMENTS["T2b"]
    t1b = STATEMENTS["T1b"]
    mid = sp.lambdify((sy.C, lam, m, N, sy.rho, sy.Delta_0, sy.Delta_01),
                      t1b.explicit(t1b.chain[0]).doit(), "numpy")
    apriori = sp.lambdify(
        (sy.eps, sy.C, lam, sy.rho, sy.Delta_0, sy.Delta_01, sy.Delta_b, sy.C_star,
         sy.lam_star, sy.H, sy.S, sy.T, m, sy.o_min),
        s.explicit().doit(), "numpy",
    )
    checked = 0
    for lam_, lam_s, N_, stride in itertools.product((0.3, 0.8, 0.97), (0.5, 0.9),
                                                     (4, 12), (1, 3)):
        if stride >= N_:
            continue
        S_ = 6
        T_ = (S_ - 1) * stride + N_
        o_min_ = N_ - stride
        for m_ in range(0, o_min_ + 1):
            eps_, C_, Cs, rho_ = 2.0, 1.3, 0.9, 0.4
            D0, D01, Db, H_ = 0.8, 0.6, 0.5, 1.1
            K = S_ * (N_ - m_)
            gap_star = mid(C_, lam_, m_, N_, rho_, D0, D01)
            gap_b = mid(C_, lam_, m_, N_, rho_, Db, Db)
            A = 2 * eps_ / (eps_ - 1) * K * (gap_star + gap_b)  # >= A_J
            phis = H_ * rng.uniform(0, 1, S_ - 1)
            phis[0] = H_
            js = np.arange(o_min_ + 1, N_ + 1)
            B = Cs**2 * np.sum(phis**2) * np.sum(lam_s ** (2 * js))
            a_post = (np.sqrt(A) + np.sqrt(B)) / np.sqrt(T_ - m_)
            a_pri = apriori(eps_, C_, lam_, rho_, D0, D01, Db, Cs, lam_s, H_, S_, T_, m_,
                            o_min_)
            assert a_post <= a_pri * (1 + GRID_RTOL)
            checked += 1
    assert checked > 50


# --------------------------------------------------------------------------------------
# LaTeX
# --------------------------------------------------------------------------------------


ALL_STATEMENTS = [*STATEMENTS.values(), T2A_ROOT]


@pytest.mark.parametrize("stmt", ALL_STATEMENTS, ids=lambda s: f"{s.tag}-{s.title}")
def test_latex_renders_with_mathtext(stmt):
    tex = stmt.latex()
    assert r"\operatorname" not in tex and r"\begin" not in tex
    buf = io.BytesIO()
    mathtext.math_to_image(f"${tex}$", buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"


def test_headline_latex():
    h = sy.headline_latex()
    assert set(h) == {"T1b", "T2b"}
    assert r"C_2 \lambda^{m}" in h["T1b"]
    assert r"o_{\min}" in h["T2b"]


def test_theory_document_shows_the_headline_bounds():
    """docs/theory.md shows headline_latex() verbatim: the bounds as the code states them."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "theory.md").read_text()
    for tex in sy.headline_latex().values():
        assert tex in text
