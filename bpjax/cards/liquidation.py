"""Liquidation: forced closures of leveraged positions, where they happened and where they will.

Two kinds of reading. *Realized* liquidations (``liq_long_notional`` / ``liq_short_notional``,
quote notional force-closed per bar, all venues) say which side is being flushed; *estimated*
liquidation levels, from the zone engine (:mod:`bpjax.zones.grid`), say where the
open interest built at each price would be force-closed: spread over leverage tiers, a long
opened at ``P`` with leverage ``L`` and maintenance margin ``m`` is liquidated at
``P (1 - 1/L + m)``, a short at ``P (1 + 1/L - m)``. Distances are in log price.

Sign convention: positive = the card expects price to rise. Short liquidations are forced buys
(they push price up), long liquidations forced sells; each card states whether it reads them
as momentum (a cascade under way) or as a contrarian signal (a flush that is over).
"""

from __future__ import annotations

import jax.numpy as jnp

from bpjax.cards.base import CardInput, log_ratio, output, safe_div
from bpjax.cards.registry import card
from bpjax.features.derivatives import FUNDING, OI, OI_LEVEL, RATE
from bpjax.features.price import CLOSE, HIGHEST_20, LOWEST_20, RETURNS, horizon, move_windows, move_z
from bpjax.features.streams import Stream
from bpjax.features.windows import Window

# --- derived series: liquidations at their price -------------------------------------------------


# --- declarations ----------------------------------------------------------------------------------

LIQ_LONG_FAST = Stream("liq_long_notional", 5)
LIQ_SHORT_FAST = Stream("liq_short_notional", 5)
LIQ_LONG = Stream("liq_long_notional", 20)
LIQ_SHORT = Stream("liq_short_notional", 20)
LIQ_LONG_SLOW = Stream("liq_long_notional", 100)
LIQ_SHORT_SLOW = Stream("liq_short_notional", 100)
LIQ_INPUTS = ("liq_long_notional", "liq_short_notional")

BID_DEPTH_50 = Stream("bid_depth_50", 100)
ASK_DEPTH_50 = Stream("ask_depth_50", 100)
BID_50 = Window("lag", "bid_depth_50", 0)
ASK_50 = Window("lag", "ask_depth_50", 0)
TURNOVER_6 = Window("sum", "turnover", 6)


def liq_sums(lookback: float) -> tuple[Window, Window]:
    return Window("sum", "liq_long_notional", lookback), Window("sum", "liq_short_notional", lookback)


def liq_price_sums(lookback: float) -> tuple[Window, Window]:
    return Window("sum", "liq_long_price", lookback), Window("sum", "liq_short_price", lookback)


# --- shared pieces ---------------------------------------------------------------------------------

FAR = 0.25  # log distance of a side without a zone: the edge of the default zone grid


# --- cards -----------------------------------------------------------------------------------------


@card(
    "liquidation_levels",
    "liquidation",
    lookback=50,
    inputs=("close",),
    params={"ratio_scale": 0.4},
    zones=True,
)
def liquidation_levels(x: CardInput):
    """Estimated liquidation levels as magnets: is the nearest zone of long liquidation levels
    below or of short ones above closer to price.

    Formula: from the zone engine (:mod:`bpjax.zones.grid`): down = log(price / high
    of the nearest live zone of long levels below), up = log(low of the nearest live zone of
    short levels above / price) (the exit targets of a short and of a long position); a side
    without a zone counts as far = 0.25 (the edge of the default grid). u = (down - up) / (down
    + up). direction = tanh(u / ratio_scale) (ratio_scale = 0.4), strength = |direction|.
    Value: u.
    Confidence: 0 without a live zone on either side.
    Positive: the short-liquidation zone above is nearer (price is drawn up into it).
    Reference: exchange isolated-margin liquidation price, entry x (1 - 1/leverage + mm).
    """
    below, above = x.zone("below_present") > 0, x.zone("above_present") > 0
    down = jnp.where(below, x.zone("below_distance"), FAR)
    up = jnp.where(above, x.zone("above_distance"), FAR)
    ok = below | above
    value = jnp.where(ok, safe_div(down - up, down + up), 0.0)
    d = jnp.tanh(value / x.p("ratio_scale"))
    return output(d, jnp.abs(d), ok, value)


