"""Global A1 certificates for LSTM and GRU cells: incremental ISS by an infinity-norm small gain.

The conditions are those of the delta-ISS literature for gated cells, checked per row:

* LSTM: Terzi, Bonassi, Farina, Scattolini, "Learning model predictive control with long
  short-term memory networks", Int. J. Robust Nonlinear Control 31 (2021) 8877-8896 (the
  delta-ISS condition ``rho(A_delta) < 1``; see also Bonassi, Terzi, Farina, Scattolini,
  "LSTM neural networks: input to state stability and probabilistic safety verification",
  L4DC 2020, for the ISS form and the invariant set).
* GRU: Bonassi, Farina, Scattolini, "On the stability properties of Gated Recurrent Units
  neural networks", Systems & Control Letters 157 (2021) 105049.

Both assume inputs bounded in the infinity norm (here ``||x_t||_inf <= x_bar``, taken from the
data, since the benchmarks' scaled inputs are not in ``[-1, 1]``) and states in the invariant set
``||h||_inf <= 1`` (and ``||c||_inf <= c_bar`` for the LSTM). Every gate value is then bounded:
for gate ``g`` and row ``k``, ``|a_gk| <= |b_gk| + ||W_ih,gk||_1 x_bar + ||W_hh,gk||_1 = a_bar``.

LSTM (our derivation of the same small-gain matrix, rows maximised separately).
With ``s_g = max_k sigma(a_bar_gk)`` for ``g = i, f, o``, ``c_bar = s_i / (1 - s_f)`` (``|c+| <=
s_f |c| + s_i`` keeps ``|c| <= c_bar``), and for two states and the same input:

    ||dc+|| <= s_f ||dc|| + alpha ||dh||,
        alpha = max_k (c_bar/4 ||W_hf,k||_1 + s_i ||W_hg,k||_1 + g_bar/4 ||W_hi,k||_1),
    ||dh+|| <= s_o ||dc+|| + tanh(c_bar)/4 ||W_ho||_inf ||dh||,

so ``m_t = (||dc_t||, ||dh_t||) <= A m_{t-1}`` with
``A = [[s_f, alpha], [s_o s_f, s_o alpha + tanh(c_bar)/4 ||W_ho||_inf]]`` (the paper's
``A_delta``). If ``lam = rho(A) < 1`` and ``A p <= lam p`` (``p > 0``, Collatz-Wielandt), then
``||dy_j|| <= ||W_hy||_{inf->2} (p_h / min p) lam**j ||dz_0||_2``: A1 with
``C = ||W_hy||_{inf->2} p_h / min(p)``.

GRU (rows ``k``; update gate ``u`` in ``[u_lo, u_hi]``, reset gate ``r <= r_bar``,
``|W_hn h + b_hn| <= q_bar``):

    |dh+_k| <= ((1 - u) a_k + u + 2/4 ||W_hu,k||_1) ||dh||,   a_k = r_bar_k ||W_hn,k||_1
                                                                  + q_bar_k/4 ||W_hr,k||_1,

maximised over ``u in {u_lo_k, u_hi_k}`` (affine in ``u``); ``lam`` is the largest row value and
``C = ||W_hy||_{inf->2}``.

A condition that fails is reported with the failing quantity (``lam - 1``, e.g. ``+9``). A model
with two attractors under some admissible input can never pass: the condition makes every pair of
trajectories in the invariant set converge.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from verification.certificates.interval import sigmoid, up
from verification.certificates.tube import cell_of


@dataclass(frozen=True)
class GlobalCertificate:
    """A global A1 certificate (kind ``"global"``) or the reason there is none.

    Attributes
    ----------
    lam, C : float
        A1 constants on the region (``nan`` when not verified).
    verified : bool
    region : str
        The states and inputs the certificate covers.
    quantity : str
        The quantity that must be ``< 1`` (e.g. ``"rho(A_delta)"``).
    value : float
        Its value (``>= 1`` when the condition fails).
    reason : str
    cell : str
    seconds : float
    kind : str
        Always ``"global"``.
    state_bounds : tuple
        ``(h_bar,)`` or ``(h_bar, c_bar)``: the infinity-norm bounds of the invariant set.
    """

    lam: float
    C: float
    verified: bool
    region: str
    quantity: str
    value: float
    reason: str
    cell: str
    seconds: float
    kind: str = "global"
    state_bounds: tuple[float, ...] = ()


def inf_to_2(W: np.ndarray) -> float:
    """Upper bound of ``||W||_{inf->2} = max_{||x||_inf <= 1} ||W x||_2``."""
    W = np.abs(np.asarray(W, float))
    rows = np.sqrt(np.sum(W.sum(axis=1) ** 2))
    return float(up(min(rows, np.sqrt(W.shape[1]) * np.linalg.norm(W, 2) * (1 + 1e-12))))


def _a_bar(W_ih, W_hh, b, x_bar):
    return up(np.abs(b) + np.abs(W_ih).sum(axis=1) * x_bar + np.abs(W_hh).sum(axis=1))


def certify_global(model: object, x_bar: float) -> GlobalCertificate:
    """Check the delta-ISS condition of an LSTM or GRU for inputs ``||x_t||_inf <= x_bar``.

    Parameters
    ----------
    model : ``systems.LSTM`` or ``systems.GRU`` (Elman RNNs: use ``lmi_c.certify``)
    x_bar : float >= 0
        Bound of the inputs' infinity norm (e.g. ``max |x|`` over the data).

    Returns
    -------
    GlobalCertificate
    """
    t0 = time.perf_counter()
    if not (np.isfinite(x_bar) and x_bar >= 0):
        raise ValueError(f"x_bar must be a finite number >= 0, got {x_bar}")
    cell = cell_of(model)
    if cell == "elman":
        raise ValueError("certify_global is for cell 'lstm' or 'gru'; for an Elman RNN use "
                         "verification.certificates.lmi_c.certify")
    n = model.W_hh.shape[1]
    b = model.b_ih + model.b_hh
    a_bar = _a_bar(model.W_ih, model.W_hh, b, x_bar)
    W1 = up(np.abs(model.W_hh).sum(axis=1))  # ||W_hh,k||_1 per row
    Cy = inf_to_2(model.W_hy)
    if cell == "lstm":
        s = {g: float(up(sigmoid(a_bar[j * n:(j + 1) * n]).max())) for j, g in enumerate("ifgo")}
        g_bar = float(up(np.tanh(a_bar[2 * n:3 * n]).max()))
        if s["f"] >= 1.0:
            return GlobalCertificate(np.nan, np.nan, False, "none", "sigma_f_bar", s["f"],
                                     "the forget gate can reach 1: no bounded cell state",
                                     cell, time.perf_counter() - t0)
        c_bar = float(up(s["i"] / (1.0 - s["f"])))
        rows = slice(0, n), slice(n, 2 * n), slice(2 * n, 3 * n), slice(3 * n, 4 * n)
        Wi, Wf, Wg, Wo = (W1[r] for r in rows)
        alpha = float(up(np.max(c_bar / 4 * Wf + s["i"] * Wg + g_bar / 4 * Wi)))
        A = np.array([[s["f"], alpha],
                      [up(s["o"] * s["f"]), up(s["o"] * alpha + np.tanh(c_bar) / 4 * Wo.max())]])
        lam, p = _perron(A)
        C = float(up(Cy * p[1] / p.min()))
        region = (f"||x_t||_inf <= {x_bar:.6g}, ||h||_inf <= 1, ||c||_inf <= c_bar = "
                  f"{c_bar:.6g} (invariant)")
        quantity = "rho(A_delta)"
        bounds = (1.0, c_bar)
    else:
        sr, su, sn = slice(0, n), slice(n, 2 * n), slice(2 * n, 3 * n)
        r_bar = up(sigmoid(a_bar[sr]))
        # update gate range: a_u in [b_u - R, b_u + R]
        R_u = a_bar[su] - np.abs(b[su])
        u_lo, u_hi = sigmoid(b[su] - R_u) * (1 - 1e-12), up(sigmoid(b[su] + R_u))
        q_bar = up(W1[sn] + np.abs(model.b_hh[sn]))
        a = up(r_bar * W1[sn] + q_bar / 4 * W1[sr])
        gain = np.maximum((1 - u_lo) * a + u_lo, (1 - u_hi) * a + u_hi)
        lam = float(up(np.max(gain + 0.5 * W1[su])))
        C = Cy
        region = f"||x_t||_inf <= {x_bar:.6g}, ||h||_inf <= 1 (invariant)"
        quantity = "max_k gain_k"
        bounds = (1.0,)
    ok = bool(lam < 1.0)
    reason = ("certified" if ok else
              f"{quantity} = {lam:.6g} >= 1 (violated by {lam - 1.0:+.4g})")
    return GlobalCertificate(lam if ok else np.nan, C if ok else np.nan, ok, region, quantity,
                             lam, reason, cell, time.perf_counter() - t0, state_bounds=bounds)


def _perron(A: np.ndarray) -> tuple[float, np.ndarray]:
    """A rate ``lam`` and ``p > 0`` with ``A p <= lam p`` for a non-negative 2x2 ``A``."""
    w, V = np.linalg.eig(A + 1e-15)
    k = int(np.argmax(w.real))
    p = np.abs(V[:, k].real)
    p = np.maximum(p, 1e-12 * p.max())
    lam = float(up(np.max(A @ p / p)))  # Collatz-Wielandt: A p <= lam p holds by construction
    return lam, p
