"""Trend: is price organized into a directional trend, and which way does it point.

Positive direction: an uptrend (the trend readings expect continuation). Distances between
price levels are measured in average true ranges (ATR) so every reading is scale-free.
"""

from __future__ import annotations

import jax.numpy as jnp

from bpjax.cards.base import CardInput, log_ratio, output, safe_div
from bpjax.cards.registry import card
from bpjax.core.types import Float
from bpjax.features.price import CLOSE, EMA_FAST, EMA_SLOW
from bpjax.features.streams import Stream
from bpjax.features.windows import Window

ATR = Stream("true_range", 14, "wilder")
ATR_20 = Stream("true_range", 20, "wilder")
EMA_50 = Stream("close", 50)
EMA_200 = Stream("close", 200)
PLUS_DM = Stream("trend_plus_dm", 14, "wilder")
MINUS_DM = Stream("trend_minus_dm", 14, "wilder")
VORTEX_PLUS_14 = Window("sum", "trend_vortex_plus", 14)
VORTEX_MINUS_14 = Window("sum", "trend_vortex_minus", 14)
TRUE_RANGE_14 = Window("sum", "true_range", 14)
CLOSE_SLOPE_20 = Window("slope", "close", 20)
CLOSE_STD_20 = Window("std", "close", 20)
HIGHEST_9, LOWEST_9 = Window("max", "high", 9), Window("min", "low", 9)
HIGHEST_20, LOWEST_20 = Window("max", "high", 20), Window("min", "low", 20)
HIGHEST_26, LOWEST_26 = Window("max", "high", 26), Window("min", "low", 26)
AROON_PERIOD = 25
AROON_STEPS = (3, 6, 12)
AROON_HIGHS = tuple(Window("max", "high", n) for n in AROON_STEPS + (AROON_PERIOD,))
AROON_LOWS = tuple(Window("min", "low", n) for n in AROON_STEPS + (AROON_PERIOD,))


def in_atr(x: CardInput, difference: Float, atr: Stream = ATR):
    """A price difference in average true ranges (0 before a true range was seen)."""
    return safe_div(difference, x.mean(atr))


@card(
    "ema_ribbon",
    "trend",
    lookback=50,
    inputs=("high", "low", "close"),
    streams=(EMA_FAST, EMA_SLOW, EMA_50, ATR),
    windows=(CLOSE,),
    params={"gap_scale": 1.5},
)
def ema_ribbon(x: CardInput):
    """EMA ribbon alignment: close above EMA12 above EMA26 above EMA50, by how many ATRs.

    Formula: gaps g1 = close - EMA12, g2 = EMA12 - EMA26, g3 = EMA26 - EMA50 (EMAs of the close,
    spans x mode scale), each in Wilder ATR14; A = mean_k tanh(g_k / gap_scale), gap_scale =
    1.5 ATR. direction = A, strength = |A|. Value: A.
    Confidence: 0 before a true range was seen.
    Positive: the ribbon is stacked bullish (every shorter average above the longer one).
    """
    atr = x.mean(ATR)
    levels = (x.w(CLOSE), x.mean(EMA_FAST), x.mean(EMA_SLOW), x.mean(EMA_50))
    terms = [
        jnp.tanh(in_atr(x, a - b) / x.p("gap_scale")) for a, b in zip(levels[:-1], levels[1:], strict=True)
    ]
    value = (terms[0] + terms[1] + terms[2]) / 3.0
    return output(value, jnp.abs(value), atr > 0, value)


@card(
    "directional_movement",
    "trend",
    lookback=14,
    inputs=("high", "low"),
    streams=(PLUS_DM, MINUS_DM),
)
def directional_movement(x: CardInput):
    """Directional movement index (Wilder DMI, 14): +DI against -DI.

    Formula: +DM = high - prev high when it exceeds prev low - low and is > 0 (else 0), -DM
    the mirror; +DI / -DI = Wilder averages (alpha = 1/n, n = 14 x mode scale) of +DM / -DM over
    the Wilder ATR (which cancels in the ratio); s = (+DI - -DI) / (+DI + -DI).
    direction = s, strength = |s|. Value: DX = 100 |s| (TA-Lib DX, up to the start-up of the
    averages). ADX (a Wilder average of DX) is not computed: a stream cannot average a
    function of other streams.
    Confidence: 0 before any directional movement was seen.
    Positive: up-moves of the highs dominate down-moves of the lows.
    Reference: Wilder, New Concepts in Technical Trading Systems (1978).
    """
    plus, minus = x.mean(PLUS_DM), x.mean(MINUS_DM)
    value = safe_div(plus - minus, plus + minus)
    return output(value, jnp.abs(value), plus + minus > 0, 100.0 * jnp.abs(value))


