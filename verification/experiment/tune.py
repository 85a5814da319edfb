"""Choose the burn-in ``m`` of truncated BPTT at a fraction of the full grid's cost.

:func:`tune` runs the strategy on any trainer of the protocol
(:mod:`~verification.experiment.tune_protocol`; the default is the batched LSTM/GRU/Elman
trainer, :mod:`~verification.experiment.tune_batched`):

1. **Theory** (when the trainer can hand out its model and the training inputs are given):
   ``references`` models at ``m = 0`` (the first model seeds) are trained first, for
   :data:`THEORY_EPOCHS` epochs; the forgetting constants of the slowest to forget, on its
   training windows, cap the candidate burn-ins and add the bound's recommendation
   (:mod:`~verification.experiment.tune_theory`).
2. **Search at one fidelity** (:mod:`~verification.experiment.tune_schedule`): a coarse rung of
   burn-ins spread over the candidates, then refinement rungs that bisect towards the best one,
   all trained the same epochs with one seed and ranked by the authors' criterion (``0.7 train
   + 0.3 validation`` free-run MSE, never test).
3. **Seeds at the last rung**: the best ``finalists`` and the reference ``m = 0`` continue their
   training (their first seed) and get ``seeds - 1`` more seeds. The chosen ``m`` is the
   longest finalist that the seeds cannot tell from the one of lowest mean criterion
   (:func:`choose`: a short training favours short burn-ins, so among finalists within the
   noise the longest is the one the paper's budget favours); its predicted change against
   ``m = 0`` is the mean (and spread) of the per-seed changes (same seeds, so paired).

The budget is a share of the full grid at the paper's budget (one model per grid ``m`` for the
paper's epochs), counted in model-epochs of the same ``N``. With a ``store``
(:class:`~verification.experiment.tune_store.TuneStore`) every finished rung and every
candidate's state is written as it finishes, and a rerun resumes without re-training any of it.

Example
-------
A trainer whose criterion is ``1 + (m - 40)**2 / 1000`` plus a ``1 / epochs`` that every ``m``
shares (a real trainer's error falls with the epochs too):

>>> def toy(m, seed, epochs, state):
...     e = (state or 0) + epochs
...     err = 1 + (m - 40) ** 2 / 1000 + 1 / e + 0.001 * seed
...     return e, err, err
>>> res = tune(toy, TuneSettings(N=100, grid=tuple(range(0, 100, 10)), paper_epochs=100),
...            log=lambda s: None)
>>> res.m, res.share_of_grid <= 0.10
(40, True)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from systems.errors import InputError
from verification.experiment.tune_protocol import Request, as_trainer, criterion
from verification.experiment.tune_schedule import (
    COARSE,
    FINALISTS,
    SEEDS,
    Plan,
    fit_plan,
    refinement,
)
from verification.experiment.tune_store import TuneStore
from verification.experiment.tune_theory import (
    LEVEL,
    WINDOWS,
    TheoryView,
    combine,
    theory_candidates,
)

#: Default share of the full grid's model-epochs the tuner may use.
SHARE = 0.10
#: Epochs of the ``m = 0`` models whose forgetting constants choose the candidates.
THEORY_EPOCHS = 4
#: Reference ``m = 0`` models (seeds) the theory examines (the slowest to forget sets the cap).
REFERENCES = 3
#: Model seeds of tuner seed ``t``: ``t * SEED_STRIDE + k``, ``k < seeds``.
SEED_STRIDE = 100


def check_integers(*items: tuple[str, Any, int]) -> None:
    """Each ``(name, value, lowest)`` is an integer ``>= lowest``, else an :class:`InputError`
    naming it."""
    for name, v, lo in items:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise InputError(f"{name} {v!r} must be an integer >= {lo}")


@dataclass(frozen=True)
class TuneSettings:
    """The strategy's settings.

    ``grid``: the burn-ins to choose from (``m = 0`` is added as the reference);
    ``paper_epochs``: epochs of one grid model at the paper's budget (the grid's cost is
    ``len(grid) * paper_epochs``); ``share``: the tuner's budget as a share of that;
    ``seeds``/``finalists``/``coarse``: the last rung's seeds, the burn-ins besides ``m = 0``
    that reach it, the burn-ins of the coarse rung; ``tuner_seed``: which model seeds are used;
    ``theory``: let the forgetting constants of ``references`` reference models choose the
    candidates (``windows`` pairs, cap level ``level``).
    """

    N: int
    grid: tuple[int, ...]
    paper_epochs: int
    share: float = SHARE
    seeds: int = SEEDS
    finalists: int = FINALISTS
    coarse: int = COARSE
    tuner_seed: int = 0
    theory: bool = True
    windows: int = WINDOWS
    level: float = LEVEL
    references: int = REFERENCES

    def check(self) -> TuneSettings:
        """These settings if valid, else an :class:`InputError` naming the option."""
        check_integers(("--N", self.N, 2), ("--paper-epochs", self.paper_epochs, 1),
                       ("--seeds", self.seeds, 1), ("--finalists", self.finalists, 1),
                       ("--coarse", self.coarse, 2), ("--tuner-seed", self.tuner_seed, 0),
                       ("--windows", self.windows, 1), ("--references", self.references, 1))
        bad = [m for m in self.grid if not 0 <= m < self.N]
        if not self.grid or bad:
            raise InputError(f"--m {list(bad or self.grid)} must be burn-ins 0 <= m < N = "
                             f"{self.N}")
        if not (math.isfinite(self.share) and 0 < self.share <= 1):
            raise InputError(f"--share {self.share!r} must be a number in (0, 1]")
        if not 0 < self.level < 1:
            raise InputError(f"level {self.level!r} must be in (0, 1)")
        return self

    @property
    def candidates(self) -> tuple[int, ...]:
        return tuple(sorted({int(m) for m in self.grid} | {0}))

    def _first_seeds(self, n: int) -> tuple[int, ...]:
        return tuple(self.tuner_seed * SEED_STRIDE + k for k in range(n))

    @property
    def model_seeds(self) -> tuple[int, ...]:
        return self._first_seeds(self.seeds)

    @property
    def reference_seeds(self) -> tuple[int, ...]:
        """The model seeds of the theory's reference ``m = 0`` models."""
        return self._first_seeds(self.references)

    @property
    def theory_epochs(self) -> int:
        """Model-epochs of the theory's reference models (0 without the theory)."""
        return THEORY_EPOCHS * self.references if self.theory else 0

    @property
    def grid_model_epochs(self) -> int:
        """The full grid at the paper's budget: one model per grid ``m``, paper epochs each."""
        return len(set(self.grid)) * self.paper_epochs

    @property
    def budget(self) -> float:
        return self.share * self.grid_model_epochs

    def plan(self, n: int) -> Plan:
        """The tuner's plan for ``n`` candidates within the budget."""
        return fit_plan(n, self.budget, coarse=self.coarse, finalists=self.finalists,
                        seeds=self.seeds)


