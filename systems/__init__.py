"""systems: models (Elman, LSTM, GRU: one interface, see :mod:`systems.cells`), data, windows,
BPTT and the training problems; reading torch state dicts without torch.

Modules: ``rnn`` (Elman), ``lstm``, ``gru`` (over ``gated``, what both share), ``cells`` (the
interface, the cells by name, :func:`load_model`), ``torch_io`` (the restricted unpickler),
``windows`` (window geometry and :class:`~systems.windows.WindowedData`), ``bptt`` (with
``bptt_lstm``, ``bptt_gru``: the backward pass per cell),
``problems``, ``data``, ``blas``.
"""

from systems.cells import CELLS, load_model
from systems.gru import GRU
from systems.lstm import LSTM
from systems.rnn import ElmanRNN

__all__ = ["CELLS", "GRU", "LSTM", "ElmanRNN", "load_model"]
