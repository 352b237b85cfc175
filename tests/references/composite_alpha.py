"""NumPy references of the composite-alpha cards."""

from __future__ import annotations

import math

import numpy as np

from tests.reference import RET, SERIES, F, _log, div, move_z, oi_change, reference, reference_series

FUND = ("ema", "funding_rate", 100)
PREMIUM = ("ema", "premium", 50)
OI_CHANGE = ("ema", "oi_log_change", 50)
OI_LEVEL = ("ema", "open_interest", 200)
VOL_SHORT, VOL_LONG = ("ema", "log_return", 10), ("ema", "log_return", 100)
FLOW = ("ema", "taker_imbalance", 10)


def _taker_imbalance(bar, ok, prev, prev_ok):
    buy, sell = bar[..., F["buy_volume"]], bar[..., F["sell_volume"]]
    good = ok[..., F["buy_volume"]] & ok[..., F["sell_volume"]] & (buy + sell > 0)
    return np.where(good, div(buy - sell, buy + sell), 0.0), good


# the engine's shared "taker_imbalance" series (bpjax/streams.py) has no twin in tests/reference.py;
# order_flow's references register the same twin when they load first
if "taker_imbalance" not in SERIES:
    reference_series("taker_imbalance")(_taker_imbalance)


def funding_z(s):
    mean, sd, _, _ = s.stream(FUND)
    return (s.lag_value("funding_rate", 0)[0] - mean) / np.maximum(sd, 2e-5)


def total(s, name, lookback):
    return s.window("sum", name, lookback)[0]


def imbalance(a, b):
    return div(a - b, a + b)


def log_of_ratio(a, b):
    ok = (a > 0) & (b > 0)
    return np.where(ok, _log(np.where(ok, a, 1.0)) - _log(np.where(ok, b, 1.0)), 0.0)


@reference("squeeze_setup", ("funding_rate", "open_interest", "close"), 12, (OI_CHANGE, RET))
def _squeeze_setup(s):
    rate, rate_ok = s.lag_value("funding_rate", 0)
    crowd = np.tanh(-rate / 2e-4)
    _, oz, ook = oi_change(s, 12)
    pz, pok = move_z(s, 12)
    d = 0.5 * (1.0 + np.tanh(oz)) * 0.5 * (crowd + np.abs(crowd) * np.tanh(pz))
    return d, np.abs(d), (rate_ok & ook & pok) * 1.0, crowd


@reference(
    "squeeze_ignition",
    ("funding_rate", "liq_long_notional", "liq_short_notional", "open_interest", "close"),
    12,
    (FUND, OI_CHANGE, RET),
)
def _squeeze_ignition(s):
    crowd = np.tanh(-funding_z(s))
    forced = imbalance(total(s, "liq_short_notional", 12), total(s, "liq_long_notional", 12))
    pz, ok = move_z(s, 6)
    _, oz, ook = oi_change(s, 12)
    push = 0.5 * (np.tanh(pz) + forced)
    d = np.where(push * crowd > 0, np.clip(push * np.abs(crowd) * (1.0 - np.tanh(oz)), -1.0, 1.0), 0.0)
    return d, np.abs(d), (ok & ook & s.lag_value("funding_rate", 0)[1]) * 1.0, push


@reference("trend_flow_confirmation", ("close", "volume", "buy_volume", "sell_volume"), 50, (RET,))
def _trend_flow(s):
    pz, ok = move_z(s, 20)
    buy, sell = total(s, "buy_volume", 20), total(s, "sell_volume", 20)
    flow = imbalance(buy, sell)
    t = np.tanh(pz)
    agree = 0.5 * (t + np.abs(t) * np.tanh(3.0 * flow))
    recent = s.window("mean", "volume", 20, offset=1)[0]
    usual = s.window("mean", "volume", 50, offset=1)[0]
    participation = 1.0 + np.tanh(log_of_ratio(recent, usual) / math.log(2.0))
    d = np.clip(agree * participation, -1.0, 1.0)
    return d, np.abs(d), (ok & (buy + sell > 0)) * 1.0, flow


