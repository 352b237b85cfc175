"""Market structure: swing highs and lows, breaks of structure, ranges and where price sits in them.

Read from windowed extremes and slopes of the bar highs and lows (price action, no
indicators). Positive direction: the structure points up (higher highs and higher lows,
a break above the prior range, a failed break below it).
"""

from __future__ import annotations

import jax.numpy as jnp

from bpjax.cards.base import CardInput, output, safe_div
from bpjax.cards.registry import card
from bpjax.features.price import CLOSE
from bpjax.features.streams import Stream
from bpjax.features.windows import Window

HLC = ("high", "low", "close")
ATR = Stream("true_range", 14, "wilder")
HIGH = Window("lag", "high", 0)
LOW = Window("lag", "low", 0)
HIGHEST_10 = Window("max", "high", 10)
LOWEST_10 = Window("min", "low", 10)
HIGHEST_50 = Window("max", "high", 50)
LOWEST_50 = Window("min", "low", 50)
PRIOR_HIGH_10 = Window("max", "high", 10, offset=1)
PRIOR_LOW_10 = Window("min", "low", 10, offset=1)
HIGH_SLOPE_10 = Window("slope", "high", 10)
LOW_SLOPE_10 = Window("slope", "low", 10)


BAR_EXTENSION_10 = Window("mean", "structure_bar_extension", 10)


@card(
    "swing_structure",
    "market_structure",
    lookback=10,
    inputs=HLC,
    streams=(ATR,),
    windows=(HIGH_SLOPE_10, LOW_SLOPE_10),
    params={"full_scale": 4.0},
)
def swing_structure(x: CardInput):
    """Higher highs and higher lows: the highs and the lows trending the same way.

    Formula: a, b = least-squares slopes of the bar highs and of the bar lows over n = 10 bars
    (x mode scale), times n, over ATR14 (Wilder): how far highs and lows travelled across the
    window in average true ranges. g = sign(a + b) * sqrt(max(a * b, 0)): their geometric mean
    when they agree (higher highs and higher lows, or lower highs and lower lows), 0 when they
    diverge (an expanding or contracting triangle). direction = tanh(g / full_scale)
    (full_scale = 4 ATR), strength = |direction|. Value: g (0 while the ATR is 0: no structure).
    Positive: highs and lows both stepping up.
    """
    atr = x.mean(ATR)
    n = x.n(10)
    a = safe_div(x.w(HIGH_SLOPE_10) * n, atr)
    b = safe_div(x.w(LOW_SLOPE_10) * n, atr)
    value = jnp.sign(a + b) * jnp.sqrt(jnp.maximum(a * b, 0.0))
    d = jnp.tanh(value / x.p("full_scale"))
    return output(d, jnp.abs(d), 1.0, value)


@card(
    "break_of_structure",
    "market_structure",
    lookback=11,
    inputs=HLC,
    streams=(ATR,),
    windows=(PRIOR_HIGH_10, PRIOR_LOW_10, CLOSE),
    params={"gain": 2.0},
)
def break_of_structure(x: CardInput):
    """Break of structure: the close beyond the prior swing high or low, in average true ranges.

    Formula: PH/PL = highest high / lowest low of the n = 10 bars before the open bar (x mode
    scale); b = (max(close - PH, 0) - max(PL - close, 0)) / ATR14 (Wilder): 0 inside the prior
    range, the depth of the break outside it. direction = tanh(gain * b) (gain = 2),
    strength = |direction|. Value: b.
    Confidence: 0 without prior bars (b = 0 while the ATR is 0).
    Positive: price closed above the prior swing high (bullish break of structure).
    Reference: the smart-money-concepts "BOS" (break of structure) reading.
    """
    atr = x.mean(ATR)
    close, high, low = x.w(CLOSE), x.w(PRIOR_HIGH_10), x.w(PRIOR_LOW_10)
    value = safe_div(jnp.maximum(close - high, 0.0) - jnp.maximum(low - close, 0.0), atr)
    d = jnp.tanh(x.p("gain") * value)
    return output(d, jnp.abs(d), x.has(PRIOR_HIGH_10), value)


