"""NumPy references of the volume cards (bpjax/cards/volume.py), from their docstrings."""

from __future__ import annotations

import math

import numpy as np

from tests.reference import RET, F, alpha_of, div, from_z, move_z, osc, reference, reference_series

LN2, LN3 = math.log(2.0), math.log(3.0)


def _get(a, name):
    return a[..., F[name]]


def _log(x):
    return np.log(np.where(x > 0, x, 1.0))


@reference_series("obv_volume")
def _obv_volume(bar, ok, prev, prev_ok):
    good = ok[..., F["close"]] & ok[..., F["volume"]] & prev_ok[..., F["close"]]
    sign = np.sign(_get(bar, "close") - _get(prev, "close"))
    return np.where(good, sign * _get(bar, "volume"), 0.0), good


@reference_series("volume_log_return")
def _volume_log_return(bar, ok, prev, prev_ok):
    c, pc = _get(bar, "close"), _get(prev, "close")
    good = ok[..., F["close"]] & ok[..., F["volume"]] & prev_ok[..., F["close"]] & (c > 0) & (pc > 0)
    return np.where(good, _get(bar, "volume") * (_log(c) - _log(pc)), 0.0), good


@reference_series("clv_volume")
def _clv_volume(bar, ok, prev, prev_ok):
    h, lo, c = _get(bar, "high"), _get(bar, "low"), _get(bar, "close")
    good = ok[..., F["high"]] & ok[..., F["low"]] & ok[..., F["close"]] & ok[..., F["volume"]]
    clv = div((c - lo) - (h - c), h - lo)
    return np.where(good, clv * _get(bar, "volume"), 0.0), good


def _typical(bar, ok, prev, prev_ok):
    names = ("high", "low", "close")
    good = ok[..., F["volume"]] & np.all([ok[..., F[n]] & prev_ok[..., F[n]] for n in names], axis=0)
    typical = sum(_get(bar, n) for n in names) / 3.0
    change = sum(_get(bar, n) - _get(prev, n) for n in names)
    return typical, change, good


@reference_series("mfi_positive_flow")
def _mfi_positive(bar, ok, prev, prev_ok):
    typical, change, good = _typical(bar, ok, prev, prev_ok)
    return np.where(good & (change > 0), typical * _get(bar, "volume"), 0.0), good


@reference_series("mfi_negative_flow")
def _mfi_negative(bar, ok, prev, prev_ok):
    typical, change, good = _typical(bar, ok, prev, prev_ok)
    return np.where(good & (change < 0), typical * _get(bar, "volume"), 0.0), good


@reference_series("klinger_force")
def _klinger_force(bar, ok, prev, prev_ok):
    _, change, good = _typical(bar, ok, prev, prev_ok)
    return np.where(good, np.sign(change) * _get(bar, "volume"), 0.0), good


def _noise(span, scale):
    alpha = alpha_of(span, "ema", scale)
    return math.sqrt(alpha / (2.0 - alpha))


@reference("relative_volume", ("volume", "close"), 50, (RET,))
def _relative_volume(s):
    recent = s.window("mean", "volume", 5, offset=1)[0]
    usual = s.window("mean", "volume", 50, offset=1)[0]
    ratio = div(recent, usual)
    e = np.clip(np.where((recent > 0) & (usual > 0), _log(ratio), 0.0) / LN2, 0.0, 1.0)
    z, ok = move_z(s, 5)
    return np.tanh(z) * e, e, (ok & (usual > 0)) * 1.0, ratio


OBV, VOL20 = ("ema", "obv_volume", 20), ("ema", "volume", 20)


@reference("obv_trend", ("volume", "close"), 20, (OBV, VOL20))
def _obv_trend(s):
    volume = s.stream(VOL20)[0]
    value = div(s.stream(OBV)[0], volume)
    d, st = from_z(value / _noise(20, s.scale))
    return d, st, (volume > 0) * 1.0, value


@reference("chaikin_money_flow", ("high", "low", "close", "volume"), 20)
def _cmf(s):
    volume = s.window("sum", "volume", 20)[0]
    value = div(s.window("sum", "clv_volume", 20)[0], volume)
    d = np.tanh(value / 0.3)
    return d, np.abs(d), (volume > 0) * 1.0, value


@reference("money_flow_index", ("high", "low", "close", "volume"), 14)
def _mfi(s):
    p = s.window("sum", "mfi_positive_flow", 14)[0]
    n = s.window("sum", "mfi_negative_flow", 14)[0]
    value = np.where(p + n > 0, 100.0 * div(p, p + n), 50.0)
    d, st = osc(value, 50.0, 40.0)
    return -d, st, (p + n > 0) * 1.0, value


VPT = ("ema", "volume_log_return", 20)


@reference("volume_price_trend", ("volume", "close"), 20, (VPT, VOL20, RET))
def _vpt(s):
    volume = s.stream(VOL20)[0]
    sigma = s.stream(RET)[1]
    value = div(s.stream(VPT)[0], volume)
    d, st = from_z(div(value, sigma * _noise(20, s.scale)))
    return d, st, ((volume > 0) & (sigma > 0)) * 1.0, value * 1e4


KF, KS, VOL55 = ("ema", "klinger_force", 34), ("ema", "klinger_force", 55), ("ema", "volume", 55)


@reference("klinger_oscillator", ("high", "low", "close", "volume"), 55, (KF, KS, VOL55))
def _klinger(s):
    volume = s.stream(VOL55)[0]
    value = div(s.stream(KF)[0] - s.stream(KS)[0], volume)
    d = np.tanh(value / 0.05)
    return d, np.abs(d), (volume > 0) * 1.0, value


@reference("volume_climax", ("high", "low", "close", "volume"), 50)
def _climax(s):
    usual = s.window("mean", "volume", 50, offset=1)[0]
    peak = s.window("max", "volume", 5, offset=1)[0]
    ratio = div(peak, usual)
    c = np.clip(np.where((peak > 0) & (usual > 0), _log(ratio), 0.0) / LN3, 0.0, 1.0)
    hh, ll = s.window("max", "high", 20)[0], s.window("min", "low", 20)[0]
    close = s.lag_value("close", 0)[0]
    position = np.clip(2.0 * div(close - ll, hh - ll, 0.5) - 1.0, -1.0, 1.0)
    d = -position * c
    return d, np.abs(d), ((hh - ll > 0) & (usual > 0)) * 1.0, ratio
