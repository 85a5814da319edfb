"""The burn-in tuner on plain-Python trainers: a problem whose best ``m`` is known, the trainer
protocol, the compute it counts, resume after a kill, a folder made under other settings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from systems.errors import InputError
from verification.experiment.study_plan import authors_grid
from verification.experiment.tune import RungResult, TuneSettings, choose, tune
from verification.experiment.tune_protocol import Outcome, Request, as_trainer
from verification.experiment.tune_schedule import fit_plan, plan, refinement
from verification.experiment.tune_store import TuneError, TuneStore, decode_state, encode_state

M_BEST = 63
GRID = tuple(authors_grid(100))


def err(m: int, seed: int, e: int) -> float:
    """Error of burn-in ``m`` after ``e`` epochs: a floor lowest at ``M_BEST`` plus a transient
    that is larger for longer burn-ins (they score fewer outputs, so they learn slower), plus a
    small seed effect. After few epochs the short burn-ins look better (at 4 epochs the best is
    m = 42); at the tuner's search epochs (16) the floor decides."""
    return (1 + ((m - M_BEST) / 50) ** 2 + 3 * (1 + m / 10) / e ** 2
            + 0.001 * ((7 * m + 13 * seed) % 5))


class Toy:
    """A plain-Python trainer of the protocol; its state is a dict (epochs trained); every call
    is logged as ``(m, seed, epochs_before, epochs_added)``."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.calls: list[tuple[int, int, int, int]] = []
        self.stop_after = stop_after

    def train(self, m, seed, epochs, state):
        if self.stop_after is not None and len(self.calls) >= self.stop_after:
            raise KeyboardInterrupt  # a kill in the middle of a rung
        before = 0 if state is None else state["epochs"]
        self.calls.append((m, seed, before, epochs))
        e = before + epochs
        v = err(m, seed, e)
        return {"epochs": e, "trace": np.full(3, v)}, v, v


SETTINGS = TuneSettings(N=100, grid=GRID, paper_epochs=400)


def test_finds_the_known_best_burn_in_where_the_first_rung_points_elsewhere():
    res = tune(Toy(), SETTINGS, log=lambda s: None)
    assert res.m == M_BEST
    assert M_BEST not in res.rungs[0].values  # not in the coarse rung: the refinement found it
    # the reported change against m = 0 is the per-seed criterion change at the last rung
    last = res.rungs[-1]
    expect = [100 * (err(M_BEST, s, last.epochs) - err(0, s, last.epochs)) / err(0, s, last.epochs)
              for s in SETTINGS.model_seeds]
    assert res.improvements == pytest.approx(expect, rel=1e-12)
    assert res.improvement_over_m0 == pytest.approx(np.mean(expect), rel=1e-12)


def test_protocol_continues_training_and_counts_the_compute_it_uses():
    toy = Toy()
    res = tune(toy, SETTINGS, log=lambda s: None)
    # every call continues where that candidate stopped: no candidate is ever restarted
    reached: dict[tuple[int, int], int] = {}
    for m, seed, before, add in toy.calls:
        assert before == reached.get((m, seed), 0)
        reached[(m, seed)] = before + add
    assert sum(c[3] for c in toy.calls) == res.model_epochs <= res.plan.worst_cost
    assert res.share_of_grid == res.model_epochs / (len(GRID) * 400) <= SETTINGS.share
    # the reference m = 0 reaches the last rung with every seed
    assert {s for (m, s), e in reached.items() if m == 0 and e == res.rungs[-1].epochs} == \
        set(SETTINGS.model_seeds)


def test_plan_cost_is_what_a_brute_force_count_gives():
    for n in (2, 5, 11, 20, 30):
        for e in (1, 3, 7):
            p = plan(n, e)
            for searched in (len(p.coarse), len(p.coarse) + p.refine_max):
                # searched burn-ins to e_search; finalists and m = 0: seed 1 continues to
                # e_final, the other seeds train from 0 to e_final
                total = searched * e
                for _ in range(p.finalists + 1):
                    total += (p.e_final - e) + (p.seeds - 1) * p.e_final
                assert p.cost(searched) == total
    fit = fit_plan(20, 400)
    assert fit.worst_cost <= 400 < plan(20, fit.e_search + 1).worst_cost


def test_refinement_never_adds_more_than_its_bound():
    # worst case over every position of the best burn-in, every refinement round
    for n in (8, 20, 30, 50):
        p = plan(n, 1)
        for best in range(n):
            done, added = list(p.coarse), 0
            while True:
                new = refinement(done, min(done, key=lambda i: abs(i - best)))
                if not new:
                    break
                done += new
                added += len(new)
            assert added <= p.refine_max
            assert best in done or min(abs(i - best) for i in done) <= 1


def test_a_plain_function_is_a_trainer_and_bad_returns_are_named():
    def f(m, seed, epochs, state):
        return (state or 0) + epochs, 1.0 + m, 2.0
    t = as_trainer(f)
    (o,) = t.train_many([Request(3, 0, 2, None)])
    assert o == Outcome(2, 4.0, 2.0) and o.criterion == pytest.approx(0.7 * 4 + 0.3 * 2)
    assert not t.has_model
    with pytest.raises(InputError, match="must return"):
        as_trainer(lambda m, s, e, st: None).train_many([Request(0, 0, 1, None)])
    with pytest.raises(InputError, match="trainer must be"):
        as_trainer(42)


def test_a_diverged_candidate_ranks_last():
    def f(m, seed, epochs, state):
        e = (state or 0) + epochs
        v = math.nan if m == M_BEST else err(m, seed, e)
        return e, v, v
    res = tune(f, SETTINGS, log=lambda s: None)
    assert res.m != M_BEST
    (where,) = [r for r in res.rungs if M_BEST in r.values]  # the refinement reached it
    assert where.mean(M_BEST) == math.inf and where.ranking()[-1] == M_BEST


def test_resume_after_a_kill_retrains_nothing_finished(tmp_path):
    full = tune(Toy(), SETTINGS, log=lambda s: None)
    n_search = sum(len(r.values) for r in full.rungs[:-1])
    store = TuneStore(tmp_path, log=lambda s: None)
    store.open({"run": 1})
    killed = Toy(stop_after=n_search + 5)  # the search finished, killed inside the last rung
    with pytest.raises(KeyboardInterrupt):
        tune(killed, SETTINGS, store=store, log=lambda s: None)
    store = TuneStore(tmp_path, log=lambda s: None)
    store.open({"run": 1})
    again = Toy()
    res = tune(again, SETTINGS, store=store, log=lambda s: None)
    # nothing finished is trained again: no (m, seed, epochs reached) twice, and the total
    # is that of the uninterrupted run
    done = {(m, s, b + a) for m, s, b, a in killed.calls}
    assert not done & {(m, s, b + a) for m, s, b, a in again.calls}
    assert len(again.calls) == len(full.rungs[-1].values) * SETTINGS.seeds - 5
    assert sum(a for *_, a in killed.calls + again.calls) == full.model_epochs
    assert (res.m, res.improvements) == (full.m, full.improvements)
    # a third run reads every rung and trains nothing
    store.open({"run": 1})
    idle = Toy()
    assert tune(idle, SETTINGS, store=store, log=lambda s: None).m == full.m
    assert idle.calls == []


def test_a_folder_of_other_settings_is_refused_in_one_line(tmp_path):
    TuneStore(tmp_path).open({"share": 0.05, "data": "abc"})
    with pytest.raises(TuneError) as e:
        TuneStore(tmp_path).open({"share": 0.1, "data": "abc"})
    msg = str(e.value)
    assert "share: 0.05 there, 0.1 now" in msg and "--no-resume" in msg and "\n" not in msg
    TuneStore(tmp_path).open({"share": 0.1, "data": "abc"}, resume=False)  # afresh: accepted


def test_an_existing_run_is_read_with_its_own_settings_and_nothing_else(tmp_path):
    with pytest.raises(TuneError, match="holds no tuning run"):
        TuneStore.existing(tmp_path)
    run = TuneStore(tmp_path, log=lambda s: None)
    run.open({"share": 0.1, "grid": (0, 5)})
    run.write_state(5, 1, 8, {"w": np.arange(3.0)})
    seen = TuneStore.existing(tmp_path, log=lambda s: None)
    assert seen.hash == run.hash and seen.settings() == {"share": 0.1, "grid": [0, 5]}
    ok, state = seen.read_state(5, 1, 8)
    assert ok and state["w"].tolist() == [0.0, 1.0, 2.0]
    assert seen.read_state(5, 1, 9) == (False, None)  # other epochs: not this state
    # a state written under other settings (another hash) is not read as this run's
    TuneStore(tmp_path / "other", log=lambda s: None).open({"share": 0.2})
    (tmp_path / "other" / "tune.json").replace(tmp_path / "tune.json")
    assert TuneStore.existing(tmp_path, log=lambda s: None).read_state(5, 1, 8) == (False, None)


def test_states_are_stored_without_pickle():
    state = {"w": np.arange(6.0).reshape(2, 3), "k": np.int64(3), "betas": (0.9, 0.999),
             "rngs": {7: {"s": 2 ** 100}}, "name": "x", "nan": float("nan")}
    doc, arrays = encode_state(state)
    back = decode_state(doc, arrays)
    assert np.array_equal(back["w"], state["w"]) and back["betas"] == (0.9, 0.999)
    assert back["rngs"] == {7: {"s": 2 ** 100}} and back["k"] == 3 and math.isnan(back["nan"])
    with pytest.raises(TuneError, match="without pickle"):
        encode_state({"f": object()})
    with pytest.raises(TuneError, match="without pickle"):
        encode_state(np.array([object()]))


def test_theory_keeps_the_burn_ins_up_to_the_steps_to_one_percent():
    from systems.rnn import ElmanRNN
    from verification.experiment.tune_theory import theory_candidates

    # a linear Elman model: y_j(z) - y_j(0) = 2 * 0.5**j * z exactly, so lam = 0.5, C = 2 and
    # C lam**k <= 0.01 first at k = 8 (2 / 2**8 = 0.0078; 2 / 2**7 = 0.0156)
    model = ElmanRNN([[0.5]], [[1.0]], None, [[2.0]], None, activation="linear")
    u = np.random.default_rng(0).standard_normal((200, 1))
    view = theory_candidates(model, u, 20, range(0, 20, 2), V_inf=0.1, windows=30)
    assert view.certified and view.lam == pytest.approx(0.5, rel=1e-6)
    assert view.C == pytest.approx(2.0, rel=1e-6) and view.steps == 8
    assert view.m_cap == 8 and set(view.candidates) >= {0, 2, 4, 6, 8}
    assert max(m for m in view.candidates if m != view.m_rec) == 8
    assert view.m_rec in view.grid


def _rung(values: dict[int, list[float]]) -> RungResult:
    """A last rung whose burn-in ``m`` has criterion ``values[m][k]`` with model seed ``k``."""
    return RungResult(3, "final", 24, {m: [(k, c, c, c) for k, c in enumerate(v)]
                                       for m, v in values.items()}, (), 0.0)


def test_choose_takes_the_longest_burn_in_within_one_paired_standard_error():
    # best by mean: m = 60. m = 70: d = (0.02, -0.02, 0.05), mean 0.0167 <= se 0.0203 -> within.
    # m = 80: d = 0.2 on every seed (sd 0): worse beyond the noise, although its own spread is
    # not small. m = 0 is shorter and never chosen over the best.
    rung = _rung({0: [2.0, 2.1, 1.9], 60: [1.0, 1.1, 0.9], 70: [1.02, 1.08, 0.95],
                  80: [1.2, 1.3, 1.1]})
    assert rung.ranking()[0] == 60
    assert choose(rung) == 70
    # m = 70 shifted up by 0.01 per seed: mean 0.0267 > se 0.0203 -> the best is kept
    rung = _rung({0: [2.0, 2.1, 1.9], 60: [1.0, 1.1, 0.9], 70: [1.03, 1.09, 0.96]})
    assert choose(rung) == 60


def test_choose_keeps_the_best_with_one_seed_or_a_diverged_seed():
    assert choose(_rung({0: [2.0], 60: [1.0], 70: [1.0001]})) == 60
    assert choose(_rung({0: [2.0, 2.0], 60: [1.0, 1.1], 70: [0.9, math.inf]})) == 60
    assert choose(_rung({0: [math.inf, 1.0], 60: [math.inf, 1.0]})) == 0


def test_tune_reports_the_choice_of_the_rule_not_the_lowest_mean():
    # burn-ins >= 50 differ by 1e-5 m, far less than a seed effect of up to 0.1 that depends
    # on m and the seed: the finalists are within the noise of each other, and the choice is
    # the longest of them, not the one of lowest mean
    def flat(m, seed, epochs, state):
        c = (2.0 if m < 50 else 1.0 + 1e-5 * m) + 0.01 * ((3 * m + 5 * seed * seed) % 11)
        return (state or 0) + epochs, c, c

    res = tune(flat, SETTINGS, log=lambda s: None)
    last = res.rungs[-1]
    assert len(last.values) == 4 and res.m == choose(last) == max(last.values)
    assert res.m != last.ranking()[0]


def test_the_slowest_reference_to_forget_sets_the_cap():
    from systems.rnn import ElmanRNN
    from verification.experiment.tune_theory import combine, theory_candidates

    # linear Elman models: lam = a, C = 2; C a**k <= 0.01 first at k = 8 (a = 0.5) and
    # k = 24 (a = 0.8: 2 * 0.8**24 = 0.0094, 2 * 0.8**23 = 0.0118)
    u = np.random.default_rng(1).standard_normal((300, 1))
    views = [theory_candidates(ElmanRNN([[a]], [[1.0]], None, [[2.0]], None,
                                        activation="linear"), u, 40, range(0, 40, 4),
                               V_inf=0.1, windows=30, keep_min=2)
             for a in (0.5, 0.8, 0.5)]
    assert [v.steps for v in views] == [8, 24, 8] and [v.m_cap for v in views] == [8, 24, 8]
    view = combine(views, [7, 8, 9])
    assert view.steps == 24 and view.m_cap == 24 and view.lam == pytest.approx(0.8, rel=1e-6)
    assert max(m for m in view.candidates if m != view.m_rec) == 24
    assert [r["seed"] for r in view.references] == [7, 8, 9]
    assert [r["steps"] for r in view.references] == [8, 24, 8]
    assert view.seconds == pytest.approx(sum(v.seconds for v in views))
    assert type(view).from_dict(view.to_dict()) == view  # theory.json round trip
    with pytest.raises(ValueError, match="one seed per view"):
        combine(views, [7, 8])


def test_a_reference_trainer_trains_the_references_and_its_models_set_the_cap():
    from systems.rnn import ElmanRNN

    class Forgetting(Toy):
        """A Toy whose model is a linear Elman model with state factor ``a`` (lam = a, C = 2:
        the zero state's effect falls below 1 % after 8 steps at a = 0.5, 24 at a = 0.8)."""

        def __init__(self, a: float) -> None:
            super().__init__()
            self.a = a

        def model(self, state):
            return ElmanRNN([[self.a]], [[1.0]], None, [[2.0]], None, activation="linear")

    u = np.random.default_rng(2).standard_normal((300, 1))
    settings = TuneSettings(N=40, grid=tuple(range(0, 40, 4)), paper_epochs=400, windows=30)
    search, ref = Forgetting(0.8), Forgetting(0.5)
    res = tune(search, settings, theory_inputs=u, reference_trainer=ref, log=lambda s: None)
    # the references (m = 0, the first three model seeds, 4 epochs) and nothing else on `ref`
    assert sorted(ref.calls) == [(0, 0, 0, 4), (0, 1, 0, 4), (0, 2, 0, 4)]
    assert all(c[0] != 0 or c[2] != 0 or c[3] != 4 for c in search.calls)
    # the cap is the reference's (8 steps; the four shortest burn-ins are always kept), not
    # the search trainer's model's (24)
    assert res.theory.steps == 8 and res.candidates == (0, 4, 8, 12)
    # the m = 0 finalist starts afresh on the search trainer, not from a reference's state
    assert (0, 0, 0, res.plan.e_search) in search.calls
    # without a reference trainer the search trainer's models set the cap (24 steps)
    alone = tune(Forgetting(0.8), settings, theory_inputs=u, log=lambda s: None)
    assert alone.theory.steps == 24 and alone.theory.m_cap == 24