@card(
    "liquidation_pressure",
    "liquidation",
    lookback=100,
    inputs=LIQ_INPUTS,
    streams=(LIQ_LONG_FAST, LIQ_SHORT_FAST, LIQ_LONG_SLOW, LIQ_SHORT_SLOW),
    params={"pressure_scale": 1.0},
)
def liquidation_pressure(x: CardInput):
    """Real-time cascade pressure: forced closures across venues now against their usual rate.

    Formula: net = (EW5(short liq) - EW5(long liq)) / (EW100(long liq) + EW100(short liq)), EW
    means of liquidated notional per bar (spans x mode scale, the open bar folded in).
    direction = tanh(net / pressure_scale) (pressure_scale = 1), strength = |direction|.
    Value: net (multiples of the usual liquidation rate).
    Positive: shorts are being force-closed faster than usual (forced buying, a squeeze under way).
    """
    base = x.mean(LIQ_LONG_SLOW) + x.mean(LIQ_SHORT_SLOW)
    value = safe_div(x.mean(LIQ_SHORT_FAST) - x.mean(LIQ_LONG_FAST), base)
    d = jnp.tanh(value / x.p("pressure_scale"))
    return output(d, jnp.abs(d), base > 0, value)


@card("liquidation_heatmap_density", "liquidation", lookback=50, inputs=("close",), zones=True)
def liquidation_heatmap_density(x: CardInput):
    """Liquidation heatmap proximity: estimated and realized liquidation notional within reach
    above vs below.

    Formula: the zone engine's directional score (step 6 of :mod:`bpjax.zones.grid`): I = (A - B) / (A + B),
    A the short liquidation levels above price and B the long ones below (estimated and
    realized), each bin weighted by exp(-distance / attraction_range). direction = I,
    strength = |direction|. Value: the liquidation notional on the heatmap, both sides.
    Confidence: 0 while the heatmap is empty.
    Positive: more short liquidations within reach above than long ones below.
    """
    mass = x.zone("heat_mass")
    d = x.zone("imbalance")
    return output(d, jnp.abs(d), mass > 0, mass)


@card(
    "cumulative_liquidation_level",
    "liquidation",
    lookback=50,
    inputs=LIQ_INPUTS + ("close",),
    streams=(RETURNS,),
    windows=liq_sums(50) + liq_price_sums(50) + (CLOSE,),
)
def cumulative_liquidation_level(x: CardInput):
    """Cumulative liquidation levels: price against where longs and shorts were force-closed.

    Formula: over the last n = 50 bars (x mode scale), Q_L = sum(long liq x close) / sum(long
    liq) and Q_S likewise: the liquidation-weighted prices of each side; z_X = log(close / Q_X)
    / h, h = sigma sqrt(n); s_L, s_S = each side's share of the liquidated notional.
    direction = s_L tanh(z_L) + s_S tanh(z_S), strength = |direction|. Value: direction.
    Confidence: 0 without liquidations in the window.
    Positive: price holds above the levels where positions were flushed (cleared ground below).
    """
    long_sum, short_sum = (x.w(w) for w in liq_sums(50))
    long_price, short_price = (x.w(w) for w in liq_price_sums(50))
    close = x.w(CLOSE)
    total = long_sum + short_sum
    width = horizon(x, 50)
    z_long = safe_div(log_ratio(close, safe_div(long_price, long_sum)), width)
    z_short = safe_div(log_ratio(close, safe_div(short_price, short_sum)), width)
    value = safe_div(long_sum * jnp.tanh(z_long) + short_sum * jnp.tanh(z_short), total)
    return output(value, jnp.abs(value), (total > 0) & (width > 0), value)


