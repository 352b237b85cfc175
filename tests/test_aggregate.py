"""Aggregation: multi-timeframe agreement, composite bias and confidence, states, size and stop."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from bpjax.cards import REGISTRY
from bpjax.tick.aggregate import STATE_CODE, aggregate
from bpjax.tick.lifter import CardBatch
from bpjax.tick.params import AGG, init_params

CARDS = len(REGISTRY)
SYM, MODE, TF = 4, 3, 3


def _div(a, b):
    return np.where(np.abs(b) > 1e-12, a / np.where(np.abs(b) > 1e-12, b, 1.0), 0.0)


def reference(d, s, c, params, memory, membership, vol, seconds):
    """Float64 NumPy version of the documented aggregation."""
    p = {k: np.asarray(params.aggregation)[:, i][None, :] for k, i in AGG.items()}
    tfw = np.asarray(params.timeframe_weights, float)[None, None]
    w = np.asarray(params.category_weights, float)[None]
    wc = tfw * c
    cc = wc.sum(-1)
    cd, cs = _div((wc * d).sum(-1), cc), _div((wc * s).sum(-1), cc)
    present = np.where(c > 0, tfw, 0.0)
    same = (np.sign(d) == np.sign(cd)[..., None]) & (np.abs(d) > 1e-6)
    agreement = _div(np.where(same, present, 0.0).sum(-1), present.sum(-1))
    cc = cc * 0.5 * (1 + agreement)
    contribution = cd * cs * cc
    cat_signal = np.einsum("c...,ck->...k", contribution, membership)
    cat_conf = np.einsum("c...,ck->...k", cc, membership)
    bias = 100 * np.clip(_div((w * cat_signal).sum(-1), (np.abs(w) * cat_conf).sum(-1)), -1, 1)
    tf_signal = np.einsum("c...,ck->...k", d * s * c, membership)
    tf_conf = np.einsum("c...,ck->...k", c, membership)
    tf_bias = 100 * np.clip(
        _div((w[:, :, None] * tf_signal).sum(-1), (np.abs(w[:, :, None]) * tf_conf).sum(-1)), -1, 1
    )
    short, long = tf_bias[..., 0], tf_bias[..., -1]
    conflicted = (
        (short * long < 0)
        & (np.abs(short) > p["conflict_threshold"])
        & (np.abs(long) > p["conflict_threshold"])
    )
    count = membership.sum(0)[None, None]
    data = _div((np.abs(w) * cat_conf).sum(-1), (np.abs(w) * count).sum(-1))
    consensus = _div(np.abs((w * cat_signal).sum(-1)), np.abs(w * cat_signal).sum(-1))
    confidence = np.clip(
        100 * data * 0.5 * (1 + consensus) * np.where(conflicted, p["conflict_confidence_factor"], 1.0),
        0,
        100,
    )
    var = (np.asarray(params.timeframe_weights)[None] * vol**2 / seconds[None, None]).sum(-1)
    sigma = np.sqrt(var * p["horizon_seconds"])
    stop = p["stop_volatility_multiple"] * sigma * (2 - confidence / 100) * np.where(conflicted, 1.5, 1.0)
    size = np.sign(bias) * np.minimum(
        _div(p["risk_per_trade"], stop) * confidence / 100 * np.abs(bias) / 100, p["max_position"]
    )
    return bias, confidence, conflicted, tf_bias, stop, size, 100 * np.clip(_div(cat_signal, cat_conf), -1, 1)


@pytest.fixture
def setup(config):
    params = init_params(config, REGISTRY)
    membership = REGISTRY.category_matrix()
    seconds = np.array([tf.seconds for tf in config.timeframes], np.float32)
    return params, membership, seconds


def _batch(d, s, c):
    """(card, sym, mode, tf) test arrays -> the engine's (card, mode, tf, sym) CardBatch."""
    zeros = np.zeros_like(d)
    parts = (jnp.asarray(np.transpose(a, (0, 2, 3, 1)), jnp.float32) for a in (d, s, c, zeros, zeros))
    return CardBatch(*parts, jnp.zeros(np.transpose(d, (0, 2, 3, 1)).shape, bool))


def _memory(memory):
    """(sym, mode, 3) -> the engine's (3, mode, sym)."""
    return jnp.asarray(np.transpose(memory, (2, 1, 0)), jnp.float32)


def _volatility(volatility):
    """(sym, mode, tf) -> the engine's (mode, tf, sym)."""
    return jnp.asarray(np.transpose(volatility, (1, 2, 0)), jnp.float32)


