"""Volatility: how much price moves, whether that is changing, and which side it favours.

Volatility itself has no sign; each card states how it turns a volatility reading into a
direction (usually the side of the move the volatility accompanies).
"""

from __future__ import annotations

import jax.numpy as jnp

from bpjax.cards.base import CardInput, log_ratio, oscillator, output, safe_div, safe_log
from bpjax.cards.registry import card
from bpjax.features.price import CLOSE, PRIOR_HIGH_20, PRIOR_LOW_20, RETURNS, move_windows, move_z
from bpjax.features.streams import Stream
from bpjax.features.windows import Window

ATR = Stream("true_range", 14, "wilder")
ATR_SLOW = Stream("true_range", 100, "wilder")
ATR_KELTNER = Stream("true_range", 10, "wilder")
ATR_SQUEEZE = Stream("true_range", 20, "wilder")
EMA_KELTNER = Stream("close", 20)
VOL_SHORT = Stream("log_return", 10)
VOL_LONG = Stream("log_return", 100)
UP_SEMI = Stream("up_square", 20)
DOWN_SEMI = Stream("down_square", 20)
RANGE = Stream("range_log", 20)
LN2 = 0.6931471805599453
CLOSE_MEAN_20 = Window("mean", "close", 20)
CLOSE_STD_20 = Window("std", "close", 20)
LOG_CLOSE_SLOPE_20 = Window("slope", "log_close", 20)
HIGH = Window("lag", "high", 0)
LOW = Window("lag", "low", 0)


@card(
    "atr_expansion",
    "volatility",
    lookback=14,
    inputs=("high", "low", "close"),
    streams=(ATR, ATR_SLOW, RETURNS),
    windows=move_windows(14),
)
def atr_expansion(x: CardInput):
    """Average true range expanding beyond its slow average, signed by the move it accompanies.

    Formula: ATR = Wilder average of true range (n = 14), slow ATR the same with n = 100 (both
    x mode scale); e = log(ATR / slow ATR) / log 2 (1 = twice the usual range).
    z = vol-normalized move over 14 bars (see roc). direction = tanh(z) * clip(e, 0, 1),
    strength = clip(e, 0, 1). Value: ATR in price units (TA-Lib ATR).
    Positive: ranges are widening while price rises (expansion confirms the move);
    contracting ranges read neutral.
    Reference: Wilder (1978).
    """
    value = x.mean(ATR)
    expansion = jnp.clip(safe_div(log_ratio(value, x.mean(ATR_SLOW)), LN2), 0.0, 1.0)
    z, ok = move_z(x, 14)
    confidence = jnp.where(ok & (x.mean(ATR_SLOW) > 0), 1.0, 0.0)
    return output(jnp.tanh(z) * expansion, expansion, confidence, value)


@card(
    "bollinger_percent_b",
    "volatility",
    lookback=20,
    inputs=("close",),
    windows=(CLOSE_MEAN_20, CLOSE_STD_20, CLOSE),
)
def bollinger_percent_b(x: CardInput):
    """Bollinger %b (20, 2): where the close sits between the bands.

    Formula: middle = SMA_n(close), sd = population std of close over n = 20 bars (x mode
    scale); upper/lower = middle +/- 2 sd; %b = (close - lower) / (upper - lower).
    direction = clip(2 %b - 1, -1, 1) (outside the bands = full), strength = |direction|.
    Value: %b (TA-Lib BBANDS). Confidence: 0 when the bands have no width.
    Positive: close near or above the upper band (volatility breakout up).
    Reference: Bollinger, Bollinger on Bollinger Bands (2001).
    """
    sd = x.w(CLOSE_STD_20)
    value = jnp.where(sd > 0, 0.5 + safe_div(x.w(CLOSE) - x.w(CLOSE_MEAN_20), 4.0 * sd), 0.5)
    d, s = oscillator(value, 0.5, 0.5)
    return output(d, s, sd > 0, value)


@card(
    "keltner_position",
    "volatility",
    lookback=20,
    inputs=("high", "low", "close"),
    streams=(EMA_KELTNER, ATR_KELTNER),
    windows=(CLOSE,),
)
def keltner_position(x: CardInput):
    """Position in the Keltner channel: EMA20 +/- 2 ATR10.

    Formula: k = (close - EMA20(close)) / (2 * ATR10), ATR Wilder (spans x mode scale);
    direction = clip(k, -1, 1), strength = |direction|. Value: k (1 = on the upper line).
    Confidence: 0 before a true range was seen.
    Positive: price is stretched above its average by a multiple of its usual range.
    Reference: Keltner (1960), modern ATR form by Raschke.
    """
    atr = x.mean(ATR_KELTNER)
    value = safe_div(x.w(CLOSE) - x.mean(EMA_KELTNER), 2.0 * atr)
    d, s = oscillator(value, 0.0, 1.0)
    return output(d, s, jnp.where(atr > 0, 1.0, 0.0), value)


