"""Order flow / CVD: who is aggressive (taker buys against taker sells) and what it moves.

Taker buy volume lifts the ask, taker sell volume hits the bid; their difference per bar is
the volume delta and its running sum the cumulative volume delta (CVD). Positive direction:
the flow reading expects price to rise (most cards follow the aggressive side; absorption
and exhaustion cards lean against it and say so). Volumes are in base units and only enter
as ratios of volumes.
"""

from __future__ import annotations

import jax.numpy as jnp

from bpjax.cards.base import CardInput, from_z, log_ratio, output, safe_div, safe_log
from bpjax.cards.registry import card
from bpjax.features.price import RETURNS, move_windows, move_z
from bpjax.features.streams import Stream
from bpjax.features.windows import Window

LN2 = 0.6931471805599453


IMBALANCE_50 = Stream("taker_imbalance", 50)  # per-bar imbalance volatility
IMBALANCE_100 = Stream("taker_imbalance", 100)
DELTA_50 = Stream("taker_delta", 50)
DELTA_20 = Stream("taker_delta", 20)
VOLUME_20 = Stream("volume", 20)
TAKER_RATIO_50 = Stream("log_taker_ratio", 50)
BUY_3, SELL_3 = Window("sum", "buy_volume", 3), Window("sum", "sell_volume", 3)
BUY_5, SELL_5 = Window("sum", "buy_volume", 5), Window("sum", "sell_volume", 5)
DELTA_SUM_20 = Window("sum", "taker_delta", 20)
DELTA_SUM_50 = Window("sum", "taker_delta", 50)
IMBALANCE_SLOPE_20 = Window("slope", "taker_imbalance", 20)
DOMINANCE_20 = Window("mean", "taker_buy_dominance", 20)
TRADES_RECENT_5 = Window("mean", "trade_count", 5, offset=1)
TRADES_USUAL_50 = Window("mean", "trade_count", 50, offset=1)
TAKER_RATIO = Window("lag", "taker_ratio", 0)


def imbalance(x: CardInput, buy: Window, sell: Window):
    """(sum buy - sum sell) / (sum buy + sum sell) over a window pair, and whether it traded."""
    b, s = x.w(buy), x.w(sell)
    return safe_div(b - s, b + s), b + s > 0


def imbalance_z(x: CardInput, lookback: float, buy: Window, sell: Window):
    """The window imbalance over n bars against the 1-bar imbalance std (EW span 50) / sqrt(n),
    and whether it is defined. Cards using it declare the window pair and IMBALANCE_50."""
    value, ok = imbalance(x, buy, sell)
    sigma = x.std(IMBALANCE_50)
    return safe_div(value * jnp.sqrt(x.n(lookback)), sigma), value, ok & (sigma > 0)


def delta_z(x: CardInput, lookback: float, window: Window):
    """Net taker delta over n bars against the 1-bar delta std (EW span 50) x sqrt(n): the CVD
    change in its own noise units. Cards using it declare the sum window and DELTA_50."""
    sigma = x.std(DELTA_50)
    return safe_div(x.w(window), sigma * jnp.sqrt(x.n(lookback))), sigma > 0


@card(
    "taker_imbalance",
    "order_flow",
    lookback=5,
    inputs=("buy_volume", "sell_volume"),
    streams=(IMBALANCE_50,),
    windows=(BUY_5, SELL_5),
)
def taker_imbalance(x: CardInput):
    """Short-horizon taker imbalance: aggressive buying against selling over the last bars.

    Formula: I = (sum buy - sum sell) / (sum buy + sum sell) over n = 5 bars (x mode scale)
    including the open bar; z = I sqrt(n) / sigma_I, sigma_I the EW std of the 1-bar imbalance
    (buy - sell) / volume (span 50). direction = tanh(z), strength = tanh(|z|/2). Value: I.
    Confidence: 0 without volume.
    Positive: takers have been lifting offers more than hitting bids.
    """
    z, value, ok = imbalance_z(x, 5, BUY_5, SELL_5)
    d, s = from_z(z)
    return output(d, s, ok, value)


@card(
    "cvd_slope",
    "order_flow",
    lookback=20,
    inputs=("buy_volume", "sell_volume", "volume"),
    streams=(DELTA_20, VOLUME_20, IMBALANCE_50),
)
def cvd_slope(x: CardInput):
    """Slope of the cumulative volume delta, streamed, as a share of volume.

    Formula: the CVD rises by delta = buy - sell each bar; its smoothed slope is
    u = EMA_20(delta) / EMA_20(volume) (span 20 x mode scale, open bar folded in).
    z = u / (sigma_I sqrt(alpha / (2 - alpha))), sigma_I the EW std of the 1-bar imbalance
    (span 50), alpha = 2 / (20 x scale + 1). direction = tanh(z), strength = tanh(|z|/2).
    Value: u. Confidence: 0 before any volume was seen.
    Positive: the CVD has been climbing (net aggressive buying).
    """
    volume = x.mean(VOLUME_20)
    value = safe_div(x.mean(DELTA_20), volume)
    alpha = DELTA_20.alpha(x.scale)
    sigma = x.std(IMBALANCE_50)
    d, s = from_z(safe_div(value, sigma * jnp.sqrt(alpha / (2.0 - alpha))))
    return output(d, s, (volume > 0) & (sigma > 0), value)


