"""Volume: how much is traded, and on which side of the price moves the volume falls.

Volume has no sign of its own: every card signs it by the price move it accompanies (up bars,
close location in the range, typical-price changes), and states its own convention. Positive
direction: the volume reading expects price to rise. Volumes are in base units and only enter
as ratios of volumes, so the readings do not depend on the quantity unit.
"""

from __future__ import annotations

import jax.numpy as jnp

from bpjax.cards.base import CardInput, from_z, log_ratio, oscillator, output, safe_div
from bpjax.cards.registry import card
from bpjax.features.price import CLOSE, RETURNS, move_windows, move_z
from bpjax.features.streams import Stream
from bpjax.features.windows import Window

LN2 = 0.6931471805599453
LN3 = 1.0986122886681098


VOLUME_20 = Stream("volume", 20)
VOLUME_55 = Stream("volume", 55)
OBV_FLOW = Stream("obv_volume", 20)
VPT_FLOW = Stream("volume_log_return", 20)
KLINGER_FAST = Stream("klinger_force", 34)
KLINGER_SLOW = Stream("klinger_force", 55)
RECENT_VOLUME_5 = Window("mean", "volume", 5, offset=1)
USUAL_VOLUME_50 = Window("mean", "volume", 50, offset=1)
PEAK_VOLUME_5 = Window("max", "volume", 5, offset=1)
CLV_VOLUME_20 = Window("sum", "clv_volume", 20)
VOLUME_SUM_20 = Window("sum", "volume", 20)
MFI_POSITIVE_14 = Window("sum", "mfi_positive_flow", 14)
MFI_NEGATIVE_14 = Window("sum", "mfi_negative_flow", 14)
HIGHEST_20 = Window("max", "high", 20)
LOWEST_20 = Window("min", "low", 20)


def ew_noise(stream: Stream, scale):
    """sqrt(alpha / (2 - alpha)): the std of an EW mean of unit-variance white noise."""
    alpha = stream.alpha(scale)
    return jnp.sqrt(alpha / (2.0 - alpha))


@card(
    "relative_volume",
    "volume",
    lookback=50,
    inputs=("volume", "close"),
    streams=(RETURNS,),
    windows=(RECENT_VOLUME_5, USUAL_VOLUME_50) + move_windows(5),
)
def relative_volume(x: CardInput):
    """Relative volume: recent volume against its usual level, signed by the move it carries.

    Formula: rvol = mean volume of the last 5 closed bars / mean volume of the last 50 closed bars
    (both x mode scale); e = clip(log(rvol) / log 2, 0, 1) (1 = twice the usual volume).
    z = vol-normalized move over 5 bars (see roc). direction = tanh(z) * e, strength = e.
    Value: rvol. Confidence: 0 without volume in the 50 bars or without the close 5 bars back.
    Positive: price rising on heavier than usual volume (participation confirms the move);
    quiet markets read neutral.
    """
    usual = x.w(USUAL_VOLUME_50)
    value = safe_div(x.w(RECENT_VOLUME_5), usual)
    expansion = jnp.clip(log_ratio(x.w(RECENT_VOLUME_5), usual) / LN2, 0.0, 1.0)
    z, ok = move_z(x, 5)
    return output(jnp.tanh(z) * expansion, expansion, ok & (usual > 0), value)


@card(
    "obv_trend",
    "volume",
    lookback=20,
    inputs=("volume", "close"),
    streams=(OBV_FLOW, VOLUME_20),
)
def obv_trend(x: CardInput):
    """On-balance volume trend, streamed: the smoothed OBV increment as a share of volume.

    Formula: OBV increments by sign(close - prev close) x volume each bar; its slope is read as
    u = EMA_20(sign x volume) / EMA_20(volume) in [-1, 1] (span 20 x mode scale, open bar folded
    in). z = u / sqrt(alpha / (2 - alpha)), alpha = 2 / (20 x scale + 1) (the std of u when bar
    signs are random). direction = tanh(z), strength = tanh(|z|/2). Value: u.
    Confidence: 0 before any volume was seen.
    Positive: volume has been heavier on up bars than on down bars.
    Reference: Granville, Granville's New Key to Stock Market Profits (1963).
    """
    volume = x.mean(VOLUME_20)
    value = safe_div(x.mean(OBV_FLOW), volume)
    d, s = from_z(value / ew_noise(OBV_FLOW, x.scale))
    return output(d, s, volume > 0, value)


@card(
    "chaikin_money_flow",
    "volume",
    lookback=20,
    inputs=("high", "low", "close", "volume"),
    windows=(CLV_VOLUME_20, VOLUME_SUM_20),
    params={"scale": 0.3},
)
def chaikin_money_flow(x: CardInput):
    """Chaikin money flow (20): volume-weighted close location value.

    Formula: CLV = ((close - low) - (high - close)) / (high - low) per bar (0 when high = low);
    CMF = sum_n(CLV x volume) / sum_n(volume), n = 20 bars (x mode scale) including the open bar.
    direction = tanh(CMF / scale) (scale = 0.3), strength = |direction|. Value: CMF.
    Confidence: 0 without volume in the window.
    Positive: bars close near their highs on volume (accumulation).
    Reference: Chaikin (accumulation/distribution); TA-Lib AD for the A/D line it averages.
    """
    volume = x.w(VOLUME_SUM_20)
    value = safe_div(x.w(CLV_VOLUME_20), volume)
    d = jnp.tanh(value / x.p("scale"))
    return output(d, jnp.abs(d), volume > 0, value)