def test_aggregation_matches_the_numpy_reference_on_random_cards(setup):
    params, membership, seconds = setup
    rng = np.random.default_rng(0)
    shape = (CARDS, SYM, MODE, TF)
    d, s = rng.uniform(-1, 1, shape), rng.uniform(0, 1, shape)
    c = rng.uniform(0, 1, shape) * (rng.random(shape) < 0.8)
    vol = rng.uniform(1e-4, 1e-2, (SYM, MODE, TF))
    memory = np.zeros((SYM, MODE, 3))
    out = aggregate(
        _batch(d, s, c),
        params,
        _memory(memory),
        jnp.asarray(membership),
        _volatility(vol),
        jnp.asarray(seconds),
    )
    bias, confidence, conflicted, tf_bias, stop, size, categories = reference(
        d.astype(np.float32).astype(float),
        s.astype(np.float32).astype(float),
        c.astype(np.float32).astype(float),
        params,
        memory,
        membership,
        vol.astype(np.float32).astype(float),
        seconds.astype(float),
    )
    np.testing.assert_allclose(np.asarray(out.bias), bias, atol=1e-3)
    np.testing.assert_allclose(np.asarray(out.confidence), confidence, atol=1e-3)
    np.testing.assert_array_equal(np.asarray(out.conflicted), conflicted)
    np.testing.assert_allclose(np.asarray(out.timeframe_bias), tf_bias, atol=1e-3)
    np.testing.assert_allclose(np.asarray(out.stop), stop, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(out.size), size, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(np.asarray(out.category_scores), categories, atol=1e-3)


def _uniform(direction_by_tf, confidence=1.0, strength=1.0):
    """Every card reads the same; direction per timeframe."""
    d = np.broadcast_to(np.asarray(direction_by_tf, float), (CARDS, SYM, MODE, TF)).copy()
    return d, np.full_like(d, strength), np.full_like(d, confidence)


def _run(setup, d, s, c, memory=None):
    params, membership, seconds = setup
    memory = np.zeros((SYM, MODE, 3)) if memory is None else memory
    vol = np.full((SYM, MODE, TF), 1e-3)
    return aggregate(
        _batch(d, s, c),
        params,
        _memory(memory),
        jnp.asarray(membership),
        _volatility(vol),
        jnp.asarray(seconds),
    )


def test_unanimous_strong_cards_give_full_bias_and_confidence(setup):
    out = _run(setup, *_uniform([1.0, 1.0, 1.0]))
    np.testing.assert_allclose(np.asarray(out.bias), 100.0, atol=1e-3)
    np.testing.assert_allclose(np.asarray(out.confidence), 100.0, atol=1e-3)
    assert not np.asarray(out.conflicted).any()
    assert (np.asarray(out.state) == STATE_CODE["exhaustion"]).all()  # 100 is an extreme reading


def test_short_and_long_timeframes_disagreeing_is_conflicted_smaller_and_wider(setup):
    agree = _run(setup, *_uniform([0.6, 0.6, 0.6], strength=0.5))
    conflict = _run(setup, *_uniform([0.6, 0.6, -0.6], strength=0.5))
    assert np.asarray(conflict.conflicted).all() and not np.asarray(agree.conflicted).any()
    assert (np.asarray(conflict.state) == STATE_CODE["conflicted"]).all()
    assert (np.asarray(conflict.confidence) < np.asarray(agree.confidence)).all()
    assert (np.abs(np.asarray(conflict.size)) < np.abs(np.asarray(agree.size))).all()
    assert (np.asarray(conflict.stop) > np.asarray(agree.stop)).all()


def test_transition_from_neutral_and_deceleration_use_the_bias_memory(setup):
    d, s, c = _uniform([0.5, 0.5, 0.5], strength=0.6)  # bias 30: directional, not extreme
    neutral_memory = np.zeros((SYM, MODE, 3))
    neutral_memory[..., 2] = 1.0  # a memory exists and says neutral
    assert (np.asarray(_run(setup, d, s, c, neutral_memory).state) == STATE_CODE["transition"]).all()
    # the fast memory already fell well below the slow one: magnitude is fading
    strong_memory = np.stack(
        [np.full((SYM, MODE), 35.0), np.full((SYM, MODE), 60.0), np.ones((SYM, MODE))], -1
    )
    assert (np.asarray(_run(setup, d, s, c, strong_memory).state) == STATE_CODE["deceleration"]).all()
    steady_memory = np.stack(
        [np.full((SYM, MODE), 30.0), np.full((SYM, MODE), 30.0), np.ones((SYM, MODE))], -1
    )
    assert (np.asarray(_run(setup, d, s, c, steady_memory).state) == STATE_CODE["trending"]).all()
    assert (np.asarray(_run(setup, d * 0.0, s, c, steady_memory).state) == STATE_CODE["neutral"]).all()


def test_category_weights_change_the_bias(setup):
    params, membership, seconds = setup
    d, s, c = _uniform([0.5, 0.5, 0.5], strength=0.6)
    momentum = REGISTRY.categories.index("price_momentum")
    d[np.asarray(membership[:, momentum]) > 0] *= -1  # momentum says the opposite
    base = _run(setup, d, s, c)
    weights = np.asarray(params.category_weights).copy()
    weights[:, momentum] = 5.0
    heavy = aggregate(
        _batch(d, s, c),
        params.with_category_weights(weights),
        _memory(np.zeros((SYM, MODE, 3))),
        jnp.asarray(membership),
        _volatility(np.full((SYM, MODE, TF), 1e-3)),
        jnp.asarray(seconds),
    )
    assert (np.asarray(heavy.bias) < np.asarray(base.bias)).all()


def test_no_confidence_means_no_bias_no_size_and_finite_outputs(setup):
    d, s, c = _uniform([1.0, -1.0, 1.0], confidence=0.0)
    out = _run(setup, d, s, c)
    for name in ("bias", "confidence", "size", "agreement"):
        value = np.asarray(getattr(out, name))
        assert np.isfinite(value).all() and (value == 0).all(), name
    assert (np.asarray(out.stop) > 0).all()  # the volatility is still known: a stop distance exists
