"""NumPy references of the liquidation cards, from their docstrings."""

from __future__ import annotations

import math

import numpy as np

from tests.reference import RET, F, Slice, _log, div, move_z, reference, reference_series

# --- series ----------------------------------------------------------------------------------------


@reference_series("liq_long_price")
def _liq_long_price(bar, ok, prev, prev_ok):
    good = ok[..., F["liq_long_notional"]] & ok[..., F["close"]]
    return np.where(good, bar[..., F["liq_long_notional"]] * bar[..., F["close"]], 0.0), good


@reference_series("liq_short_price")
def _liq_short_price(bar, ok, prev, prev_ok):
    good = ok[..., F["liq_short_notional"]] & ok[..., F["close"]]
    return np.where(good, bar[..., F["liq_short_notional"]] * bar[..., F["close"]], 0.0), good


# --- shared ----------------------------------------------------------------------------------------

LIQ = ("liq_long_notional", "liq_short_notional")


def lratio(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    good = (a > 0) & (b > 0)
    return np.where(good, _log(np.where(good, a, 1.0)) - _log(np.where(good, b, 1.0)), 0.0)


def width(s: Slice, lookback):
    return s.stream(RET)[1] * math.sqrt(s.n(lookback))


def sums(s: Slice, lookback, names=LIQ):
    return tuple(s.window("sum", name, lookback)[0] for name in names)


def stream_means(s: Slice, span):
    return s.stream(("ema", LIQ[0], span))[0], s.stream(("ema", LIQ[1], span))[0]


# --- cards -----------------------------------------------------------------------------------------


@reference("liquidation_levels", ("close",), 50)
def _levels(s):
    z = s.zones
    below, above = z["below_present"] > 0, z["above_present"] > 0
    down = np.where(below, z["below_distance"], 0.25)
    up = np.where(above, z["above_distance"], 0.25)
    ok = below | above
    value = np.where(ok, div(down - up, down + up), 0.0)
    d = np.tanh(value / 0.4)
    return d, np.abs(d), ok * 1.0, value


FAST = tuple(("ema", name, 5) for name in LIQ)
MEDIUM = tuple(("ema", name, 20) for name in LIQ)
SLOW = tuple(("ema", name, 100) for name in LIQ)


@reference("liquidation_pressure", LIQ, 100, FAST + SLOW)
def _pressure(s):
    long_fast, short_fast = stream_means(s, 5)
    long_slow, short_slow = stream_means(s, 100)
    base = long_slow + short_slow
    value = div(short_fast - long_fast, base)
    d = np.tanh(value / 1.0)
    return d, np.abs(d), (base > 0) * 1.0, value


@reference("liquidation_heatmap_density", ("close",), 50)
def _heatmap(s):
    d, mass = s.zones["imbalance"], s.zones["heat_mass"]
    return d, np.abs(d), (mass > 0) * 1.0, mass


def _near_levels(s, lookback):
    long_sum, short_sum = sums(s, lookback)
    long_price, short_price = sums(s, lookback, ("liq_long_price", "liq_short_price"))
    close = s.lag_value("close", 0)[0]
    h = width(s, lookback)
    z_long = div(lratio(close, div(long_price, long_sum)), h)
    z_short = div(lratio(close, div(short_price, short_sum)), h)
    return long_sum, short_sum, z_long, z_short, h


@reference("cumulative_liquidation_level", LIQ + ("close",), 50, (RET,))
def _cumulative(s):
    long_sum, short_sum, z_long, z_short, h = _near_levels(s, 50)
    total = long_sum + short_sum
    value = div(long_sum * np.tanh(z_long) + short_sum * np.tanh(z_short), total)
    return value, np.abs(value), ((total > 0) & (h > 0)) * 1.0, value


@reference("liquidation_imbalance", LIQ + ("close",), 20, (RET,))
def _imbalance(s):
    long_sum, short_sum, z_long, z_short, h = _near_levels(s, 20)
    total = long_sum + short_sum
    near = short_sum * np.exp(-0.5 * z_short**2) - long_sum * np.exp(-0.5 * z_long**2)
    value = div(near, total)
    return value, np.abs(value), ((total > 0) & (h > 0)) * 1.0, value


OI_LEVEL = ("ema", "open_interest", 200)
DEPTHS = (("ema", "bid_depth_50", 100), ("ema", "ask_depth_50", 100))


@reference(
    "cascade_risk", ("open_interest", "close", "bid_depth_50", "ask_depth_50"), 200, (OI_LEVEL,) + DEPTHS
)
def _cascade(s):
    up, down = s.zones["cascade_up"], s.zones["cascade_down"]
    pull = div(up - down, up + down)
    oi = s.lag_value("open_interest", 0)[0]
    mean, sd, _, _ = s.stream(OI_LEVEL)
    crowding = 0.5 * (1.0 + np.tanh(div(lratio(oi, mean), div(sd, mean))))
    depth = s.lag_value("bid_depth_50", 0)[0] + s.lag_value("ask_depth_50", 0)[0]
    usual = s.stream(DEPTHS[0])[0] + s.stream(DEPTHS[1])[0]
    risk = 2.0 * crowding * div(usual, usual + depth)
    d = np.clip(pull * risk, -1.0, 1.0)
    return d, np.abs(d), ((up + down > 0) & (depth > 0) & (oi > 0)) * 1.0, risk


@reference("liquidation_exhaustion", LIQ, 100, FAST + MEDIUM + SLOW)
def _exhaustion(s):
    long_fast, short_fast = stream_means(s, 5)
    long_medium, short_medium = stream_means(s, 20)
    long_slow, short_slow = stream_means(s, 100)
    medium = long_medium + short_medium
    b = div(long_medium - short_medium, medium)
    burst = np.tanh(div(medium, long_slow + short_slow))
    fade = np.clip(1.0 - div(long_fast + short_fast, medium, 1.0), 0.0, 1.0)
    d = b * burst * fade
    return d, np.abs(d), (medium > 0) * 1.0, b


@reference("liquidation_oi_share", LIQ + ("open_interest", "close"), 20)
def _oi_share(s):
    long_sum, short_sum = sums(s, 20)
    notional = s.lag_value("open_interest", 0)[0] * s.lag_value("close", 0)[0]
    hours = s.n(20) * s.bar_seconds / 3600.0
    value = div(div(short_sum - long_sum, notional), hours)
    d = np.tanh(value / 2e-3)
    return d, np.abs(d), (notional > 0) * 1.0, value


@reference("liquidation_volume_ratio", LIQ + ("turnover",), 6)
def _volume_ratio(s):
    long_sum, short_sum = sums(s, 6)
    traded = s.window("sum", "turnover", 6)[0]
    value = div(short_sum - long_sum, traded)
    d = np.tanh(value / 0.005)
    return d, np.abs(d), (traded > 0) * 1.0, value


@reference("post_cascade_rebound", LIQ + ("high", "low", "close"), 20, (RET,))
def _rebound(s):
    long_sum, short_sum = sums(s, 20)
    total = long_sum + short_sum
    close = s.lag_value("close", 0)[0]
    h = width(s, 20)
    up = div(lratio(close, s.window("min", "low", 20)[0]), h)
    down = div(lratio(s.window("max", "high", 20)[0], close), h)
    value = div(long_sum * np.tanh(up) - short_sum * np.tanh(down), total)
    return value, np.abs(value), ((total > 0) & (h > 0)) * 1.0, value


FUNDING = ("ema", "funding_rate", 100)


@reference("funding_liquidation_crowding", LIQ + ("funding_rate",), 100, (FUNDING,) + MEDIUM)
def _funding_crowding(s):
    mean, sd, _, _ = s.stream(FUNDING)
    crowding = np.tanh((s.lag_value("funding_rate", 0)[0] - mean) / np.maximum(sd, 2e-5))
    long_medium, short_medium = stream_means(s, 20)
    total = long_medium + short_medium
    value = crowding * div(long_medium - short_medium, total)
    d = -np.sign(crowding) * np.maximum(value, 0.0)
    return d, np.abs(d), (total > 0) * 1.0, value


@reference("liquidation_absorption", LIQ + ("close",), 20, (RET,))
def _absorption(s):
    long_sum, short_sum = sums(s, 20)
    total = long_sum + short_sum
    b = div(short_sum - long_sum, total)
    z, ok = move_z(s, 20)
    value = 0.5 * (np.abs(b) * np.tanh(z) - b)
    return value, np.abs(value), (ok & (total > 0)) * 1.0, value
