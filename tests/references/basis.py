"""NumPy references of the basis cards, from their docstrings."""

from __future__ import annotations

import math

import numpy as np

from tests.reference import F, div, reference, reference_series

LN2 = math.log(2.0)


def _log(x):
    return np.log(np.where(x > 0, x, 1.0))


def _log_ratio(a, b):
    good = (a > 0) & (b > 0)
    return np.where(good, _log(a) - _log(b), 0.0)


@reference_series("mark_close_gap")
def _gap_series(bar, ok, prev, prev_ok):
    mark, close = bar[..., F["mark"]], bar[..., F["close"]]
    good = ok[..., F["mark"]] & ok[..., F["close"]] & (mark > 0) & (close > 0)
    return np.where(good, _log_ratio(mark, close), 0.0), good


def _premium(s, lookback=0):
    (mark, mark_ok), (index, index_ok) = s.lag_value("mark", lookback), s.lag_value("index", lookback)
    return div(mark, index, 1.0) - 1.0, mark_ok & index_ok & (index > 0) & (mark > 0)


PREMIUM = ("ema", "premium", 50)
PREMIUM_SLOW = ("ema", "premium", 200)
MARK_CLOSE = ("ema", "mark_close_gap", 50)


@reference("basis_momentum", ("mark", "index"), 8, (PREMIUM,))
def _momentum(s):
    (now, ok_now), (before, ok_before) = _premium(s), _premium(s, 8)
    change = now - before
    z = change / (math.sqrt(2.0) * np.maximum(s.stream(PREMIUM)[1], 1e-5))
    return np.tanh(z), np.tanh(np.abs(z) / 2.0), (ok_now & ok_before) * 1.0, change * 1e4


@reference("basis_funding_gap", ("mark", "index", "funding_rate"), 50, (PREMIUM,))
def _funding_gap(s):
    value, ok = _premium(s)
    rate, rate_ok = s.lag_value("funding_rate", 0)
    gap = value - rate
    z = gap / np.maximum(s.stream(PREMIUM)[1], 1e-5)
    return np.tanh(z), np.tanh(np.abs(z) / 2.0), (ok & rate_ok) * 1.0, gap * 1e4


@reference("basis_reversion", ("mark", "index"), 20)
def _reversion(s):
    value, ok = _premium(s)
    mean, count = s.window("mean", "premium", 20)
    sd = s.window("std", "premium", 20)[0]
    z = (value - mean) / np.maximum(sd, 1e-5)
    return -np.tanh(z), np.tanh(np.abs(z) / 2.0), (ok & (count > 0)) * 1.0, z


@reference("mark_close_gap", ("mark", "close"), 50, (MARK_CLOSE,))
def _mark_close(s):
    (mark, mark_ok), (close, close_ok) = s.lag_value("mark", 0), s.lag_value("close", 0)
    gap = _log_ratio(mark, close)
    z = gap / np.maximum(s.stream(MARK_CLOSE)[1], 1e-6)
    ok = mark_ok & close_ok & (mark > 0) & (close > 0)
    return np.tanh(z), np.tanh(np.abs(z) / 2.0), ok * 1.0, gap * 1e4


@reference("basis_carry", ("mark", "index", "funding_rate"), 1)
def _carry(s):
    value, ok = _premium(s)
    rate, rate_ok = s.lag_value("funding_rate", 0)
    carry = (rate + value) * (365.0 * 86_400.0 / 28_800.0)
    d = -np.tanh(carry / 0.2)
    return d, np.abs(d), (ok & rate_ok) * 1.0, carry


@reference("basis_volatility_regime", ("mark", "index"), 200, (PREMIUM_SLOW,))
def _volatility_regime(s):
    value, ok = _premium(s)
    short, slow = s.window("std", "premium", 20)[0], s.stream(PREMIUM_SLOW)[1]
    excess = np.clip(_log_ratio(short, slow) / LN2, 0.0, 1.0)
    d = -np.tanh(value / np.maximum(slow, 1e-5)) * excess
    return d, np.abs(d), (ok & (slow > 0)) * 1.0, div(short, slow)