@card(
    "cvd_zscore",
    "order_flow",
    lookback=50,
    inputs=("buy_volume", "sell_volume"),
    streams=(DELTA_50,),
    windows=(DELTA_SUM_50,),
)
def cvd_zscore(x: CardInput):
    """CVD change over a long window, in units of its own noise.

    Formula: z = sum_n(buy - sell) / (sigma_delta sqrt(n)), n = 50 bars (x mode scale)
    including the open bar, sigma_delta the EW std of the 1-bar volume delta (span 50).
    direction = tanh(z), strength = tanh(|z|/2). Value: z.
    Confidence: 0 before the delta varied.
    Positive: the CVD rose over the window by more than its bar-to-bar noise explains.
    """
    z, ok = delta_z(x, 50, DELTA_SUM_50)
    d, s = from_z(z)
    return output(d, s, ok, z)


@card(
    "cvd_price_divergence",
    "order_flow",
    lookback=20,
    inputs=("buy_volume", "sell_volume", "close"),
    streams=(DELTA_50, RETURNS),
    windows=(DELTA_SUM_20,) + move_windows(20),
)
def cvd_price_divergence(x: CardInput):
    """CVD against price: aggressive flow that price has not (yet) followed.

    Formula: zc = sum_n(buy - sell) / (sigma_delta sqrt(n)) (see cvd_zscore), zp = vol-normalized
    price move (see roc), both over n = 20 bars (x mode scale); u = (zc - zp) / 2.
    direction = tanh(u), strength = tanh(|u|/2). Value: u.
    Confidence: 0 without the close n bars back or before the delta varied.
    Positive: the CVD is stronger than price (buyers accumulating under a flat or falling
    price: bullish divergence).
    """
    flow_z, flow_ok = delta_z(x, 20, DELTA_SUM_20)
    price_z, price_ok = move_z(x, 20)
    value = 0.5 * (flow_z - price_z)
    d, s = from_z(value)
    return output(d, s, flow_ok & price_ok, value)


@card(
    "absorption",
    "order_flow",
    lookback=5,
    inputs=("buy_volume", "sell_volume", "close"),
    streams=(IMBALANCE_50, RETURNS),
    windows=(BUY_5, SELL_5) + move_windows(5),
)
def absorption(x: CardInput):
    """Absorption: heavy aggressive flow that does not move price, read against the flow.

    Formula: zi = taker imbalance z over n = 5 bars (see taker_imbalance), zp = vol-normalized
    price move over the same bars (see roc); follow = zp * sign(zi) (how far price went with the
    flow); w = clip(1 - follow / 2, 0, 1) (1 when price stalled or went against the flow,
    0 when it followed by 2 sigma). direction = -tanh(zi / 2) * w, strength = |direction|.
    Value: follow. Confidence: 0 without volume or the close n bars back.
    Positive: heavy selling absorbed by passive bids (price held up).
    Reference: order-flow trading practice (absorption at the bid/offer).
    """
    flow_z, _, flow_ok = imbalance_z(x, 5, BUY_5, SELL_5)
    price_z, price_ok = move_z(x, 5)
    follow = price_z * jnp.sign(flow_z)
    weight = jnp.clip(1.0 - follow / 2.0, 0.0, 1.0)
    d = -jnp.tanh(flow_z / 2.0) * weight
    return output(d, jnp.abs(d), flow_ok & price_ok, follow)


@card(
    "taker_ratio_z",
    "order_flow",
    lookback=50,
    inputs=("taker_ratio",),
    streams=(TAKER_RATIO_50,),
    windows=(TAKER_RATIO,),
)
def taker_ratio_z(x: CardInput):
    """The venue's reported taker buy/sell ratio against its own history.

    Formula: L = log(taker_ratio) (the exchange's rolling buy/sell volume ratio);
    z = (L - mean) / sd, mean and sd the EW statistics of L (span 50 x mode scale).
    direction = tanh(z), strength = tanh(|z|/2). Value: taker_ratio.
    Confidence: 0 before the ratio varied.
    Positive: takers buy more, relative to selling, than usual.
    Reference: Binance futures data endpoint takerlongshortRatio.
    """
    ratio = x.w(TAKER_RATIO)
    level = jnp.where(ratio > 0, safe_log(ratio), 0.0)
    sd = x.std(TAKER_RATIO_50)
    d, s = from_z(safe_div(level - x.mean(TAKER_RATIO_50), sd))
    return output(d, s, (sd > 0) & (ratio > 0), ratio)


