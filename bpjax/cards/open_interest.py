"""Open interest: whether positions are being opened or closed, by whom, and how crowded.

Open interest has no sign of its own; the cards read it together with price, flow,
funding or liquidations and state their convention. Open interest is in base units.
"""

from __future__ import annotations

import jax.numpy as jnp

from bpjax.cards.base import (
    CardInput,
    count,
    from_z,
    log_ratio,
    output,
    safe_div,
    wmean,
    wstd,
)
from bpjax.cards.registry import card, cross_section_card
from bpjax.features.derivatives import MARK, OI, OI_CHANGE, OI_LEVEL, RATE, oi_back, oi_change, oi_windows
from bpjax.features.price import CLOSE, HIGHEST_20, LOWEST_20, RETURNS, move_windows, move_z
from bpjax.features.streams import Stream
from bpjax.features.windows import Window

OI_CHANGE_FAST = Stream("oi_log_change", 5)
OI_CHANGE_SLOW = Stream("oi_log_change", 30)
FUNDING_NOTIONAL = Stream("funding_notional", 100)


BUY_6 = Window("sum", "buy_volume", 6)
SELL_6 = Window("sum", "sell_volume", 6)
VOLUME_12 = Window("sum", "volume", 12)
LONG_LIQ_6 = Window("sum", "liq_long_notional", 6)
SHORT_LIQ_6 = Window("sum", "liq_short_notional", 6)


@card(
    "oi_price_confirmation",
    "open_interest",
    lookback=12,
    inputs=("open_interest", "close"),
    streams=(OI_CHANGE, RETURNS),
    windows=oi_windows(12) + move_windows(12),
)
def oi_price_confirmation(x: CardInput):
    """Price move confirmed (or not) by open interest: the four-quadrant reading.

    Formula: zp = vol-normalized price move over n = 12 bars (see roc), zo = z of the log change
    of open interest over the same bars; direction = tanh(zp) * (1 + tanh(zo)) / 2: a move on
    rising OI (new positions) keeps its full sign, a move on falling OI (covering or
    liquidation) fades towards neutral. strength = |direction|. Value: zo.
    Positive: price up with new positions opening.
    """
    price_z, price_ok = move_z(x, 12)
    _, oi_z, oi_ok = oi_change(x, 12)
    d = jnp.tanh(price_z) * 0.5 * (1.0 + jnp.tanh(oi_z))
    return output(d, jnp.abs(d), price_ok & oi_ok, oi_z)


@card(
    "oi_zscore",
    "open_interest",
    lookback=200,
    inputs=("open_interest", "close"),
    streams=(OI_LEVEL, RETURNS),
    windows=(OI,) + move_windows(12),
)
def oi_zscore(x: CardInput):
    """Crowding: open interest high against its history, leaning against the recent move.

    Formula: zl = log(OI / mean) / (sd / mean), mean and sd the EW statistics of open interest
    (span 200 x mode scale): the z-score of log OI to first order, computed around the mean so
    float32 keeps its digits. zp = vol-normalized price move over 12 bars.
    direction = -tanh(zp) * clip(zl / 2, 0, 1): when positioning is stretched (zl > 0) the side
    that drove the move is the fragile one; normal or low OI reads neutral.
    strength = clip(zl / 2, 0, 1). Value: zl.
    Positive: a crowded market that has been falling (shorts crowded).
    """
    oi, mean = x.w(OI), x.mean(OI_LEVEL)
    level_z = safe_div(log_ratio(oi, mean), safe_div(x.std(OI_LEVEL), mean))
    price_z, price_ok = move_z(x, 12)
    crowding = jnp.clip(level_z / 2.0, 0.0, 1.0)
    return output(-jnp.tanh(price_z) * crowding, crowding, price_ok & (oi > 0), level_z)