@card(
    "liquidation_imbalance",
    "liquidation",
    lookback=20,
    inputs=LIQ_INPUTS + ("close",),
    streams=(RETURNS,),
    windows=liq_sums(20) + liq_price_sums(20) + (CLOSE,),
)
def liquidation_imbalance(x: CardInput):
    """Long vs short liquidation volume around the current price.

    Formula: over the last n = 20 bars (x mode scale), L, S = liquidated notional of each side,
    Q_L, Q_S their liquidation-weighted prices; proximity K_X = exp(-z_X^2 / 2), z_X =
    log(close / Q_X) / h, h = sigma sqrt(n). direction = (S K_S - L K_L) / (S + L),
    strength = |direction|. Value: direction.
    Confidence: 0 without liquidations in the window.
    Positive: shorts were force-closed near the current price (forced buying here).
    """
    long_sum, short_sum = (x.w(w) for w in liq_sums(20))
    long_price, short_price = (x.w(w) for w in liq_price_sums(20))
    close = x.w(CLOSE)
    width = horizon(x, 20)
    z_long = safe_div(log_ratio(close, safe_div(long_price, long_sum)), width)
    z_short = safe_div(log_ratio(close, safe_div(short_price, short_sum)), width)
    near = short_sum * jnp.exp(-0.5 * z_short * z_short) - long_sum * jnp.exp(-0.5 * z_long * z_long)
    total = long_sum + short_sum
    value = safe_div(near, total)
    return output(value, jnp.abs(value), (total > 0) & (width > 0), value)


@card(
    "cascade_risk",
    "liquidation",
    lookback=200,
    inputs=("open_interest", "close", "bid_depth_50", "ask_depth_50"),
    streams=(OI_LEVEL, BID_DEPTH_50, ASK_DEPTH_50),
    windows=(OI, BID_50, ASK_50),
    zones=True,
)
def cascade_risk(x: CardInput):
    """Partial-liquidation / cascade risk: crowded open interest, a thin book and liquidation
    levels stacked within a short move, signed towards the larger cascade.

    Formula: from the zone engine's cascade curve (:mod:`bpjax.zones.grid`): C_up = short notional a rise of
    2 % would liquidate, C_down = long notional a 2 % drop would (the configured move nearest
    2 %); pull = (C_up - C_down) / (C_up + C_down); crowding = (1 + tanh(z_oi)) / 2, z_oi =
    log(OI / mean) / (sd / mean), mean and sd the EW statistics of open interest (span 200);
    thinness = m / (m + depth), depth = bid + ask notional within 50 bp on the open bar, m its
    EW mean (span 100, both sides). direction = pull x crowding x thinness x 2 (clipped to
    [-1, 1]), strength = |direction|. Value: crowding x thinness x 2 (1 = usual OI and depth).
    Confidence: 0 without levels within the move, without a book or without open interest.
    Positive: a crowded, thin market with more short liquidations stacked above (squeeze risk).
    """
    up, down = x.zone("cascade_up"), x.zone("cascade_down")
    pull = safe_div(up - down, up + down)
    oi, mean = x.w(OI), x.mean(OI_LEVEL)
    oi_z = safe_div(log_ratio(oi, mean), safe_div(x.std(OI_LEVEL), mean))
    crowding = 0.5 * (1.0 + jnp.tanh(oi_z))
    depth = x.w(BID_50) + x.w(ASK_50)
    usual = x.mean(BID_DEPTH_50) + x.mean(ASK_DEPTH_50)
    thinness = safe_div(usual, usual + depth)
    risk = 2.0 * crowding * thinness
    d = jnp.clip(pull * risk, -1.0, 1.0)
    return output(d, jnp.abs(d), (up + down > 0) & (depth > 0) & (oi > 0), risk)


