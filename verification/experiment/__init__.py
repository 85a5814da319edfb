"""The experiment: theorem inputs measured on solutions, the gap table, bounds for a model.

Reads ``systems`` (solutions, windowed data) and ``bounds`` (the theorems), certifies with
:mod:`verification.certificates`; never imports :mod:`verification.presentation`.

* :mod:`~verification.experiment.inputs` -- the inputs of T1 and T2 (``Delta_0``,
  ``Delta_01``, ``rho``, ``Delta_b``, ``A_J``, ``B``, coverage, the one-pass benchmark
  objective), computed once from solutions, for both of the following;
* :mod:`~verification.experiment.protocol` -- docs/theory.md §8's warm-start protocol for one ``m``,
  with the relaxed candidates T1 is minimised over;
* :mod:`~verification.experiment.rows` -- :class:`~.rows.GapRow`, the table row: every field
  documented once, soundness and tightness computed in one place;
* :mod:`~verification.experiment.gaps` -- one bound-vs-gap row per burn-in ``m``
  (``compare``) and the sweep with resume (``measure``);
* :mod:`~verification.experiment.model_bound` -- the bounds for a user's trained model;
* :mod:`~verification.experiment.zero_state` -- the price of the zero initial state of a trained
  model (any cell) over ``m``, measured (:mod:`~verification.experiment.best_states`: the best
  window states, batched) and bounded by T1 in both forms
  (:mod:`~verification.experiment.t1_point`);
* :mod:`~verification.experiment.relaxed_fit` -- the relaxed problem from a trained model on
  thousands of windows, and the theorem's gap ``V* - V^inf`` beside T1;
* :mod:`~verification.experiment.model_constants` -- a model's certified and sampled constants
  on its windows, T1 over ``m`` and the recommended burn-in (one function for every caller);
* :mod:`~verification.experiment.window_set` -- which windows a number is over, in words;
* :mod:`~verification.experiment.table` -- the table of rows, its CSV/JSON files, resume
  checks and the project's one atomic writer (``atomic_write``). It lives here because
  ``measure`` checkpoints through it.
"""
