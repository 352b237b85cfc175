"""NumPy references of the mean-reversion cards (bpjax/cards/mean_reversion.py), from their docstrings."""

from __future__ import annotations

import numpy as np

from tests.reference import RET, F, div, from_z, osc, reference, reference_series

E50, LOG_E100 = ("ema", "close", 50), ("ema", "log_close", 100)
RELATIVE_ATR = ("wilder", "true_range_rel", 14)
GAIN_2, LOSS_2 = ("wilder", "gain", 2), ("wilder", "loss", 2)


@reference_series("mr_prev_close")
def _prev_close(bar, ok, prev, prev_ok):
    return prev[..., F["close"]], prev_ok[..., F["close"]]


@reference_series("mr_prev_ibs")
def _prev_ibs(bar, ok, prev, prev_ok):
    high, low, close = (prev[..., F[name]] for name in ("high", "low", "close"))
    good = prev_ok[..., F["high"]] & prev_ok[..., F["low"]] & prev_ok[..., F["close"]] & (high > low)
    return np.where(good, div(close - low, high - low), 0.5), good


def _close(s):
    return s.lag_value("close", 0)[0]


@reference("ema_deviation_z", ("close",), 50, (E50,))
def _ema_z(s):
    mean, sd, _, _ = s.stream(E50)
    value = div(_close(s) - mean, sd)
    d, st = from_z(-value)
    return d, st, np.ones_like(d), value


@reference("rsi2_exhaustion", ("close",), 2, (GAIN_2, LOSS_2))
def _rsi2(s):
    gain, loss = s.stream(GAIN_2)[0], s.stream(LOSS_2)[0]
    value = np.where(gain + loss > 0, 100.0 * div(gain, gain + loss), 50.0)
    d, st = osc(value, 50.0, 40.0)
    return -d, st, (gain + loss > 0) * 1.0, value


@reference("bollinger_pierce", ("high", "low", "close"), 20)
def _pierce(s):
    middle, sd = s.window("mean", "close", 20)[0], s.window("std", "close", 20)[0]
    high, low = s.window("max", "high", 5)[0], s.window("min", "low", 5)[0]
    up = div(np.maximum(high - (middle + 2.0 * sd), 0.0), sd)
    down = div(np.maximum((middle - 2.0 * sd) - low, 0.0), sd)
    d = np.tanh(down - up)
    return d, np.abs(d), (sd > 0) * 1.0, div(high - middle, sd) + div(low - middle, sd)


@reference("atr_stretch", ("high", "low", "close"), 100, (LOG_E100, RELATIVE_ATR))
def _atr_stretch(s):
    close = _close(s)
    relative_atr = s.stream(RELATIVE_ATR)[0]
    log_close = np.log(np.where(close > 0, close, 1.0))
    value = div(np.where(close > 0, log_close - s.stream(LOG_E100)[0], 0.0), relative_atr)
    excess = np.sign(value) * np.maximum(np.abs(value) - 5.0, 0.0)
    d = -np.tanh(excess / 5.0)
    return d, np.abs(d), (relative_atr > 0) * 1.0, value


@reference("variance_ratio_reversion", ("close",), 20, (RET,))
def _variance_ratio(s):
    n = s.n(20)
    mean, sd = s.window("mean", "close", 20)[0], s.window("std", "close", 20)[0]
    sigma = s.stream(RET)[1]
    value = div(div(sd, mean) ** 2, sigma**2 * (n * n - 1.0) / (6.0 * n))
    weight = np.clip(1.0 - value, 0.0, 1.0)
    d = -np.tanh(div(_close(s) - mean, sd)) * weight
    return d, np.abs(d), ((sd > 0) & (sigma > 0)) * 1.0, value


@reference("pivot_reversion", ("high", "low", "close"), 21)
def _pivot(s):
    high = s.window("max", "high", 20, offset=1)[0]
    low = s.window("min", "low", 20, offset=1)[0]
    last, last_ok = s.lag_value("mr_prev_close", 0)
    pivot = (high + low + last) / 3.0
    deviation = _close(s) - pivot
    value = np.where(deviation >= 0, div(deviation, pivot - low), div(deviation, high - pivot))
    d, st = osc(-value, 0.0, 1.0)
    return d, st, ((high > low) & last_ok) * 1.0, value


@reference("internal_bar_strength", ("high", "low", "close"), 2)
def _ibs(s):
    value, ok = s.lag_value("mr_prev_ibs", 0)
    d = np.where(ok, 1.0 - 2.0 * value, 0.0)
    return d, np.abs(d), ok * 1.0, value
