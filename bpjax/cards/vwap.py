"""VWAP: price against the volume-weighted average price actually paid.

Session-free rolling VWAPs: VWAP_n = sum_n(turnover) / sum_n(volume) over the last n bars
(turnover = sum of price x quantity over all venues, so turnover / volume is a bar's average
trade price). Positive direction: the VWAP reading expects price to rise (trend readings:
price above a rising VWAP; the band card leans against stretched prices and says so).
"""

from __future__ import annotations

import jax.numpy as jnp

from bpjax.cards.base import CardInput, from_z, log_ratio, output, safe_div
from bpjax.cards.registry import card
from bpjax.features.price import CLOSE, RETURNS, close_back
from bpjax.features.windows import Window


def turnover_volume(lookback: float) -> tuple[Window, Window]:
    """The turnover and volume sums over ``lookback`` bars (x mode scale), open bar included."""
    return Window("sum", "turnover", lookback), Window("sum", "volume", lookback)


VWAP_5, VWAP_20, VWAP_50 = turnover_volume(5), turnover_volume(20), turnover_volume(50)
RETURN_SQUARE_20 = Window("sum", "volume_return_square", 20)
CLOSE_OVER_BAR_5 = Window("sum", "close_over_bar_vwap", 5)
VOLUME_5 = Window("sum", "volume", 5)


def vwap_log_distance(x: CardInput, sums: tuple[Window, Window], close):
    """log(close / VWAP) for a (turnover, volume) window pair, and whether the VWAP exists."""
    turnover, volume = x.w(sums[0]), x.w(sums[1])
    ok = (turnover > 0) & (volume > 0) & (close > 0)
    vwap = safe_div(turnover, volume, 1.0)
    return jnp.where(ok, log_ratio(close, vwap), 0.0), ok


def spread_scale(x: CardInput, lookback: float):
    """sigma sqrt(n / 3): the typical distance of a random walk's close from its n-bar average,
    sigma the EW std of 1-bar log returns (span 50)."""
    return x.std(RETURNS) * jnp.sqrt(x.n(lookback) / 3.0)


@card(
    "vwap_distance",
    "vwap",
    lookback=50,
    inputs=("close", "turnover", "volume"),
    streams=(RETURNS,),
    windows=VWAP_50 + (CLOSE,),
)
def vwap_distance(x: CardInput):
    """Distance of the close from the rolling 50-bar VWAP, in volatility units (trend).

    Formula: VWAP = sum_n(turnover) / sum_n(volume), n = 50 bars (x mode scale) including the
    open bar; z = log(close / VWAP) / (sigma sqrt(n / 3)), sigma = EW std of 1-bar log returns
    (span 50). direction = tanh(z), strength = tanh(|z|/2). Value: log(close / VWAP) in bp.
    Confidence: 0 without turnover or volume in the window.
    Positive: price holds above what the window's traders paid on average (buyers in profit).
    """
    distance, ok = vwap_log_distance(x, VWAP_50, x.w(CLOSE))
    d, s = from_z(safe_div(distance, spread_scale(x, 50)))
    return output(d, s, ok, distance * 1e4)


@card(
    "vwap_slope",
    "vwap",
    lookback=20,
    inputs=("turnover", "volume", "close"),
    streams=(RETURNS,),
    windows=VWAP_5 + VWAP_20,
)
def vwap_slope(x: CardInput):
    """VWAP slope: the VWAP of the last 5 bars against the VWAP of the 15 bars before them.

    Formula: recent = sum_5(turnover) / sum_5(volume); older = (sum_20(turnover) -
    sum_5(turnover)) / (sum_20(volume) - sum_5(volume)) (windows of 5 and 20 bars x mode scale,
    open bar included); g = log(recent / older); the two windows' centres are n_20 / 2 bars
    apart, so z = g / (sigma sqrt(n_20 / 2)), sigma the EW std of 1-bar log returns (span 50).
    direction = tanh(z), strength = tanh(|z|/2). Value: g in bp.
    Confidence: 0 when either part of the window has no volume.
    Positive: the average price paid is rising.
    """
    recent_turnover, recent_volume = x.w(VWAP_5[0]), x.w(VWAP_5[1])
    older_turnover = x.w(VWAP_20[0]) - recent_turnover
    older_volume = x.w(VWAP_20[1]) - recent_volume
    recent = safe_div(recent_turnover, recent_volume)
    older = safe_div(older_turnover, older_volume)
    ok = (recent > 0) & (older > 0) & (recent_volume > 0) & (older_volume > 0)
    change = jnp.where(ok, log_ratio(recent, older), 0.0)
    d, s = from_z(safe_div(change, x.std(RETURNS) * jnp.sqrt(x.n(20) / 2.0)))
    return output(d, s, ok, change * 1e4)


