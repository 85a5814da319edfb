"""systems: models (Elman, LSTM, GRU: one interface, see :mod:`systems.cells`), data, windows,
BPTT, the trainers and the training problems; reading torch state dicts without torch.

Where things live:

* models: ``rnn`` (Elman), ``lstm``, ``gru`` (over ``gated``, what both share), ``cells``
  (the interface, the cells by name, :func:`load_model`), ``spec`` (a model family without
  parameters: cell, sizes, options, ``n_z``), ``torch_io`` (the restricted unpickler);
* data: ``data`` (sequences, loaders, scaling), ``benchmarks`` (the real benchmarks as the
  paper's authors used them), ``windows`` (window geometry and
  :class:`~systems.windows.WindowedData`);
* BPTT: ``bptt`` (:class:`~systems.bptt.WindowBatch`: loss and exact gradient for any cell,
  the kernel registry), ``bptt_kernel`` (what the tuned kernels share), one tuned kernel per
  cell in ``bptt_elman``, ``bptt_lstm``, ``bptt_gru``, and ``bptt_reference`` (the same
  equations as plain loops); ``blas`` (OpenBLAS held at one thread);
* training: ``adam`` (:class:`~systems.adam.Adam`, minibatch and stateful trainers),
  ``problems`` (the three problems of docs/theory.md §2 by L-BFGS-B);
* ``K`` models at once: ``batched`` (the stacked loss and gradient) with one kernel per cell
  in ``batched_lstm``, ``batched_gru``, ``batched_elman``, ``batched_lstm_numba`` (the LSTM's
  float32 passes compiled; optional, needs numba), ``batched_adam``, ``batched_kinds`` (the
  three kinds' epochs), ``batched_train`` (:class:`~systems.batched_train.BatchedTrainer`),
  ``batched_eval`` (free runs);
* ``errors`` (:class:`~systems.errors.InputError`).

Imports go one way: models and data, then ``spec``, the kernels, ``bptt``, then the trainers.
"""

from systems.cells import CELLS, load_model
from systems.gru import GRU
from systems.lstm import LSTM
from systems.rnn import ElmanRNN

__all__ = ["CELLS", "GRU", "LSTM", "ElmanRNN", "load_model"]
