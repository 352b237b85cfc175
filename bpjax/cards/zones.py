"""Zones: liquidity zones above and below price (pools, traps, strength, targets).

Pools, traps and exit targets are read from the zone engine (:mod:`bpjax.zones.grid`:
liquidation levels on a price grid per symbol, clustered into zones); the others read the
price action around range extremes (where stops and liquidation orders rest), volume and wick
rejection.

Sign convention: positive = the card expects price to rise (towards a zone above, or away from
a zone below that holds).
"""

from __future__ import annotations

import jax.numpy as jnp

from bpjax.cards.base import CardInput, log_ratio, output, safe_div
from bpjax.cards.registry import card
from bpjax.features.derivatives import OI_CHANGE, oi_change, oi_windows
from bpjax.features.price import CLOSE, HIGHEST_20, LOWEST_20, PRIOR_HIGH_20, PRIOR_LOW_20, RETURNS, horizon
from bpjax.features.streams import Stream
from bpjax.features.windows import Window

HIGHEST_50 = Window("max", "high", 50)
LOWEST_50 = Window("min", "low", 50)
HIGHEST_5 = Window("max", "high", 5)
LOWEST_5 = Window("min", "low", 5)
VOLUME_5 = Window("sum", "volume", 5)
VOLUME = Stream("volume", 50)


LOWER_WICKS = Stream("zone_lower_wick_volume", 20)
UPPER_WICKS = Stream("zone_upper_wick_volume", 20)


def range_position(x: CardInput, highest: Window, lowest: Window):
    """(close - lowest) / (highest - lowest) in [0, 1] (0.5 without a range), and whether the
    range has width."""
    high, low = x.w(highest), x.w(lowest)
    return safe_div(x.w(CLOSE) - low, high - low, 0.5), high > low


@card(
    "liquidity_pool_balance",
    "zones",
    lookback=50,
    inputs=("close",),
    streams=(RETURNS,),
    zones=True,
)
def liquidity_pool_balance(x: CardInput):
    """Nearest liquidity pools: short liquidation levels above vs long ones below, by size and
    distance.

    Formula: from the zone engine (:mod:`bpjax.zones.grid`): N_up, d_up = estimated notional and log
    distance of the nearest live zone of short levels above price, N_dn, d_dn of long levels
    below (0 where there is none); h = sigma sqrt(n), n = 50 bars x mode scale, sigma the EW std of
    1-bar log returns (span 50). Pull g_up = N_up / (1 + d_up / h), g_dn = N_dn / (1 + d_dn / h).
    direction = (g_up - g_dn) / (g_up + g_dn), strength = |direction|. Value: direction.
    Confidence: 0 without a zone on either side or without price noise.
    Positive: a larger or nearer pool of short liquidations above (price drawn up to sweep it).
    """
    width = horizon(x, 50)
    pull_up = x.zone("above_notional") / (1.0 + safe_div(x.zone("above_distance"), width))
    pull_down = x.zone("below_notional") / (1.0 + safe_div(x.zone("below_distance"), width))
    total = pull_up + pull_down
    ok = (total > 0) & (width > 0)
    value = jnp.where(ok, safe_div(pull_up - pull_down, total), 0.0)
    return output(value, jnp.abs(value), ok, value)


@card(
    "stop_hunt_trap",
    "zones",
    lookback=20,
    inputs=("high", "low", "close"),
    windows=(HIGHEST_5, LOWEST_5, HIGHEST_20, LOWEST_20, CLOSE),
    zones=True,
)
def stop_hunt_trap(x: CardInput):
    """Stop hunt / liquidity trap: liquidity swept and given back.

    Formula: the zone engine's traps (step 7 of :mod:`bpjax.zones.grid`): T_dn = strength of the strongest
    zone of long levels that price swept and traded back above (a bear trap), T_up the same for
    short levels swept and traded back below. Where there is a trap, direction = clip(T_dn -
    T_up, -1, 1). Otherwise the price action of the range, over n = 20 bars (x mode scale):
    p = (close - LL) / (HH - LL); swept_up = 1 when the highest high of the last 5 bars is the
    20-bar high, swept_down likewise for the low; direction = swept_down x p - swept_up x (1 - p).
    strength = |direction|. Value: direction.
    Confidence: 0 without a trap and without a range of any width.
    Positive: the lows (longs' liquidation levels) were just swept and price has reclaimed them.
    """
    position, ranged = range_position(x, HIGHEST_20, LOWEST_20)
    swept_up = jnp.where(x.w(HIGHEST_5) >= x.w(HIGHEST_20), 1.0, 0.0)
    swept_down = jnp.where(x.w(LOWEST_5) <= x.w(LOWEST_20), 1.0, 0.0)
    sweep = jnp.where(ranged, swept_down * position - swept_up * (1.0 - position), 0.0)
    below, above = x.zone("trap_below"), x.zone("trap_above")
    trapped = below + above > 0
    value = jnp.where(trapped, jnp.clip(below - above, -1.0, 1.0), sweep)
    return output(value, jnp.abs(value), ranged | trapped, value)


