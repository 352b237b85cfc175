"""NumPy references of the order-flow cards (bpjax/cards/order_flow.py), from their docstrings."""

from __future__ import annotations

import math

import numpy as np

from tests.reference import RET, SERIES, F, div, from_z, move_z, reference, reference_series

LN2 = math.log(2.0)


def _buy_sell(bar, ok):
    return (
        bar[..., F["buy_volume"]],
        bar[..., F["sell_volume"]],
        ok[..., F["buy_volume"]] & ok[..., F["sell_volume"]],
    )


def _imbalance_series(bar, ok, prev, prev_ok):
    buy, sell, good = _buy_sell(bar, ok)
    good = good & (buy + sell > 0)
    return np.where(good, div(buy - sell, buy + sell), 0.0), good


# the engine's shared "taker_imbalance" series (bpjax/streams.py) has no twin in tests/reference.py
if "taker_imbalance" not in SERIES:
    reference_series("taker_imbalance")(_imbalance_series)


@reference_series("taker_delta")
def _taker_delta(bar, ok, prev, prev_ok):
    buy, sell, good = _buy_sell(bar, ok)
    return np.where(good, buy - sell, 0.0), good


@reference_series("taker_buy_dominance")
def _dominance(bar, ok, prev, prev_ok):
    buy, sell, good = _buy_sell(bar, ok)
    good = good & (buy + sell > 0)
    return np.where(good, np.where(buy > sell, 1.0, np.where(buy < sell, 0.0, 0.5)), 0.0), good


@reference_series("log_taker_ratio")
def _log_taker_ratio(bar, ok, prev, prev_ok):
    ratio = bar[..., F["taker_ratio"]]
    good = ok[..., F["taker_ratio"]] & (ratio > 0)
    return np.where(good, np.log(np.where(good, ratio, 1.0)), 0.0), good


IMB50, IMB100 = ("ema", "taker_imbalance", 50), ("ema", "taker_imbalance", 100)
DELTA50, DELTA20, VOL20 = ("ema", "taker_delta", 50), ("ema", "taker_delta", 20), ("ema", "volume", 20)
RATIO50 = ("ema", "log_taker_ratio", 50)


def _window_imbalance(s, lookback):
    buy = s.window("sum", "buy_volume", lookback)[0]
    sell = s.window("sum", "sell_volume", lookback)[0]
    return div(buy - sell, buy + sell), buy + sell > 0, buy, sell


def _imbalance_z(s, lookback):
    value, ok, _, _ = _window_imbalance(s, lookback)
    sigma = s.stream(IMB50)[1]
    return div(value * math.sqrt(s.n(lookback)), sigma), value, ok & (sigma > 0)


def _delta_z(s, lookback):
    sigma = s.stream(DELTA50)[1]
    net = s.window("sum", "taker_delta", lookback)[0]
    return div(net, sigma * math.sqrt(s.n(lookback))), sigma > 0


@reference("taker_imbalance", ("buy_volume", "sell_volume"), 5, (IMB50,))
def _taker_imbalance(s):
    z, value, ok = _imbalance_z(s, 5)
    d, st = from_z(z)
    return d, st, ok * 1.0, value


@reference("cvd_slope", ("buy_volume", "sell_volume", "volume"), 20, (DELTA20, VOL20, IMB50))
def _cvd_slope(s):
    volume = s.stream(VOL20)[0]
    value = div(s.stream(DELTA20)[0], volume)
    alpha = 2.0 / (20.0 * s.scale + 1.0)
    sigma = s.stream(IMB50)[1]
    d, st = from_z(div(value, sigma * math.sqrt(alpha / (2.0 - alpha))))
    return d, st, ((volume > 0) & (sigma > 0)) * 1.0, value


@reference("cvd_zscore", ("buy_volume", "sell_volume"), 50, (DELTA50,))
def _cvd_zscore(s):
    z, ok = _delta_z(s, 50)
    d, st = from_z(z)
    return d, st, ok * 1.0, z


@reference("cvd_price_divergence", ("buy_volume", "sell_volume", "close"), 20, (DELTA50, RET))
def _cvd_divergence(s):
    flow_z, flow_ok = _delta_z(s, 20)
    price_z, price_ok = move_z(s, 20)
    value = (flow_z - price_z) / 2.0
    d, st = from_z(value)
    return d, st, (flow_ok & price_ok) * 1.0, value


@reference("absorption", ("buy_volume", "sell_volume", "close"), 5, (IMB50, RET))
def _absorption(s):
    flow_z, _, flow_ok = _imbalance_z(s, 5)
    price_z, price_ok = move_z(s, 5)
    follow = price_z * np.sign(flow_z)
    weight = np.clip(1.0 - follow / 2.0, 0.0, 1.0)
    d = -np.tanh(flow_z / 2.0) * weight
    return d, np.abs(d), (flow_ok & price_ok) * 1.0, follow


@reference("taker_ratio_z", ("taker_ratio",), 50, (RATIO50,))
def _taker_ratio_z(s):
    ratio = s.lag_value("taker_ratio", 0)[0]
    level = np.log(np.where(ratio > 0, ratio, 1.0))
    mean, sd, _, _ = s.stream(RATIO50)
    d, st = from_z(div(level - mean, sd))
    return d, st, ((sd > 0) & (ratio > 0)) * 1.0, ratio


@reference("trade_intensity", ("trade_count", "buy_volume", "sell_volume"), 50, (IMB50,))
def _trade_intensity(s):
    recent = s.window("mean", "trade_count", 5, offset=1)[0]
    usual = s.window("mean", "trade_count", 50, offset=1)[0]
    good = (recent > 0) & (usual > 0)
    surge = np.clip(
        np.where(good, np.log(np.where(good, recent / np.where(good, usual, 1.0), 1.0)), 0.0) / LN2, 0, 1
    )
    flow_z, _, flow_ok = _imbalance_z(s, 5)
    return np.tanh(flow_z) * surge, surge, (flow_ok & (usual > 0)) * 1.0, div(recent, usual)


@reference("flow_acceleration", ("buy_volume", "sell_volume"), 20, (IMB50,))
def _flow_acceleration(s):
    n = s.n(20)
    sigma = s.stream(IMB50)[1]
    slope = s.window("slope", "taker_imbalance", 20)[0]
    d, st = from_z(div(slope * math.sqrt(n * (n * n - 1.0) / 12.0), sigma))
    return d, st, (sigma > 0) * 1.0, slope


@reference("flow_persistence", ("buy_volume", "sell_volume"), 20)
def _flow_persistence(s):
    share = s.window("mean", "taker_buy_dominance", 20)[0]
    z = (share - 0.5) * 2.0 * math.sqrt(s.n(20))
    d, st = from_z(z / 2.0)
    return d, st, np.ones_like(d), share


@reference("buy_sell_ratio_extreme", ("buy_volume", "sell_volume"), 3, (IMB100,))
def _ratio_extreme(s):
    value, ok, buy, sell = _window_imbalance(s, 3)
    mean, sd, _, _ = s.stream(IMB100)
    z = div((value - mean) * math.sqrt(s.n(3)), sd)
    extreme = np.clip((np.abs(z) - 1.0) / 2.0, 0.0, 1.0)
    return -np.sign(z) * extreme, extreme, (ok & (sd > 0)) * 1.0, div(buy, sell)
