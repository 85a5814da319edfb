"""How far a cell's Jacobian can move over a ball: the second-order term of the on-data certificate.

For a cell ``z+ = f(z, x)`` with Jacobian ``J(z, x) = df/dz`` (``(n_z, n_z)``), a traced state
``z`` and a tube cross-section ``z' = z + s p + b`` (``|s| <= 1``, ``||b||_2 <= rho``: a segment
of direction ``p`` thickened by a ball), :func:`jacobian_deviation` returns ``Dev >= 0`` with

    |J(z', x) - J(z, x)| <= Dev    entrywise, for every such z',                    (T)

computed by midpoint-radius interval arithmetic on the cell's formula, every step rounded outward
(:mod:`~verification.certificates.interval`). Each Jacobian entry is a sum of products of scalar
factors (gate values, activation slopes, state entries); each factor gets its value at ``z`` and a
bound of its deviation over the cross-section, products combine by
``|FG - fg| <= |F - f| (|g| + |G - g|) + |f| |G - g|``, a state entry moves by at most
``|p_l| + rho`` and a pre-activation ``a = W z + ...`` by at most ``|(W p)_k| + ||W_k||_2 rho``
in row ``k`` (the segment part is exact in direction: this is what keeps thin tubes thin).
Then ``||(J(z') - J(z)) v|| <= || Dev |v| ||`` and ``||J(z') - J(z)||_2 <= ||Dev||_2 <=``
:func:`spectral_upper` ``(Dev)``.

``Dev`` also covers the float error of the model's own ``jacobian`` at ``z``, in two parts.
(1) Its activations are evaluated at computed arguments (pre-activations, the LSTM's ``c+``, the
GRU's ``q`` and ``n``-argument), each within ``e`` of the exact one
(:mod:`~verification.certificates.step_error`, ``Step.pre``: the input and bias terms count);
so are the midpoints computed here. Every such radius is widened by ``3 e``: the exact
arguments over the cross-section lie within ``r + e`` of the midpoint, the model's within
``2 e``, and the enclosure is superadditive in its radii (``d(r) r`` with ``d`` non-decreasing,
and :func:`~verification.certificates.interval.dev_prod`), so one enclosure over ``r + 3 e``
bounds both deviations together. (2) The elementary roundings of the products and sums of the
entries: ``JAC_REL`` times the sum of the absolute terms of each entry with every gate and slope
factor at its largest value (``1 - u`` with ``u`` near 1 is computed to an absolute, not a
relative, ``eps``: the float error of a saturated factor does not shrink with it).

Cells (parameter names as in ``systems``; ``s`` = sigmoid):

* ``elman``: ``h+ = tanh(W_hh h + W_xh x + b_h)``, ``J = diag(tanh'(a)) W_hh``; linear: ``Dev = 0``.
* ``lstm`` (torch gate order i, f, g, o; ``z = (h, c)``): ``c+ = f c + i g``, ``h+ = o tanh(c+)``.
* ``gru`` (gates r, z, n): ``n = tanh(W_in x + b_in + r (W_hn h + b_hn))``,
  ``h+ = (1 - z) n + z h``.
"""

from __future__ import annotations

import numpy as np

from verification.certificates import interval
from verification.certificates.interval import dev_prod, gamma, up
from verification.certificates.step_error import CELLS, cell_of
from verification.certificates.step_error import step as step_enclosure

__all__ = ["CELLS", "JAC_REL", "cell_of", "jacobian_deviation", "spectral_upper"]

#: Relative float error allowed for the model's own ``jacobian`` (few ulps per elementary
#: function, a few dozen operations per entry; 1e-12 leaves a factor ~1e2 to spare).
JAC_REL = 1e-12


def _rownorm(W: np.ndarray) -> np.ndarray:
    return up(np.sqrt(np.sum(W * W, axis=1)))


def spectral_upper(Dev: np.ndarray) -> np.ndarray:
    """Upper bound ``min(||Dev||_F, sqrt(||Dev||_1 ||Dev||_inf))`` of ``||Dev||_2``: (B,)."""
    fro = np.sqrt(np.einsum("bij,bij->b", Dev, Dev))
    one_inf = np.sqrt(Dev.sum(axis=1).max(axis=1) * Dev.sum(axis=2).max(axis=1))
    return up(np.minimum(fro, one_inf))