@dataclass(frozen=True)
class RungResult:
    """One rung: every candidate's criterion per seed, their mean and spread.

    ``values[m]``: ``(seed, train_mse, val_mse, criterion)`` per seed trained at this rung;
    ``kind``: ``coarse``, ``refine`` or ``final``; ``kept``: the burn-ins that reach the last
    rung (filled in at the last search rung).
    """

    index: int
    kind: str
    epochs: int
    values: dict[int, list[tuple[int, float, float, float]]]
    kept: tuple[int, ...]
    seconds: float

    def mean(self, m: int) -> float:
        c = [v[3] for v in self.values[m]]
        return float(np.mean(c)) if all(map(math.isfinite, c)) else math.inf

    def sd(self, m: int) -> float:
        c = [v[3] for v in self.values[m]]
        return float(np.std(c, ddof=1)) if len(c) > 1 and all(map(math.isfinite, c)) \
            else math.nan

    def ranking(self) -> list[int]:
        """Burn-ins by mean criterion (ties: the shorter burn-in first)."""
        return sorted(self.values, key=lambda m: (self.mean(m), m))


@dataclass(frozen=True)
class TuneResult:
    """The chosen burn-in and everything behind it (see :func:`tune`).

    ``improvement_over_m0``: mean over seeds of ``100 (c(m, s) - c(0, s)) / c(0, s)``, the
    criterion's change at the last rung (negative = better), with ``improvement_sd`` and the
    per-seed values ``improvements``.
    """

    m: int
    criterion: float
    criterion_sd: float
    improvement_over_m0: float
    improvement_sd: float
    improvements: tuple[float, ...]
    rungs: tuple[RungResult, ...]
    plan: Plan
    settings: TuneSettings
    theory: TheoryView | None
    model_epochs: int
    seconds: float
    candidates: tuple[int, ...] = field(default=())

    @property
    def share_of_grid(self) -> float:
        return self.model_epochs / self.settings.grid_model_epochs

    def summary(self) -> dict[str, Any]:
        """The ``--json`` fields."""
        return {"m": self.m, "criterion": self.criterion,
                "improvement_over_m0": self.improvement_over_m0,
                "model_epochs": self.model_epochs, "share_of_grid": self.share_of_grid,
                "seconds": self.seconds}


