"""The burn-in tuner on plain-Python trainers: a problem whose best ``m`` is known, the trainer
protocol, the compute it counts, resume after a kill, a folder made under other settings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from systems.errors import InputError
from verification.experiment.study_plan import authors_grid
from verification.experiment.tune import TuneSettings, tune
from verification.experiment.tune_protocol import Outcome, Request, as_trainer
from verification.experiment.tune_schedule import fit_schedule, schedule
from verification.experiment.tune_store import TuneError, TuneStore, decode_state, encode_state

M_BEST = 63
GRID = tuple(authors_grid(100))


def err(m: int, seed: int, e: int) -> float:
    """Error of burn-in ``m`` after ``e`` epochs: a floor lowest at ``M_BEST`` plus a transient
    that is larger for longer burn-ins (they score fewer outputs, so they learn slower), plus a
    small seed effect. After few epochs the short burn-ins look better; at the tuner's last
    rung (24 epochs) the floor decides."""
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
    first = res.rungs[0].ranking()[0]
    assert first != M_BEST  # continued training, not the first rung, found it
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
    assert sum(c[3] for c in toy.calls) == res.model_epochs == res.schedule.cost
    assert res.share_of_grid == res.model_epochs / (len(GRID) * 400) <= SETTINGS.share
    # the reference m = 0 reaches the last rung with every seed
    assert {s for (m, s), e in reached.items() if m == 0 and e == res.rungs[-1].epochs} == \
        set(SETTINGS.model_seeds)


def test_schedule_cost_is_what_a_brute_force_count_gives():
    for n in (2, 5, 11, 20, 30):
        for e0 in (1, 3, 7):
            s = schedule(n, e0)
            trained: dict[tuple[int, int], int] = {}
            total = 0
            for r in s.rungs:  # burn-ins 0..k-1 survive (which ones does not change the count)
                for m in range(r.burn_ins):
                    for seed in range(r.seeds):
                        total += r.epochs - trained.get((m, seed), 0)
                        trained[(m, seed)] = r.epochs
            assert s.cost == total
    fit = fit_schedule(20, 400)
    assert fit.cost <= 400 < schedule(20, fit.rungs[0].epochs + 1).cost


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
    assert res.rungs[0].mean(M_BEST) == math.inf


def test_resume_after_a_kill_retrains_nothing_finished(tmp_path):
    full = tune(Toy(), SETTINGS, log=lambda s: None)
    n_first = len(GRID) + 10  # rungs 1 and 2 finished, killed inside rung 3
    store = TuneStore(tmp_path, log=lambda s: None)
    store.open({"run": 1})
    killed = Toy(stop_after=n_first + 2)
    with pytest.raises(KeyboardInterrupt):
        tune(killed, SETTINGS, store=store, log=lambda s: None)
    store = TuneStore(tmp_path, log=lambda s: None)
    store.open({"run": 1})
    again = Toy()
    res = tune(again, SETTINGS, store=store, log=lambda s: None)
    # nothing of rungs 1-2 is trained again, and rung 3 continues from the stored states
    assert all(before >= full.rungs[1].epochs for m, s, before, add in again.calls
               if s == SETTINGS.model_seeds[0])
    done = {(m, s, b + a) for m, s, b, a in killed.calls}
    assert not done & {(m, s, b + a) for m, s, b, a in again.calls}
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
