"""Mean reversion: how far price is stretched from a reference level, read contrarian.

Positive direction: price is stretched DOWN (or exhausted on the downside) and expected to
revert up; a stretch up reads negative. Distances are scale-free (ATRs, standard deviations,
shares of a range).
"""

from __future__ import annotations

import jax.numpy as jnp

from bpjax.cards.base import CardInput, from_z, oscillator, output, safe_div, safe_log
from bpjax.cards.registry import card
from bpjax.features.price import CLOSE, RETURNS
from bpjax.features.streams import Stream
from bpjax.features.windows import Window

EMA_50 = Stream("close", 50)
LOG_EMA_100 = Stream("log_close", 100)
RELATIVE_ATR = Stream("true_range_rel", 14, "wilder")
GAIN_2 = Stream("gain", 2, "wilder")
LOSS_2 = Stream("loss", 2, "wilder")
CLOSE_MEAN_20 = Window("mean", "close", 20)
CLOSE_STD_20 = Window("std", "close", 20)
HIGHEST_5, LOWEST_5 = Window("max", "high", 5), Window("min", "low", 5)
PRIOR_HIGH_20 = Window("max", "high", 20, offset=1)
PRIOR_LOW_20 = Window("min", "low", 20, offset=1)
PREV_CLOSE = Window("lag", "mr_prev_close", 0)
PREV_IBS = Window("lag", "mr_prev_ibs", 0)


@card(
    "ema_deviation_z",
    "mean_reversion",
    lookback=50,
    inputs=("close",),
    streams=(EMA_50,),
    windows=(CLOSE,),
)
def ema_deviation_z(x: CardInput):
    """z-score of the close against its 50-bar EMA, read contrarian.

    Formula: z = (close - m) / sd, m and sd the exponentially weighted mean and standard
    deviation of the close (span 50 x mode scale, the open bar folded in).
    direction = -tanh(z), strength = tanh(|z|/2). Value: z.
    Positive: price is unusually far below its average.
    """
    sd = x.std(EMA_50)
    value = safe_div(x.w(CLOSE) - x.mean(EMA_50), sd)
    d, s = from_z(-value)
    return output(d, s, 1.0, value)


@card(
    "rsi2_exhaustion",
    "mean_reversion",
    lookback=2,
    inputs=("close",),
    streams=(GAIN_2, LOSS_2),
    params={"half_range": 40.0},
)
def rsi2_exhaustion(x: CardInput):
    """Connors RSI(2): two-bar relative strength, read as short-term exhaustion.

    Formula: RSI2 = 100 G / (G + L), G and L the Wilder averages (alpha = 1/n, n = 2 x mode
    scale) of close-to-close gains and losses. direction = -clip((RSI2 - 50) / half_range, -1, 1)
    (half_range = 40: full below 10 and above 90), strength = |direction|. Value: RSI2.
    Confidence: 0 before any price change was seen.
    Positive: the last bars fell almost without an up-close (oversold).
    Reference: Connors & Alvarez, Short Term Trading Strategies That Work (2008).
    """
    gain, loss = x.mean(GAIN_2), x.mean(LOSS_2)
    total = gain + loss
    value = jnp.where(total > 0, 100.0 * safe_div(gain, total), 50.0)
    d, s = oscillator(value, 50.0, x.p("half_range"))
    return output(-d, s, total > 0, value)


@card(
    "bollinger_pierce",
    "mean_reversion",
    lookback=20,
    inputs=("high", "low", "close"),
    windows=(CLOSE_MEAN_20, CLOSE_STD_20, HIGHEST_5, LOWEST_5),
    params={"width": 2.0},
)
def bollinger_pierce(x: CardInput):
    """Recent extremes piercing the Bollinger bands: overshoot to fade.

    Formula: middle = SMA20(close), sd = population std of close over 20 bars, bands = middle
    +/- width sd (width = 2); over the last 5 bars (x mode scale), up = max(HH5 - upper, 0) / sd,
    down = max(lower - LL5, 0) / sd. direction = tanh(down - up), strength = |direction|.
    Value: (HH5 - middle) / sd + (LL5 - middle) / sd, where the recent extremes lean.
    Confidence: 0 when the bands have no width.
    Positive: recent lows pierced the lower band by more than recent highs the upper one.
    Reference: Bollinger, Bollinger on Bollinger Bands (2001).
    """
    middle, sd = x.w(CLOSE_MEAN_20), x.w(CLOSE_STD_20)
    half = x.p("width") * sd
    high, low = x.w(HIGHEST_5) - middle, x.w(LOWEST_5) - middle
    up = safe_div(jnp.maximum(high - half, 0.0), sd)
    down = safe_div(jnp.maximum(-half - low, 0.0), sd)
    d = jnp.tanh(down - up)
    return output(d, jnp.abs(d), sd > 0, safe_div(high + low, sd))


