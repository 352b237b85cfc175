"""Order book: resting liquidity within 10/50/200 bp of mid, its balance, shape and changes.

Depth fields are quote notionals within a band of the primary venue's mid; shells are the
differences between bands: near [0, 10] bp, middle (10, 50] bp, far (50, 200] bp.
Positive direction: the book leans to the bid side (more or closer resting bids than asks,
or a micro-price above mid): buyers are expected to push price up.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from bpjax.cards.base import CardInput, log_ratio, oscillator, output, safe_div
from bpjax.cards.registry import card
from bpjax.core.defines import DEPTH_BANDS_BPS
from bpjax.features.streams import Stream
from bpjax.features.windows import Window

NEAR, MIDDLE, FAR = DEPTH_BANDS_BPS  # 10, 50, 200 bp
BID = {band: Window("lag", f"bid_depth_{band}", 0) for band in DEPTH_BANDS_BPS}
ASK = {band: Window("lag", f"ask_depth_{band}", 0) for band in DEPTH_BANDS_BPS}
ALL_DEPTHS = tuple(f"{side}_depth_{band}" for band in DEPTH_BANDS_BPS for side in ("bid", "ask"))
# shell mid-distances in bp: [0, 10] -> 5, (10, 50] -> 30, (50, 200] -> 125
SHELL_CENTERS = (5.0, 30.0, 125.0)
MID = Window("lag", "mid", 0)
MICRO = Window("lag", "micro_price", 0)
SPREAD = Window("lag", "spread_bps", 0)


IMBALANCE_10 = Stream("book_imbalance_10", 20)
BID_50 = Stream("bid_depth_50", 20)
ASK_50 = Stream("ask_depth_50", 20)


def imbalance(bid, ask):
    """(bid - ask) / (bid + ask), 0 for an empty book."""
    return safe_div(bid - ask, bid + ask)


def shells(x: CardInput, side: dict) -> tuple:
    """Depth of the near, middle and far shells of one side (negative differences clipped to 0)."""
    near, middle, far = (x.w(side[band]) for band in DEPTH_BANDS_BPS)
    return near, jnp.maximum(middle - near, 0.0), jnp.maximum(far - middle, 0.0)


def depth_ok(x: CardInput, *windows: Window):
    ok = x.has(windows[0])
    for window in windows[1:]:
        ok = ok & x.has(window)
    return ok


@card(
    "book_imbalance_near",
    "order_book",
    lookback=1,
    inputs=("bid_depth_10", "ask_depth_10"),
    windows=(BID[NEAR], ASK[NEAR]),
    params={"imbalance_scale": 0.3},
)
def book_imbalance_near(x: CardInput):
    """Depth imbalance at the touch: bids against asks within 10 bp of mid.

    Formula: I = (bid_10 - ask_10) / (bid_10 + ask_10) on the open bar (latest book).
    direction = tanh(I / imbalance_scale) (imbalance_scale = 0.3), strength = |direction|.
    Value: I. Confidence: 0 for an empty book.
    Positive: more resting bids than asks near the mid (short-horizon buying pressure).
    Reference: Cont, Kukanov & Stoikov, "The price impact of order book events" (2014).
    """
    bid, ask = x.w(BID[NEAR]), x.w(ASK[NEAR])
    value = imbalance(bid, ask)
    d = jnp.tanh(value / x.p("imbalance_scale"))
    return output(d, jnp.abs(d), depth_ok(x, BID[NEAR], ASK[NEAR]) & (bid + ask > 0), value)


@card(
    "book_imbalance_far",
    "order_book",
    lookback=1,
    inputs=("bid_depth_50", "ask_depth_50", "bid_depth_200", "ask_depth_200"),
    windows=(BID[MIDDLE], ASK[MIDDLE], BID[FAR], ASK[FAR]),
    params={"imbalance_scale": 0.3},
)
def book_imbalance_far(x: CardInput):
    """Deep-book walls: imbalance of the resting liquidity 50 to 200 bp away from mid.

    Formula: b = max(bid_200 - bid_50, 0), a = max(ask_200 - ask_50, 0) (the far shell);
    I = (b - a) / (b + a). direction = tanh(I / imbalance_scale) (0.3), strength = |direction|.
    Value: I. Confidence: 0 when the far shell is empty.
    Positive: deeper support below than resistance above (bid walls away from the touch).
    """
    bid = jnp.maximum(x.w(BID[FAR]) - x.w(BID[MIDDLE]), 0.0)
    ask = jnp.maximum(x.w(ASK[FAR]) - x.w(ASK[MIDDLE]), 0.0)
    value = imbalance(bid, ask)
    d = jnp.tanh(value / x.p("imbalance_scale"))
    ok = depth_ok(x, BID[MIDDLE], ASK[MIDDLE], BID[FAR], ASK[FAR]) & (bid + ask > 0)
    return output(d, jnp.abs(d), ok, value)


@card(
    "book_pressure_weighted",
    "order_book",
    lookback=1,
    inputs=ALL_DEPTHS,
    windows=tuple(BID.values()) + tuple(ASK.values()),
    params={"imbalance_scale": 0.3},
)
def book_pressure_weighted(x: CardInput):
    """Book pressure weighted by distance: every shell counts, the closer ones more.

    Formula: shells near [0, 10], middle (10, 50], far (50, 200] bp with depths b_s, a_s
    (band differences clipped at 0) and weights w = 5 / c_s, c_s the shell's mid-distance
    (5, 30, 125 bp): w = 1, 1/6, 1/25. P = sum w (b_s - a_s) / sum w (b_s + a_s).
    direction = tanh(P / imbalance_scale) (0.3), strength = |direction|. Value: P.
    Confidence: 0 for an empty book.
    Positive: the distance-weighted book leans to the bid.
    """
    bids, asks = shells(x, BID), shells(x, ASK)
    weights = tuple(SHELL_CENTERS[0] / center for center in SHELL_CENTERS)
    net = sum(w * (b - a) for w, b, a in zip(weights, bids, asks, strict=True))
    total = sum(w * (b + a) for w, b, a in zip(weights, bids, asks, strict=True))
    value = safe_div(net, total)
    d = jnp.tanh(value / x.p("imbalance_scale"))
    ok = depth_ok(x, *BID.values(), *ASK.values()) & (total > 0)
    return output(d, jnp.abs(d), ok, value)


def depth_back(side: str, band: int, lookback: float) -> Window:
    return Window("lag", f"{side}_depth_{band}", lookback)


@card(
    "book_imbalance_change",
    "order_book",
    lookback=5,
    inputs=("bid_depth_50", "ask_depth_50"),
    windows=(BID[MIDDLE], ASK[MIDDLE], depth_back("bid", 50, 5), depth_back("ask", 50, 5)),
    params={"change_scale": 0.5},
)
def book_imbalance_change(x: CardInput):
    """Book building or pulling: change of the 50 bp depth imbalance over n bars.

    Formula: I = (bid_50 - ask_50) / (bid_50 + ask_50); c = I(open bar) - I(n bars back),
    n = 5 bars (x mode scale), I read from each bar's last book. direction = tanh(c / change_scale)
    (change_scale = 0.5), strength = |direction|. Value: c.
    Confidence: 0 when either book is missing or empty.
    Positive: bids being added (or asks pulled) relative to n bars ago.
    """
    bid, ask = x.w(BID[MIDDLE]), x.w(ASK[MIDDLE])
    past_bid, past_ask = x.w(depth_back("bid", 50, 5)), x.w(depth_back("ask", 50, 5))
    value = imbalance(bid, ask) - imbalance(past_bid, past_ask)
    d = jnp.tanh(value / x.p("change_scale"))
    ok = depth_ok(x, BID[MIDDLE], ASK[MIDDLE], depth_back("bid", 50, 5), depth_back("ask", 50, 5))
    return output(d, jnp.abs(d), ok & (bid + ask > 0) & (past_bid + past_ask > 0), value)


@card(
    "book_imbalance_persistence",
    "order_book",
    lookback=20,
    inputs=("bid_depth_10", "ask_depth_10"),
    streams=(IMBALANCE_10,),
)
def book_imbalance_persistence(x: CardInput):
    """Persistence of the near-book imbalance: a lean that holds bar after bar.

    Formula: I = 10 bp depth imbalance of each bar (see book_imbalance_near); m and s the EW mean
    and std of I (span 20 x mode scale); persistence = m / sqrt(m^2 + s^2) in [-1, 1]
    (1 = the same lean every bar, 0 = a lean that keeps flipping). direction = persistence,
    strength = |direction|. Value: persistence. Confidence: 0 before any book was seen.
    Positive: bids have dominated the touch consistently.
    """
    mean, sd = x.mean(IMBALANCE_10), x.std(IMBALANCE_10)
    rms = jnp.sqrt(mean * mean + sd * sd)
    value = safe_div(mean, rms)
    return output(value, jnp.abs(value), rms > 0, value)


@card(
    "micro_price_offset",
    "order_book",
    lookback=1,
    inputs=("mid", "micro_price", "spread_bps"),
    windows=(MID, MICRO, SPREAD),
    params={"half_range": 0.5},
)
def micro_price_offset(x: CardInput):
    """Micro-price against mid, in half-spreads: the size-weighted top of book.

    Formula: o = (micro - mid) / (mid * spread_bps * 1e-4 / 2): 1 = the micro-price at the ask,
    -1 at the bid. direction = clip(o / half_range, -1, 1) (half_range = 0.5),
    strength = |direction|. Value: o. Confidence: 0 without a positive mid and spread.
    Positive: the bid queue outweighs the ask queue at the touch (next tick more likely up).
    Reference: Stoikov, "The micro-price" (2018).
    """
    mid, spread = x.w(MID), x.w(SPREAD)
    half = mid * spread * 0.5e-4
    value = safe_div(x.w(MICRO) - mid, half)
    d, s = oscillator(value, 0.0, x.p("half_range"))
    return output(d, s, depth_ok(x, MID, MICRO, SPREAD) & (mid > 0) & (spread > 0), value)


@card(
    "depth_slope",
    "order_book",
    lookback=1,
    inputs=("bid_depth_10", "ask_depth_10", "bid_depth_50", "ask_depth_50"),
    windows=(BID[NEAR], ASK[NEAR], BID[MIDDLE], ASK[MIDDLE]),
    params={"slope_scale": 0.2},
)
def depth_slope(x: CardInput):
    """Depth slope: how fast each side's liquidity grows from the touch to 50 bp, asks against bids.

    Formula: e_side = log(depth_50 / depth_10) / log(5), the elasticity of cumulative depth
    with distance (0 = all of it within 10 bp); v = e_ask - e_bid.
    direction = tanh(v / slope_scale) (slope_scale = 0.2), strength = |direction|. Value: v.
    Confidence: 0 when a side is empty.
    Positive: bids are concentrated at the touch while asks sit further out (thin near asks,
    close support).
    Reference: Naes & Skjeltorp, "Order book characteristics and the volume-volatility relation" (2006).
    """
    log5 = math.log(5.0)
    bid_near, ask_near = x.w(BID[NEAR]), x.w(ASK[NEAR])
    bid_mid, ask_mid = x.w(BID[MIDDLE]), x.w(ASK[MIDDLE])
    value = (log_ratio(ask_mid, ask_near) - log_ratio(bid_mid, bid_near)) / log5
    d = jnp.tanh(value / x.p("slope_scale"))
    ok = depth_ok(x, BID[NEAR], ASK[NEAR], BID[MIDDLE], ASK[MIDDLE])
    ok = ok & (bid_near > 0) & (ask_near > 0) & (bid_mid > 0) & (ask_mid > 0)
    return output(d, jnp.abs(d), ok, value)


@card(
    "book_depth_shift",
    "order_book",
    lookback=20,
    inputs=("bid_depth_50", "ask_depth_50"),
    streams=(BID_50, ASK_50),
    windows=(BID[MIDDLE], ASK[MIDDLE]),
    params={"shift_scale": 0.5},
)
def book_depth_shift(x: CardInput):
    """Each side's depth against its own usual depth: bids building while asks are pulled.

    Formula: v = log(bid_50 / mean(bid_50)) - log(ask_50 / mean(ask_50)), means the EW means of
    each side's 50 bp depth (span 20 x mode scale). direction = tanh(v / shift_scale)
    (shift_scale = 0.5), strength = |direction|. Value: v.
    Confidence: 0 when a side or its average is empty.
    Positive: the bid side is deeper than usual relative to the ask side.
    """
    bid, ask = x.w(BID[MIDDLE]), x.w(ASK[MIDDLE])
    bid_mean, ask_mean = x.mean(BID_50), x.mean(ASK_50)
    value = log_ratio(bid, bid_mean) - log_ratio(ask, ask_mean)
    d = jnp.tanh(value / x.p("shift_scale"))
    ok = depth_ok(x, BID[MIDDLE], ASK[MIDDLE]) & (bid > 0) & (ask > 0) & (bid_mean > 0) & (ask_mean > 0)
    return output(d, jnp.abs(d), ok, value)


@card(
    "wall_proximity",
    "order_book",
    lookback=1,
    inputs=ALL_DEPTHS,
    windows=tuple(BID.values()) + tuple(ASK.values()),
    params={"distance_scale": 10.0},
)
def wall_proximity(x: CardInput):
    """Where the liquidity walls sit: the depth-weighted distance of each side's book.

    Formula: per side, C = sum c_s d_s / sum d_s over the shells near, middle, far (depths d_s
    from band differences clipped at 0, mid-distances c_s = 5, 30, 125 bp): the centroid
    distance of the resting liquidity within 200 bp. v = C_ask - C_bid in bp.
    direction = tanh(v / distance_scale) (distance_scale = 10 bp), strength = |direction|.
    Value: v. Confidence: 0 when a side is empty.
    Positive: bid walls sit closer to mid than ask walls (support near, resistance far).
    """
    centroids = []
    for side in (BID, ASK):
        depths = shells(x, side)
        total = sum(depths)
        centroids.append(safe_div(sum(c * d for c, d in zip(SHELL_CENTERS, depths, strict=True)), total))
    bid_total, ask_total = x.w(BID[FAR]), x.w(ASK[FAR])
    value = centroids[1] - centroids[0]
    d = jnp.tanh(value / x.p("distance_scale"))
    ok = depth_ok(x, *BID.values(), *ASK.values()) & (bid_total > 0) & (ask_total > 0)
    return output(d, jnp.abs(d), ok, value)
