"""Volume profile: where volume traded in price, approximated over bars.

The snapshot carries no volume per price level, so the profile is built from bars: each bar
puts its volume at its typical price TP = (high + low + close) / 3. From windowed sums of
volume, volume x TP, volume^2 and volume^2 x TP the cards get a volume-weighted centre
(value-area centre), a heavy-bar centre weighted by volume^2 (a soft mode: the point of
control proxy) and how concentrated volume is across bars; the value-area width is the
(time-weighted) standard deviation of TP over the same bars, since a volume-weighted
second moment of price levels cannot be kept precise in float32 sums. Positive direction:
price is accepted above where volume traded, or volume sits below price as support.
"""

from __future__ import annotations

import jax.numpy as jnp

from bpjax.cards.base import CardInput, from_z, output, safe_div
from bpjax.cards.registry import card
from bpjax.features.price import CLOSE, RETURNS, move_windows, move_z
from bpjax.features.windows import Window

HLCV = ("high", "low", "close", "volume")


VOLUME_50 = Window("sum", "volume", 50)
VOLUME_TYPICAL_50 = Window("sum", "profile_volume_typical", 50)
SQUARE_50 = Window("sum", "profile_volume_square", 50)
SQUARE_COUNT_50 = Window("count", "profile_volume_square", 50)
SQUARE_TYPICAL_50 = Window("sum", "profile_volume_square_typical", 50)
TYPICAL_MEAN_50 = Window("mean", "typical_price", 50)
TYPICAL_STD_50 = Window("std", "typical_price", 50)
VOLUME_24 = Window("sum", "volume", 24)
VOLUME_TYPICAL_24 = Window("sum", "profile_volume_typical", 24)
TYPICAL_STD_24 = Window("std", "typical_price", 24)
VOLUME_MEAN_5 = Window("mean", "volume", 5)
VOLUME_MEAN_50 = Window("mean", "volume", 50)


def point_of_control(x: CardInput):
    """The heavy-bar centre sum(v^2 TP) / sum(v^2) over 50 bars and the TP std over the same
    bars. Cards using it declare SQUARE_50, SQUARE_TYPICAL_50 and TYPICAL_STD_50."""
    return safe_div(x.w(SQUARE_TYPICAL_50), x.w(SQUARE_50)), x.w(TYPICAL_STD_50)


@card(
    "poc_distance",
    "volume_profile",
    lookback=50,
    inputs=HLCV,
    windows=(SQUARE_50, SQUARE_TYPICAL_50, TYPICAL_STD_50, CLOSE),
)
def poc_distance(x: CardInput):
    """Distance of the close from the point of control proxy, in value-area widths.

    Formula: POC = sum(v^2 TP) / sum(v^2) over n = 50 bars (x mode scale), v the bar volume and
    TP = (high + low + close) / 3: the volume-squared weighting leans the centre towards the
    heaviest bars (a soft mode of the bar profile). sd = std of TP over the same bars.
    z = (close - POC) / sd. direction = tanh(z), strength = tanh(|z|/2). Value: z.
    Confidence: 0 when the profile has no width or no volume.
    Positive: price accepted above the price where most volume traded (buyers in control).
    Reference: Steidlmayer, Market Profile (CBOT, 1984), point of control.
    """
    poc, sd = point_of_control(x)
    value = safe_div(x.w(CLOSE) - poc, sd)
    d, s = from_z(value)
    return output(d, s, (sd > 0) & (x.w(SQUARE_50) > 0), value)


@card(
    "value_area_position",
    "volume_profile",
    lookback=24,
    inputs=HLCV,
    windows=(VOLUME_24, VOLUME_TYPICAL_24, TYPICAL_STD_24, CLOSE),
    params={"width": 1.0},
)
def value_area_position(x: CardInput):
    """Inside the value area price rotates back to its centre; outside it, it is accepted away.

    Formula: centre = sum(v TP) / sum(v) over n = 24 bars (x mode scale), the volume-weighted
    typical price; value area = centre +/- width * sd (width = 1), sd the std of TP over the
    same bars. u = (close - centre) / (width * sd). direction = clip(u * (|u| - 1), -1, 1):
    inside the value area a mild pull back to the centre (most negative, -1/4, half way to an
    edge), 0 on the edges, outside a growing reading away from value. strength = |direction|.
    Value: u.
    Confidence: 0 when the profile has no width or no volume.
    Positive: price above the value area (accepted higher), or inside it below the centre.
    Reference: Dalton, Mind over Markets (1990), value area acceptance and rotation.
    """
    volume, sd = x.w(VOLUME_24), x.w(TYPICAL_STD_24)
    centre = safe_div(x.w(VOLUME_TYPICAL_24), volume)
    value = safe_div(x.w(CLOSE) - centre, x.p("width") * sd)
    d = jnp.clip(value * (jnp.abs(value) - 1.0), -1.0, 1.0)
    return output(d, jnp.abs(d), (sd > 0) & (volume > 0), value)