@card(
    "liquidation_exhaustion",
    "liquidation",
    lookback=100,
    inputs=LIQ_INPUTS,
    streams=(LIQ_LONG_FAST, LIQ_SHORT_FAST, LIQ_LONG, LIQ_SHORT, LIQ_LONG_SLOW, LIQ_SHORT_SLOW),
)
def liquidation_exhaustion(x: CardInput):
    """Capitulation reversal: a liquidation burst dominated by one side that is now fading.

    Formula: EW means of liquidated notional per side with spans 5, 20 and 100 (x mode scale);
    b = (L20 - S20) / (L20 + S20); burst = tanh((L20 + S20) / (L100 + S100));
    fade = clip(1 - (L5 + S5) / (L20 + S20), 0, 1). direction = b x burst x fade,
    strength = |direction|. Value: b.
    Positive: a long-liquidation burst is dying out (forced sellers exhausted: rebound).
    """
    medium = x.mean(LIQ_LONG) + x.mean(LIQ_SHORT)
    b = safe_div(x.mean(LIQ_LONG) - x.mean(LIQ_SHORT), medium)
    burst = jnp.tanh(safe_div(medium, x.mean(LIQ_LONG_SLOW) + x.mean(LIQ_SHORT_SLOW)))
    fast = x.mean(LIQ_LONG_FAST) + x.mean(LIQ_SHORT_FAST)
    fade = jnp.clip(1.0 - safe_div(fast, medium, 1.0), 0.0, 1.0)
    d = b * burst * fade
    return output(d, jnp.abs(d), medium > 0, b)


@card(
    "liquidation_oi_share",
    "liquidation",
    lookback=20,
    inputs=LIQ_INPUTS + ("open_interest", "close"),
    windows=liq_sums(20) + (OI, CLOSE),
    params={"share_scale": 2e-3},
)
def liquidation_oi_share(x: CardInput):
    """Net forced flow as a share of open interest, per hour.

    Formula: r = (sum short liq - sum long liq) over n = 20 bars (x mode scale) / (OI x close)
    / (n x bar_seconds / 3600): the net notional force-closed per hour as a fraction of the open
    notional. direction = tanh(r / share_scale) (share_scale = 0.2 % per hour),
    strength = |direction|. Value: r.
    Positive: shorts are being force-closed at a meaningful rate for the market's size.
    """
    long_sum, short_sum = (x.w(w) for w in liq_sums(20))
    notional = x.w(OI) * x.w(CLOSE)
    hours = x.n(20) * x.bar_seconds / 3600.0
    value = safe_div(safe_div(short_sum - long_sum, notional), hours)
    d = jnp.tanh(value / x.p("share_scale"))
    return output(d, jnp.abs(d), notional > 0, value)


@card(
    "liquidation_volume_ratio",
    "liquidation",
    lookback=6,
    inputs=LIQ_INPUTS + ("turnover",),
    windows=liq_sums(6) + (TURNOVER_6,),
    params={"ratio_scale": 0.005},
)
def liquidation_volume_ratio(x: CardInput):
    """Forced flow as a share of traded value: how much of the tape is liquidations.

    Formula: r = (sum short liq - sum long liq) / sum turnover over n = 6 bars (x mode scale),
    all in quote notional. direction = tanh(r / ratio_scale) (ratio_scale = 0.5 %),
    strength = |direction|. Value: r.
    Confidence: 0 without turnover.
    Positive: forced buying (short liquidations) is a sizeable part of the volume.
    """
    long_sum, short_sum = (x.w(w) for w in liq_sums(6))
    traded = x.w(TURNOVER_6)
    value = safe_div(short_sum - long_sum, traded)
    d = jnp.tanh(value / x.p("ratio_scale"))
    return output(d, jnp.abs(d), traded > 0, value)


