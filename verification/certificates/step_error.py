"""Float error of one cell step: the next state computed in IEEE double against the exact one.

:func:`step` evaluates ``f(z, x)`` of an Elman, LSTM or GRU cell (``systems`` parameter names)
at a state ``z`` and input ``x`` that are doubles (so exact), and returns the computed state
``zh`` with a componentwise bound ``err >= |zh - f(z, x)|``, and the bounds of the float
error of every activation's argument (``pre``; :mod:`~verification.certificates.tube` widens
its Jacobian enclosure by them). It is the one float-error model of a step that both on-data
certificates use (:func:`~verification.certificates.ondata.pair_bounds` for the traced pairs,
:func:`~verification.certificates.ondata.segment_parts` for the traced piece centres).

Arithmetic (IEEE 754 double, round to nearest, ``U = 2**-53``; Higham, *Accuracy and Stability
of Numerical Algorithms*, 2nd ed., §2.2, §3.1):

(F1) ``fl(a op b) = (a op b)(1 + delta)``, ``|delta| <= U`` for ``+ - * /`` (no overflow;
     an underflow adds an absolute error below ``interval.ABS = 1e-300``).
(F2) A sum of ``k`` terms, each a double or a product of two doubles, computed in any order
     (BLAS blocking, FMA or not) is within ``gamma_k sum_l |term_l|`` of the exact sum,
     ``gamma_k = k U / (1 - k U)`` (:func:`interval.gamma`; Higham Lemma 3.1 and (3.4)).
(F3) ``tanh`` and the sigmoid (``expit``) return ``phi(a)`` within ``FN_ULPS`` ulps, i.e.
     within ``FN_REL |phi(a)|`` (:mod:`~verification.certificates.interval`).
(F4) Mean value: ``|phi(ah) - phi(a)| <= sup_{|s - ah| <= e} |phi'(s)| e`` for
     ``|ah - a| <= e`` (:func:`interval.d1`, cancellation-free, rounded up).
(F5) Products of inexact factors: if ``|fh - F| <= e_f`` and ``|gh - G| <= e_g`` then
     ``|fl(fh gh) - F G| <= U |fh gh| + e_f (|gh| + e_g) + |fh| e_g`` (:func:`interval.dev_prod`).

The step, and the bound of every quantity it computes (``h`` the hidden part of ``z``, ``c`` the
LSTM cell state; all elementwise; ``|W|`` entrywise):

* pre-activation ``a = W_hh h + W_ih x + b_ih + b_hh`` (Elman: ``W_hh z + W_xh x + b_h``), a sum
  of ``k = n_h + n_x + (number of bias vectors)`` terms per row: by (F2)
  ``e_a = gamma_k (|W_hh| |h| + |W_ih| |x| + |b_ih| + |b_hh|)``. The input and bias terms count in
  full: ``W_ih x ~ 1e6`` against ``b ~ -1e6`` leaves ``a ~ 1`` with an error ~1e-10, not ~1e-16.
* activation ``vh = fl(phi(ah))``: by (F3) and (F4) ``e_v = FN_REL |vh| + d1(phi, ah, e_a) e_a``.
* Elman: ``z+ = tanh(a)``: ``err = e_v`` (linear: ``err = e_a``).
* LSTM (gates ``i, f, o`` sigmoid, ``g`` tanh; ``c+ = f c + i g``, ``h+ = o tanh(c+)``):
  ``e_c = gamma_2 (|fh c| + |ih gh|) + e_f |c| + dev_prod(ih, e_i, gh, e_g)`` (F1, F5);
  ``T = tanh(c+)``: ``e_T = FN_REL |Th| + d1(tanh, ch, e_c) e_c``;
  ``e_h = U |oh Th| + dev_prod(oh, e_o, Th, e_T)``. ``err = (e_h, e_c)``.
* GRU (``r, u`` sigmoid of ``W_i. x + b_i. + W_h. h + b_h.``; ``q = W_hn h + b_hn``,
  ``p = (W_in x + b_in) + r q``, ``n = tanh(p)``, ``h+ = (1 - u) n + u h``):
  ``e_q = gamma_(n_h+1) (|W_hn| |h| + |b_hn|)``, ``e_in = gamma_(n_x+1) (|W_in| |x| + |b_in|)``;
  ``e_p = e_in + dev_prod(rh, e_r, qh, e_q) + gamma_2 (|inh| + |rh qh|)``;
  ``e_n = FN_REL |nh| + d1(tanh, ph, e_p) e_p``; ``w = fl(1 - uh)`` with
  ``e_w = e_u + U |w|``; ``err = gamma_2 (|w nh| + |uh h|) + dev_prod(w, e_w, nh, e_n)
  + e_u |h|``.

Every bound is rounded up with :func:`interval.up` (relative ``1e-12``: it also covers the float
error of evaluating the bound itself, a few dozen operations on non-negative numbers).
``pre`` (the arguments of the activations, each within this of its exact value; ``n = n_h``):
Elman ``(B, n)``: ``e_a``; LSTM ``(B, 5 n)``: ``e_a`` of the gates ``i, f, g, o``, then ``e_c``;
GRU ``(B, 4 n)``: ``e_a`` of ``r, u``, then ``e_q``, then ``e_p``. The same bounds hold for any
evaluation of the same formula (the model's own ``step`` and ``jacobian`` included), since
(F2) holds for every summation order.

Examples
--------
>>> from systems.rnn import ElmanRNN
>>> m = ElmanRNN([[0.5]], [[1.0]], [-1e6], [[1.0]], None)
>>> s = step(m, np.array([[0.0]]), np.array([[1e6 + 0.5]]))
>>> float(s.z[0, 0]) == float(np.tanh(0.5)), bool(1e-11 < s.err[0, 0] < 1e-9)
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from verification.certificates.interval import FN_REL, U, d1, dev_prod, gamma, sigmoid, up

CELLS = ("elman", "lstm", "gru")


def cell_of(model: object) -> str:
    """``"elman"``, ``"lstm"`` or ``"gru"``: the model's ``cell`` attribute (Elman if absent)."""
    cell = getattr(model, "cell", "elman")
    if cell not in CELLS:
        raise ValueError(f"model.cell must be one of {CELLS}, got {cell!r}")
    return cell