@card(
    "atr_stretch",
    "mean_reversion",
    lookback=100,
    inputs=("high", "low", "close"),
    streams=(LOG_EMA_100, RELATIVE_ATR),
    windows=(CLOSE,),
    params={"threshold": 5.0},
)
def atr_stretch(x: CardInput):
    """Distance of the close from its 100-bar EMA in ATRs, faded beyond a threshold.

    Formula: k = (log close - EMA100(log close)) / ATR%14, ATR%14 the Wilder average of true
    range / close (spans x mode scale): the distance from the geometric EMA in average true
    ranges; e = sign(k) max(|k| - threshold, 0), threshold = 5 ATRs.
    direction = -tanh(e / threshold), strength = |direction|. Value: k.
    Confidence: 0 before a true range was seen.
    Positive: price more than five ranges below its long average (stretched down).
    """
    close = x.w(CLOSE)
    relative_atr = x.mean(RELATIVE_ATR)
    value = safe_div(jnp.where(close > 0, safe_log(close) - x.mean(LOG_EMA_100), 0.0), relative_atr)
    excess = jnp.sign(value) * jnp.maximum(jnp.abs(value) - x.p("threshold"), 0.0)
    d = -jnp.tanh(excess / x.p("threshold"))
    return output(d, jnp.abs(d), relative_atr > 0, value)


@card(
    "variance_ratio_reversion",
    "mean_reversion",
    lookback=20,
    inputs=("close",),
    streams=(RETURNS,),
    windows=(CLOSE_MEAN_20, CLOSE_STD_20, CLOSE),
)
def variance_ratio_reversion(x: CardInput):
    """Deviation from the 20-bar mean, faded when the window wanders less than a random walk.

    Formula: over n = 20 bars (x mode scale), sd/m = population std / mean of close;
    VR = (sd / m)^2 / (sigma^2 (n^2 - 1) / (6 n)), sigma = EW std of 1-bar log returns (span 50):
    the within-window variance of a random walk's levels is sigma^2 (n^2 - 1) / (6 n), so VR < 1
    means anti-persistent (range-bound) prices. z = (close - m) / sd.
    direction = -tanh(z) clip(1 - VR, 0, 1), strength = |direction|. Value: VR.
    Confidence: 0 without price variance.
    Positive: price below its mean in a market that has been reverting.
    Reference: Lo & MacKinlay, variance ratio test (1988).
    """
    n = x.n(20)
    mean, sd = x.w(CLOSE_MEAN_20), x.w(CLOSE_STD_20)
    sigma = x.std(RETURNS)
    relative = safe_div(sd, mean)
    value = safe_div(relative * relative, sigma * sigma * (n * n - 1.0) / (6.0 * n))
    weight = jnp.clip(1.0 - value, 0.0, 1.0)
    d = -jnp.tanh(safe_div(x.w(CLOSE) - mean, sd)) * weight
    return output(d, jnp.abs(d), (sd > 0) & (sigma > 0), value)


@card(
    "pivot_reversion",
    "mean_reversion",
    lookback=21,
    inputs=("high", "low", "close"),
    windows=(PRIOR_HIGH_20, PRIOR_LOW_20, PREV_CLOSE, CLOSE),
)
def pivot_reversion(x: CardInput):
    """Floor-trader pivots of the prior 20 bars: close between the pivot and R1 / S1, faded.

    Formula: H, L = highest high / lowest low of the 20 bars before the open bar (x mode scale),
    C = the last closed close; P = (H + L + C) / 3, R1 = 2P - L, S1 = 2P - H.
    u = (close - P) / (R1 - P) above the pivot, (close - P) / (P - S1) below it (+-1 at R1 / S1).
    direction = -clip(u, -1, 1), strength = |direction|. Value: u.
    Confidence: 0 when the prior range has no width or the last close is missing.
    Positive: price trades down towards S1 (support expected to hold).
    Reference: classic floor pivots (e.g. Person, A Complete Guide to Technical Trading Tactics, 2004).
    """
    high, low, last = x.w(PRIOR_HIGH_20), x.w(PRIOR_LOW_20), x.w(PREV_CLOSE)
    pivot = (high + low + last) / 3.0
    deviation = x.w(CLOSE) - pivot
    value = jnp.where(deviation >= 0.0, safe_div(deviation, pivot - low), safe_div(deviation, high - pivot))
    d, s = oscillator(-value, 0.0, 1.0)
    return output(d, s, (high > low) & x.has(PREV_CLOSE), value)


@card(
    "internal_bar_strength",
    "mean_reversion",
    lookback=2,
    inputs=("high", "low", "close"),
    windows=(PREV_IBS,),
)
def internal_bar_strength(x: CardInput):
    """Internal bar strength of the last closed bar, read contrarian.

    Formula: IBS = (close - low) / (high - low) of the last closed bar.
    direction = 1 - 2 IBS, strength = |direction|. Value: IBS.
    Confidence: 0 when that bar is missing or had no range.
    Positive: the last bar closed near its low (short-term oversold).
    Reference: Pagonidis, "The IBS effect: mean reversion in equity ETFs" (NAAIM, 2013).
    """
    value = x.w(PREV_IBS)
    ok = x.has(PREV_IBS)
    d = jnp.where(ok, 1.0 - 2.0 * value, 0.0)
    return output(d, jnp.abs(d), ok, value)
