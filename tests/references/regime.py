"""NumPy references of the regime cards (bpjax/cards/regime.py), from their docstrings."""

from __future__ import annotations

import math

import numpy as np

from tests.reference import RET, F, div, move_z, reference, reference_series

VOL_SHORT, VOL_LONG = ("ema", "log_return", 10), ("ema", "log_return", 100)
BODY_LAG_PRODUCT = ("ema", "regime_body_lag_product", 50)
BODY_SQUARE = ("ema", "regime_body_square", 50)


def _body(bar, ok):
    open_, close = bar[..., F["open"]], bar[..., F["close"]]
    good = ok[..., F["open"]] & ok[..., F["close"]] & (open_ > 0) & (close > 0)
    ratio = np.where(good, close, 1.0) / np.where(good, open_, 1.0)
    return np.where(good, np.log(ratio), 0.0), good


@reference_series("regime_body_lag_product")
def _lag_product(bar, ok, prev, prev_ok):
    body, good = _body(bar, ok)
    before, before_ok = _body(prev, prev_ok)
    good = good & before_ok
    return np.where(good, body * before, 0.0), good


@reference_series("regime_body_square")
def _square(bar, ok, prev, prev_ok):
    body, good = _body(bar, ok)
    good = good & _body(prev, prev_ok)[1]
    return np.where(good, body * body, 0.0), good


def _choppiness(s):
    n = s.n(14)
    width = s.window("max", "high", 14)[0] - s.window("min", "low", 14)[0]
    ratio = div(s.window("sum", "true_range", 14)[0], width, 1.0)
    logs = np.log(np.where(ratio > 0, ratio, 1.0))
    value = 100.0 * logs / math.log(n) if n > 1 else np.zeros_like(logs)
    return value, width


def _position(s, lookback):
    high, low = s.window("max", "high", lookback)[0], s.window("min", "low", lookback)[0]
    return 2.0 * div(s.lag_value("close", 0)[0] - low, high - low, 0.5) - 1.0


@reference("choppiness_trend", ("high", "low", "close"), 14, (RET,))
def _chop_trend(s):
    value, width = _choppiness(s)
    trendiness = np.clip((61.8 - value) / (61.8 - 38.2), 0.0, 1.0)
    z, ok = move_z(s, 14)
    d = np.tanh(z) * trendiness
    return d, np.abs(d), (ok & (width > 0)) * 1.0, value


@reference("choppiness_range", ("high", "low", "close"), 14)
def _chop_range(s):
    value, width = _choppiness(s)
    chop = np.clip((value - 38.2) / (61.8 - 38.2), 0.0, 1.0)
    d = -_position(s, 14) * chop
    return d, np.abs(d), (width > 0) * 1.0, value


@reference("vol_managed_momentum", ("close",), 100, (RET, VOL_SHORT, VOL_LONG))
def _vol_managed(s):
    short, long = s.stream(VOL_SHORT)[1], s.stream(VOL_LONG)[1]
    value = np.clip(div(long, short, 1.0), 0.0, 2.0) / 2.0
    z, ok = move_z(s, 20)
    d = np.tanh(z) * value
    return d, np.abs(d), (ok & (short > 0)) * 1.0, value


@reference("autocorrelation_forecast", ("open", "close"), 50, (BODY_LAG_PRODUCT, BODY_SQUARE, RET))
def _autocorrelation(s):
    square = s.stream(BODY_SQUARE)[0]
    value = np.clip(div(s.stream(BODY_LAG_PRODUCT)[0], square), -1.0, 1.0)
    z, ok = move_z(s, 5)
    d = np.tanh(value / 0.2) * np.tanh(z)
    return d, np.abs(d), ok * 1.0, value


@reference("efficiency_regime_switch", ("high", "low", "close"), 20, (RET,))
def _switch(s):
    path = s.window("sum", "abs_change", 10)[0]
    close, past = s.lag_value("close", 0)[0], s.lag_value("close", 10)[0]
    value = np.clip(div(np.abs(close - past), path), 0.0, 1.0)
    weight = np.clip((value - 0.2) / 0.4, 0.0, 1.0)
    z, ok = move_z(s, 10)
    d = weight * np.tanh(z) - (1.0 - weight) * _position(s, 20)
    return d, np.abs(d), ok * 1.0, value
