"""NumPy references of the liquidity cards, from their docstrings."""

from __future__ import annotations

import math

import numpy as np

from tests.reference import RET, F, div, move_z, reference, reference_series

LN2 = math.log(2.0)


def _log(x):
    return np.log(np.where(x > 0, x, 1.0))


def _log_ratio(a, b):
    good = (a > 0) & (b > 0)
    return np.where(good, _log(a) - _log(b), 0.0)


def _log_depth(band):
    def fn(bar, ok, prev, prev_ok):
        total = bar[..., F[f"bid_depth_{band}"]] + bar[..., F[f"ask_depth_{band}"]]
        good = ok[..., F[f"bid_depth_{band}"]] & ok[..., F[f"ask_depth_{band}"]] & (total > 0)
        return np.where(good, _log(total), 0.0), good

    return fn


reference_series("log_book_depth_10")(_log_depth(10))
reference_series("log_book_depth_50")(_log_depth(50))


def _return(bar, ok, prev, prev_ok):
    c, pc = bar[..., F["close"]], prev[..., F["close"]]
    good = ok[..., F["close"]] & prev_ok[..., F["close"]] & (c > 0) & (pc > 0)
    return np.where(good, _log(c) - _log(pc), 0.0), good


@reference_series("amihud_illiquidity")
def _amihud(bar, ok, prev, prev_ok):
    r, good = _return(bar, ok, prev, prev_ok)
    volume = bar[..., F["volume"]]
    good = good & ok[..., F["volume"]] & (volume > 0)
    return np.where(good, np.abs(r) * 1e6 / np.where(good, volume, 1.0), 0.0), good


@reference_series("return_flow_product")
def _return_flow(bar, ok, prev, prev_ok):
    r, good = _return(bar, ok, prev, prev_ok)
    buy, sell = bar[..., F["buy_volume"]], bar[..., F["sell_volume"]]
    good = good & ok[..., F["buy_volume"]] & ok[..., F["sell_volume"]] & (buy + sell > 0)
    return np.where(good, r * (buy - sell) / np.where(good, buy + sell, 1.0), 0.0), good


def _flow(s):
    buy, sell = s.window("sum", "buy_volume", 6)[0], s.window("sum", "sell_volume", 6)[0]
    return div(buy - sell, buy + sell), buy + sell > 0


SPREAD_MEAN = ("ema", "spread_bps", 50)


@reference("spread_stress", ("spread_bps", "close"), 50, (SPREAD_MEAN, RET))
def _spread_stress(s):
    spread, spread_ok = s.lag_value("spread_bps", 0)
    usual = s.stream(SPREAD_MEAN)[0]
    widening = np.clip(_log_ratio(spread, usual) / LN2, 0.0, 1.0)
    z, ok = move_z(s, 10)
    d = np.tanh(z) * widening
    return d, np.abs(d), (ok & spread_ok & (spread > 0) & (usual > 0)) * 1.0, spread


LOG_DEPTH_10 = ("ema", "log_book_depth_10", 50)


@reference("depth_thinness", ("bid_depth_10", "ask_depth_10", "close"), 50, (LOG_DEPTH_10, RET))
def _thinness(s):
    (bid, bid_ok), (ask, ask_ok) = s.lag_value("bid_depth_10", 0), s.lag_value("ask_depth_10", 0)
    depth = bid + ask
    mean, _, weight, _ = s.stream(LOG_DEPTH_10)
    thinness = mean - _log(depth)
    z, ok = move_z(s, 10)
    d = np.tanh(z) * np.clip(thinness / LN2, 0.0, 1.0)
    return d, np.abs(d), (ok & bid_ok & ask_ok & (depth > 0) & (weight > 0)) * 1.0, thinness


ILLIQUIDITY = ("ema", "amihud_illiquidity", 100)


@reference("amihud_illiquidity", ("close", "volume"), 11, (ILLIQUIDITY, RET))
def _amihud_card(s):
    short, count = s.window("mean", "amihud_illiquidity", 10, offset=1)
    usual = s.stream(ILLIQUIDITY)[3]
    rise = np.clip(_log_ratio(short, usual) / LN2, 0.0, 1.0)
    z, ok = move_z(s, 10)
    d = -np.tanh(z) * rise
    return d, np.abs(d), (ok & (count > 0) & (usual > 0)) * 1.0, div(short, usual)


RETURN_FLOW = ("ema", "return_flow_product", 50)
FLOW = ("ema", "taker_imbalance", 50)


@reference("kyle_lambda", ("close", "buy_volume", "sell_volume"), 50, (RETURN_FLOW, FLOW, RET))
def _kyle(s):
    flow_mean, flow_sd, _, _ = s.stream(FLOW)
    return_mean, sigma, _, _ = s.stream(RET)
    impact = div(s.stream(RETURN_FLOW)[0] - return_mean * flow_mean, flow_sd * flow_sd)
    recent, flowing = _flow(s)
    d = np.tanh(div(impact * recent, sigma) / 0.25)
    return d, np.abs(d), (flowing & (flow_sd * flow_sd > 0) & (sigma > 0)) * 1.0, impact * 1e4


LOG_DEPTH_50 = ("ema", "log_book_depth_50", 50)
TURNOVER_SLOW, TURNOVER_FAST = ("ema", "turnover", 50), ("ema", "turnover", 5)


@reference(
    "depth_to_volume",
    ("bid_depth_50", "ask_depth_50", "turnover", "buy_volume", "sell_volume"),
    50,
    (LOG_DEPTH_50, TURNOVER_SLOW, TURNOVER_FAST),
)
def _depth_volume(s):
    (bid, bid_ok), (ask, ask_ok) = s.lag_value("bid_depth_50", 0), s.lag_value("ask_depth_50", 0)
    depth = bid + ask
    fast, slow = s.stream(TURNOVER_FAST)[3], s.stream(TURNOVER_SLOW)[3]
    seconds = div(depth, fast / s.bar_seconds)
    deficit = (s.stream(LOG_DEPTH_50)[0] - _log(depth)) + _log_ratio(fast, slow)
    recent, flowing = _flow(s)
    d = np.tanh(3.0 * recent) * np.clip(deficit / LN2, 0.0, 1.0)
    ok = flowing & bid_ok & ask_ok & (depth > 0) & (fast > 0) & (slow > 0)
    return d, np.abs(d), ok * 1.0, seconds