def tune(trainer: Any, settings: TuneSettings, *, theory_inputs: np.ndarray | None = None,
         store: TuneStore | None = None, log: Callable[[str], None] = print,
         reference_trainer: Any = None) -> TuneResult:
    """Choose a burn-in for ``trainer`` (module docstring).

    Parameters
    ----------
    trainer : a function ``train(m, seed, epochs, state) -> (state, train_mse, val_mse)`` or an
        object with ``train`` (and optionally ``train_many``, ``model``)
    settings : :class:`TuneSettings`
    theory_inputs : (T, n_x) the scaled training inputs; with a trainer that offers ``model``,
        the theory chooses the candidates (``settings.theory``)
    store : an opened :class:`TuneStore` to write to and resume from (``None``: nothing written)
    log : progress lines
    reference_trainer : the trainer of the theory's reference ``m = 0`` models (``None``:
        ``trainer``); it must offer ``model``. The default command trains them at its default
        learning rate whatever the search's (the constants of a 4-epoch model were measured to
        be those of the trained one at that rate, not at lower ones: ``docs/tuning.md``)
    """
    s = settings.check()
    t = as_trainer(trainer)
    run = _Run(t, s, store, log, None if reference_trainer is None
               else as_trainer(reference_trainer))
    cands = s.candidates
    theory = None
    if s.theory and run.ref.has_model and theory_inputs is not None:
        theory = run.theory(np.asarray(theory_inputs, dtype=np.float64))
        cands = theory.candidates
    p = s.plan(len(cands)) if theory is None else fit_plan(
        len(cands), s.budget - s.theory_epochs, coarse=s.coarse, finalists=s.finalists,
        seeds=s.seeds)
    log(f"tune: {len(cands)} burn-ins {list(cands)}; search {len(p.coarse)} + up to "
        f"{p.refine_max} of them for {p.e_search} epochs, then {p.finalists} finalists and "
        f"m = 0 with {p.seeds} seeds to {p.e_final} epochs: at most {p.worst_cost} model-epochs,"
        f" {100 * p.worst_cost / s.grid_model_epochs:.1f} % of the grid "
        f"({s.grid_model_epochs})")
    rungs = [run.rung("coarse", p.e_search, [cands[i] for i in p.coarse], 1)]
    done = list(p.coarse)
    while True:
        scores = {m: r.mean(m) for r in rungs for m in r.values}
        best = min(done, key=lambda i: (scores[cands[i]], i))
        new = refinement(done, best)
        if not new:
            break
        rungs.append(run.rung("refine", p.e_search, [cands[i] for i in new], 1))
        done += new
    ranked = sorted((m for m in scores if m != 0), key=lambda m: (scores[m], m))
    final = sorted({0, *ranked[:p.finalists]})
    last = rungs[-1]
    rungs[-1] = RungResult(last.index, last.kind, last.epochs, last.values, tuple(final),
                           last.seconds)
    rungs.append(run.rung("final", p.e_final, final, p.seeds))
    return _result(rungs, p, s, theory, run, cands)


def choose(last: RungResult) -> int:
    """The chosen burn-in of the last rung: the longest one whose criterion the seeds cannot
    tell from the best's.

    ``b`` = the burn-in of lowest mean criterion (:meth:`RungResult.ranking`). A burn-in ``m``
    is within the noise of ``b`` when the mean of the paired per-seed differences
    ``d_s = c(m, s) - c(b, s)`` (same model seed ``s``) is at most their standard error
    ``sd(d) / sqrt(n)``, ``n >= 2`` seeds with finite criteria. The longest such ``m`` is
    chosen, because the tuner's short training is biased towards short burn-ins: a long burn-in
    scores fewer outputs per window and learns more slowly, so the best burn-in moves to longer
    ``m`` as training goes on (measured on Silverbox: 26-52 after 4-8 epochs, 63-73 after 16,
    73-94 at the paper's 400; ``docs/tuning.md``). With one seed the best is chosen.
    """
    b = last.ranking()[0]
    if not math.isfinite(last.mean(b)):
        return b
    ref = {v[0]: v[3] for v in last.values[b]}

    def within(m: int) -> bool:
        d = np.array([v[3] - ref[v[0]] for v in last.values[m] if v[0] in ref])
        if len(d) < 2 or not np.all(np.isfinite(d)):
            return False
        return float(d.mean()) <= float(d.std(ddof=1)) / math.sqrt(len(d))

    return max([b, *(m for m in last.values if m > b and within(m))])


