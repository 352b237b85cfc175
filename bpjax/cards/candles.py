"""Candles: the shape of the bars (body, wicks, close location) read as graded pressure.

Positive direction: the candles show buyers in control (bullish bodies, lower-wick rejection,
closes near the highs). Every reading is a share of the bar's range, so it is scale-free; the
open bar is read as it forms.
"""

from __future__ import annotations

import jax.numpy as jnp

from bpjax.cards.base import CardInput, output, safe_div
from bpjax.cards.registry import card
from bpjax.features.series import OHLC
from bpjax.features.streams import Stream
from bpjax.features.windows import Window

OPEN = Window("lag", "open", 0)
HIGH = Window("lag", "high", 0)
LOW = Window("lag", "low", 0)
CLOSE = Window("lag", "close", 0)
ENGULFING = Window("lag", "candle_engulfing", 0)
LOCATION_5 = Window("sum", "candle_location", 5)
RANGE_5 = Window("sum", "candle_range", 5)
BODY_PRESSURE = Stream("candle_body_fraction", 8)


@card(
    "body_dominance",
    "candles",
    lookback=1,
    inputs=OHLC,
    windows=(OPEN, HIGH, LOW, CLOSE),
)
def body_dominance(x: CardInput):
    """Body of the open bar as a signed share of its range (marubozu = +-1, doji = 0).

    Formula: b = (close - open) / (high - low) of the open bar. direction = b,
    strength = |b|. Value: b.
    Confidence: 0 while the bar has no range.
    Positive: a bullish body that fills most of the bar's range.
    Reference: Nison, Japanese Candlestick Charting Techniques (1991).
    """
    high, low = x.w(HIGH), x.w(LOW)
    value = jnp.clip(safe_div(x.w(CLOSE) - x.w(OPEN), high - low), -1.0, 1.0)
    return output(value, jnp.abs(value), high > low, value)


@card(
    "wick_rejection",
    "candles",
    lookback=1,
    inputs=OHLC,
    windows=(OPEN, HIGH, LOW, CLOSE),
)
def wick_rejection(x: CardInput):
    """Lower against upper wick of the open bar: which side's probe was rejected.

    Formula: lower = min(open, close) - low, upper = high - max(open, close);
    w = (lower - upper) / (high - low). direction = w, strength = |w|. Value: w.
    Confidence: 0 while the bar has no range.
    Positive: a long lower wick (hammer-like: sellers pushed down and were absorbed).
    Reference: Nison, Japanese Candlestick Charting Techniques (1991).
    """
    open_, high, low, close = x.w(OPEN), x.w(HIGH), x.w(LOW), x.w(CLOSE)
    lower = jnp.minimum(open_, close) - low
    upper = high - jnp.maximum(open_, close)
    value = jnp.clip(safe_div(lower - upper, high - low), -1.0, 1.0)
    return output(value, jnp.abs(value), high > low, value)


@card(
    "engulfing_strength",
    "candles",
    lookback=2,
    inputs=OHLC,
    windows=(ENGULFING,),
)
def engulfing_strength(x: CardInput):
    """Engulfing strength: the open bar's body outgrowing the previous bar's, signed by colour.

    Formula: b = close - open of the open bar, b1 the same of the bar before;
    e = sign(b) f max(|b| - |b1|, 0) / (max(high, high1) - min(low, low1)), f = 1 when the
    colours are opposite (a true engulfing) and 1/2 when they agree (a continuation bar).
    direction = tanh(3 e), strength = |direction|. Value: e.
    Confidence: 0 when either bar is missing or the two bars have no range.
    Positive: a bullish body swallowing the previous (bearish) body.
    Reference: Nison, Japanese Candlestick Charting Techniques (1991).
    """
    value = x.w(ENGULFING)
    d = jnp.tanh(3.0 * value)
    return output(d, jnp.abs(d), x.has(ENGULFING), value)


@card(
    "body_pressure",
    "candles",
    lookback=8,
    inputs=OHLC,
    streams=(BODY_PRESSURE,),
    params={"full_scale": 0.3},
)
def body_pressure(x: CardInput):
    """Consecutive-bar pressure: the EW mean of signed body shares over recent bars.

    Formula: m = exponentially weighted mean (span 8 x mode scale, open bar folded in) of
    (close - open) / (high - low) per bar (0 for a bar without range): each bar counts by its
    conviction, not its size.
    direction = tanh(m / full_scale) (full_scale = 0.3), strength = |direction|. Value: m.
    Positive: bar after bar closes well above its open.
    """
    value = x.mean(BODY_PRESSURE)
    d = jnp.tanh(value / x.p("full_scale"))
    return output(d, jnp.abs(d), 1.0, value)


@card(
    "close_location",
    "candles",
    lookback=5,
    inputs=("high", "low", "close"),
    windows=(LOCATION_5, RANGE_5),
)
def close_location(x: CardInput):
    """Range-weighted close location value of the last five bars.

    Formula: CLV = sum((close - low) - (high - close)) / sum(high - low) over the last n = 5
    bars (x mode scale, open bar included): wide bars weigh more. direction = CLV,
    strength = |CLV|. Value: CLV in [-1, 1].
    Confidence: 0 when the bars have no range.
    Positive: the bars close near their highs.
    Reference: the close location value of Chaikin's accumulation/distribution.
    """
    total = x.w(RANGE_5)
    value = jnp.clip(safe_div(x.w(LOCATION_5), total), -1.0, 1.0)
    return output(value, jnp.abs(value), total > 0, value)
