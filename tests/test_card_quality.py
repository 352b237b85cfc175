"""The library as a whole over long runs: no dead cards, data quality reaches every card's
confidence, and injected NaN/inf/stale inputs never leak into outputs."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from bpjax.app.runner import warmup_times
from bpjax.app.sources import SimSource
from bpjax.core.fields import FIELDS, group_fields
from bpjax.ingest.snapshot import Accumulator
from tests.harness import Scenario
from tests.selection import SELECTED
from tests.test_contract import GARBAGE, check_output

LONG_RUN_TICKS = 3000
LONG_RUN_STEP = 30  # seconds: 3,000 ticks are 25 simulated hours, across three funding times


@pytest.fixture(scope="module")
def long_run(engine, config):
    """Per card, the smallest and largest direction seen on any (symbol, mode, timeframe) over a
    long simulated run, and the largest confidence."""
    source, accumulator = SimSource(config, seed=11), Accumulator(config)
    start = config.start_time().timestamp()
    times = warmup_times(config, start, engine.lag) + [
        start + LONG_RUN_STEP * i for i in range(LONG_RUN_TICKS)
    ]
    state = engine.init()
    shape = (engine.shape["card"],)
    low, high, confident = np.full(shape, np.inf), np.full(shape, -np.inf), np.zeros(shape)
    for i, t in enumerate(times):
        accumulator.apply_all(source.events(t))
        state, output = engine.step(state, accumulator.pack(t))
        if i % 7 == 0 or i == len(times) - 1:
            cards = jax.device_get(output.metrics["cards"])
            confidence = cards.confidence.reshape(shape[0], -1)
            direction = cards.direction.reshape(shape[0], -1)
            live = confidence > 0.05
            low = np.minimum(low, np.where(live, direction, np.inf).min(axis=1))
            high = np.maximum(high, np.where(live, direction, -np.inf).max(axis=1))
            confident = np.maximum(confident, confidence.max(axis=1))
    return low, high, confident


@pytest.mark.slow
@pytest.mark.parametrize("name", SELECTED.names)
def test_no_card_is_dead_over_a_long_run(engine, long_run, name):
    """Every card's direction (where it is confident) moves over the run for some slice."""
    low, high, confident = long_run
    card = engine.card_names.index(name)
    assert confident[card] > 0.3, f"{name} never reaches confidence 0.3 (max {confident[card]:.3f})"
    assert high[card] - low[card] > 0.2, f"{name} direction only spans [{low[card]:.3f}, {high[card]:.3f}]"


def _feed_groups():
    groups = sorted({field.group for field in FIELDS})
    return [g for g in groups if any(set(spec.inputs) & _names(g) for spec in SELECTED.cards)]


def _names(group: str) -> set[str]:
    return {FIELDS[i].name for i in group_fields(group)}


@pytest.fixture(scope="module")
def healthy(engine):
    return Scenario.run(engine, ticks=60, seed=8, checkpoints=(59,))


@pytest.mark.parametrize("group", _feed_groups())
def test_a_stale_feed_zeroes_the_confidence_of_exactly_the_cards_that_read_it(engine, healthy, group):
    masked = np.array(group_fields(group))
    live_from = len(healthy.times) - 60

    def stale(i, snapshot):
        if i < live_from + 30:
            return snapshot
        valid = snapshot.valid.copy()
        valid[:, masked] = False
        return snapshot._replace(valid=valid)

    scenario = Scenario.run(engine, ticks=60, seed=8, checkpoints=(59,), perturb=stale)
    cards = scenario.checkpoints[59].output["metrics"]["cards"]
    before = healthy.checkpoints[59].output["metrics"]["cards"]
    names = _names(group)
    for k, spec in enumerate(engine.cards):
        confidence = np.asarray(cards.confidence[k])
        if set(spec.inputs) & names:
            assert confidence.max() == 0.0, f"{spec.name} keeps confidence on a stale {group} feed"
        else:
            np.testing.assert_array_equal(
                confidence, np.asarray(before.confidence[k]), err_msg=f"{spec.name} changed ({group})"
            )


def test_injected_garbage_in_a_warm_market_stays_out_of_the_outputs(engine):
    """NaN/inf/huge values marked valid, in the middle of a warmed-up run: every output stays
    finite and in range, and the engine recovers once the garbage stops."""
    rng = np.random.default_rng(12)
    ticks = 400
    scenario = Scenario.run(engine, ticks=ticks, seed=13, checkpoints=(ticks - 1,))
    live_from = len(scenario.times) - ticks
    state = engine.init()
    for i, snapshot in enumerate(scenario.snapshots):
        if live_from + 100 <= i < live_from + 200:
            fields = snapshot.fields.copy()
            poison = rng.random(fields.shape) < 0.05
            fields[poison] = rng.choice(GARBAGE, poison.sum())
            snapshot = snapshot._replace(fields=fields.astype(np.float32))
        state, output = engine.step(state, snapshot)
        if i >= live_from + 100:
            check_output(engine, output)
    clean = scenario.checkpoints[ticks - 1].output
    cards = output.metrics["cards"]
    recovered = np.asarray(cards.confidence) > 0.1
    assert recovered.mean() > 0.5 * (np.asarray(clean["metrics"]["cards"].confidence) > 0.1).mean()
