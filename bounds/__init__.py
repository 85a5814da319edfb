"""The bounds of docs/theory.md (A1, L1, T1a-d, T2a-b): stated in sympy, evaluated with numpy.

* :mod:`bounds.symbolic` -- the statements (``STATEMENTS[tag]``), their hypotheses, LaTeX;
* :mod:`bounds.numeric` -- vectorised evaluation generated from them with ``lambdify``;
* :mod:`bounds.recommend` -- a recommended burn-in from bound curves over ``m``.

``bounds`` imports neither ``systems`` nor ``verification``.
"""

from bounds.checks import HypothesisError
from bounds.numeric import (
    C2,
    B_term,
    Lambda,
    accuracy_bound,
    apriori_constants,
    benchmark_regret,
    gamma,
    performance_a,
    performance_a_apriori,
    performance_regret,
    performance_regret_apriori,
    performance_regret_root,
    t1a,
    t1b,
    t1b_paper,
    t1c,
    training_regret,
)
from bounds.recommend import (
    BurnInRecommendation,
    Recommendation,
    recommend_burn_in,
    recommend_performance,
    recommend_training,
)
from bounds.symbolic import STATEMENTS, Statement, headline_latex

__all__ = [
    "HypothesisError",
    "STATEMENTS",
    "Statement",
    "headline_latex",
    "gamma",
    "Lambda",
    "t1a",
    "t1b",
    "t1b_paper",
    "C2",
    "t1c",
    "training_regret",
    "benchmark_regret",
    "accuracy_bound",
    "performance_a",
    "performance_regret",
    "performance_regret_root",
    "B_term",
    "apriori_constants",
    "performance_a_apriori",
    "performance_regret_apriori",
    "Recommendation",
    "BurnInRecommendation",
    "recommend_training",
    "recommend_performance",
    "recommend_burn_in",
]
