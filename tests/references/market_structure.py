"""Float64 references of the market_structure cards, from their docstrings."""

from __future__ import annotations

import math

import numpy as np

from tests.reference import F, div, reference, reference_series

HLC = ("high", "low", "close")
ATR = ("wilder", "true_range", 14)


@reference_series("structure_bar_extension")
def _bar_extension(bar, ok, prev, prev_ok):
    high, low = bar[..., F["high"]], bar[..., F["low"]]
    prev_high, prev_low = prev[..., F["high"]], prev[..., F["low"]]
    good = ok[..., F["high"]] & ok[..., F["low"]] & prev_ok[..., F["high"]] & prev_ok[..., F["low"]]
    good = good & (high - low > 0)
    value = div(np.maximum(high - prev_high, 0.0) - np.maximum(prev_low - low, 0.0), high - low)
    return np.where(good, value, 0.0), good


def _atr(s):
    return s.stream(ATR)[0]


@reference("swing_structure", HLC, 10, (ATR,))
def _swing_structure(s):
    atr, n = _atr(s), s.n(10)
    a = div(s.window("slope", "high", 10)[0] * n, atr)
    b = div(s.window("slope", "low", 10)[0] * n, atr)
    value = np.sign(a + b) * np.sqrt(np.maximum(a * b, 0.0))
    d = np.tanh(value / 4.0)
    return d, np.abs(d), np.ones_like(d), value


def _prior(s):
    high, count = s.window("max", "high", 10, offset=1)
    low = s.window("min", "low", 10, offset=1)[0]
    return high, low, count > 0


@reference("break_of_structure", HLC, 11, (ATR,))
def _break_of_structure(s):
    atr = _atr(s)
    high, low, ok = _prior(s)
    close = s.lag_value("close", 0)[0]
    value = div(np.maximum(close - high, 0.0) - np.maximum(low - close, 0.0), atr)
    d = np.tanh(2.0 * value)
    return d, np.abs(d), ok * 1.0, value


@reference("range_compression", HLC, 50)
def _range_compression(s):
    high10, low10 = s.window("max", "high", 10)[0], s.window("min", "low", 10)[0]
    range10 = high10 - low10
    range50 = s.window("max", "high", 50)[0] - s.window("min", "low", 50)[0]
    expected = math.sqrt(s.n(10) / s.n(50))
    value = np.clip(1.0 - div(div(range10, range50, 1.0), expected), 0.0, 1.0)
    position = 2.0 * div(s.lag_value("close", 0)[0] - low10, range10, 0.5) - 1.0
    d = np.clip(position, -1.0, 1.0) * value
    return d, np.abs(d), np.ones_like(d), value


@reference("swing_failure", HLC, 11, (ATR,))
def _swing_failure(s):
    atr = _atr(s)
    prior_high, prior_low, ok = _prior(s)
    high, low, close = (s.lag_value(f, 0)[0] for f in HLC)
    up = np.minimum(np.maximum(high - prior_high, 0.0), np.maximum(prior_high - close, 0.0))
    down = np.minimum(np.maximum(prior_low - low, 0.0), np.maximum(close - prior_low, 0.0))
    value = div(down - up, atr)
    d = np.tanh(3.0 * value)
    return d, np.abs(d), ok * 1.0, value


@reference("range_mid_shift", ("high", "low"), 50)
def _range_mid_shift(s):
    (high50, count), low50 = s.window("max", "high", 50), s.window("min", "low", 50)[0]
    mid10 = 0.5 * (s.window("max", "high", 10)[0] + s.window("min", "low", 10)[0])
    value = np.clip(div(mid10 - 0.5 * (high50 + low50), 0.5 * (high50 - low50)), -1.0, 1.0)
    return value, np.abs(value), (count > 0) * 1.0, value


@reference("bar_extension_balance", ("high", "low"), 10)
def _bar_extension_balance(s):
    value, count = s.window("mean", "structure_bar_extension", 10)
    d = np.tanh(3.0 * value)
    return d, np.abs(d), (count > 0) * 1.0, value