@card(
    "post_cascade_rebound",
    "liquidation",
    lookback=20,
    inputs=LIQ_INPUTS + ("high", "low", "close"),
    streams=(RETURNS,),
    windows=liq_sums(20) + (HIGHEST_20, LOWEST_20, CLOSE),
)
def post_cascade_rebound(x: CardInput):
    """Post-cascade rebound: how far price has come back from the extreme the liquidations made.

    Formula: over the last n = 20 bars (x mode scale), s_L, s_S = each side's share of the
    liquidated notional; up = log(close / lowest low) / h, down = log(highest high / close) / h,
    h = sigma sqrt(n). direction = s_L tanh(up) - s_S tanh(down), strength = |direction|.
    Value: direction.
    Confidence: 0 without liquidations in the window.
    Positive: longs were flushed and price is bouncing off the flush low.
    """
    long_sum, short_sum = (x.w(w) for w in liq_sums(20))
    total = long_sum + short_sum
    close = x.w(CLOSE)
    width = horizon(x, 20)
    up = safe_div(log_ratio(close, x.w(LOWEST_20)), width)
    down = safe_div(log_ratio(x.w(HIGHEST_20), close), width)
    value = safe_div(long_sum * jnp.tanh(up) - short_sum * jnp.tanh(down), total)
    return output(value, jnp.abs(value), (total > 0) & (width > 0), value)


@card(
    "funding_liquidation_crowding",
    "liquidation",
    lookback=100,
    inputs=LIQ_INPUTS + ("funding_rate",),
    streams=(FUNDING, LIQ_LONG, LIQ_SHORT),
    windows=(RATE,),
    params={"std_floor": 2e-5},
)
def funding_liquidation_crowding(x: CardInput):
    """The crowded side getting liquidated: funding crowding confirmed by its own liquidations.

    Formula: c = tanh(z), z = (funding - mean) / max(sd, std_floor), mean and sd the EW
    statistics of the funding rate (span 100 x mode scale), std_floor = 0.2 bp: > 0 when longs
    pay more than usual; b = (L20 - S20) / (L20 + S20), EW means (span 20) of liquidated
    notional. direction = -sign(c) x max(c x b, 0): only when the side paying up is the side
    being liquidated, against it. strength = |direction|. Value: c x b.
    Positive: unusually crowded shorts are being force-closed (squeeze continuation).
    """
    rate = x.w(RATE)
    crowding = jnp.tanh((rate - x.mean(FUNDING)) / jnp.maximum(x.std(FUNDING), x.p("std_floor")))
    total = x.mean(LIQ_LONG) + x.mean(LIQ_SHORT)
    b = safe_div(x.mean(LIQ_LONG) - x.mean(LIQ_SHORT), total)
    value = crowding * b
    d = -jnp.sign(crowding) * jnp.maximum(value, 0.0)
    return output(d, jnp.abs(d), total > 0, value)


@card(
    "liquidation_absorption",
    "liquidation",
    lookback=20,
    inputs=LIQ_INPUTS + ("close",),
    streams=(RETURNS,),
    windows=liq_sums(20) + move_windows(20),
)
def liquidation_absorption(x: CardInput):
    """Liquidation absorption: did price follow the forced flow, or did the other side absorb it.

    Formula: b = (S - L) / (S + L), liquidated notional over n = 20 bars (x mode scale);
    z = vol-normalized price move over the same bars (see roc). direction = (|b| tanh(z) - b) / 2,
    strength = |direction|. Value: direction.
    Confidence: 0 without liquidations in the window or the close n bars back.
    Positive: longs were force-closed yet price held up (forced selling absorbed by buyers).
    """
    long_sum, short_sum = (x.w(w) for w in liq_sums(20))
    total = long_sum + short_sum
    b = safe_div(short_sum - long_sum, total)
    z, ok = move_z(x, 20)
    value = 0.5 * (jnp.abs(b) * jnp.tanh(z) - b)
    return output(value, jnp.abs(value), ok & (total > 0), value)