def jacobian_deviation(model: object, z: np.ndarray, x: np.ndarray, p: np.ndarray,
                       rho: np.ndarray, crude: bool = False,
                       pre: np.ndarray | None = None) -> np.ndarray:
    """Entrywise bound ``Dev`` of (T) over ``z' = z + s p + b``, ``|s| <= 1``, ``||b|| <= rho``.

    Parameters
    ----------
    model : a cell with ``cell`` in :data:`CELLS` (``systems.rnn.ElmanRNN`` counts as Elman)
    z : (B, n_z) centre states
    x : (B, n_x) inputs of the step
    p : (B, n_z) segment direction of the cross-section (zeros for a ball)
    rho : (B,) ball radius, ``>= 0``
    crude : bound the activations' slopes and curvatures by their suprema over the real line
        instead of over each interval (cheaper; as good when the cross-section is tiny, e.g.
        the float error of a traced trajectory)
    pre : (B, rows) the float-error bounds of the activations' arguments at ``(z, x)``
        (``step_error.step(model, z, x).pre``; computed here if ``None``)

    Returns
    -------
    Dev : (B, n_z, n_z) non-negative, ``|J(z', x) - J(z, x)| <= Dev`` (float error of the
        model's Jacobian at ``z`` included)
    """
    cell = cell_of(model)
    z, x, p = (np.asarray(a, float) for a in (z, x, p))
    rho = np.asarray(rho, float)
    d = (interval.d1_global, interval.d2_global) if crude else (interval.d1, interval.d2)
    # the float error of the arguments, tripled (see the module docstring)
    wide = 3.0 * (step_enclosure(model, z, x).pre if pre is None else np.asarray(pre, float))
    if cell == "elman":
        return _elman(model, z, x, p, rho, wide, *d)
    if cell == "lstm":
        return _lstm(model, z, x, p, rho, wide, *d)
    return _gru(model, z, x, p, rho, wide, *d)