def _result(rungs: list[RungResult], p: Plan, s: TuneSettings, theory: TheoryView | None,
            run: _Run, cands: tuple[int, ...]) -> TuneResult:
    last = rungs[-1]
    m = choose(last)
    base = {v[0]: v[3] for v in last.values[0]}
    changes = tuple(100.0 * (v[3] - base[v[0]]) / base[v[0]] for v in last.values[m]
                    if v[0] in base and base[v[0]] > 0)
    searched = sum(len(r.values) for r in rungs[:-1])
    return TuneResult(
        m=int(m), criterion=last.mean(m), criterion_sd=last.sd(m),
        improvement_over_m0=float(np.mean(changes)) if changes else math.nan,
        improvement_sd=float(np.std(changes, ddof=1)) if len(changes) > 1 else math.nan,
        improvements=changes, rungs=tuple(rungs), plan=p, settings=s, theory=theory,
        model_epochs=p.cost(searched) + run.extra_epochs, seconds=run.seconds,
        candidates=tuple(cands))


class _Run:
    """The state of one tuning run: trained candidates, their states, the clock, the store."""

    def __init__(self, trainer: Any, s: TuneSettings, store: TuneStore | None,
                 log: Callable[[str], None], reference: Any = None) -> None:
        self.t, self.s, self.store, self.log = trainer, s, store, log
        self.ref = trainer if reference is None else reference  # the theory's m = 0 models
        self.states: dict[tuple[int, int], tuple[int, Any]] = {}  # (m, seed) -> (epochs, state)
        self.seconds = 0.0
        self.done_epochs = 0
        self.train_seconds = 0.0
        self.n_rungs = 0
        self.extra_epochs = 0  # the theory's model

    def _train(self, wanted: Sequence[tuple[int, int, int]], trainer: Any = None
               ) -> dict[tuple[int, int], tuple[float, float]]:
        """Train every ``(m, seed)`` to ``epochs`` from where it stopped, with ``trainer``
        (``None``: the search's); MSEs by candidate. A candidate whose state at those epochs is
        stored already is read, not trained."""
        t = self.t if trainer is None else trainer
        out: dict[tuple[int, int], tuple[float, float]] = {}
        requests, targets = [], []
        for m, seed, epochs in wanted:
            stored = self._stored(m, seed, epochs)
            if stored is not None:
                out[(m, seed)] = stored
                continue
            have, state = self.states.get((m, seed), (0, None))
            if have and state is None:  # resumed: read the state from the store
                ok, state = self.store.read_state(m, seed, have) if self.store else (False, None)
                have = have if ok else 0
            requests.append(Request(m, seed, epochs - have, state))
            targets.append(epochs)
        # a batched trainer gets the rung at once; any other one request at a time, each
        # result kept (and stored) the moment it is there
        calls = [list(range(len(requests)))] if t.batched else [[i] for i in
                                                                 range(len(requests))]
        for idx in calls if requests else []:
            t0 = time.perf_counter()
            outcomes = t.train_many([requests[i] for i in idx])
            dt = time.perf_counter() - t0
            self.train_seconds += dt
            self.seconds += dt
            for i, o in zip(idx, outcomes, strict=True):
                self._keep(requests[i], targets[i], o)
                out[(requests[i].m, requests[i].seed)] = (o.train_mse, o.val_mse)
        return out

    def _keep(self, req: Request, epochs: int, o: Any) -> None:
        """Remember (and store) a trained candidate's state and MSEs."""
        self.states[(req.m, req.seed)] = (epochs, o.state)
        self.done_epochs += req.epochs
        if self.store is not None:
            self.store.write_state(req.m, req.seed, epochs, o.state)
            self.store.write_doc(self.store.state_path(req.m, req.seed).with_suffix(".mse"),
                                 {"epochs": epochs, "mse": [o.train_mse, o.val_mse]})

    def _stored(self, m: int, seed: int, epochs: int) -> tuple[float, float] | None:
        if self.store is None:
            return None
        doc = self.store.read_doc(self.store.state_path(m, seed).with_suffix(".mse"))
        if doc is None or doc.get("epochs") != epochs:
            return None
        self.states[(m, seed)] = (epochs, None)  # read from the store when needed
        return float(doc["mse"][0]), float(doc["mse"][1])

    def theory(self, u: np.ndarray) -> TheoryView:
        """Train the reference ``m = 0`` models (the first ``references`` model seeds) for
        :data:`THEORY_EPOCHS` epochs and let the constants of the slowest to forget choose the
        candidates (:func:`~verification.experiment.tune_theory.combine`). Those models are not
        trained further: the search trains every burn-in in one cycle from its start."""
        s = self.s
        path = self.store.out / "theory.json" if self.store else None
        doc = self.store.read_doc(path) if self.store else None
        if doc is not None:
            self.extra_epochs = s.theory_epochs
            self.seconds += doc.get("seconds", 0.0)  # a resumed run reports the same time
            self.log(f"tune: theory: read from {path}")
            return TheoryView.from_dict(doc["theory"])
        seeds = s.reference_seeds
        self.log(f"tune: theory: m = 0 with {len(seeds)} seed(s) trained {THEORY_EPOCHS} epochs; "
                 f"the forgetting constants on {s.windows} training windows of the slowest to "
                 "forget choose the candidates")
        before = self.seconds
        mse = self._train([(0, seed, THEORY_EPOCHS) for seed in seeds], self.ref)
        views = []
        for seed in seeds:
            have, state = self.states.pop((0, seed))
            if state is None:
                _, state = self.store.read_state(0, seed, have)
            t0 = time.perf_counter()
            views.append(theory_candidates(
                self.ref.model(state), u, s.N, s.candidates, mse[(0, seed)][0],
                epochs=THEORY_EPOCHS, windows=s.windows, level=s.level,
                keep_min=s.finalists + 1))
            self.seconds += time.perf_counter() - t0
        self.extra_epochs = s.theory_epochs
        view = combine(views, seeds)
        lams = ", ".join(f"{r['lam']:.4g} ({r['steps']:g} steps)" for r in view.references)
        self.log(f"tune: theory: lam per reference {lams}; the slowest: lam {view.lam:.4g}, "
                 f"C {view.C:.3g} "
                 f"({'certified on data' if view.certified else 'sampled, not certified'}), "
                 f"{view.steps:g} steps to {100 * view.level:g} %: candidates up to "
                 f"{view.m_cap if view.m_cap is not None else max(view.grid)}; the bound "
                 f"recommends m = {view.m_rec}")
        if self.store is not None:
            self.store.write_doc(path, {"theory": view.to_dict(),
                                        "seconds": self.seconds - before})
        return view

    def rung(self, kind: str, epochs: int, burn_ins: Sequence[int], seeds: int) -> RungResult:
        """Train (or read) the next rung: ``burn_ins`` with ``seeds`` seeds to ``epochs``."""
        r = self.n_rungs
        self.n_rungs += 1
        path = self.store.rung_path(r) if self.store else None
        doc = self.store.read_doc(path) if self.store else None
        members = [(m, seed) for m in burn_ins for seed in self.s.model_seeds[:seeds]]
        if doc is not None and sorted(map(tuple, doc["members"])) == sorted(members):
            for m, seed in members:
                self.states[(m, seed)] = (epochs, None)
            values = {int(m): [tuple(v) for v in vs] for m, vs in doc["values"].items()}
            self.seconds += doc["seconds"]
            self.log(f"rung {r + 1} ({kind}): read from {path}")
            return RungResult(r, kind, epochs, values, (), doc["seconds"])
        before = self.seconds
        rate = self.train_seconds / self.done_epochs if self.done_epochs else None
        new = sum(epochs - self.states.get(k, (0, None))[0] for k in members)
        eta = f", about {rate * new / 60:.1f} min" if rate else ""
        self.log(f"rung {r + 1} ({kind}): {len(burn_ins)} burn-ins {list(burn_ins)} x {seeds} "
                 f"seed(s) to {epochs} epochs{eta}")
        mse = self._train([(m, seed, epochs) for m, seed in members])
        values: dict[int, list[tuple[int, float, float, float]]] = {}
        for (m, seed), (tr, va) in mse.items():
            values.setdefault(m, []).append((seed, tr, va, criterion(tr, va)))
        res = RungResult(r, kind, epochs, values, (), self.seconds - before)
        if self.store is not None:
            self.store.write_doc(path, {"members": members, "values": values,
                                        "seconds": res.seconds, "epochs": epochs})
            self.store.prune_states({k: v[0] for k, v in self.states.items()})
        best = res.ranking()[:3]
        self.log(f"rung {r + 1} ({kind}) done in {res.seconds:.0f} s: best "
                 + ", ".join(f"m = {m} ({res.mean(m):.4g})" for m in best))
        return res
