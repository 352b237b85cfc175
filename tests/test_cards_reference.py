"""Every card, on every (symbol, mode, timeframe) slice, against the float64 NumPy reference."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bpjax.cards import REGISTRY
from bpjax.cards.relative_strength import midrank
from tests import reference
from tests.selection import SELECTED

CARD_NAMES = SELECTED.names
# values in price units that are differences of price-level averages: float32 keeps them to
# about 1e-7 of the price, not of the (small) difference
PRICE_DIFFERENCES = {"macd"}


def test_every_registered_card_has_a_reference_and_every_reference_a_card():
    assert set(reference.CARDS) == set(REGISTRY.names)


def test_reference_declarations_match_the_registry():
    for name in CARD_NAMES:
        inputs, lookback, _, _ = reference.CARDS[name]
        spec = REGISTRY[name]
        assert (spec.inputs, spec.lookback) == (inputs, lookback), name


def _compare(scenario, name, checkpoints):
    card = CARD_NAMES.index(name)
    worst = 0.0
    for point in checkpoints:
        cards = scenario.checkpoints[point].output["metrics"]["cards"]
        for mode in range(len(scenario.config.modes)):
            for tf in range(len(scenario.config.timeframes)):
                expected = reference.evaluate(name, scenario.slice(point, mode, tf))
                got = [
                    np.asarray(part)[card, mode, tf, :]
                    for part in (cards.direction, cards.strength, cards.confidence, cards.value)
                ]
                where = f"{name} checkpoint {point} mode {mode} tf {tf}"
                np.testing.assert_allclose(got[0], expected[0], atol=3e-3, err_msg=f"direction {where}")
                np.testing.assert_allclose(got[1], expected[1], atol=3e-3, err_msg=f"strength {where}")
                np.testing.assert_allclose(got[2], expected[2], atol=3e-3, err_msg=f"confidence {where}")
                atol = float(np.median(np.abs(expected[3]))) * 1e-3
                if name in PRICE_DIFFERENCES:
                    atol = float(1e-6 * np.max(scenario.slice(point, mode, tf).lag_value("close", 0)[0]))
                np.testing.assert_allclose(
                    got[3], expected[3], rtol=2e-3, atol=atol, err_msg=f"value {where}"
                )
                worst = max(worst, float(np.max(np.abs(got[0] - expected[0]))))
    return worst


@pytest.mark.parametrize("name", CARD_NAMES)
def test_card_matches_reference_on_simulated_market(live_scenario, name):
    _compare(live_scenario, name, sorted(live_scenario.checkpoints))


@pytest.mark.parametrize("name", CARD_NAMES)
def test_card_reading_is_not_constant(live_scenario, name):
    """A card that reads neutral everywhere on a live market is dead (or its reference is)."""
    card = CARD_NAMES.index(name)
    directions = np.concatenate(
        [
            np.asarray(p.output["metrics"]["cards"].direction)[card].ravel()
            for p in live_scenario.checkpoints.values()
        ]
    )
    assert np.ptp(directions) > 0.05, f"{name} directions {np.unique(directions)[:5]}"


@pytest.mark.parametrize("symbols", [1, 2, 21, 300])
def test_midrank_counts_ties_and_masks_like_brute_force(symbols):
    """The cross-sectional rank behind the relative-strength cards: one sort and a scatter,
    against counting below / at-or-below directly, with ties, masked symbols and two series
    ranked at once, under jit and a vmap over (mode, tf) as the lifter runs it."""
    rng = np.random.default_rng(symbols)
    values = rng.integers(-4, 5, size=(3, 2, 2, symbols)).astype(np.float32)  # many ties
    values[..., ::7] = rng.standard_normal(values[..., ::7].shape)
    ok = rng.random((3, 2, symbols)) > 0.2
    ranked = jax.jit(jax.vmap(jax.vmap(midrank, (1, 0), 1), (0, 0), 0))(values, ok)  # (mode, k, tf, sym)

    for m, k, t in np.ndindex(3, 2, 2):
        v, o = values[m, k, t].astype(np.float64), ok[m, t]
        peers = v[o]
        expected = [0.5 * ((peers < x).sum() + (peers <= x).sum() - 1) for x in v[o]]
        np.testing.assert_array_equal(np.asarray(ranked[m, k, t])[o], expected)
    assert ranked.dtype == jnp.float32