@card(
    "range_compression",
    "market_structure",
    lookback=50,
    inputs=HLC,
    windows=(HIGHEST_10, LOWEST_10, HIGHEST_50, LOWEST_50, CLOSE),
)
def range_compression(x: CardInput):
    """A tight recent range inside the larger one, signed by where price sits in it (coil).

    Formula: R10, R50 = highest high - lowest low over the last 10 and 50 bars (x mode scale);
    q = clip(1 - (R10 / R50) / sqrt(n10 / n50), 0, 1): > 0 when the recent range is tighter
    than a random walk's sqrt-of-time range would be. p = 2 (close - LL10) / R10 - 1, the
    position in the recent range. direction = p * q, strength = |direction|. Value: q.
    Positive: a compressed range with price pressing its top (breakout expected upwards).
    """
    high10, low10 = x.w(HIGHEST_10), x.w(LOWEST_10)
    range10, range50 = high10 - low10, x.w(HIGHEST_50) - x.w(LOWEST_50)
    expected = jnp.sqrt(x.n(10) / x.n(50))
    value = jnp.clip(1.0 - safe_div(safe_div(range10, range50, 1.0), expected), 0.0, 1.0)
    position = 2.0 * safe_div(x.w(CLOSE) - low10, range10, 0.5) - 1.0
    d = jnp.clip(position, -1.0, 1.0) * value
    return output(d, jnp.abs(d), 1.0, value)


@card(
    "swing_failure",
    "market_structure",
    lookback=11,
    inputs=HLC,
    streams=(ATR,),
    windows=(PRIOR_HIGH_10, PRIOR_LOW_10, HIGH, LOW, CLOSE),
    params={"gain": 3.0},
)
def swing_failure(x: CardInput):
    """Swing failure: the open bar takes out the prior swing extreme, then closes back inside.

    Formula: PH/PL = highest high / lowest low of the n = 10 bars before the open bar (x mode
    scale); up = min(max(high - PH, 0), max(PH - close, 0)) / ATR14: the sweep above PH that
    closed back below it (the smaller of the overshoot and the reclaim); down =
    min(max(PL - low, 0), max(close - PL, 0)) / ATR14 the same below PL. v = down - up.
    direction = tanh(gain * v) (gain = 3), strength = |direction|. Value: v.
    Confidence: 0 without prior bars (v = 0 while the ATR is 0).
    Positive: a sweep of the prior low rejected back into the range (bullish swing failure).
    Reference: the "swing failure pattern" (SFP) of liquidity-sweep price action.
    """
    atr = x.mean(ATR)
    prior_high, prior_low, close = x.w(PRIOR_HIGH_10), x.w(PRIOR_LOW_10), x.w(CLOSE)
    up = jnp.minimum(jnp.maximum(x.w(HIGH) - prior_high, 0.0), jnp.maximum(prior_high - close, 0.0))
    down = jnp.minimum(jnp.maximum(prior_low - x.w(LOW), 0.0), jnp.maximum(close - prior_low, 0.0))
    value = safe_div(down - up, atr)
    d = jnp.tanh(x.p("gain") * value)
    return output(d, jnp.abs(d), x.has(PRIOR_HIGH_10), value)


@card(
    "range_mid_shift",
    "market_structure",
    lookback=50,
    inputs=("high", "low"),
    windows=(HIGHEST_10, LOWEST_10, HIGHEST_50, LOWEST_50),
)
def range_mid_shift(x: CardInput):
    """Where the recent range is centred within the larger range: the structure migrating.

    Formula: mid_k = (highest high + lowest low) / 2 over the last k bars (x mode scale);
    m = (mid10 - mid50) / ((HH50 - LL50) / 2), in [-1, 1]: the distance of the recent range's
    midpoint from the prior (larger) range's equilibrium, in half-ranges.
    direction = m, strength = |m|. Value: m.
    Confidence: 0 without bars (m = 0 when the larger range has no width).
    Positive: the last bars trade in the upper half of the larger range (value migrating up).
    """
    high50, low50 = x.w(HIGHEST_50), x.w(LOWEST_50)
    shift = (x.w(HIGHEST_10) - high50) + (x.w(LOWEST_10) - low50)
    value = jnp.clip(safe_div(shift, high50 - low50), -1.0, 1.0)
    return output(value, jnp.abs(value), x.has(HIGHEST_50), value)


@card(
    "bar_extension_balance",
    "market_structure",
    lookback=10,
    inputs=("high", "low"),
    windows=(BAR_EXTENSION_10,),
    params={"gain": 3.0},
)
def bar_extension_balance(x: CardInput):
    """Inside and outside bars over a window: which side each bar extends the prior bar to.

    Formula: per bar e = (max(high - prev high, 0) - max(prev low - low, 0)) / (high - low):
    +1 a bar entirely made of new highs, -1 of new lows, 0 an inside bar, an outside bar the
    balance of its two extensions. E = mean of e over n = 10 bars (x mode scale).
    direction = tanh(gain * E) (gain = 3), strength = |direction|. Value: E.
    Confidence: 0 when no bar in the window had a range.
    Positive: bars keep extending upwards (higher highs without lower lows).
    """
    value = x.w(BAR_EXTENSION_10)
    d = jnp.tanh(x.p("gain") * value)
    return output(d, jnp.abs(d), x.has(BAR_EXTENSION_10), value)
