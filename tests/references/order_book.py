"""NumPy references of the order_book cards, from their docstrings."""

from __future__ import annotations

import math

import numpy as np

from tests.reference import F, div, reference, reference_series

BANDS = (10, 50, 200)
CENTERS = (5.0, 30.0, 125.0)
ALL_DEPTHS = tuple(f"{side}_depth_{band}" for band in BANDS for side in ("bid", "ask"))


@reference_series("book_imbalance_10")
def _imbalance_10(bar, ok, prev, prev_ok):
    bid, ask = bar[..., F["bid_depth_10"]], bar[..., F["ask_depth_10"]]
    good = ok[..., F["bid_depth_10"]] & ok[..., F["ask_depth_10"]] & (bid + ask > 0)
    return np.where(good, (bid - ask) / np.where(good, bid + ask, 1.0), 0.0), good


def _depth(s, side, band, lookback=0):
    return s.lag_value(f"{side}_depth_{band}", lookback)


def _imbalance(bid, ask):
    return div(bid - ask, bid + ask)


def _shells(s, side):
    (near, a), (middle, b), (far, c) = (_depth(s, side, band) for band in BANDS)
    return (near, np.maximum(middle - near, 0.0), np.maximum(far - middle, 0.0)), a & b & c


@reference("book_imbalance_near", ("bid_depth_10", "ask_depth_10"), 1)
def _near(s):
    (bid, bid_ok), (ask, ask_ok) = _depth(s, "bid", 10), _depth(s, "ask", 10)
    value = _imbalance(bid, ask)
    d = np.tanh(value / 0.3)
    return d, np.abs(d), (bid_ok & ask_ok & (bid + ask > 0)) * 1.0, value


@reference("book_imbalance_far", ("bid_depth_50", "ask_depth_50", "bid_depth_200", "ask_depth_200"), 1)
def _far(s):
    (b50, k1), (a50, k2) = _depth(s, "bid", 50), _depth(s, "ask", 50)
    (b200, k3), (a200, k4) = _depth(s, "bid", 200), _depth(s, "ask", 200)
    bid, ask = np.maximum(b200 - b50, 0.0), np.maximum(a200 - a50, 0.0)
    value = _imbalance(bid, ask)
    d = np.tanh(value / 0.3)
    return d, np.abs(d), (k1 & k2 & k3 & k4 & (bid + ask > 0)) * 1.0, value


@reference("book_pressure_weighted", ALL_DEPTHS, 1)
def _pressure(s):
    (bids, bid_ok), (asks, ask_ok) = _shells(s, "bid"), _shells(s, "ask")
    weights = [CENTERS[0] / c for c in CENTERS]
    net = sum(w * (b - a) for w, b, a in zip(weights, bids, asks, strict=True))
    total = sum(w * (b + a) for w, b, a in zip(weights, bids, asks, strict=True))
    value = div(net, total)
    d = np.tanh(value / 0.3)
    return d, np.abs(d), (bid_ok & ask_ok & (total > 0)) * 1.0, value


@reference("book_imbalance_change", ("bid_depth_50", "ask_depth_50"), 5)
def _change(s):
    (bid, k1), (ask, k2) = _depth(s, "bid", 50), _depth(s, "ask", 50)
    (past_bid, k3), (past_ask, k4) = _depth(s, "bid", 50, 5), _depth(s, "ask", 50, 5)
    value = _imbalance(bid, ask) - _imbalance(past_bid, past_ask)
    d = np.tanh(value / 0.5)
    ok = k1 & k2 & k3 & k4 & (bid + ask > 0) & (past_bid + past_ask > 0)
    return d, np.abs(d), ok * 1.0, value


IMBALANCE_10 = ("ema", "book_imbalance_10", 20)


@reference("book_imbalance_persistence", ("bid_depth_10", "ask_depth_10"), 20, (IMBALANCE_10,))
def _persistence(s):
    mean, sd, _, _ = s.stream(IMBALANCE_10)
    rms = np.sqrt(mean * mean + sd * sd)
    value = div(mean, rms)
    return value, np.abs(value), (rms > 0) * 1.0, value


@reference("micro_price_offset", ("mid", "micro_price", "spread_bps"), 1)
def _micro(s):
    (mid, k1), (micro, k2), (spread, k3) = (s.lag_value(f, 0) for f in ("mid", "micro_price", "spread_bps"))
    value = div(micro - mid, mid * spread * 1e-4 / 2.0)
    d = np.clip(value / 0.5, -1.0, 1.0)
    return d, np.abs(d), (k1 & k2 & k3 & (mid > 0) & (spread > 0)) * 1.0, value


def _log_ratio(a, b):
    good = (a > 0) & (b > 0)
    return np.where(good, np.log(np.where(good, a, 1.0)) - np.log(np.where(good, b, 1.0)), 0.0)


@reference("depth_slope", ("bid_depth_10", "ask_depth_10", "bid_depth_50", "ask_depth_50"), 1)
def _slope(s):
    (b10, k1), (a10, k2) = _depth(s, "bid", 10), _depth(s, "ask", 10)
    (b50, k3), (a50, k4) = _depth(s, "bid", 50), _depth(s, "ask", 50)
    value = (_log_ratio(a50, a10) - _log_ratio(b50, b10)) / math.log(5.0)
    d = np.tanh(value / 0.2)
    ok = k1 & k2 & k3 & k4 & (b10 > 0) & (a10 > 0) & (b50 > 0) & (a50 > 0)
    return d, np.abs(d), ok * 1.0, value


BID_50, ASK_50 = ("ema", "bid_depth_50", 20), ("ema", "ask_depth_50", 20)


@reference("book_depth_shift", ("bid_depth_50", "ask_depth_50"), 20, (BID_50, ASK_50))
def _shift(s):
    (bid, k1), (ask, k2) = _depth(s, "bid", 50), _depth(s, "ask", 50)
    bid_mean, ask_mean = s.stream(BID_50)[0], s.stream(ASK_50)[0]
    value = _log_ratio(bid, bid_mean) - _log_ratio(ask, ask_mean)
    d = np.tanh(value / 0.5)
    ok = k1 & k2 & (bid > 0) & (ask > 0) & (bid_mean > 0) & (ask_mean > 0)
    return d, np.abs(d), ok * 1.0, value


@reference("wall_proximity", ALL_DEPTHS, 1)
def _walls(s):
    centroids, oks = [], []
    for side in ("bid", "ask"):
        depths, ok = _shells(s, side)
        total = sum(depths)
        centroids.append(div(sum(c * d for c, d in zip(CENTERS, depths, strict=True)), total))
        oks.append(ok & (_depth(s, side, 200)[0] > 0))
    value = centroids[1] - centroids[0]
    d = np.tanh(value / 10.0)
    return d, np.abs(d), (oks[0] & oks[1]) * 1.0, value
