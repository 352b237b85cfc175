"""Regime: trending or ranging, calm or volatile, persistent or anti-persistent.

A regime has no sign of its own, so every card here turns its regime reading into a price
direction: momentum sign x trend-regime strength, reversion sign x range-regime strength, or
a blend. Positive direction: the card expects price to rise in the regime it reads.
"""

from __future__ import annotations

import jax.numpy as jnp

from bpjax.cards.base import CardInput, output, safe_div, safe_log
from bpjax.cards.registry import card
from bpjax.features.price import (
    CLOSE,
    PATH_10,
    RETURNS,
    close_back,
    move_windows,
    move_z,
)
from bpjax.features.streams import Stream
from bpjax.features.windows import Window

TRUE_RANGE_14 = Window("sum", "true_range", 14)
HIGHEST_14, LOWEST_14 = Window("max", "high", 14), Window("min", "low", 14)
HIGHEST_20, LOWEST_20 = Window("max", "high", 20), Window("min", "low", 20)
VOL_SHORT = Stream("log_return", 10)
VOL_LONG = Stream("log_return", 100)
BODY_LAG_PRODUCT = Stream("regime_body_lag_product", 50)
BODY_SQUARE = Stream("regime_body_square", 50)
CHOP_TREND, CHOP_RANGE = 38.2, 61.8  # Dreiss' Fibonacci thresholds


def choppiness(x: CardInput):
    """Choppiness index over n = 14 bars (x mode scale): 100 log10(sum TR / (HH - LL)) / log10(n).
    Cards using it declare TRUE_RANGE_14, HIGHEST_14 and LOWEST_14."""
    n = x.n(14)
    width = x.w(HIGHEST_14) - x.w(LOWEST_14)
    ratio = safe_div(x.w(TRUE_RANGE_14), width, 1.0)
    return 100.0 * safe_div(safe_log(ratio), safe_log(n)), width


def range_position(x: CardInput, highest: Window, lowest: Window):
    """Where the close sits in a high/low range: -1 at the low, +1 at the high, 0 without a range."""
    high, low = x.w(highest), x.w(lowest)
    return 2.0 * safe_div(x.w(CLOSE) - low, high - low, 0.5) - 1.0


@card(
    "choppiness_trend",
    "regime",
    lookback=14,
    inputs=("high", "low", "close"),
    streams=(RETURNS,),
    windows=(TRUE_RANGE_14, HIGHEST_14, LOWEST_14) + move_windows(14),
)
def choppiness_trend(x: CardInput):
    """Momentum in a trending regime, by the choppiness index.

    Formula: CI = 100 log10(sum TR / (HH - LL)) / log10(n) over n = 14 bars (x mode scale);
    trendiness T = clip((61.8 - CI) / (61.8 - 38.2), 0, 1); z = vol-normalized move over the
    same 14 bars (see roc). direction = tanh(z) T, strength = |direction|. Value: CI.
    Confidence: 0 without a range or when the close 14 bars back is missing.
    Positive: price rising in a market whose bars travel efficiently (low choppiness).
    Reference: Dreiss, Choppiness Index (1993).
    """
    value, width = choppiness(x)
    trendiness = jnp.clip((CHOP_RANGE - value) / (CHOP_RANGE - CHOP_TREND), 0.0, 1.0)
    z, ok = move_z(x, 14)
    d = jnp.tanh(z) * trendiness
    return output(d, jnp.abs(d), ok & (width > 0), value)


@card(
    "choppiness_range",
    "regime",
    lookback=14,
    inputs=("high", "low", "close"),
    windows=(TRUE_RANGE_14, HIGHEST_14, LOWEST_14, CLOSE),
)
def choppiness_range(x: CardInput):
    """Range fading in a choppy regime, by the choppiness index.

    Formula: CI as in choppiness_trend (14 bars); choppiness R = clip((CI - 38.2) / (61.8 - 38.2),
    0, 1); p = 2 (close - LL) / (HH - LL) - 1 over the same bars.
    direction = -p R, strength = |direction|. Value: CI.
    Confidence: 0 without a range.
    Positive: price near the bottom of a choppy range (expected to bounce).
    Reference: Dreiss, Choppiness Index (1993).
    """
    value, width = choppiness(x)
    chop = jnp.clip((value - CHOP_TREND) / (CHOP_RANGE - CHOP_TREND), 0.0, 1.0)
    d = -range_position(x, HIGHEST_14, LOWEST_14) * chop
    return output(d, jnp.abs(d), width > 0, value)