@card(
    "vortex",
    "trend",
    lookback=15,
    inputs=("high", "low", "close"),
    windows=(VORTEX_PLUS_14, VORTEX_MINUS_14, TRUE_RANGE_14),
    params={"full_scale": 0.6},
)
def vortex(x: CardInput):
    """Vortex indicator (14): upward against downward vortex movement.

    Formula: VM+ = |high - prev low|, VM- = |low - prev high|; VI+ = sum VM+ / sum TR and
    VI- = sum VM- / sum TR over the last n = 14 bars (x mode scale), TR the true range.
    direction = tanh((VI+ - VI-) / full_scale) (full_scale = 0.6), strength = |direction|.
    Value: VI+ - VI-. Confidence: 0 when the true range sum is 0.
    Positive: highs are reaching away from prior lows more than lows from prior highs.
    Reference: Botes & Siepman, Technical Analysis of Stocks & Commodities (2010).
    """
    true_range = x.w(TRUE_RANGE_14)
    value = safe_div(x.w(VORTEX_PLUS_14) - x.w(VORTEX_MINUS_14), true_range)
    d = jnp.tanh(value / x.p("full_scale"))
    return output(d, jnp.abs(d), true_range > 0, value)


@card(
    "linear_regression_t",
    "trend",
    lookback=20,
    inputs=("close",),
    windows=(CLOSE_SLOPE_20, CLOSE_STD_20),
    params={"t_scale": 8.0, "max_r2": 0.99},
)
def linear_regression_t(x: CardInput):
    """t-statistic of the least-squares slope of the close over n bars.

    Formula: over the last n = 20 bars (x mode scale), b = slope of close on bar time and
    sd = population std of close; R2 = b^2 var(t) / sd^2 with var(t) = (n^2 - 1) / 12, clipped
    to [0, max_r2] (0.99); t = sign(b) sqrt(R2 (n - 2) / (1 - R2)).
    direction = tanh(t / t_scale) (t_scale = 8), strength = |direction|. Value: t.
    Confidence: 0 when the close did not move. (Levels of a random walk give large t:
    the reading is a trend-quality score, not a significance test.)
    Positive: closes line up on a rising straight line.
    """
    n = x.n(20)
    slope, sd = x.w(CLOSE_SLOPE_20), x.w(CLOSE_STD_20)
    r2 = jnp.clip(safe_div(slope * slope * (n * n - 1.0) / 12.0, sd * sd), 0.0, x.p("max_r2"))
    value = jnp.sign(slope) * jnp.sqrt(r2 * jnp.maximum(n - 2.0, 0.0) / (1.0 - r2))
    d = jnp.tanh(value / x.p("t_scale"))
    return output(d, jnp.abs(d), sd > 0, value)


@card(
    "ichimoku_base",
    "trend",
    lookback=26,
    inputs=("high", "low", "close"),
    streams=(ATR,),
    windows=(HIGHEST_9, LOWEST_9, HIGHEST_26, LOWEST_26, CLOSE),
    params={"full_scale": 4.0},
)
def ichimoku_base(x: CardInput):
    """Ichimoku conversion and base lines: tenkan against kijun, close against kijun.

    Formula: tenkan = (HH9 + LL9) / 2, kijun = (HH26 + LL26) / 2 over the last 9 / 26 bars
    (x mode scale, open bar included); u = ((tenkan - kijun) + (close - kijun)) / ATR14,
    ATR Wilder. direction = tanh(u / full_scale) (full_scale = 4), strength = |direction|.
    Value: u.
    The cloud (senkou B on 52 bars, shifted 26 ahead) is left out.
    Confidence: 0 before a true range was seen.
    Positive: the conversion line and price sit above the base line.
    Reference: Hosoda, Ichimoku Kinko Hyo (1969).
    """
    tenkan = 0.5 * (x.w(HIGHEST_9) + x.w(LOWEST_9))
    kijun = 0.5 * (x.w(HIGHEST_26) + x.w(LOWEST_26))
    value = in_atr(x, (tenkan - kijun) + (x.w(CLOSE) - kijun))
    d = jnp.tanh(value / x.p("full_scale"))
    return output(d, jnp.abs(d), x.mean(ATR) > 0, value)


