"""Price momentum: is price moving, how fast, and is the move efficient.

Positive direction: price has been rising (momentum readings expect continuation).
"""

from __future__ import annotations

import jax.numpy as jnp

from bpjax.cards.base import (
    CardInput,
    count,
    from_z,
    oscillator,
    output,
    safe_div,
    wmean,
    wstd,
)
from bpjax.cards.registry import card, cross_section_card
from bpjax.features.price import CLOSE, EMA_FAST, EMA_SLOW, PATH_10, RETURNS, close_back, move_windows, move_z
from bpjax.features.streams import Stream
from bpjax.features.windows import Window

GAIN = Stream("gain", 14, "wilder")
LOSS = Stream("loss", 14, "wilder")
SIGNAL_OF_FAST = Stream(EMA_FAST, 9)
SIGNAL_OF_SLOW = Stream(EMA_SLOW, 9)
TSI_NUMERATOR = Stream(Stream("log_return", 25), 13)
TSI_DENOMINATOR = Stream(Stream("abs_log_return", 25), 13)
TRIX_3 = Stream(Stream(Stream("close", 15), 15), 15)


@card(
    "roc",
    "price_momentum",
    lookback=10,
    inputs=("close",),
    streams=(RETURNS,),
    windows=move_windows(10),
)
def roc(x: CardInput):
    """Rate of change over n bars, normalized by return volatility.

    Formula: z = log(close / close[-n]) / (sigma * sqrt(n)), n = 10 bars (x mode scale),
    sigma = EW std of 1-bar log returns (span 50). direction = tanh(z), strength = tanh(|z|/2).
    Value: ROC in percent, 100 * (close / close[-n] - 1) (TA-Lib ROC).
    Confidence: 0 when the bar n back is missing.
    Positive: price rose over the window more than noise explains.
    """
    z, ok = move_z(x, 10)
    d, s = from_z(z)
    value = 100.0 * (safe_div(x.w(CLOSE), x.w(close_back(10)), 1.0) - 1.0)
    return output(d, s, ok, value)


@card(
    "rsi",
    "price_momentum",
    lookback=14,
    inputs=("close",),
    streams=(GAIN, LOSS),
    params={"half_range": 30.0},
)
def rsi(x: CardInput):
    """Relative strength index (Wilder, 14), read as momentum.

    Formula: RSI = 100 * G / (G + L), G and L the Wilder averages (alpha = 1/n) of close-to-close
    gains and losses, n = 14 bars (x mode scale); the open bar is folded in provisionally.
    direction = clip((RSI - 50) / half_range, -1, 1), strength = |direction| (half_range = 30).
    Value: RSI in points (TA-Lib RSI). Confidence: 0 before any price change was seen.
    Positive: gains have dominated losses.
    Reference: Wilder, New Concepts in Technical Trading Systems (1978).
    """
    gain, loss = x.mean(GAIN), x.mean(LOSS)
    total = gain + loss
    value = jnp.where(total > 0, 100.0 * safe_div(gain, total), 50.0)
    d, s = oscillator(value, 50.0, x.p("half_range"))
    return output(d, s, total > 0, value)


@card(
    "macd",
    "price_momentum",
    lookback=35,
    inputs=("close",),
    streams=(EMA_FAST, EMA_SLOW, SIGNAL_OF_FAST, SIGNAL_OF_SLOW, RETURNS),
    windows=(CLOSE,),
)
def macd(x: CardInput):
    """MACD histogram (12, 26, 9), normalized by volatility.

    Formula: line = EMA12(close) - EMA26(close); signal = EMA9(line), computed as
    EMA9(EMA12) - EMA9(EMA26) (EMA is linear); histogram = line - signal.
    z = histogram / (close * sigma), sigma = EW std of 1-bar log returns (span 50).
    direction = tanh(z), strength = tanh(|z|/2). Spans scale with the mode.
    Value: histogram in price units (TA-Lib MACDEXT with EMA averages).
    Positive: the fast average is pulling away upwards from its own trend.
    Reference: Appel, Technical Analysis: Power Tools for Active Investors (2005).
    """
    line = x.mean(EMA_FAST) - x.mean(EMA_SLOW)
    signal = x.mean(SIGNAL_OF_FAST) - x.mean(SIGNAL_OF_SLOW)
    histogram = line - signal
    d, s = from_z(safe_div(histogram, x.w(CLOSE) * x.std(RETURNS)))
    return output(d, s, 1.0, histogram)


