"""NumPy references of the VWAP cards (bpjax/cards/vwap.py), from their docstrings."""

from __future__ import annotations

import math

import numpy as np

from tests.reference import RET, F, div, from_z, reference, reference_series


def _log(x):
    return np.log(np.where(x > 0, x, 1.0))


@reference_series("volume_return_square")
def _volume_return_square(bar, ok, prev, prev_ok):
    c, pc = bar[..., F["close"]], prev[..., F["close"]]
    good = ok[..., F["close"]] & ok[..., F["volume"]] & prev_ok[..., F["close"]] & (c > 0) & (pc > 0)
    r = _log(c) - _log(pc)
    return np.where(good, bar[..., F["volume"]] * r * r, 0.0), good


@reference_series("close_over_bar_vwap")
def _close_over_bar_vwap(bar, ok, prev, prev_ok):
    c, v, t = bar[..., F["close"]], bar[..., F["volume"]], bar[..., F["turnover"]]
    good = ok[..., F["close"]] & ok[..., F["volume"]] & ok[..., F["turnover"]] & (c > 0) & (v > 0) & (t > 0)
    return np.where(good, v * (_log(c) - _log(div(t, v, 1.0))), 0.0), good


def _sums(s, lookback):
    return s.window("sum", "turnover", lookback)[0], s.window("sum", "volume", lookback)[0]


def _distance(s, lookback, close):
    turnover, volume = _sums(s, lookback)
    ok = (turnover > 0) & (volume > 0) & (close > 0)
    return np.where(ok, _log(close) - _log(div(turnover, volume, 1.0)), 0.0), ok


def _spread(s, lookback):
    return s.stream(RET)[1] * math.sqrt(s.n(lookback) / 3.0)


@reference("vwap_distance", ("close", "turnover", "volume"), 50, (RET,))
def _vwap_distance(s):
    distance, ok = _distance(s, 50, s.lag_value("close", 0)[0])
    d, st = from_z(div(distance, _spread(s, 50)))
    return d, st, ok * 1.0, distance * 1e4


@reference("vwap_slope", ("turnover", "volume", "close"), 20, (RET,))
def _vwap_slope(s):
    t5, v5 = _sums(s, 5)
    t20, v20 = _sums(s, 20)
    recent, older = div(t5, v5), div(t20 - t5, v20 - v5)
    ok = (recent > 0) & (older > 0) & (v5 > 0) & (v20 - v5 > 0)
    change = np.where(ok, _log(recent) - _log(older), 0.0)
    d, st = from_z(div(change, s.stream(RET)[1] * math.sqrt(s.n(20) / 2.0)))
    return d, st, ok * 1.0, change * 1e4


@reference("vwap_band", ("close", "turnover", "volume"), 20)
def _vwap_band(s):
    distance, ok = _distance(s, 20, s.lag_value("close", 0)[0])
    _, volume = _sums(s, 20)
    variance = div(s.window("sum", "volume_return_square", 20)[0], volume)
    sd = np.sqrt(np.maximum(variance, 0.0) * s.n(20) / 3.0)
    position = div(distance, 2.0 * sd)
    stretch = np.clip((np.abs(position) - 0.5) / 0.5, 0.0, 1.0)
    return -np.sign(position) * stretch, stretch, (ok & (sd > 0)) * 1.0, position


@reference("vwap_cross", ("close", "turnover", "volume"), 20, (RET,))
def _vwap_cross(s):
    spread = _spread(s, 20)
    now, ok = _distance(s, 20, s.lag_value("close", 0)[0])
    past, past_ok = s.lag_value("close", 5)
    then, then_ok = _distance(s, 20, past)
    z_now, z_then = div(now, spread), div(then, spread)
    d = 0.5 * (np.tanh(z_now) - np.tanh(z_then))
    return d, np.abs(d), (ok & then_ok & past_ok) * 1.0, z_now


@reference("close_vs_bar_vwap", ("close", "turnover", "volume"), 5, (RET,))
def _close_vs_bar_vwap(s):
    volume = s.window("sum", "volume", 5)[0]
    value = div(s.window("sum", "close_over_bar_vwap", 5)[0], volume)
    d, st = from_z(div(value * math.sqrt(3.0 * s.n(5)), s.stream(RET)[1]))
    return d, st, (volume > 0) * 1.0, value * 1e4