@card(
    "vol_managed_momentum",
    "regime",
    lookback=100,
    inputs=("close",),
    streams=(RETURNS, VOL_SHORT, VOL_LONG),
    windows=move_windows(20),
)
def vol_managed_momentum(x: CardInput):
    """Momentum scaled by the volatility regime: full in calm markets, damped in volatile ones.

    Formula: w = clip(sigma100 / sigma10, 0, 2) / 2, sigma the EW std of 1-bar log returns
    (spans 10 and 100 x mode scale): 1 when short-term volatility is half its usual level,
    1/2 when normal, less when stressed. z = vol-normalized move over 20 bars (see roc).
    direction = tanh(z) w, strength = |direction|. Value: w.
    Confidence: 0 when the close 20 bars back is missing or before any return was seen.
    Positive: price rising in a calm regime.
    Reference: Barroso & Santa-Clara, "Momentum has its moments" (2015); Moreira & Muir (2017).
    """
    short = x.std(VOL_SHORT)
    value = jnp.clip(safe_div(x.std(VOL_LONG), short, 1.0), 0.0, 2.0) / 2.0
    z, ok = move_z(x, 20)
    d = jnp.tanh(z) * value
    return output(d, jnp.abs(d), ok & (short > 0), value)


@card(
    "autocorrelation_forecast",
    "regime",
    lookback=50,
    inputs=("open", "close"),
    streams=(BODY_LAG_PRODUCT, BODY_SQUARE, RETURNS),
    windows=move_windows(5),
    params={"rho_scale": 0.2},
)
def autocorrelation_forecast(x: CardInput):
    """Persistence regime: the lag-1 autocorrelation of bar returns applied to the recent move.

    Formula: b = log(close / open) per bar; rho = EW mean of b_t b_(t-1) / EW mean of b_t^2
    (span 50 x mode scale), clipped to [-1, 1]: positive in trending (persistent) markets,
    negative in mean-reverting ones. z = vol-normalized move over 5 bars (see roc).
    direction = tanh(rho / rho_scale) tanh(z) (rho_scale = 0.2): the AR(1) forecast, momentum
    when returns persist and reversal when they alternate. strength = |direction|. Value: rho.
    Confidence: 0 when the close 5 bars back is missing.
    Positive: a persistent market that has been rising, or an alternating one that has fallen.
    Reference: Lo & MacKinlay (1990); Lehmann (1990).
    """
    square = x.mean(BODY_SQUARE)
    value = jnp.clip(safe_div(x.mean(BODY_LAG_PRODUCT), square), -1.0, 1.0)
    z, ok = move_z(x, 5)
    d = jnp.tanh(value / x.p("rho_scale")) * jnp.tanh(z)
    return output(d, jnp.abs(d), ok, value)


@card(
    "efficiency_regime_switch",
    "regime",
    lookback=20,
    inputs=("high", "low", "close"),
    streams=(RETURNS,),
    windows=(PATH_10, HIGHEST_20, LOWEST_20) + move_windows(10),
    params={"low": 0.2, "high": 0.6},
)
def efficiency_regime_switch(x: CardInput):
    """Trend-following or range-fading, switched by the efficiency ratio.

    Formula: ER = |close - close[-10]| / sum of |close - prev close| over 10 bars (x mode
    scale); w = clip((ER - low) / (high - low), 0, 1) (low = 0.2, high = 0.6);
    z = vol-normalized move over the same 10 bars (see roc); p = 2 (close - LL20) / (HH20 - LL20) - 1.
    direction = w tanh(z) - (1 - w) p: follow the move when price travels efficiently, fade the
    20-bar range position when it wanders. strength = |direction|. Value: ER.
    Confidence: 0 when the close 10 bars back is missing.
    Positive: an efficient rise, or price at the bottom of a range in an inefficient market.
    Reference: Kaufman, Smarter Trading (1995).
    """
    path = x.w(PATH_10)
    value = jnp.clip(safe_div(jnp.abs(x.w(CLOSE) - x.w(close_back(10))), path), 0.0, 1.0)
    weight = jnp.clip((value - x.p("low")) / (x.p("high") - x.p("low")), 0.0, 1.0)
    z, ok = move_z(x, 10)
    d = weight * jnp.tanh(z) - (1.0 - weight) * range_position(x, HIGHEST_20, LOWEST_20)
    return output(d, jnp.abs(d), ok, value)