HIGHEST_14 = Window("max", "high", 14)
LOWEST_14 = Window("min", "low", 14)


@card(
    "stochastic",
    "price_momentum",
    lookback=14,
    inputs=("high", "low", "close"),
    windows=(HIGHEST_14, LOWEST_14, CLOSE),
)
def stochastic(x: CardInput):
    """Fast stochastic %K (14): where the close sits in the recent high-low range.

    Formula: %K = 100 * (close - LL) / (HH - LL), HH/LL the highest high and lowest low of the
    last n = 14 bars (x mode scale) including the open bar. direction = (%K - 50) / 50,
    strength = |direction|. Value: %K (TA-Lib STOCHF fastk).
    Confidence: 0 when the range is empty (HH = LL).
    Positive: closing near the top of the range.
    Reference: Lane, "Lane's Stochastics" (1984).
    """
    highest, lowest = x.w(HIGHEST_14), x.w(LOWEST_14)
    span = highest - lowest
    value = jnp.where(span > 0, 100.0 * safe_div(x.w(CLOSE) - lowest, span), 50.0)
    d, s = oscillator(value, 50.0, 50.0)
    return output(d, s, span > 0, value)


TYPICAL_MEAN_20 = Window("mean", "typical_price", 20)
TYPICAL_MAD_20 = Window("mad", "typical_price", 20)
TYPICAL = Window("lag", "typical_price", 0)


@card(
    "cci",
    "price_momentum",
    lookback=20,
    inputs=("high", "low", "close"),
    windows=(TYPICAL_MEAN_20, TYPICAL_MAD_20, TYPICAL),
)
def cci(x: CardInput):
    """Commodity channel index (20): typical price against its mean, in mean deviations.

    Formula: TP = (high + low + close) / 3; CCI = (TP - SMA_n(TP)) / (0.015 * MD_n(TP)),
    MD the mean absolute deviation from the SMA over n = 20 bars (x mode scale).
    direction = tanh(CCI / 100), strength = tanh(|CCI| / 200). Value: CCI (TA-Lib CCI).
    Confidence: 0 when the typical price did not move (MD = 0).
    Positive: price is above its recent average by more than its usual deviation.
    Reference: Lambert, Commodities (1980).
    """
    deviation = x.w(TYPICAL_MAD_20)
    value = safe_div(x.w(TYPICAL) - x.w(TYPICAL_MEAN_20), 0.015 * deviation)
    d, s = from_z(value / 100.0)
    return output(d, s, deviation > 0, value)


@card(
    "tsi",
    "price_momentum",
    lookback=38,
    inputs=("close",),
    streams=(TSI_NUMERATOR, TSI_DENOMINATOR),
    params={"full_scale": 40.0},
)
def tsi(x: CardInput):
    """True strength index (25, 13): double-smoothed momentum over double-smoothed |momentum|.

    Formula: TSI = 100 * EMA13(EMA25(r)) / EMA13(EMA25(|r|)), r the 1-bar log return
    (scale-free form of Blau's price change). direction = tanh(TSI / full_scale)
    (full_scale = 40), strength = |direction|. Value: TSI in points.
    Positive: smoothed returns are persistently positive.
    Reference: Blau, Momentum, Direction, and Divergence (1995).
    """
    denominator = x.mean(TSI_DENOMINATOR)
    value = 100.0 * safe_div(x.mean(TSI_NUMERATOR), denominator)
    d = jnp.tanh(value / x.p("full_scale"))
    return output(d, jnp.abs(d), denominator > 0, value)


@card("trix", "price_momentum", lookback=45, inputs=("close",), streams=(TRIX_3, RETURNS))
def trix(x: CardInput):
    """TRIX (15): one-bar rate of change of a triple-smoothed EMA of the close.

    Formula: E3 = EMA15(EMA15(EMA15(close))); TRIX = 100 * (E3 / E3[-1] - 1), E3[-1] the value at
    the last closed bar. For a random walk with bar volatility sigma, the change of a
    triple EMA has std ~ sigma * sqrt(3 * alpha / 16) (gamma-kernel approximation), so
    z = (TRIX / 100) / (sigma * sqrt(3 * alpha / 16)), alpha = 2 / (15 * scale + 1).
    direction = tanh(z), strength = tanh(|z|/2). Value: TRIX (TA-Lib TRIX).
    Positive: the smoothed trend is rising.
    Reference: Hutson, Technical Analysis of Stocks & Commodities (1983).
    """
    previous = x.prev_mean(TRIX_3)
    value = 100.0 * (safe_div(x.mean(TRIX_3), previous, 1.0) - 1.0)
    alpha = TRIX_3.alpha(x.scale)
    d, s = from_z(safe_div(value / 100.0, x.std(RETURNS) * jnp.sqrt(3.0 * alpha / 16.0)))
    return output(d, s, previous > 0, value)