@card(
    "aroon_oscillator",
    "trend",
    lookback=25,
    inputs=("high", "low"),
    windows=AROON_HIGHS + AROON_LOWS,
)
def aroon_oscillator(x: CardInput):
    """Aroon oscillator (25), with the bars since the extreme resolved on 3, 6 and 12 bars.

    Formula: up = share of k in {3, 6, 12} (x mode scale) whose k-bar highest high equals the
    25-bar highest high (the 25-bar high was set within the last k bars); down the same with
    lowest lows; oscillator = 100 (up - down). Deviation from TA-Lib AROONOSC: the exact count
    of bars since the extreme needs an arg-max over the window, which the window cache does not
    keep, so it is bucketed in four steps. direction = oscillator / 100, strength = |direction|.
    Value: the oscillator in points.
    Positive: the recent highs are fresh and the lows old.
    Reference: Chande, Technical Analysis of Stocks & Commodities (1995).
    """
    highest, lowest = x.w(AROON_HIGHS[-1]), x.w(AROON_LOWS[-1])
    up = sum(jnp.where(x.w(w) >= highest, 1.0, 0.0) for w in AROON_HIGHS[:-1]) / len(AROON_STEPS)
    down = sum(jnp.where(x.w(w) <= lowest, 1.0, 0.0) for w in AROON_LOWS[:-1]) / len(AROON_STEPS)
    value = up - down
    return output(value, jnp.abs(value), x.has(AROON_HIGHS[-1]), 100.0 * value)


@card(
    "golden_cross",
    "trend",
    lookback=200,
    inputs=("high", "low", "close"),
    streams=(EMA_50, EMA_200, ATR),
    windows=(CLOSE,),
    params={"gap_scale": 8.0},
)
def golden_cross(x: CardInput):
    """Golden / death cross: the 50-bar EMA against the 200-bar EMA, in ATRs.

    Formula: g = log(EMA50 / EMA200) / (ATR14 / close), EMAs of the close and Wilder ATR (spans
    x mode scale): the gap between the averages in average true ranges.
    direction = tanh(g / gap_scale) (gap_scale = 8), strength = |direction|. Value: g.
    Confidence: 0 before a true range was seen.
    Positive: the medium-term average is above the long-term one (golden cross side).
    """
    relative_atr = safe_div(x.mean(ATR), x.w(CLOSE))
    value = safe_div(log_ratio(x.mean(EMA_50), x.mean(EMA_200)), relative_atr)
    d = jnp.tanh(value / x.p("gap_scale"))
    return output(d, jnp.abs(d), relative_atr > 0, value)


@card(
    "chandelier_trend",
    "trend",
    lookback=20,
    inputs=("high", "low", "close"),
    streams=(ATR_20,),
    windows=(HIGHEST_20, LOWEST_20, CLOSE),
    params={"multiple": 3.0},
)
def chandelier_trend(x: CardInput):
    """Chandelier (SuperTrend-like) trailing stops: which side's ATR stop price has crossed.

    Formula: long stop = HH20 - m ATR20, short stop = LL20 + m ATR20 (m = 3, highest high and
    lowest low over the last 20 bars, Wilder ATR, x mode scale); up = (close - short stop) / ATR,
    down = (long stop - close) / ATR; direction = tanh(max(up, 0) / 2) - tanh(max(down, 0) / 2):
    price more than m ATRs off its low (shorts stopped out) reads up, more than m ATRs below its
    high reads down, both in a wide range and neither in a tight one.
    strength = |direction|. Value: max(up, 0) - max(down, 0) in ATRs.
    Confidence: 0 before a true range was seen.
    Positive: price has run away from its low by more than the trailing stop distance.
    Reference: LeBeau (chandelier exit); Seban (SuperTrend).
    """
    close, multiple = x.w(CLOSE), x.p("multiple")
    up = jnp.maximum(in_atr(x, close - x.w(LOWEST_20), ATR_20) - multiple, 0.0)
    down = jnp.maximum(in_atr(x, x.w(HIGHEST_20) - close, ATR_20) - multiple, 0.0)
    d = jnp.tanh(up / 2.0) - jnp.tanh(down / 2.0)
    return output(d, jnp.abs(d), x.mean(ATR_20) > 0, up - down)