@card(
    "zone_strength",
    "zones",
    lookback=50,
    inputs=("open", "high", "low", "close", "volume"),
    streams=(LOWER_WICKS, UPPER_WICKS),
    windows=(HIGHEST_50, LOWEST_50, CLOSE),
)
def zone_strength(x: CardInput):
    """Strength of the zone price sits in: volume rejected at the lows vs at the highs.

    Formula: demand strength = EW mean (span 20 x mode scale) of
    volume x log(min(open, close) / low) (volume-weighted lower wicks: offers absorbed),
    supply strength U the same with log(high / max(open, close)); p = position of close in the
    50-bar range. direction = ((1 - p) D - p U) / (D + U): near the range low the demand zone
    counts, near the high the supply zone. strength = |direction|. Value: D / (D + U).
    Confidence: 0 without wicks or without a range.
    Positive: price sits low in its range on a zone where selling has been rejected.
    """
    demand, supply = x.mean(LOWER_WICKS), x.mean(UPPER_WICKS)
    position, ranged = range_position(x, HIGHEST_50, LOWEST_50)
    total = demand + supply
    value = safe_div((1.0 - position) * demand - position * supply, total)
    return output(value, jnp.abs(value), ranged & (total > 0), safe_div(demand, total, 0.5))


@card(
    "range_extreme_oi_build",
    "zones",
    lookback=50,
    inputs=("open_interest", "high", "low", "close"),
    streams=(OI_CHANGE,),
    windows=(HIGHEST_50, LOWEST_50, CLOSE) + oi_windows(20),
)
def range_extreme_oi_build(x: CardInput):
    """Price pressing a range extreme while open interest builds: positions piling into the zone.

    Formula: c = 2 (close - LL) / (HH - LL) - 1 over n = 50 bars
    (x mode scale); zo = z of the log OI change over 20 bars (see oi_change). direction = c x
    clip(zo / 2, 0, 1): new positions at the high (or low) fuel a break through the stops
    beyond it; falling OI reads neutral. strength = |direction|. Value: zo.
    Confidence: 0 when open interest is missing (a range without width reads c = 0).
    Positive: price at the top of its range with open interest rising.
    """
    position, _ = range_position(x, HIGHEST_50, LOWEST_50)
    _, oi_z, oi_ok = oi_change(x, 20)
    d = (2.0 * position - 1.0) * jnp.clip(oi_z / 2.0, 0.0, 1.0)
    return output(d, jnp.abs(d), oi_ok, oi_z)


BIG = 1e6  # a log distance no target reaches


@card(
    "exit_target_distance",
    "zones",
    lookback=50,
    inputs=("high", "low", "close"),
    windows=(HIGHEST_50, LOWEST_50, CLOSE),
    zones=True,
)
def exit_target_distance(x: CardInput):
    """Exit targets: room to the nearest opposing zone above (a long's target) vs below.

    Formula: zones above = the 50-bar highest high (x mode scale) and the zone engine's exit
    target of a long position (the nearest live zone of short liquidation levels above), zones
    below = the lowest low and a short's target (the nearest live zone of long levels below);
    only zones strictly beyond price count. up = log(nearest above / close), down = log(close /
    nearest below); direction = (up - down) / (up + down), strength = |direction|.
    Value: up / down.
    Confidence: 0 unless there is a zone on both sides.
    Positive: more room to the first target above than to the first zone below.
    """
    close = x.w(CLOSE)
    high, low = x.w(HIGHEST_50), x.w(LOWEST_50)
    range_up = jnp.where(high > close, log_ratio(high, close), BIG)
    range_down = jnp.where((low < close) & (low > 0), log_ratio(close, low), BIG)
    zone_up = jnp.where(x.zone("above_present") > 0, x.zone("above_distance"), BIG)
    zone_down = jnp.where(x.zone("below_present") > 0, x.zone("below_distance"), BIG)
    up = jnp.where(zone_up > 0, jnp.minimum(range_up, zone_up), range_up)
    down = jnp.where(zone_down > 0, jnp.minimum(range_down, zone_down), range_down)
    ok = (up < BIG) & (down < BIG) & (close > 0)
    value = jnp.where(ok, safe_div(up - down, up + down), 0.0)
    return output(value, jnp.abs(value), ok, jnp.where(ok, safe_div(up, down), 0.0))


@card(
    "zone_breakout_acceptance",
    "zones",
    lookback=50,
    inputs=("high", "low", "close", "volume"),
    streams=(VOLUME,),
    windows=(PRIOR_HIGH_20, PRIOR_LOW_20, CLOSE, VOLUME_5),
)
def zone_breakout_acceptance(x: CardInput):
    """Zone breakout with acceptance: price at or through the prior range edge on heavy volume.

    Formula: p = (close - (HH + LL) / 2) / ((HH - LL) / 2) against
    the 20 bars before the open bar (x mode scale); edge = sign(p) clip(2 |p| - 1, 0, 1) (0 in
    the middle half of the range, 1 at or beyond its edge); v = sum of volume over the last 5
    bars / (5 bars x mode scale x EW mean volume, span 50). direction = edge x tanh(v),
    strength = |direction|. Value: p.
    Confidence: 0 when the prior range has no width.
    Positive: price breaking the upper zone with volume behind it (accepted, not a trap).
    """
    highest, lowest = x.w(PRIOR_HIGH_20), x.w(PRIOR_LOW_20)
    half = 0.5 * (highest - lowest)
    value = safe_div(x.w(CLOSE) - 0.5 * (highest + lowest), half)
    edge = jnp.sign(value) * jnp.clip(2.0 * jnp.abs(value) - 1.0, 0.0, 1.0)
    volume = safe_div(x.w(VOLUME_5), x.n(5) * x.mean(VOLUME))
    d = edge * jnp.tanh(volume)
    return output(d, jnp.abs(d), half > 0, value)
