"""The experiment: theorem inputs measured on solutions, the gap table, bounds for a model.

* :mod:`~verification.experiment.gaps` -- THEORY §8: the warm-start protocol and one
  bound-vs-gap row per burn-in ``m`` (``measure``);
* :mod:`~verification.experiment.model_bound` -- the bounds for a user's trained model;
* :mod:`~verification.experiment.table` -- the table of rows, its CSV/JSON files and resume.
"""