@card(
    "oi_delta_flow",
    "open_interest",
    lookback=6,
    inputs=("open_interest", "buy_volume", "sell_volume"),
    streams=(OI_CHANGE,),
    windows=(BUY_6, SELL_6) + oi_windows(6),
)
def oi_delta_flow(x: CardInput):
    """Who opens the new positions: open-interest change split by taker flow.

    Formula: flow = sum(taker buy - taker sell) / sum(volume) over n = 6 bars (x mode scale);
    zo = z of the log OI change over the same bars. direction = tanh(3 flow) * (1 + tanh(zo)) / 2:
    aggressive buyers while OI rises are new longs (full weight); while OI falls they are
    shorts covering (faded). strength = |direction|. Value: flow.
    Positive: buyers are the aggressors while positions are being opened.
    """
    buy, sell = x.w(BUY_6), x.w(SELL_6)
    flow = safe_div(buy - sell, buy + sell)
    _, oi_z, oi_ok = oi_change(x, 6)
    d = jnp.tanh(3.0 * flow) * 0.5 * (1.0 + jnp.tanh(oi_z))
    return output(d, jnp.abs(d), oi_ok & (buy + sell > 0), flow)


@card(
    "oi_divergence",
    "open_interest",
    lookback=20,
    inputs=("open_interest", "high", "low", "close"),
    streams=(OI_CHANGE,),
    windows=(HIGHEST_20, LOWEST_20, CLOSE) + oi_windows(20),
)
def oi_divergence(x: CardInput):
    """Price at a range extreme while open interest falls: a move running on closing positions.

    Formula: c = 2 * (close - LL) / (HH - LL) - 1 over the last n = 20 bars (x mode scale);
    zo = z of the log OI change over the same bars. direction = -c * clip(-zo / 2, 0, 1):
    a new high on falling OI (short covering) reads bearish, a new low on falling OI
    (long capitulation) reads bullish; rising OI reads neutral. strength = |direction|.
    Value: zo. Positive: price near its low while open interest drains.
    """
    highest, lowest = x.w(HIGHEST_20), x.w(LOWEST_20)
    position = 2.0 * safe_div(x.w(CLOSE) - lowest, highest - lowest, 0.5) - 1.0
    _, oi_z, oi_ok = oi_change(x, 20)
    d = -position * jnp.clip(-oi_z / 2.0, 0.0, 1.0)
    return output(d, jnp.abs(d), oi_ok & (highest > lowest), oi_z)


@card(
    "oi_volume_ratio",
    "open_interest",
    lookback=12,
    inputs=("open_interest", "volume", "close"),
    streams=(RETURNS,),
    windows=(VOLUME_12,) + oi_windows(12) + move_windows(12),
    params={"ratio_scale": 0.05},
)
def oi_volume_ratio(x: CardInput):
    """Participation: how much of the traded volume stayed on as open positions.

    Formula: ratio = (OI - OI[-n]) / sum(volume) over n = 12 bars (x mode scale), both in base
    units; zp = vol-normalized price move over the same bars.
    direction = tanh(zp) * tanh(ratio / ratio_scale) (ratio_scale = 0.05): a move that builds
    positions is believed, a move on net closing is read against itself. strength = |direction|.
    Value: ratio. Positive: price rising while volume turns into new open interest.
    """
    traded = x.w(VOLUME_12)
    ratio = safe_div(x.w(OI) - x.w(oi_back(12)), traded)
    price_z, price_ok = move_z(x, 12)
    d = jnp.tanh(price_z) * jnp.tanh(ratio / x.p("ratio_scale"))
    return output(d, jnp.abs(d), price_ok & x.has(OI) & x.has(oi_back(12)) & (traded > 0), ratio)


@card(
    "oi_acceleration",
    "open_interest",
    lookback=30,
    inputs=("open_interest", "close"),
    streams=(OI_CHANGE_FAST, OI_CHANGE_SLOW, RETURNS),
    windows=move_windows(12),
)
def oi_acceleration(x: CardInput):
    """Position building accelerating in the direction of the move.

    Formula: a = (EW mean of 1-bar log OI change, span 5) - (same, span 30), spans x mode scale;
    za = a / (EW std of the change, span 30); zp = vol-normalized price move over 12 bars.
    direction = tanh(zp) * tanh(za), strength = |direction|. Value: za.
    Positive: rising price with position building speeding up, or falling price with
    positions being closed faster (de-leveraging into the low).
    """
    acceleration = x.mean(OI_CHANGE_FAST) - x.mean(OI_CHANGE_SLOW)
    value = safe_div(acceleration, x.std(OI_CHANGE_SLOW))
    price_z, price_ok = move_z(x, 12)
    d = jnp.tanh(price_z) * jnp.tanh(value)
    return output(d, jnp.abs(d), price_ok & (x.std(OI_CHANGE_SLOW) > 0), value)


