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

:func:`load_model` reads the toolkit's ``.npz`` of any cell and ``torch.save``'d state dicts
(:func:`torch_layout`: which key sets are accepted); every way a file can be wrong raises
:class:`~systems.model_files.ModelFileError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .gru import GRU
from .lstm import LSTM
from .model_files import (
    ModelFileError,
    brief,
    check_file,
    check_names,
    check_weights,
    name_list,
    npz_cell,
)
from .model_files import where as quoted
from .rnn import ElmanRNN
from .torch_io import StateDictFile

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
        written before gated cells existed); any other suffix is read as a ``torch.save``'d
        state dict (:class:`systems.torch_io.StateDictFile`: no torch import, only a state
        dict's globals) of the key sets :func:`torch_layout` accepts, checked before any
        tensor is read

    Returns
    -------
    ElmanRNN, LSTM or GRU (float64)

    Raises
    ------
    ModelFileError
        (a ``ValueError``) for any way the file can be wrong, with one line naming the file
        and, where there is one, the tensor and what is accepted; its subclasses
        ``UnsafePickleError`` (also a ``pickle.UnpicklingError``) for a pickle that names a
        global or uses an opcode a state dict does not need, ``ModelFileNotFoundError`` (also
        a ``FileNotFoundError``) for a path that does not exist
    """
    path = check_file(path)
    if path.suffix.lower() == ".npz":
        cell = npz_cell(path)
        if cell not in CELLS:
            raise ModelFileError(f"{quoted(path)} holds an unknown cell {cell!r}; accepted: "
                                 f"{tuple(CELLS)}")
        return CELLS[cell].load(path)
    with StateDictFile(path) as f:
        torch_layout(f.shapes, path)  # unknown keys, shapes: refused before reading tensors
        return model_from_state_dict(f.read(), path)


#: The state dicts :func:`load_model` reads, as its messages state them.
TORCH_ACCEPTED = (
    "a one-layer unidirectional nn.RNN (tanh), nn.LSTM (without proj_size) or nn.GRU: "
    "'<rnn>.weight_ih_l0', '<rnn>.weight_hh_l0' and both '<rnn>.bias_ih_l0', "
    "'<rnn>.bias_hh_l0' or neither (bias=False), plus one nn.Linear readout '<fc>.weight' "
    "with or without '<fc>.bias'"
)
#: The cell of a recurrent layer by its number of gate blocks ``G`` (rows of ``W_hh`` / ``n_h``).
GATES = {1: "elman", 3: "gru", 4: "lstm"}
_TORCH_NAMES = {"elman": "nn.RNN", "gru": "nn.GRU", "lstm": "nn.LSTM"}


@dataclass(frozen=True)
class TorchLayout:
    """Where a state dict keeps each parameter.

    Attributes
    ----------
    cell : ``"elman"``, ``"lstm"`` or ``"gru"``
    keys : parameter name (``W_ih, W_hh, b_ih, b_hh, W_hy, b_y``) -> state-dict key; absent
        biases (``bias=False``) are left out
    """

    cell: str
    keys: dict[str, str]


def torch_layout(shapes: Mapping[str, tuple[int, ...]],
                 where: str | Path = "state dict") -> TorchLayout:
    """The layout of a state dict from its keys and shapes alone, or :class:`ModelFileError`.

    Accepted (:data:`TORCH_ACCEPTED`): one recurrent layer ``<rnn>.weight_ih_l0``,
    ``<rnn>.weight_hh_l0`` with both ``<rnn>.bias_ih_l0``, ``<rnn>.bias_hh_l0`` or neither
    (``<rnn>.`` may be empty), and one readout, the only other 2-D ``<fc>.weight``, with or
    without ``<fc>.bias``. Any other key (a LayerNorm, ``weight_hr_l0`` of ``proj_size``, a
    second layer ``_l1``, ``_reverse``), a missing one, or one bias without the other is an
    error listing all of them, sorted. Shapes: ``weight_ih (G n_h, n_x)``,
    ``weight_hh (G n_h, n_h)`` with ``G`` = 1 (``nn.RNN``), 3 (``nn.GRU``) or 4 (``nn.LSTM``),
    biases ``(G n_h,)``, readout ``(n_y, n_h)`` and ``(n_y,)``, all sizes >= 1. A state dict
    does not record ``nn.RNN``'s nonlinearity: it is read as torch's default, tanh.
    """
    rnn = _rnn_prefix(shapes, where)
    keys = {"W_ih": rnn + "weight_ih_l0", "W_hh": rnn + "weight_hh_l0"}
    if rnn + "bias_ih_l0" in shapes or rnn + "bias_hh_l0" in shapes:
        keys |= {"b_ih": rnn + "bias_ih_l0", "b_hh": rnn + "bias_hh_l0"}
    heads = sorted(k for k in shapes if k not in keys.values() and len(shapes[k]) == 2
                   and (k == "weight" or k.endswith(".weight")))
    if len(heads) > 1:
        raise ModelFileError(f"{quoted(where)}: {len(heads)} candidate readouts "
                             f"{name_list(heads)}; accepted: {TORCH_ACCEPTED}")
    if heads:
        keys["W_hy"] = heads[0]
        if heads[0][: -len("weight")] + "bias" in shapes:
            keys["b_y"] = heads[0][: -len("weight")] + "bias"
    check_names(shapes, [*keys.values(), *([] if heads else ["<fc>.weight"])], (), where,
                TORCH_ACCEPTED, noun="tensors")
    return TorchLayout(_check_torch_shapes(shapes, keys, where), keys)


def _rnn_prefix(shapes: Mapping[str, tuple[int, ...]], where: str | Path) -> str:
    """The ``<rnn>.`` of the one recurrent layer's keys (``""`` for a bare ``nn.RNN``)."""
    found = {k[: -len(end)] for k in shapes for end in ("weight_ih_l0", "weight_hh_l0")
             if k.endswith(end) and (len(k) == len(end) or k[-len(end) - 1] == ".")}
    if len(found) != 1:
        raise ModelFileError(
            f"{quoted(where)}: {'several' if found else 'no'} recurrent layers "
            f"('<rnn>.weight_ih_l0', '<rnn>.weight_hh_l0') among the tensors "
            f"{name_list(shapes)}; accepted: {TORCH_ACCEPTED}")
    return found.pop()


def _check_torch_shapes(shapes: Mapping[str, tuple[int, ...]], keys: dict[str, str],
                        where: str | Path) -> str:
    """The cell, after checking every tensor's shape against ``weight_hh``'s ``(G n_h, n_h)``."""
    W_hh = tuple(shapes[keys["W_hh"]])
    G = W_hh[0] // W_hh[1] if len(W_hh) == 2 and W_hh[1] >= 1 else 0
    if G not in GATES or W_hh[0] != G * W_hh[1]:
        raise ModelFileError(
            f"{quoted(where)}: tensor {brief(keys['W_hh'])} has shape {W_hh}; expected "
            "(G n_h, n_h) with n_h >= 1 and G = 1 (nn.RNN), 3 (nn.GRU) or 4 (nn.LSTM)")
    n_h, cell = W_hh[1], GATES[G]
    expected = {"W_ih": ((G * n_h, None), f"({G} n_h, n_x) = ({G * n_h}, n_x)"),
                "b_ih": ((G * n_h,), f"({G} n_h,) = ({G * n_h},)"),
                "b_hh": ((G * n_h,), f"({G} n_h,) = ({G * n_h},)"),
                "W_hy": ((None, n_h), f"(n_y, n_h) = (n_y, {n_h})")}
    for name, (pattern, text) in expected.items():
        shape = tuple(shapes.get(keys.get(name, ""), pattern))
        if len(shape) != len(pattern) or any(
                s != p if p is not None else s < 1 for s, p in zip(shape, pattern, strict=True)):
            raise ModelFileError(
                f"{quoted(where)}: tensor {brief(keys[name])} has shape {shape}; expected {text} "
                f"for the {_TORCH_NAMES[cell]} that {brief(keys['W_hh'])} {W_hh} defines")
    n_y = shapes[keys["W_hy"]][0]
    if "b_y" in keys and tuple(shapes[keys["b_y"]]) != (n_y,):
        raise ModelFileError(
            f"{quoted(where)}: tensor {brief(keys['b_y'])} has shape "
            f"{tuple(shapes[keys['b_y']])}; "
            f"expected (n_y,) = ({n_y},) for the readout {brief(keys['W_hy'])} (n_y, n_h) = "
            f"{tuple(shapes[keys['W_hy']])}")
    return cell


def model_from_state_dict(state: Mapping[str, np.ndarray],
                          where: str | Path = "state dict") -> Model:
    """Build a model from a one-layer torch RNN/LSTM/GRU state dict plus a linear readout.

    The keys and shapes must be one of the layouts :func:`torch_layout` accepts (anything
    else is refused, never ignored: a model that is not the one in the file is never built);
    every weight must be finite with ``|w| <= 1e100``. Absent biases (``bias=False``) are
    zeros; an ``nn.RNN``'s two biases add up, ``b_h = bias_ih_l0 + bias_hh_l0``. Errors are
    :class:`ModelFileError` naming ``where`` (the file) and the tensor.
    """
    layout = torch_layout({k: np.shape(v) for k, v in state.items()}, where)
    w = check_weights({key: state[key] for key in layout.keys.values()}, where)
    p = {name: w[key] for name, key in layout.keys.items()}
    if layout.cell == "elman":
        b_h = p["b_ih"] + p["b_hh"] if "b_ih" in p else None
        return ElmanRNN(p["W_hh"], p["W_ih"], b_h, p["W_hy"], p.get("b_y"), activation="tanh")
    return CELLS[layout.cell](p["W_ih"], p["W_hh"], p.get("b_ih"), p.get("b_hh"), p["W_hy"],
                              p.get("b_y"))