def _radius(W: np.ndarray, p: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """``|W p| + ||W_k|| rho`` (+ the float error of ``W p``): how far ``W z`` moves over the
    cross-section, (B, rows)."""
    r = _rownorm(W)[None, :] * rho[:, None]
    if np.any(p):  # (a ball alone has p = 0)
        r = r + np.abs(p @ W.T) + gamma(W.shape[1]) * (np.abs(p) @ np.abs(W).T)
    return up(r)


def _elman(model, h, x, p, rho, wide, d1, d2):
    W = model.W_hh
    if getattr(model, "activation", "tanh") == "linear":
        return np.zeros((h.shape[0], *W.shape))
    a = h @ W.T + x @ model.W_xh.T + model.b_h
    r = up(_radius(W, p, rho) + wide)
    absW = np.abs(W)[None]
    dslope = up(d2("tanh", a, r) * r)  # |tanh'(a') - tanh'(a)|
    return up(dslope[:, :, None] * absW + JAC_REL * absW)


def _lstm(model, z, x, p, rho, wide, d1, d2):
    n = model.W_hh.shape[1]
    h, c = z[:, :n], z[:, n:]
    W = model.W_hh
    a = x @ model.W_ih.T + h @ W.T + model.b_ih + model.b_hh
    r = up(_radius(W, p[:, :n], rho) + wide[:, :4 * n])  # pre-activation radius
    sl = {k: slice(j * n, (j + 1) * n) for j, k in enumerate("ifgo")}
    Wk = {k: np.abs(W[sl[k]])[None] for k in "ifgo"}
    val, dev, slope, dslope = {}, {}, {}, {}
    for k in "ifgo":
        kind = "tanh" if k == "g" else "sigmoid"
        ak, rk = a[:, sl[k]], r[:, sl[k]]
        (val[k], slope[k]), _ = interval.derivatives(kind, ak, 1)
        dev[k] = up(d1(kind, ak, rk) * rk)
        dslope[k] = up(d2(kind, ak, rk) * rk)
    Dn = up(np.abs(p[:, n:]) + rho[:, None])  # how far each c entry moves
    # c+ = f c + i g and its deviation
    cp = val["f"] * c + val["i"] * val["g"]
    dcp = up(dev_prod(val["f"], dev["f"], c, Dn) + dev_prod(val["i"], dev["i"], val["g"], dev["g"])
             + wide[:, 4 * n:])
    (T, tslope), _ = interval.derivatives("tanh", cp, 1)
    dT = up(d1("tanh", cp, dcp) * dcp)
    dtslope = up(d2("tanh", cp, dcp) * dcp)
    # dc+/dh = diag(c s'(a_f)) W_f + diag(g s'(a_i)) W_i + diag(i tanh'(a_g)) W_g
    u_f, du_f = c * slope["f"], dev_prod(c, Dn, slope["f"], dslope["f"])
    u_i, du_i = val["g"] * slope["i"], dev_prod(val["g"], dev["g"], slope["i"], dslope["i"])
    u_g, du_g = val["i"] * slope["g"], dev_prod(val["i"], dev["i"], slope["g"], dslope["g"])
    M_abs = (np.abs(u_f)[:, :, None] * Wk["f"] + np.abs(u_i)[:, :, None] * Wk["i"]
             + np.abs(u_g)[:, :, None] * Wk["g"])
    dM = up(du_f[:, :, None] * Wk["f"] + du_i[:, :, None] * Wk["i"] + du_g[:, :, None] * Wk["g"])
    # dh+/dh = diag(T s'(a_o)) W_o + diag(o tanh'(c+)) dc+/dh
    du_o = dev_prod(T, dT, slope["o"], dslope["o"])
    w, dw = val["o"] * tslope, dev_prod(val["o"], dev["o"], tslope, dtslope)
    dH = up(du_o[:, :, None] * Wk["o"] + dw[:, :, None] * (M_abs + dM)
            + np.abs(w)[:, :, None] * dM)
    # dc+/dc = diag(f), dh+/dc = diag(o tanh'(c+) f)
    dwf = dev_prod(w, dw, val["f"], dev["f"])
    B = z.shape[0]
    Dev = np.zeros((B, 2 * n, 2 * n))
    eye = np.eye(n, dtype=bool)
    # float error of the model's Jacobian: every factor at its largest value (|c| as is)
    M_top = np.abs(c)[:, :, None] * Wk["f"] / 4 + Wk["i"] / 4 + Wk["g"]
    Dev[:, :n, :n] = up(dH + JAC_REL * (Wk["o"] / 4 + M_top))
    Dev[:, n:, :n] = up(dM + JAC_REL * M_top)
    Dev[:, n:, n:][:, eye] = up(dev["f"] + JAC_REL)
    Dev[:, :n, n:][:, eye] = up(dwf + JAC_REL)
    return Dev


def _gru(model, h, x, p, rho, wide, d1, d2):
    n = model.W_hh.shape[1]
    W = model.W_hh
    gi = x @ model.W_ih.T + model.b_ih
    gh = h @ W.T + model.b_hh
    rad = up(_radius(W, p, rho) + wide[:, :3 * n])
    sr, sz, sn = slice(0, n), slice(n, 2 * n), slice(2 * n, 3 * n)
    Wr, Wz, Wn = (np.abs(W[s])[None] for s in (sr, sz, sn))
    a_r, a_z, q = gi[:, sr] + gh[:, sr], gi[:, sz] + gh[:, sz], gh[:, sn]
    r_r, r_z, dq = rad[:, sr], rad[:, sz], rad[:, sn]
    (rv, sr_), _ = interval.derivatives("sigmoid", a_r, 1)
    (zv, sz_), _ = interval.derivatives("sigmoid", a_z, 1)
    dr, dz = up(d1("sigmoid", a_r, r_r) * r_r), up(d1("sigmoid", a_z, r_z) * r_z)
    dsr, dsz = up(d2("sigmoid", a_r, r_r) * r_r), up(d2("sigmoid", a_z, r_z) * r_z)
    a_n = gi[:, sn] + rv * q
    da_n = up(dev_prod(rv, dr, q, dq) + wide[:, 3 * n:])
    (nv, tn), _ = interval.derivatives("tanh", a_n, 1)
    dn = up(d1("tanh", a_n, da_n) * da_n)
    dtn = up(d2("tanh", a_n, da_n) * da_n)
    # K = diag(q s'(a_r)) W_hr + diag(r) W_hn
    uq, duq = q * sr_, dev_prod(q, dq, sr_, dsr)
    K_abs = np.abs(uq)[:, :, None] * Wr + np.abs(rv)[:, :, None] * Wn
    dK = up(duq[:, :, None] * Wr + dr[:, :, None] * Wn)
    # term1 = diag((1 - z) tanh'(a_n)) K
    P, dP = (1 - zv) * tn, dev_prod(1 - zv, dz, tn, dtn)
    d1_ = up(dP[:, :, None] * (K_abs + dK) + np.abs(P)[:, :, None] * dK)
    # term2 = diag((h - n) s'(a_z)) W_hz
    hn, dhn = h - nv, up(np.abs(p) + rho[:, None] + dn)
    du2 = dev_prod(hn, dhn, sz_, dsz)
    d2_ = up(du2[:, :, None] * Wz)
    # float error of the model's Jacobian: every factor at its largest value
    J_top = (np.abs(q)[:, :, None] * Wr / 4 + Wn + (np.abs(h)[:, :, None] + 1.0) * Wz / 4)
    Dev = up(d1_ + d2_ + JAC_REL * J_top)
    eye = np.eye(n, dtype=bool)
    Dev[:, eye] = up(Dev[:, eye] + dz + JAC_REL)
    return Dev