@card(
    "donchian_position",
    "volatility",
    lookback=21,
    inputs=("high", "low", "close"),
    windows=(PRIOR_HIGH_20, PRIOR_LOW_20, CLOSE),
)
def donchian_position(x: CardInput):
    """Donchian channel breakout (20): close against the prior channel (open bar excluded).

    Formula: HH/LL = highest high / lowest low of the n = 20 bars before the open bar (x mode
    scale); p = (close - (HH + LL) / 2) / ((HH - LL) / 2), |p| > 1 is a breakout.
    direction = clip(p, -1, 1), strength = |direction|. Value: p.
    Confidence: 0 when the channel has no width.
    Positive: price at or through the top of the prior range (turtle-style breakout).
    Reference: Donchian (1960s); Faith, Way of the Turtle (2007).
    """
    highest, lowest = x.w(PRIOR_HIGH_20), x.w(PRIOR_LOW_20)
    half = 0.5 * (highest - lowest)
    value = safe_div(x.w(CLOSE) - 0.5 * (highest + lowest), half)
    d, s = oscillator(value, 0.0, 1.0)
    return output(d, s, jnp.where(half > 0, 1.0, 0.0), value)


@card(
    "realized_vol_ratio",
    "volatility",
    lookback=100,
    inputs=("close",),
    streams=(VOL_SHORT, VOL_LONG),
    mirror=False,
)
def realized_vol_ratio(x: CardInput):
    """Risk-off reading of a short-term volatility spike.

    Formula: ratio = EW std of 1-bar log returns (span 10) / the same with span 100 (x mode
    scale); e = log(ratio) / log 2. direction = -tanh(max(e, 0)), strength = |direction|.
    Value: ratio. Deliberately one-sided (mirror=False): crypto volatility spikes cluster in
    sell-offs and de-leveraging, so a spike reads bearish whichever way the last bars went.
    Positive: never; 0 when volatility is at or below its usual level.
    Reference: the leverage effect (Black 1976); volatility-managed portfolios (Moreira & Muir 2017).
    """
    value = safe_div(x.std(VOL_SHORT), x.std(VOL_LONG), 1.0)
    d = -jnp.tanh(jnp.maximum(safe_div(safe_log(value), LN2), 0.0))
    return output(d, jnp.abs(d), jnp.where(x.std(VOL_LONG) > 0, 1.0, 0.0), value)


@card(
    "realized_semivariance",
    "volatility",
    lookback=20,
    inputs=("close",),
    streams=(UP_SEMI, DOWN_SEMI),
)
def realized_semivariance(x: CardInput):
    """Signed jump variation: upside against downside realized semivariance.

    Formula: RS+ and RS- = EW means (span 20, x mode scale) of squared positive and negative
    1-bar log returns; SJ = (RS+ - RS-) / (RS+ + RS-) in [-1, 1].
    direction = SJ, strength = |SJ|. Value: SJ.
    Positive: the variance comes from up moves (large up bars dominate).
    Reference: Barndorff-Nielsen, Kinnebrock & Shephard (2010); Patton & Sheppard (2015).
    """
    up, down = x.mean(UP_SEMI), x.mean(DOWN_SEMI)
    value = safe_div(up - down, up + down)
    return output(value, jnp.abs(value), jnp.where(up + down > 0, 1.0, 0.0), value)


@card(
    "range_expansion",
    "volatility",
    lookback=20,
    inputs=("high", "low", "close"),
    streams=(RANGE,),
    windows=(HIGH, LOW, CLOSE),
)
def range_expansion(x: CardInput):
    """Wide-range bar: the open bar's range against the usual range, signed by where it closes.

    Formula: r = log(high / low) of the open bar / (EW mean of log(high/low) at the last closed
    bar, span 20 x mode scale, times sqrt(progress)), the square root scaling the usual
    range to the elapsed share of the bar; e = clip(r - 1, 0, 1);
    CLV = ((close - low) - (high - close)) / (high - low).
    direction = CLV * e, strength = e. Value: r.
    Positive: an unusually wide bar closing near its high.
    """
    high, low, close = x.w(HIGH), x.w(LOW), x.w(CLOSE)
    width = high - low
    usual = x.prev_mean(RANGE) * jnp.sqrt(jnp.clip(x.progress, 0.0, 1.0))
    value = safe_div(log_ratio(high, low), usual)
    expansion = jnp.clip(value - 1.0, 0.0, 1.0)
    location = safe_div((close - low) - (high - close), width)
    return output(location * expansion, expansion, jnp.where(usual > 0, 1.0, 0.0), value)


@card(
    "squeeze",
    "volatility",
    lookback=20,
    inputs=("close",),
    streams=(ATR_SQUEEZE,),
    windows=(CLOSE_STD_20, LOG_CLOSE_SLOPE_20, CLOSE),
)
def squeeze(x: CardInput):
    """Volatility squeeze (TTM style): Bollinger bands inside the Keltner channel.

    Formula: q = clip(1 - (2 sd20) / (1.5 ATR20), 0, 1), sd20 the population std of close over
    n = 20 bars and ATR20 the Wilder ATR (x mode scale): q > 0 while the bands sit inside
    the channel. m = least-squares slope of log close over the same bars * n / (ATR20 / close):
    the move across the window in units of the usual range, scale-free.
    direction = tanh(m) * q, strength = q. Value: q.
    Positive: a compressed market drifting up (breakout expected upwards).
    Reference: Carter, Mastering the Trade (2005).
    """
    atr = x.mean(ATR_SQUEEZE)
    value = jnp.clip(1.0 - safe_div(2.0 * x.w(CLOSE_STD_20), 1.5 * atr, 1.0), 0.0, 1.0)
    momentum = jnp.tanh(safe_div(x.w(LOG_CLOSE_SLOPE_20) * x.n(20), safe_div(atr, x.w(CLOSE))))
    return output(momentum * value, value, jnp.where(atr > 0, 1.0, 0.0), value)
