"""NumPy references of the trend cards (bpjax/cards/trend.py), from their docstrings."""

from __future__ import annotations

import numpy as np

from tests.reference import F, div, reference, reference_series

ATR = ("wilder", "true_range", 14)
ATR_20 = ("wilder", "true_range", 20)
E12, E26, E50, E200 = (("ema", "close", span) for span in (12, 26, 50, 200))
PLUS_DM, MINUS_DM = ("wilder", "trend_plus_dm", 14), ("wilder", "trend_minus_dm", 14)


def _moves(bar, ok, prev, prev_ok):
    up = bar[..., F["high"]] - prev[..., F["high"]]
    down = prev[..., F["low"]] - bar[..., F["low"]]
    good = ok[..., F["high"]] & ok[..., F["low"]] & prev_ok[..., F["high"]] & prev_ok[..., F["low"]]
    return up, down, good


@reference_series("trend_plus_dm")
def _plus_dm(bar, ok, prev, prev_ok):
    up, down, good = _moves(bar, ok, prev, prev_ok)
    return np.where(good & (up > down) & (up > 0), up, 0.0), good


@reference_series("trend_minus_dm")
def _minus_dm(bar, ok, prev, prev_ok):
    up, down, good = _moves(bar, ok, prev, prev_ok)
    return np.where(good & (down > up) & (down > 0), down, 0.0), good


@reference_series("trend_vortex_plus")
def _vortex_plus(bar, ok, prev, prev_ok):
    good = ok[..., F["high"]] & prev_ok[..., F["low"]]
    return np.where(good, np.abs(bar[..., F["high"]] - prev[..., F["low"]]), 0.0), good


@reference_series("trend_vortex_minus")
def _vortex_minus(bar, ok, prev, prev_ok):
    good = ok[..., F["low"]] & prev_ok[..., F["high"]]
    return np.where(good, np.abs(bar[..., F["low"]] - prev[..., F["high"]]), 0.0), good


def _close(s):
    return s.lag_value("close", 0)[0]


@reference("ema_ribbon", ("high", "low", "close"), 50, (E12, E26, E50, ATR))
def _ribbon(s):
    atr = s.stream(ATR)[0]
    levels = [_close(s)] + [s.stream(spec)[0] for spec in (E12, E26, E50)]
    value = np.mean([np.tanh(div(levels[k] - levels[k + 1], atr) / 1.5) for k in range(3)], axis=0)
    return value, np.abs(value), (atr > 0) * 1.0, value


@reference("directional_movement", ("high", "low"), 14, (PLUS_DM, MINUS_DM))
def _dmi(s):
    plus, minus = s.stream(PLUS_DM)[0], s.stream(MINUS_DM)[0]
    value = div(plus - minus, plus + minus)
    return value, np.abs(value), (plus + minus > 0) * 1.0, 100.0 * np.abs(value)


@reference("vortex", ("high", "low", "close"), 15)
def _vortex(s):
    plus = s.window("sum", "trend_vortex_plus", 14)[0]
    minus = s.window("sum", "trend_vortex_minus", 14)[0]
    true_range = s.window("sum", "true_range", 14)[0]
    value = div(plus - minus, true_range)
    d = np.tanh(value / 0.6)
    return d, np.abs(d), (true_range > 0) * 1.0, value


@reference("linear_regression_t", ("close",), 20)
def _linreg(s):
    n = s.n(20)
    slope, sd = s.window("slope", "close", 20)[0], s.window("std", "close", 20)[0]
    r2 = np.clip(div(slope**2 * (n * n - 1.0) / 12.0, sd**2), 0.0, 0.99)
    value = np.sign(slope) * np.sqrt(r2 * max(n - 2.0, 0.0) / (1.0 - r2))
    d = np.tanh(value / 8.0)
    return d, np.abs(d), (sd > 0) * 1.0, value


@reference("ichimoku_base", ("high", "low", "close"), 26, (ATR,))
def _ichimoku(s):
    tenkan = 0.5 * (s.window("max", "high", 9)[0] + s.window("min", "low", 9)[0])
    kijun = 0.5 * (s.window("max", "high", 26)[0] + s.window("min", "low", 26)[0])
    atr = s.stream(ATR)[0]
    value = div((tenkan - kijun) + (_close(s) - kijun), atr)
    d = np.tanh(value / 4.0)
    return d, np.abs(d), (atr > 0) * 1.0, value


@reference("aroon_oscillator", ("high", "low"), 25)
def _aroon(s):
    highest, count = s.window("max", "high", 25)
    lowest = s.window("min", "low", 25)[0]
    up = np.mean([s.window("max", "high", k)[0] >= highest for k in (3, 6, 12)], axis=0)
    down = np.mean([s.window("min", "low", k)[0] <= lowest for k in (3, 6, 12)], axis=0)
    value = up - down
    return value, np.abs(value), (count > 0) * 1.0, 100.0 * value


@reference("golden_cross", ("high", "low", "close"), 200, (E50, E200, ATR))
def _golden(s):
    relative_atr = div(s.stream(ATR)[0], _close(s))
    fast, slow = s.stream(E50)[0], s.stream(E200)[0]
    gap = np.where(
        (fast > 0) & (slow > 0), np.log(np.where(fast > 0, fast, 1.0) / np.where(slow > 0, slow, 1.0)), 0.0
    )
    value = div(gap, relative_atr)
    d = np.tanh(value / 8.0)
    return d, np.abs(d), (relative_atr > 0) * 1.0, value


@reference("chandelier_trend", ("high", "low", "close"), 20, (ATR_20,))
def _chandelier(s):
    atr, close = s.stream(ATR_20)[0], _close(s)
    up = np.maximum(div(close - s.window("min", "low", 20)[0], atr) - 3.0, 0.0)
    down = np.maximum(div(s.window("max", "high", 20)[0] - close, atr) - 3.0, 0.0)
    d = np.tanh(up / 2.0) - np.tanh(down / 2.0)
    return d, np.abs(d), (atr > 0) * 1.0, up - down