@card(
    "high_volume_node",
    "volume_profile",
    lookback=50,
    inputs=HLCV,
    windows=(SQUARE_50, SQUARE_COUNT_50, SQUARE_TYPICAL_50, VOLUME_50, TYPICAL_STD_50, CLOSE),
    params={"gain": 2.0, "concentration_scale": 0.2},
)
def high_volume_node(x: CardInput):
    """A concentrated high-volume node near price: support just above it, resistance just below.

    Formula: node = sum(v^2 TP) / sum(v^2) over n = 50 bars (x mode scale, see poc_distance),
    sd = std of TP; y = (close - node) / sd. Concentration c = 1 - (sum v)^2 / (k sum v^2),
    k the bars with data: 0 when every bar traded the same volume, towards 1 when a few bars
    hold it all. direction = tanh(gain * y) * exp(-y^2 / 2) * tanh(c / concentration_scale)
    (gain = 2, concentration_scale = 0.2): strongest a little above or below a heavy node,
    fading far from it. strength = |direction|. Value: y.
    Confidence: 0 when the profile has no width or no volume.
    Positive: price just above a heavy volume node (the node below acts as support).
    """
    node, sd = point_of_control(x)
    square, volume = x.w(SQUARE_50), x.w(VOLUME_50)
    concentration = jnp.clip(1.0 - safe_div(volume * volume, x.w(SQUARE_COUNT_50) * square, 1.0), 0.0, 1.0)
    value = safe_div(x.w(CLOSE) - node, sd)
    weight = jnp.exp(-0.5 * value * value) * jnp.tanh(concentration / x.p("concentration_scale"))
    d = jnp.tanh(x.p("gain") * value) * weight
    return output(d, jnp.abs(d), (sd > 0) & (square > 0), value)


@card(
    "low_volume_node",
    "volume_profile",
    lookback=50,
    inputs=("close", "volume"),
    streams=(RETURNS,),
    windows=(VOLUME_MEAN_5, VOLUME_MEAN_50) + move_windows(5),
)
def low_volume_node(x: CardInput):
    """Price moving through a thin part of the profile: little volume traded where it is now.

    Formula: the last bars trade at the current price, so their volume stands for the profile
    at price: r = mean volume of the last 5 bars / mean volume of the last 50 (x mode scale);
    thin = clip(1 - r, 0, 1) (> 0 in a low-volume node). z = vol-normalized price move over
    5 bars (see roc). direction = tanh(z) * thin: price travels fast through a low-volume
    node in the direction it entered it. strength = |direction|. Value: r.
    Confidence: 0 without volume or the close 5 bars back.
    Positive: price rising into a thin, low-volume area (little supply to stop it).
    """
    usual = x.w(VOLUME_MEAN_50)
    value = safe_div(x.w(VOLUME_MEAN_5), usual, 1.0)
    thin = jnp.clip(1.0 - value, 0.0, 1.0)
    z, ok = move_z(x, 5)
    d = jnp.tanh(z) * thin
    return output(d, jnp.abs(d), ok & (usual > 0), value)


@card(
    "profile_skew",
    "volume_profile",
    lookback=50,
    inputs=HLCV,
    windows=(VOLUME_50, VOLUME_TYPICAL_50, TYPICAL_MEAN_50, TYPICAL_STD_50),
    params={"gain": 2.0},
)
def profile_skew(x: CardInput):
    """Whether the window's volume sits in the lower or the upper part of its prices.

    Formula: over n = 50 bars (x mode scale), k = (mean TP - sum(v TP) / sum(v)) / sd(TP): the
    time-weighted centre of the bars minus their volume-weighted centre, in TP standard
    deviations. k > 0 when more volume traded below where price spent its time (a profile
    heavy at the bottom). Approximation: the volume above vs below the current price is not
    streamable (its split point moves every tick), so the split is taken at the window's
    time-weighted centre. direction = tanh(gain * k) (gain = 2), strength = |direction|.
    Value: the volume-weighted centre sum(v TP) / sum(v), in price units (k is a difference of
    two float32 window means: good to ~1e-4, too coarse to report as a value).
    Confidence: 0 when the profile has no width or no volume.
    Positive: volume concentrated at the lower prices (accumulation, support below).
    """
    volume, sd = x.w(VOLUME_50), x.w(TYPICAL_STD_50)
    centre = safe_div(x.w(VOLUME_TYPICAL_50), volume)
    value = safe_div(x.w(TYPICAL_MEAN_50) - centre, sd)
    d = jnp.tanh(x.p("gain") * value)
    return output(d, jnp.abs(d), (sd > 0) & (volume > 0), centre)