@dataclass(frozen=True)
class Step:
    """One computed step and its float-error bounds (see the module docstring).

    Attributes
    ----------
    z : (B, n_z) the computed next state
    err : (B, n_z) ``>= |z - f(z_prev, x)|`` componentwise
    pre : (B, rows) bounds of the float error of every activation's argument (layout per cell
        in the module docstring)
    """

    z: np.ndarray
    err: np.ndarray
    pre: np.ndarray


def step(model: object, z: np.ndarray, x: np.ndarray) -> Step:
    """``f(z, x)`` in float64 with its float-error bound.

    Parameters
    ----------
    model : a cell with ``cell`` in :data:`CELLS` (``systems.rnn.ElmanRNN`` counts as Elman)
    z : (B, n_z) states (doubles, taken as exact)
    x : (B, n_x) inputs of the step

    Returns
    -------
    Step
    """
    cell = cell_of(model)
    z, x = np.asarray(z, dtype=np.float64), np.asarray(x, dtype=np.float64)
    if cell == "elman":
        return _elman(model, z, x)
    return _lstm(model, z, x) if cell == "lstm" else _gru(model, z, x)


def affine(pairs: list[tuple[np.ndarray, np.ndarray]], biases: list[np.ndarray]
           ) -> tuple[np.ndarray, np.ndarray]:
    """``sum_l v_l W_l^T + sum b`` and its float-error bound (F2): ``(value, e)``, (B, rows).

    ``pairs`` of ``(W : (rows, n_l), v : (B, n_l))``; ``k = sum_l n_l + len(biases)`` terms.
    """
    W = np.concatenate([np.asarray(W, dtype=np.float64) for W, _ in pairs], axis=1)
    v = np.concatenate([np.asarray(v, dtype=np.float64) for _, v in pairs], axis=1)
    val = v @ W.T + sum(biases)
    mag = np.abs(v) @ np.abs(W).T + sum(np.abs(b) for b in biases)
    g = gamma(W.shape[1] + len(biases))
    return val, up(g * (1.0 + 2.0 * g) * mag)


def _act(kind: str, a: np.ndarray, e_a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``fl(phi(a))`` and its error for an argument known to ``e_a`` ((F3), (F4))."""
    v = np.tanh(a) if kind == "tanh" else sigmoid(a)
    return v, up(FN_REL * np.abs(v) + d1(kind, a, e_a) * e_a)


def _elman(model, z, x):
    a, e_a = affine([(np.asarray(model.W_hh, float), z), (np.asarray(model.W_xh, float), x)],
                    [np.asarray(model.b_h, float)])
    if getattr(model, "activation", "tanh") == "linear":
        return Step(a, e_a, e_a)
    h, e_h = _act("tanh", a, e_a)
    return Step(h, e_h, e_a)


def _lstm(model, z, x):
    n = model.W_hh.shape[1]
    h, c = z[:, :n], z[:, n:]
    a, e_a = affine([(model.W_ih, x), (model.W_hh, h)], [model.b_ih, model.b_hh])
    v, e = {}, {}
    for j, k in enumerate("ifgo"):
        sl = slice(j * n, (j + 1) * n)
        v[k], e[k] = _act("tanh" if k == "g" else "sigmoid", a[:, sl], e_a[:, sl])
    fc, ig = v["f"] * c, v["i"] * v["g"]
    c_new = fc + ig
    e_c = up(gamma(2) * (np.abs(fc) + np.abs(ig)) + e["f"] * np.abs(c)
             + dev_prod(v["i"], e["i"], v["g"], e["g"]))
    T, e_T = _act("tanh", c_new, e_c)
    h_new = v["o"] * T
    e_h = up(U * np.abs(h_new) + dev_prod(v["o"], e["o"], T, e_T))
    return Step(np.concatenate([h_new, c_new], axis=1), np.concatenate([e_h, e_c], axis=1),
                np.concatenate([e_a, e_c], axis=1))


def _gru(model, h, x):
    n = model.W_hh.shape[1]
    W_ih, W_hh, b_ih, b_hh = model.W_ih, model.W_hh, model.b_ih, model.b_hh
    ru = slice(0, 2 * n)
    a, e_a = affine([(W_ih[ru], x), (W_hh[ru], h)], [b_ih[ru], b_hh[ru]])
    q, e_q = affine([(W_hh[2 * n:], h)], [b_hh[2 * n:]])
    i_n, e_in = affine([(W_ih[2 * n:], x)], [b_ih[2 * n:]])
    r, e_r = _act("sigmoid", a[:, :n], e_a[:, :n])
    u, e_u = _act("sigmoid", a[:, n:], e_a[:, n:])
    rq = r * q
    p = i_n + rq
    e_p = up(e_in + dev_prod(r, e_r, q, e_q) + gamma(2) * (np.abs(i_n) + np.abs(rq)))
    nv, e_n = _act("tanh", p, e_p)
    w = 1.0 - u
    e_w = up(e_u + U * np.abs(w))
    wn, uh = w * nv, u * h
    err = up(gamma(2) * (np.abs(wn) + np.abs(uh)) + dev_prod(w, e_w, nv, e_n) + e_u * np.abs(h))
    return Step(wn + uh, err, np.concatenate([e_a, e_q, e_p], axis=1))
