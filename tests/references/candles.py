"""NumPy references of the candle cards (bpjax/cards/candles.py), from their docstrings."""

from __future__ import annotations

import numpy as np

from tests.reference import F, div, reference, reference_series

OHLC = ("open", "high", "low", "close")
BODY_PRESSURE = ("ema", "candle_body_fraction", 8)


def _ohlc(bar):
    return (bar[..., F[name]] for name in OHLC)


def _all_ok(ok, names):
    return np.all([ok[..., F[name]] for name in names], axis=0)


@reference_series("candle_body_fraction")
def _body_fraction(bar, ok, prev, prev_ok):
    open_, high, low, close = _ohlc(bar)
    return np.where(high > low, div(close - open_, high - low), 0.0), _all_ok(ok, OHLC)


@reference_series("candle_location")
def _location(bar, ok, prev, prev_ok):
    _, high, low, close = _ohlc(bar)
    good = _all_ok(ok, ("high", "low", "close"))
    return np.where(good, (close - low) - (high - close), 0.0), good


@reference_series("candle_range")
def _range(bar, ok, prev, prev_ok):
    _, high, low, _ = _ohlc(bar)
    good = _all_ok(ok, ("high", "low"))
    return np.where(good, high - low, 0.0), good


@reference_series("candle_engulfing")
def _engulfing(bar, ok, prev, prev_ok):
    open_, high, low, close = _ohlc(bar)
    open1, high1, low1, close1 = _ohlc(prev)
    body, before = close - open_, close1 - open1
    span = np.maximum(high, high1) - np.minimum(low, low1)
    good = _all_ok(ok, OHLC) & _all_ok(prev_ok, OHLC) & (span > 0)
    colours = np.where(body * before < 0, 1.0, 0.5)
    growth = div(np.maximum(np.abs(body) - np.abs(before), 0.0), span)
    return np.where(good, np.sign(body) * colours * growth, 0.0), good


def _bar(s):
    return (s.lag_value(name, 0)[0] for name in OHLC)


@reference("body_dominance", OHLC, 1)
def _body(s):
    open_, high, low, close = _bar(s)
    value = np.clip(div(close - open_, high - low), -1.0, 1.0)
    return value, np.abs(value), (high > low) * 1.0, value


@reference("wick_rejection", OHLC, 1)
def _wick(s):
    open_, high, low, close = _bar(s)
    lower = np.minimum(open_, close) - low
    upper = high - np.maximum(open_, close)
    value = np.clip(div(lower - upper, high - low), -1.0, 1.0)
    return value, np.abs(value), (high > low) * 1.0, value


@reference("engulfing_strength", OHLC, 2)
def _engulfing_card(s):
    value, ok = s.lag_value("candle_engulfing", 0)
    d = np.tanh(3.0 * value)
    return d, np.abs(d), ok * 1.0, value


@reference("body_pressure", OHLC, 8, (BODY_PRESSURE,))
def _pressure(s):
    value = s.stream(BODY_PRESSURE)[0]
    d = np.tanh(value / 0.3)
    return d, np.abs(d), np.ones_like(d), value


@reference("close_location", ("high", "low", "close"), 5)
def _close_location(s):
    total = s.window("sum", "candle_range", 5)[0]
    value = np.clip(div(s.window("sum", "candle_location", 5)[0], total), -1.0, 1.0)
    return value, np.abs(value), (total > 0) * 1.0, value