@card(
    "oi_weighted_funding",
    "open_interest",
    lookback=100,
    inputs=("open_interest", "funding_rate", "mark"),
    streams=(FUNDING_NOTIONAL,),
    windows=(OI, RATE, MARK),
)
def oi_weighted_funding(x: CardInput):
    """The cost of crowding in money: funding times open-interest notional, read contrarian.

    Formula: u = sign(P) log(1 + |P|), P = funding x OI x mark (quote paid by longs per
    interval); z = (u - mean) / sd with EW statistics of u (span 100 x mode scale).
    direction = -tanh(z), strength = tanh(|z|/2). Value: P.
    Positive: longs are being paid an unusual amount (shorts carry the crowding cost).
    """
    paid = x.w(RATE) * x.w(OI) * x.w(MARK)
    scaled = jnp.sign(paid) * jnp.log1p(jnp.abs(paid))
    z = safe_div(scaled - x.mean(FUNDING_NOTIONAL), x.std(FUNDING_NOTIONAL))
    d, s = from_z(-z)
    return output(d, s, jnp.where(x.std(FUNDING_NOTIONAL) > 0, 1.0, 0.0), paid)


@cross_section_card(
    "oi_notional_share",
    "open_interest",
    lookback=24,
    inputs=("open_interest", "close"),
    streams=(OI_CHANGE, RETURNS),
    windows=oi_windows(24) + move_windows(24),
)
def oi_notional_share(x: CardInput):
    """Capital rotation: a symbol's open-interest growth against the universe, signed by its move.

    Formula: g_i = log(OI_i / OI_i[-n]) over n = 24 bars (x mode scale);
    u_i = (g_i - mean(g)) / std(g) over symbols with data; zp_i = vol-normalized price move.
    direction = tanh(u_i) * tanh(2 zp_i): money flowing into a rising symbol is bullish, into a
    falling one bearish (new shorts). strength = |direction|. Value: u_i.
    Confidence ramps with the number of symbols with data (full at 5).
    Positive: positions are growing faster here than elsewhere while price rises.
    """
    growth, _, ok = oi_change(x, 24)
    value = jnp.where(ok, safe_div(growth - wmean(growth, ok), wstd(growth, ok)), 0.0)
    price_z, price_ok = move_z(x, 24)
    d = jnp.tanh(value) * jnp.tanh(2.0 * price_z)
    breadth = jnp.clip((count(ok) - 1.0) / 4.0, 0.0, 1.0)
    return output(d, jnp.abs(d), jnp.where(ok & price_ok, breadth, 0.0), value)


@card(
    "oi_liquidation_flush",
    "open_interest",
    lookback=6,
    inputs=("open_interest", "liq_long_notional", "liq_short_notional"),
    streams=(OI_CHANGE,),
    windows=(LONG_LIQ_6, SHORT_LIQ_6) + oi_windows(6),
)
def oi_liquidation_flush(x: CardInput):
    """A forced de-leveraging: open interest dropping while one side gets liquidated.

    Formula: over n = 6 bars (x mode scale), imbalance = (long liq - short liq) / (long liq +
    short liq) of liquidated notional; zo = z of the log OI change.
    direction = imbalance * clip(-zo / 2, 0, 1): longs flushed out while OI drains reads
    bullish (the forced sellers are gone), shorts squeezed out reads bearish.
    strength = |direction|. Value: imbalance.
    Positive: a long flush has just cleared positioning.
    """
    longs, shorts = x.w(LONG_LIQ_6), x.w(SHORT_LIQ_6)
    imbalance = safe_div(longs - shorts, longs + shorts)
    _, oi_z, oi_ok = oi_change(x, 6)
    d = imbalance * jnp.clip(-oi_z / 2.0, 0.0, 1.0)
    return output(d, jnp.abs(d), oi_ok & x.has(LONG_LIQ_6) & x.has(SHORT_LIQ_6), imbalance)
