"""NumPy references of the zones cards, from their docstrings."""

from __future__ import annotations

import numpy as np

from tests.reference import RET, F, div, oi_change, reference, reference_series
from tests.references.liquidation import lratio, width


def _wick(bar, ok, side):
    o, c, h, lo = (bar[..., F[name]] for name in ("open", "close", "high", "low"))
    body_low, body_high = np.minimum(o, c), np.maximum(o, c)
    good = np.all([ok[..., F[n]] for n in ("open", "high", "low", "close", "volume")], axis=0)
    good = good & (lo > 0) & (body_low > 0)
    wick = lratio(body_low, lo) if side == "lower" else lratio(h, body_high)
    return np.where(good, bar[..., F["volume"]] * np.maximum(wick, 0.0), 0.0), good


@reference_series("zone_lower_wick_volume")
def _lower(bar, ok, prev, prev_ok):
    return _wick(bar, ok, "lower")


@reference_series("zone_upper_wick_volume")
def _upper(bar, ok, prev, prev_ok):
    return _wick(bar, ok, "upper")


def position(s, lookback, offset=0):
    high = s.window("max", "high", lookback, offset)[0]
    low = s.window("min", "low", lookback, offset)[0]
    close = s.lag_value("close", 0)[0]
    return div(close - low, high - low, 0.5), high > low


@reference("liquidity_pool_balance", ("close",), 50, (RET,))
def _pools(s):
    z, h = s.zones, width(s, 50)
    pull_up = z["above_notional"] / (1.0 + div(z["above_distance"], h))
    pull_down = z["below_notional"] / (1.0 + div(z["below_distance"], h))
    total = pull_up + pull_down
    ok = (total > 0) & (h > 0)
    value = np.where(ok, div(pull_up - pull_down, total), 0.0)
    return value, np.abs(value), ok * 1.0, value


@reference("stop_hunt_trap", ("high", "low", "close"), 20)
def _trap(s):
    p, ranged = position(s, 20)
    swept_up = s.window("max", "high", 5)[0] >= s.window("max", "high", 20)[0]
    swept_down = s.window("min", "low", 5)[0] <= s.window("min", "low", 20)[0]
    sweep = np.where(ranged, swept_down * p - swept_up * (1.0 - p), 0.0)
    below, above = s.zones["trap_below"], s.zones["trap_above"]
    trapped = below + above > 0
    value = np.where(trapped, np.clip(below - above, -1.0, 1.0), sweep)
    return value, np.abs(value), (ranged | trapped) * 1.0, value


WICKS = (("ema", "zone_lower_wick_volume", 20), ("ema", "zone_upper_wick_volume", 20))


@reference("zone_strength", ("open", "high", "low", "close", "volume"), 50, WICKS)
def _strength(s):
    demand, supply = s.stream(WICKS[0])[0], s.stream(WICKS[1])[0]
    p, ranged = position(s, 50)
    total = demand + supply
    value = div((1.0 - p) * demand - p * supply, total)
    return value, np.abs(value), (ranged & (total > 0)) * 1.0, div(demand, total, 0.5)


@reference(
    "range_extreme_oi_build", ("open_interest", "high", "low", "close"), 50, (("ema", "oi_log_change", 50),)
)
def _extreme_build(s):
    p, _ = position(s, 50)
    _, oz, ook = oi_change(s, 20)
    d = (2.0 * p - 1.0) * np.clip(oz / 2.0, 0.0, 1.0)
    return d, np.abs(d), ook * 1.0, oz


@reference("exit_target_distance", ("high", "low", "close"), 50)
def _exit(s):
    close, z, big = s.lag_value("close", 0)[0], s.zones, 1e6
    high, low = s.window("max", "high", 50)[0], s.window("min", "low", 50)[0]
    range_up = np.where(high > close, lratio(high, close), big)
    range_down = np.where((low < close) & (low > 0), lratio(close, low), big)
    zone_up = np.where(z["above_present"] > 0, z["above_distance"], big)
    zone_down = np.where(z["below_present"] > 0, z["below_distance"], big)
    up = np.where(zone_up > 0, np.minimum(range_up, zone_up), range_up)
    down = np.where(zone_down > 0, np.minimum(range_down, zone_down), range_down)
    ok = (up < big) & (down < big) & (close > 0)
    value = np.where(ok, div(up - down, up + down), 0.0)
    return value, np.abs(value), ok * 1.0, np.where(ok, div(up, down), 0.0)


@reference("zone_breakout_acceptance", ("high", "low", "close", "volume"), 50, (("ema", "volume", 50),))
def _breakout(s):
    high = s.window("max", "high", 20, offset=1)[0]
    low = s.window("min", "low", 20, offset=1)[0]
    half = 0.5 * (high - low)
    value = div(s.lag_value("close", 0)[0] - 0.5 * (high + low), half)
    edge = np.sign(value) * np.clip(2.0 * np.abs(value) - 1.0, 0.0, 1.0)
    volume = div(s.window("sum", "volume", 5)[0], s.n(5) * s.stream(("ema", "volume", 50))[0])
    d = edge * np.tanh(volume)
    return d, np.abs(d), (half > 0) * 1.0, value
