"""Liquidity: how much it costs to trade and how much a given flow moves price.

Liquidity has no sign of its own: the cards read it together with the recent move or the
taker flow and state their convention. Thin or costly liquidity mostly amplifies the side
that is already moving; positive direction means the card expects price to rise.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from bpjax.cards.base import CardInput, log_ratio, output, safe_div, safe_log
from bpjax.cards.registry import card
from bpjax.features.price import RETURNS, move_windows, move_z
from bpjax.features.streams import Stream
from bpjax.features.windows import Window

LN2 = math.log(2.0)


SPREAD_MEAN = Stream("spread_bps", 50)
LOG_DEPTH_10 = Stream("log_book_depth_10", 50)
LOG_DEPTH_50 = Stream("log_book_depth_50", 50)
ILLIQUIDITY = Stream("amihud_illiquidity", 100)
RETURN_FLOW = Stream("return_flow_product", 50)
FLOW = Stream("taker_imbalance", 50)
TURNOVER_FAST = Stream("turnover", 5)
TURNOVER_SLOW = Stream("turnover", 50)

SPREAD = Window("lag", "spread_bps", 0)
BID_10, ASK_10 = Window("lag", "bid_depth_10", 0), Window("lag", "ask_depth_10", 0)
BID_50, ASK_50 = Window("lag", "bid_depth_50", 0), Window("lag", "ask_depth_50", 0)
ILLIQUIDITY_10 = Window("mean", "amihud_illiquidity", 10, offset=1)
BUY_6, SELL_6 = Window("sum", "buy_volume", 6), Window("sum", "sell_volume", 6)


def taker_flow(x: CardInput):
    """(taker buy - taker sell) / (taker buy + taker sell) over the last 6 bars (x mode scale)."""
    buy, sell = x.w(BUY_6), x.w(SELL_6)
    return safe_div(buy - sell, buy + sell), buy + sell > 0


@card(
    "spread_stress",
    "liquidity",
    lookback=50,
    inputs=("spread_bps", "close"),
    streams=(SPREAD_MEAN, RETURNS),
    windows=(SPREAD,) + move_windows(10),
)
def spread_stress(x: CardInput):
    """Quoted spread widening beyond its usual level, signed by the move it accompanies.

    Formula: e = clip(log(spread / mean) / log 2, 0, 1), spread the open bar's quoted spread
    in bp and mean its EW mean (span 50 x mode scale): 1 = twice the usual spread.
    z = vol-normalized price move over 10 bars (see roc). direction = tanh(z) * e,
    strength = |direction|. Value: spread in bp.
    Positive: market makers widening into a rally (liquidity withdrawn from the short side);
    a spread widening into a sell-off reads bearish; a normal spread reads neutral.
    Reference: Chordia, Roll & Subrahmanyam, "Market liquidity and trading activity" (2001).
    """
    spread, usual = x.w(SPREAD), x.mean(SPREAD_MEAN)
    widening = jnp.clip(log_ratio(spread, usual) / LN2, 0.0, 1.0)
    z, ok = move_z(x, 10)
    d = jnp.tanh(z) * widening
    return output(d, jnp.abs(d), ok & x.has(SPREAD) & (spread > 0) & (usual > 0), spread)


@card(
    "depth_thinness",
    "liquidity",
    lookback=50,
    inputs=("bid_depth_10", "ask_depth_10", "close"),
    streams=(LOG_DEPTH_10, RETURNS),
    windows=(BID_10, ASK_10) + move_windows(10),
)
def depth_thinness(x: CardInput):
    """A thin book at the touch amplifies the move under way.

    Formula: t = mean - log(bid_10 + ask_10), mean the EW mean of the log of the 10 bp two-sided
    depth (span 50 x mode scale): t > 0 when the book is thinner than usual;
    e = clip(t / log 2, 0, 1) (1 = half the usual depth). z = vol-normalized price move over
    10 bars (see roc). direction = tanh(z) * e, strength = |direction|. Value: t.
    Positive: price rising into a thinning book (less liquidity to absorb the buying).
    Reference: Kyle (1985); thin books and price impact, Bouchaud, Farmer & Lillo (2009).
    """
    depth = x.w(BID_10) + x.w(ASK_10)
    thinness = x.mean(LOG_DEPTH_10) - safe_log(depth)
    z, ok = move_z(x, 10)
    d = jnp.tanh(z) * jnp.clip(thinness / LN2, 0.0, 1.0)
    ok = ok & x.has(BID_10) & x.has(ASK_10) & (depth > 0) & (x.weight(LOG_DEPTH_10) > 0)
    return output(d, jnp.abs(d), ok, thinness)


@card(
    "amihud_illiquidity",
    "liquidity",
    lookback=11,
    inputs=("close", "volume"),
    streams=(ILLIQUIDITY, RETURNS),
    windows=(ILLIQUIDITY_10,) + move_windows(10),
)
def amihud_illiquidity(x: CardInput):
    """Amihud illiquidity rising: a move bought with little volume, read against the move.

    Formula: ILLIQ = |log(close / previous close)| x 1e6 / volume per bar (return per million
    units traded; the base-unit denominator keeps the ratio free of the price level);
    short = mean ILLIQ over the 10 closed bars before the open bar, usual = EW mean of ILLIQ
    (span 100 x mode scale) at the last closed bar; ratio = short / usual,
    e = clip(log(ratio) / log 2, 0, 1). z = vol-normalized price move over 10 bars (see roc).
    direction = -tanh(z) * e, strength = |direction|. Value: ratio.
    Positive: price fell on unusually little volume per unit of move (an unconfirmed drop).
    Reference: Amihud, "Illiquidity and stock-returns: cross-section and time-series effects" (2002).
    """
    short, usual = x.w(ILLIQUIDITY_10), x.prev_mean(ILLIQUIDITY)
    rise = jnp.clip(log_ratio(short, usual) / LN2, 0.0, 1.0)
    z, ok = move_z(x, 10)
    d = -jnp.tanh(z) * rise
    return output(d, jnp.abs(d), ok & x.has(ILLIQUIDITY_10) & (usual > 0), safe_div(short, usual))


@card(
    "kyle_lambda",
    "liquidity",
    lookback=50,
    inputs=("close", "buy_volume", "sell_volume"),
    streams=(RETURN_FLOW, FLOW, RETURNS),
    windows=(BUY_6, SELL_6),
    params={"impact_scale": 0.25},
)
def kyle_lambda(x: CardInput):
    """Kyle's lambda: the price impact per unit of signed taker flow, applied to the recent flow.

    Formula: q = (taker buy - taker sell) / (taker buy + taker sell) and r = log return per bar;
    lambda = (E[r q] - E[r] E[q]) / Var(q), EW moments over span 50 (x mode scale): the slope of
    the bar return on the bar's flow imbalance. q6 = the flow imbalance over the last 6 bars,
    z = lambda * q6 / sigma (sigma = EW std of 1-bar log returns, span 50).
    direction = tanh(z / impact_scale) (impact_scale = 0.25), strength = |direction|.
    Value: lambda in bp of return per unit of flow imbalance.
    Confidence: 0 before the flow has varied.
    Positive: recent net buying, in a market where buying has been moving price up.
    Reference: Kyle, "Continuous auctions and insider trading" (1985); Hasbrouck (1991).
    """
    flow_var = x.std(FLOW) * x.std(FLOW)
    impact = safe_div(x.mean(RETURN_FLOW) - x.mean(RETURNS) * x.mean(FLOW), flow_var)
    recent, flowing = taker_flow(x)
    sigma = x.std(RETURNS)
    z = safe_div(impact * recent, sigma)
    d = jnp.tanh(z / x.p("impact_scale"))
    return output(d, jnp.abs(d), flowing & (flow_var > 0) & (sigma > 0), impact * 1e4)


@card(
    "depth_to_volume",
    "liquidity",
    lookback=50,
    inputs=("bid_depth_50", "ask_depth_50", "turnover", "buy_volume", "sell_volume"),
    streams=(LOG_DEPTH_50, TURNOVER_SLOW, TURNOVER_FAST),
    windows=(BID_50, ASK_50, BUY_6, SELL_6),
    params={"flow_gain": 3.0},
)
def depth_to_volume(x: CardInput):
    """Market depth against traded volume: taker flow meeting a book small for the activity.

    Formula: R = (bid_50 + ask_50) / (T5 / bar_seconds), T5 the EW mean turnover per bar (span 5)
    at the last closed bar: the seconds of recent turnover the 50 bp book holds.
    u = (mean - log(bid_50 + ask_50)) + log(T5 / T50), mean the EW mean of log 50 bp depth
    (span 50) and T50 the EW mean turnover (span 50): log of the usual depth-to-volume ratio
    over the current one; e = clip(u / log 2, 0, 1). q6 = taker flow imbalance over the last
    6 bars. direction = tanh(flow_gain * q6) * e (flow_gain = 3), strength = |direction|.
    Value: R in seconds.
    Positive: net buying while the book holds less volume than usual (buying will move price).
    Reference: Kyle & Obizhaeva, "Market microstructure invariance" (2016).
    """
    depth = x.w(BID_50) + x.w(ASK_50)
    fast, slow = x.prev_mean(TURNOVER_FAST), x.prev_mean(TURNOVER_SLOW)
    seconds = safe_div(depth, fast / x.bar_seconds)
    deficit = (x.mean(LOG_DEPTH_50) - safe_log(depth)) + log_ratio(fast, slow)
    recent, flowing = taker_flow(x)
    d = jnp.tanh(x.p("flow_gain") * recent) * jnp.clip(deficit / LN2, 0.0, 1.0)
    ok = flowing & x.has(BID_50) & x.has(ASK_50) & (depth > 0) & (fast > 0) & (slow > 0)
    return output(d, jnp.abs(d), ok, seconds)
