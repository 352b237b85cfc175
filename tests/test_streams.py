"""Streaming exponentially weighted statistics: exact against float64, no float32 drift."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bpjax.features.streams import Stream, StreamBank
from tests.reference import ew_step


def _run(bank: StreamBank, x: np.ndarray, valid: np.ndarray, scale: float = 1.0):
    """Fold a (step, stream) sequence into one symbol/mode/timeframe; returns the final state."""
    alphas = bank.alphas(jnp.asarray([scale], jnp.float32))
    state = jnp.zeros((3, len(bank), 1, 1, 1), jnp.float32)

    def body(state, inputs):
        xs, ok = inputs
        return bank.update(state, xs[:, None, None], ok[:, None, None], alphas), None

    state, _ = jax.lax.scan(body, state, (jnp.asarray(x, jnp.float32), jnp.asarray(valid)))
    return np.asarray(state)[:, :, 0, 0, 0]


def test_first_observation_sets_the_mean_and_masked_bars_change_nothing():
    bank = StreamBank([Stream("log_return", 10)])
    state = _run(bank, np.array([[0.5], [7.0]]), np.array([[True], [False]]))
    assert state[0, 0] == pytest.approx(0.5) and state[1, 0] == 0.0
    assert state[2, 0] == pytest.approx(2.0 / 11.0)


def test_ema_wilder_and_nested_streams_match_float64():
    inner = Stream("log_return", 12)
    bank = StreamBank([inner, Stream(inner, 9), Stream("gain", 14, "wilder")])
    rng = np.random.default_rng(1)
    steps = 500
    x = rng.normal(0.0, 1e-3, (steps, len(bank)))
    valid = rng.random((steps, len(bank))) < 0.9
    index = bank.index
    valid[:, index[Stream(inner, 9)]] = False  # derived: fed from its source, whatever this says
    state = _run(bank, x, valid, scale=2.0)

    def reference(series, ok, span, kind):
        alpha = 1.0 / (span * 2.0) if kind == "wilder" else 2.0 / (span * 2.0 + 1.0)
        s = (np.zeros(1), np.zeros(1), np.zeros(1))
        means, updated = [], []
        for t in range(steps):
            s = ew_step(s, series[t : t + 1], ok[t : t + 1], alpha)
            means.append(s[0][0])
            updated.append(ok[t])
        return s, np.array(means), np.array(updated)

    inner_state, inner_means, inner_updated = reference(x[:, index[inner]], valid[:, index[inner]], 12, "ema")
    outer_state, _, _ = reference(inner_means, inner_updated, 9, "ema")
    wilder = Stream("gain", 14, "wilder")
    wilder_state, _, _ = reference(x[:, index[wilder]], valid[:, index[wilder]], 14, "wilder")
    for stream, expected in ((inner, inner_state), (Stream(inner, 9), outer_state), (wilder, wilder_state)):
        k = index[stream]
        np.testing.assert_allclose(state[0, k], expected[0][0], rtol=1e-4, atol=1e-9)
        np.testing.assert_allclose(state[1, k], expected[1][0], rtol=1e-3, atol=1e-12)
        np.testing.assert_allclose(state[2, k], expected[2][0], rtol=1e-5)


@pytest.mark.slow
def test_no_float32_drift_over_100k_bars():
    """PERF-NOTES: float32 running sums drift; the bias-corrected EW form must not."""
    bank = StreamBank([Stream("log_return", 20), Stream("close", 50)])
    rng = np.random.default_rng(7)
    steps = 100_000
    returns = rng.normal(0.0, 2e-3, steps)
    prices = 60_000.0 * np.exp(np.cumsum(returns))
    x = np.stack([returns, prices], axis=1)
    valid = np.ones_like(x, bool)
    state = _run(bank, x, valid)
    for k, span in ((bank.index[Stream("log_return", 20)], 20), (bank.index[Stream("close", 50)], 50)):
        s = (np.zeros(1), np.zeros(1), np.zeros(1))
        for t in range(steps - 2_000, steps):  # the EW state forgets everything older
            s = ew_step(s, x[t : t + 1, k], valid[t : t + 1, k], 2.0 / (span + 1.0))
        np.testing.assert_allclose(state[0, k], s[0][0], rtol=2e-5, atol=1e-7)
        relative = abs(np.sqrt(state[1, k]) - np.sqrt(s[1][0])) / np.sqrt(s[1][0])
        assert relative < 1e-3, f"std drifted by {relative:.2e} after {steps} bars"
