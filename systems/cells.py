"""The model interface that every cell implements, the cells by name, and loading a model.

Every model class (:class:`~systems.rnn.ElmanRNN`, :class:`~systems.lstm.LSTM`,
:class:`~systems.gru.GRU`) is a state-space system (docs/theory.md §1)::

    z_{t+1} = f(z_t, x_{t+1}; theta),    y_{t+1} = g(z_{t+1}; theta) = W_hy h_{t+1} + b_y

with state ``z : (n_z,)`` whose first ``n_h`` entries are ``h``, and offers

* ``cell`` (``"elman" | "lstm" | "gru"``), ``n_x, n_h, n_y, n_z``;
* ``theta`` (flat float64), ``Class.from_theta(theta, n_x=, n_h=, n_y=, **model.options)``,
  ``with_theta(theta)``;
* ``simulate(x, z0=None) -> (z, y)``, ``x : (T, n_x)`` or ``(S, T, n_x)``,
  ``z : (..., T + 1, n_z)`` with ``z[..., 0, :] = z0``, ``y : (..., T, n_y)``;
* ``step(z, x) -> f(z, x)`` and ``output(z) -> g(z)`` on batches ``(B, n_z)``;
* ``jacobian(z, x) -> df/dz : (B, n_z, n_z)`` and ``output_matrix = dg/dz : (n_y, n_z)``;
* ``save(path)`` / ``Class.load(path)`` (``.npz`` with the cell kind stored).

:func:`load_model` reads the toolkit's ``.npz`` of any cell and ``torch.save``'d state dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .gru import GRU
from .lstm import LSTM
from .rnn import ElmanRNN
from .torch_io import read_state_dict

#: The model classes by their ``cell`` name.
CELLS: dict[str, type] = {"elman": ElmanRNN, "lstm": LSTM, "gru": GRU}

Model = ElmanRNN | LSTM | GRU


def check_cell(cell: object) -> str:
    """Return ``cell`` if it is one of ``"elman", "lstm", "gru"``, else raise ``ValueError``."""
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {tuple(CELLS)}, got {cell!r}")
    return str(cell)


def model_class(cell: str) -> type:
    """The model class of ``cell`` (``"elman"``, ``"lstm"`` or ``"gru"``)."""
    return CELLS[check_cell(cell)]


def load_model(path: str | Path) -> Model:
    """Read a model: the toolkit's ``.npz`` (any cell) or a ``torch.save``'d state dict.

    Parameters
    ----------
    path : ``.npz`` written by ``save`` (a file without a ``cell`` entry is an Elman RNN, as
        written before gated cells existed), or a ``.pt``/``.pth`` state dict of a one-layer
        ``nn.RNN`` (tanh), ``nn.LSTM`` or ``nn.GRU`` plus an ``nn.Linear`` readout, read by
        :func:`systems.torch_io.read_state_dict` (no torch import; only a state dict's
        globals are accepted)

    Returns
    -------
    ElmanRNN, LSTM or GRU (float64)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as f:
                cell = str(f["cell"]) if "cell" in f.files else "elman"
        except Exception as exc:
            raise ValueError(f"{str(path)!r} is not a readable .npz model file: {exc}") from exc
        if cell not in CELLS:
            raise ValueError(f"{str(path)!r} holds an unknown cell {cell!r}")
        return CELLS[cell].load(path)
    return model_from_state_dict(read_state_dict(path), where=str(path))


def model_from_state_dict(state: Mapping[str, np.ndarray], where: str = "state dict") -> Model:
    """Build a model from a one-layer torch RNN/LSTM/GRU state dict plus a linear readout.

    The recurrent layer is recognised by its keys ``<prefix>weight_ih_l0``,
    ``<prefix>weight_hh_l0`` (``bias_ih_l0``, ``bias_hh_l0`` optional) and its kind by the
    rows of ``weight_hh_l0``: ``n_h`` (``nn.RNN``, tanh), ``3 n_h`` (GRU), ``4 n_h`` (LSTM).
    The readout is the one other ``<prefix>weight : (n_y, n_h)`` with optional ``bias``.
    """
    state = {k: np.asarray(v, dtype=np.float64) for k, v in state.items()}
    ih = [k for k in state if k.endswith("weight_ih_l0")]
    deeper = sorted(k for k in state if k.endswith(("_l1", "_reverse")) or "_l1_" in k)
    if len(ih) != 1 or deeper:
        raise ValueError(
            f"{where}: expected one single-layer unidirectional recurrent layer "
            f"(one '*weight_ih_l0'), found keys {sorted(state)}"
        )
    pre = ih[0][: -len("weight_ih_l0")]
    if pre + "weight_hh_l0" not in state:
        raise ValueError(f"{where} lacks {pre + 'weight_hh_l0'!r}")
    W_ih, W_hh = state[pre + "weight_ih_l0"], state[pre + "weight_hh_l0"]
    b_ih, b_hh = state.get(pre + "bias_ih_l0"), state.get(pre + "bias_hh_l0")
    if W_hh.ndim != 2:
        raise ValueError(f"{where}: weight_hh_l0 must be 2-D, got shape {W_hh.shape}")
    n_h = W_hh.shape[1]
    rest = {k: v for k, v in state.items() if not k.startswith(pre) or "_l0" not in k}
    heads = [k for k, v in rest.items() if k.endswith("weight") and v.ndim == 2
             and v.shape[1] == n_h]
    if len(heads) != 1:
        raise ValueError(
            f"{where}: expected one linear readout '<name>.weight' of shape (n_y, {n_h}), "
            f"found {heads} among {sorted(rest)}"
        )
    W_hy = rest[heads[0]]
    b_y = rest.get(heads[0][: -len("weight")] + "bias")
    kinds = {n_h: "elman", 3 * n_h: "gru", 4 * n_h: "lstm"}
    if W_hh.shape[0] not in kinds:
        raise ValueError(f"{where}: weight_hh_l0 has shape {W_hh.shape}; expected (k n_h, n_h) "
                         "with k = 1 (RNN), 3 (GRU) or 4 (LSTM)")
    cell = kinds[W_hh.shape[0]]
    if cell == "elman":
        b_h = (np.zeros(n_h) if b_ih is None else b_ih) + (0.0 if b_hh is None else b_hh)
        return ElmanRNN(W_hh, W_ih, b_h, W_hy, b_y, activation="tanh")
    return CELLS[cell](W_ih, W_hh, b_ih, b_hh, W_hy, b_y)