@card(
    "vwap_band",
    "vwap",
    lookback=20,
    inputs=("close", "turnover", "volume"),
    windows=VWAP_20 + (RETURN_SQUARE_20, CLOSE),
)
def vwap_band(x: CardInput):
    """VWAP bands (20, 2 sd), read contrarian: a close stretched beyond the volume-weighted band.

    Formula: VWAP = sum_n(turnover) / sum_n(volume), n = 20 bars (x mode scale) including the open
    bar; sd = sqrt(sum_n(volume x r^2) / sum_n(volume)) * sqrt(n / 3), r the 1-bar log return
    (the volume-weighted return variance scaled to the distance of a close from an n-bar
    average); b = log(close / VWAP) / (2 sd) (+-1 at the bands).
    e = clip((|b| - 1/2) / (1/2), 0, 1) (neutral within one sd, full at the bands).
    direction = -sign(b) * e, strength = e. Value: b.
    Confidence: 0 when the band has no width.
    Positive: price stretched below the lower band (reversion up expected).
    """
    distance, ok = vwap_log_distance(x, VWAP_20, x.w(CLOSE))
    variance = safe_div(x.w(RETURN_SQUARE_20), x.w(VWAP_20[1]))
    sd = jnp.sqrt(jnp.maximum(variance, 0.0) * x.n(20) / 3.0)
    position = safe_div(distance, 2.0 * sd)
    stretch = jnp.clip((jnp.abs(position) - 0.5) / 0.5, 0.0, 1.0)
    return output(-jnp.sign(position) * stretch, stretch, ok & (sd > 0), position)


@card(
    "vwap_cross",
    "vwap",
    lookback=20,
    inputs=("close", "turnover", "volume"),
    streams=(RETURNS,),
    windows=VWAP_20 + (CLOSE, close_back(5)),
)
def vwap_cross(x: CardInput):
    """VWAP cross / reclaim: price moving from one side of the 20-bar VWAP to the other.

    Formula: z_now = log(close / VWAP) / (sigma sqrt(n / 3)) and z_then the same for the close
    5 bars back (against the current VWAP), VWAP over n = 20 bars (x mode scale) including the
    open bar, sigma the EW std of 1-bar log returns (span 50).
    direction = (tanh(z_now) - tanh(z_then)) / 2: largest for a full cross, small for a move
    that stays far on one side. strength = |direction|. Value: z_now.
    Confidence: 0 without the close 5 bars back or without volume.
    Positive: price reclaimed the VWAP from below.
    """
    scale = spread_scale(x, 20)
    now, ok = vwap_log_distance(x, VWAP_20, x.w(CLOSE))
    then, then_ok = vwap_log_distance(x, VWAP_20, x.w(close_back(5)))
    z_now, z_then = safe_div(now, scale), safe_div(then, scale)
    d = 0.5 * (jnp.tanh(z_now) - jnp.tanh(z_then))
    return output(d, jnp.abs(d), ok & then_ok & x.has(close_back(5)), z_now)


@card(
    "close_vs_bar_vwap",
    "vwap",
    lookback=5,
    inputs=("close", "turnover", "volume"),
    streams=(RETURNS,),
    windows=(CLOSE_OVER_BAR_5, VOLUME_5),
)
def close_vs_bar_vwap(x: CardInput):
    """Closes against each bar's own VWAP: who was in control into the close.

    Formula: c = sum_n(volume x log(close / bar VWAP)) / sum_n(volume), bar VWAP = turnover /
    volume, over n = 5 bars (x mode scale) including the open bar. Within a bar a random walk
    ends about sigma / sqrt(3) from its average, so z = c sqrt(3 n) / sigma, sigma the EW std of
    1-bar log returns (span 50). direction = tanh(z), strength = tanh(|z|/2). Value: c in bp.
    Confidence: 0 without volume.
    Positive: bars close above the average price traded in them (late buying pressure).
    """
    volume = x.w(VOLUME_5)
    value = safe_div(x.w(CLOSE_OVER_BAR_5), volume)
    d, s = from_z(safe_div(value * jnp.sqrt(3.0 * x.n(5)), x.std(RETURNS)))
    return output(d, s, volume > 0, value * 1e4)