ULTIMATE_PERIODS = (7, 14, 28)
PRESSURE_SUMS = tuple(Window("sum", "buying_pressure", n) for n in ULTIMATE_PERIODS)
RANGE_SUMS = tuple(Window("sum", "true_range", n) for n in ULTIMATE_PERIODS)


@card(
    "ultimate_oscillator",
    "price_momentum",
    lookback=29,
    inputs=("high", "low", "close"),
    windows=PRESSURE_SUMS + RANGE_SUMS,
    params={"half_range": 20.0},
)
def ultimate_oscillator(x: CardInput):
    """Ultimate oscillator (7, 14, 28): buying pressure over true range on three horizons.

    Formula: BP = close - min(low, prev close); TR = max(high, prev close) - min(low, prev close);
    A_k = sum_k BP / sum_k TR over the last k bars; UO = 100 * (4 A_7 + 2 A_14 + A_28) / 7, with
    7/14/28 scaled by the mode. direction = clip((UO - 50) / half_range, -1, 1) (half_range = 20),
    strength = |direction|. Value: UO (TA-Lib ULTOSC).
    Positive: closes sit high in their true ranges across horizons.
    Reference: Williams, Technical Analysis of Stocks & Commodities (1985).
    """
    averages = [
        safe_div(x.w(pressure), x.w(true_range), 0.5)
        for pressure, true_range in zip(PRESSURE_SUMS, RANGE_SUMS, strict=True)
    ]
    value = 100.0 * (4.0 * averages[0] + 2.0 * averages[1] + averages[2]) / 7.0
    d, s = oscillator(value, 50.0, x.p("half_range"))
    return output(d, s, x.w(RANGE_SUMS[0]) > 0, value)


@card(
    "efficiency_ratio",
    "price_momentum",
    lookback=10,
    inputs=("close",),
    windows=(PATH_10,) + move_windows(10),
)
def efficiency_ratio(x: CardInput):
    """Kaufman efficiency ratio (10), signed: net move over the path travelled.

    Formula: ER = (close - close[-n]) / sum_{last n bars} |close - prev close|, n = 10 bars
    (x mode scale), in [-1, 1]. direction = ER, strength = |ER|. Value: ER.
    Confidence: 0 when price did not move.
    Positive: price went up in a straight line (1 = every bar up).
    Reference: Kaufman, Smarter Trading (1995).
    """
    path = x.w(PATH_10)
    value = jnp.clip(safe_div(x.w(CLOSE) - x.w(close_back(10)), path), -1.0, 1.0)
    return output(value, jnp.abs(value), (path > 0) & x.has(close_back(10)), value)


@cross_section_card(
    "cross_sectional_momentum",
    "price_momentum",
    lookback=20,
    inputs=("close",),
    streams=(RETURNS,),
    windows=move_windows(20),
)
def cross_sectional_momentum(x: CardInput):
    """Cross-sectional momentum: a symbol's volatility-normalized move against the universe.

    Formula: z_i = log(close_i / close_i[-n]) / (sigma_i * sqrt(n)), n = 20 bars (x mode scale);
    u_i = (z_i - mean(z)) / std(z) over the symbols with data. direction = tanh(u),
    strength = tanh(|u|/2). Value: u.
    Confidence: 0 for a symbol without data, and ramps with the number of symbols (full at 5).
    Positive: the symbol outperforms the universe on a risk-adjusted basis.
    Reference: Jegadeesh & Titman (1993); Moskowitz, Ooi & Pedersen (2012).
    """
    z, ok = move_z(x, 20)
    value = jnp.where(ok, safe_div(z - wmean(z, ok), wstd(z, ok)), 0.0)
    d, s = from_z(value)
    breadth = jnp.clip((count(ok) - 1.0) / 4.0, 0.0, 1.0)
    return output(d, s, jnp.where(ok, breadth, 0.0), value)