@card(
    "money_flow_index",
    "volume",
    lookback=14,
    inputs=("high", "low", "close", "volume"),
    windows=(MFI_POSITIVE_14, MFI_NEGATIVE_14),
    params={"half_range": 40.0},
)
def money_flow_index(x: CardInput):
    """Money flow index (14), read contrarian: volume-weighted RSI of the typical price.

    Formula: TP = (high + low + close) / 3, raw money flow = TP x volume; positive flow on bars
    whose TP rose against the previous bar, negative flow on bars whose TP fell;
    MFI = 100 * P / (P + N), P and N the sums over n = 14 bars (x mode scale) including the open
    bar (50 when both are 0). direction = -clip((MFI - 50) / half_range, -1, 1) (half_range = 40:
    full at 10 and 90), strength = |direction|. Value: MFI (TA-Lib MFI).
    Confidence: 0 when no money flowed either way.
    Positive: money flow oversold (heavy volume on falling bars: selling exhausted).
    Reference: Quong & Soudack, "Volume-weighted RSI: money flow" (1989).
    """
    positive, negative = x.w(MFI_POSITIVE_14), x.w(MFI_NEGATIVE_14)
    total = positive + negative
    value = jnp.where(total > 0, 100.0 * safe_div(positive, total), 50.0)
    d, s = oscillator(value, 50.0, x.p("half_range"))
    return output(-d, s, total > 0, value)


@card(
    "volume_price_trend",
    "volume",
    lookback=20,
    inputs=("volume", "close"),
    streams=(VPT_FLOW, VOLUME_20, RETURNS),
)
def volume_price_trend(x: CardInput):
    """Volume-price trend, streamed: the volume-weighted average log return.

    Formula: VPT increments by volume x log(close / prev close) each bar; its slope is read as
    g = EMA_20(volume x r) / EMA_20(volume) (span 20 x mode scale), a volume-weighted mean return
    per bar. z = g / (sigma * sqrt(alpha / (2 - alpha))), sigma = EW std of 1-bar log returns
    (span 50), alpha = 2 / (20 x scale + 1). direction = tanh(z), strength = tanh(|z|/2).
    Value: g in basis points per bar.
    Positive: the heavy-volume bars are the rising ones, by more than noise explains.
    Reference: the price-volume trend of Granville/Hutson; TA-Lib has no VPT.
    """
    volume = x.mean(VOLUME_20)
    value = safe_div(x.mean(VPT_FLOW), volume)
    d, s = from_z(safe_div(value, x.std(RETURNS) * ew_noise(VPT_FLOW, x.scale)))
    return output(d, s, (volume > 0) & (x.std(RETURNS) > 0), value * 1e4)


@card(
    "klinger_oscillator",
    "volume",
    lookback=55,
    inputs=("high", "low", "close", "volume"),
    streams=(KLINGER_FAST, KLINGER_SLOW, VOLUME_55),
    params={"scale": 0.05},
)
def klinger_oscillator(x: CardInput):
    """Klinger volume oscillator (34, 55), simplified: fast minus slow average of volume force.

    Formula: volume force VF = sign(TP - prev TP) x volume, TP = (high + low + close) / 3
    (Klinger's trend term; the cumulative-measurement factor is dropped);
    KVO = (EMA_34(VF) - EMA_55(VF)) / EMA_55(volume) (spans x mode scale), a share of volume.
    direction = tanh(KVO / scale) (scale = 0.05, about one std of KVO for random trends),
    strength = |direction|. Value: KVO.
    Confidence: 0 before any volume was seen.
    Positive: volume is shifting towards rising bars (accumulation accelerating).
    Reference: Klinger, Technical Analysis of Stocks & Commodities (1997).
    """
    volume = x.mean(VOLUME_55)
    value = safe_div(x.mean(KLINGER_FAST) - x.mean(KLINGER_SLOW), volume)
    d = jnp.tanh(value / x.p("scale"))
    return output(d, jnp.abs(d), volume > 0, value)


@card(
    "volume_climax",
    "volume",
    lookback=50,
    inputs=("high", "low", "close", "volume"),
    windows=(PEAK_VOLUME_5, USUAL_VOLUME_50, HIGHEST_20, LOWEST_20, CLOSE),
)
def volume_climax(x: CardInput):
    """Volume climax: a volume spike at a range extreme, read as exhaustion (contrarian).

    Formula: spike = max volume of the last 5 closed bars / mean volume of the last 50 closed
    bars; c = clip(log(spike) / log 3, 0, 1) (1 = three times the usual volume);
    position = 2 (close - LL) / (HH - LL) - 1 in [-1, 1], HH/LL the highest high and lowest
    low of 20 bars including the open bar (all lookbacks x mode scale).
    direction = -position * c, strength = |direction|. Value: spike.
    Confidence: 0 when the range is empty or there is no usual volume.
    Positive: a selling climax (heavy volume with price at the bottom of its range).
    Reference: Wyckoff's selling/buying climax.
    """
    usual = x.w(USUAL_VOLUME_50)
    peak = x.w(PEAK_VOLUME_5)
    climax = jnp.clip(log_ratio(peak, usual) / LN3, 0.0, 1.0)
    highest, lowest = x.w(HIGHEST_20), x.w(LOWEST_20)
    span = highest - lowest
    position = jnp.clip(2.0 * safe_div(x.w(CLOSE) - lowest, span, 0.5) - 1.0, -1.0, 1.0)
    d = -position * climax
    return output(d, jnp.abs(d), (span > 0) & (usual > 0), safe_div(peak, usual))