@reference("breakout_oi_build", ("high", "low", "close", "open_interest"), 21, (OI_CHANGE,))
def _breakout_oi(s):
    hh = s.window("max", "high", 20, offset=1)[0]
    ll = s.window("min", "low", 20, offset=1)[0]
    half = 0.5 * (hh - ll)
    b = div(s.lag_value("close", 0)[0] - 0.5 * (hh + ll), half)
    e = np.sign(b) * np.clip(np.abs(b) - 0.5, 0.0, 1.0)
    _, oz, ook = oi_change(s, 12)
    d = e * 0.5 * (1.0 + np.tanh(oz))
    return d, np.abs(d), ((half > 0) & ook) * 1.0, b


@reference("funding_momentum_divergence", ("funding_rate", "close"), 100, (FUND, RET))
def _funding_momentum_divergence(s):
    pz, ok = move_z(s, 24)
    zf = funding_z(s)
    d = 0.5 * (np.tanh(pz) - np.tanh(zf))
    return d, np.abs(d), (ok & s.lag_value("funding_rate", 0)[1]) * 1.0, zf


@reference(
    "compression_flow_breakout", ("close", "buy_volume", "sell_volume"), 100, (VOL_SHORT, VOL_LONG, FLOW)
)
def _compression(s):
    short, long = s.stream(VOL_SHORT)[1], s.stream(VOL_LONG)[1]
    ratio = div(short, long, 1.0)
    compression = 1.0 - np.tanh(log_of_ratio(short, long) / math.log(2.0))
    d = np.clip(np.tanh(3.0 * s.stream(FLOW)[0]) * compression, -1.0, 1.0)
    return d, np.abs(d), (long > 0) * 1.0, ratio


@reference("absorption_crowding", ("close", "buy_volume", "sell_volume", "ls_global_accounts"), 12, (RET,))
def _absorption(s):
    pz, ok = move_z(s, 12)
    buy, sell = total(s, "buy_volume", 12), total(s, "sell_volume", 12)
    a = 0.5 * (np.tanh(pz) - np.tanh(3.0 * imbalance(buy, sell)))
    ratio, ratio_ok = s.lag_value("ls_global_accounts", 0)
    crowd = np.tanh(np.where(ratio > 0, _log(ratio), 0.0) / 0.1)
    d = np.clip(a - np.abs(a) * crowd, -1.0, 1.0)
    return d, np.abs(d), (ok & (buy + sell > 0) & ratio_ok & (ratio > 0)) * 1.0, a


@reference(
    "crowding_composite", ("funding_rate", "mark", "index", "open_interest"), 200, (FUND, PREMIUM, OI_LEVEL)
)
def _crowding(s):
    (mark, mark_ok), (index, index_ok) = s.lag_value("mark", 0), s.lag_value("index", 0)
    premium = div(mark, index, 1.0) - 1.0
    mean, sd, _, _ = s.stream(PREMIUM)
    basis_z = (premium - mean) / np.maximum(sd, 1e-5)
    crowding = 0.5 * (funding_z(s) + basis_z)
    oi, oi_ok = s.lag_value("open_interest", 0)
    level, level_sd, _, _ = s.stream(OI_LEVEL)
    oi_z = div(log_of_ratio(oi, level), div(level_sd, level))
    d = -np.tanh(crowding) * 0.5 * (1.0 + np.tanh(oi_z))
    confident = s.lag_value("funding_rate", 0)[1] & mark_ok & index_ok & oi_ok & (index > 0) & (oi > 0)
    return d, np.abs(d), confident * 1.0, crowding


@reference("cascade_exhaustion_reversal", ("close", "liq_long_notional", "liq_short_notional"), 24, (RET,))
def _cascade_exhaustion(s):
    pz, ok = move_z(s, 12)
    reversal = -np.tanh(pz)
    forced = imbalance(total(s, "liq_long_notional", 24), total(s, "liq_short_notional", 24))
    d = 0.5 * (reversal + forced * np.abs(reversal))
    return d, np.abs(d), ok * 1.0, forced