@card(
    "trade_intensity",
    "order_flow",
    lookback=50,
    inputs=("trade_count", "buy_volume", "sell_volume"),
    streams=(IMBALANCE_50,),
    windows=(TRADES_RECENT_5, TRADES_USUAL_50, BUY_5, SELL_5),
)
def trade_intensity(x: CardInput):
    """Trade-count intensity signed by the taker flow: a rush of trades on one side.

    Formula: k = mean trade count of the last 5 closed bars / mean of the last 50 closed bars
    (x mode scale); e = clip(log(k) / log 2, 0, 1) (1 = twice the usual activity);
    zi = taker imbalance z over 5 bars (see taker_imbalance). direction = tanh(zi) * e,
    strength = e. Value: k. Confidence: 0 without trades or volume.
    Positive: trading activity is surging while takers buy.
    """
    usual = x.w(TRADES_USUAL_50)
    recent = x.w(TRADES_RECENT_5)
    surge = jnp.clip(log_ratio(recent, usual) / LN2, 0.0, 1.0)
    flow_z, _, flow_ok = imbalance_z(x, 5, BUY_5, SELL_5)
    return output(jnp.tanh(flow_z) * surge, surge, flow_ok & (usual > 0), safe_div(recent, usual))


@card(
    "flow_acceleration",
    "order_flow",
    lookback=20,
    inputs=("buy_volume", "sell_volume"),
    streams=(IMBALANCE_50,),
    windows=(IMBALANCE_SLOPE_20,),
)
def flow_acceleration(x: CardInput):
    """Flow acceleration: the trend of the per-bar taker imbalance (CVD curvature).

    Formula: b = least-squares slope per bar of the 1-bar imbalance (buy - sell) / volume over
    n = 20 bars (x mode scale) including the open bar; z = b sqrt(n (n^2 - 1) / 12) / sigma_I
    (the slope's std for white noise of std sigma_I, the EW std of the 1-bar imbalance, span 50).
    direction = tanh(z), strength = tanh(|z|/2). Value: b.
    Confidence: 0 before the imbalance varied.
    Positive: buying is gaining on selling bar after bar.
    """
    n = x.n(20)
    sigma = x.std(IMBALANCE_50)
    slope = x.w(IMBALANCE_SLOPE_20)
    d, s = from_z(safe_div(slope * jnp.sqrt(n * (n * n - 1.0) / 12.0), sigma))
    return output(d, s, sigma > 0, slope)


@card(
    "flow_persistence",
    "order_flow",
    lookback=20,
    inputs=("buy_volume", "sell_volume"),
    windows=(DOMINANCE_20,),
)
def flow_persistence(x: CardInput):
    """Flow persistence: the share of bars on which takers bought more than they sold.

    Formula: p = mean over n = 20 bars (x mode scale, open bar included) of 1 (buy > sell),
    0 (buy < sell), 0.5 (equal); z = (p - 1/2) / (1 / (2 sqrt(n))) (the binomial std of p under
    no persistence). direction = tanh(z / 2), strength = tanh(|z| / 4). Value: p.
    Positive: net buying bar after bar, whatever the size of each bar's imbalance.
    """
    share = x.w(DOMINANCE_20)
    z = (share - 0.5) * 2.0 * jnp.sqrt(x.n(20))
    d, s = from_z(z / 2.0)
    return output(d, s, 1.0, share)


@card(
    "buy_sell_ratio_extreme",
    "order_flow",
    lookback=3,
    inputs=("buy_volume", "sell_volume"),
    streams=(IMBALANCE_100,),
    windows=(BUY_3, SELL_3),
)
def buy_sell_ratio_extreme(x: CardInput):
    """Buy/sell volume ratio at an extreme of its history, read contrarian (exhaustion).

    Formula: I = (sum buy - sum sell) / (sum buy + sum sell) over n = 3 bars (x mode scale)
    including the open bar (I = tanh(log(buy / sell) / 2)); z = (I - mean) sqrt(n) / sd, mean
    and sd the EW statistics of the 1-bar imbalance (span 100); e = clip((|z| - 1) / 2, 0, 1)
    (0 within one sd, full beyond three). direction = -sign(z) * e, strength = e.
    Value: the buy/sell ratio sum buy / sum sell. Confidence: 0 without volume.
    Positive: a selling frenzy far beyond the usual (sellers exhausting).
    """
    value, ok = imbalance(x, BUY_3, SELL_3)
    sd = x.std(IMBALANCE_100)
    z = safe_div((value - x.mean(IMBALANCE_100)) * jnp.sqrt(x.n(3)), sd)
    extreme = jnp.clip((jnp.abs(z) - 1.0) / 2.0, 0.0, 1.0)
    ratio = safe_div(x.w(BUY_3), x.w(SELL_3))
    return output(-jnp.sign(z) * extreme, extreme, ok & (sd > 0), ratio)
