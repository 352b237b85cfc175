"""Composite alpha: interactions across categories (squeezes, confirmations, crowding, exhaustion).

Each card combines features that other categories read on their own (price moves, open
interest, funding, premium, taker flow, liquidations, long/short ratios, volatility) into
one reading whose formula it states; cards never read other cards' outputs. Every card is
antisymmetric: the mirrored market (prices reflected, sides swapped, funding negated)
reads the opposite direction, and a flat market reads neutral.
Positive direction: the card expects price to rise.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from bpjax.cards.base import CardInput, log_ratio, output, safe_div
from bpjax.cards.registry import card
from bpjax.features.derivatives import (
    FUNDING,
    INDEX,
    MARK,
    OI,
    OI_CHANGE,
    OI_LEVEL,
    PREMIUM,
    RATE,
    oi_change,
    oi_windows,
)
from bpjax.features.price import CLOSE, RETURNS, move_windows, move_z
from bpjax.features.streams import Stream
from bpjax.features.windows import Window

LN2 = math.log(2.0)
VOL_SHORT = Stream("log_return", 10)
VOL_LONG = Stream("log_return", 100)
FLOW_10 = Stream("taker_imbalance", 10)
PRIOR_HIGH_20 = Window("max", "high", 20, offset=1)
PRIOR_LOW_20 = Window("min", "low", 20, offset=1)
BUY_12 = Window("sum", "buy_volume", 12)
SELL_12 = Window("sum", "sell_volume", 12)
BUY_20 = Window("sum", "buy_volume", 20)
SELL_20 = Window("sum", "sell_volume", 20)
VOLUME_20 = Window("mean", "volume", 20, offset=1)
USUAL_VOLUME_50 = Window("mean", "volume", 50, offset=1)
LONG_LIQ_12 = Window("sum", "liq_long_notional", 12)
SHORT_LIQ_12 = Window("sum", "liq_short_notional", 12)
LONG_LIQ_24 = Window("sum", "liq_long_notional", 24)
SHORT_LIQ_24 = Window("sum", "liq_short_notional", 24)
LS_GLOBAL = Window("lag", "ls_global_accounts", 0)


def funding_z(x: CardInput):
    """(f - EW mean) / max(EW std, std_floor) of the funding rate (FUNDING stream, span 100)."""
    return (x.w(RATE) - x.mean(FUNDING)) / jnp.maximum(x.std(FUNDING), x.p("std_floor"))


def imbalance(a, b):
    """(a - b) / (a + b), 0 when both are 0."""
    return safe_div(a - b, a + b)


@card(
    "squeeze_setup",
    "composite_alpha",
    lookback=12,
    inputs=("funding_rate", "open_interest", "close"),
    streams=(OI_CHANGE, RETURNS),
    windows=(RATE,) + oi_windows(12) + move_windows(12),
    params={"funding_scale": 2e-4},
)
def squeeze_setup(x: CardInput):
    """Squeeze setup: a side paying funding, open interest building, and price holding against it.

    Formula: c = tanh(-f / funding_scale) (funding_scale = 0.02 % per interval; > 0 when shorts
    pay); fuel = (1 + tanh(zo)) / 2, zo the z of the OI log change over n = 12 bars (see
    oi_price_confirmation); zp = vol-normalized price move over the same bars (see roc).
    direction = fuel * (c + |c| tanh(zp)) / 2: the full crowding sign when price moves against
    the paying side, nothing when it moves with it. strength = |direction|. Value: c.
    Confidence: 0 without the rate, the OI change or the move.
    Positive: short squeeze setup (shorts pay, OI builds, price holds up); negative: long squeeze.
    """
    crowd = jnp.tanh(-x.w(RATE) / x.p("funding_scale"))
    _, oi_z, oi_ok = oi_change(x, 12)
    price_z, price_ok = move_z(x, 12)
    fuel = 0.5 * (1.0 + jnp.tanh(oi_z))
    d = fuel * 0.5 * (crowd + jnp.abs(crowd) * jnp.tanh(price_z))
    return output(d, jnp.abs(d), x.has(RATE) & oi_ok & price_ok, crowd)


@card(
    "squeeze_ignition",
    "composite_alpha",
    lookback=12,
    inputs=("funding_rate", "liq_long_notional", "liq_short_notional", "open_interest", "close"),
    streams=(FUNDING, OI_CHANGE, RETURNS),
    windows=(RATE, LONG_LIQ_12, SHORT_LIQ_12) + oi_windows(12) + move_windows(6),
    params={"std_floor": 2e-5},
)
def squeeze_ignition(x: CardInput):
    """Squeeze ignition: price breaking against the side crowded by funding, while that side's
    positions close (open interest falling, its liquidations).

    Formula: c = tanh(-zf), zf = (f - mean) / max(sd, std_floor) the funding rate against its EW
    history (span 100, std_floor = 0.2 bp; c > 0 when shorts are more crowded than usual);
    l = (short liq - long liq) / (short liq + long liq) over n = 12 bars (0 without liquidations);
    g = (tanh(zp) + l) / 2, zp the vol-normalized move over 6 bars (see roc); k = 1 - tanh(zo),
    zo the z of the OI log change over 12 bars (1 at steady OI, towards 2 as positions close).
    direction = clip(g * |c| * k, -1, 1) where g and c agree in sign, else 0 (only a break
    against the crowded side counts). strength = |direction|. Value: g.
    Confidence: 0 without the rate, the OI change or the move.
    Positive: shorts crowded, price breaking up while shorts cover or are liquidated (short
    squeeze underway); negative: the long squeeze.
    """
    crowd = jnp.tanh(-funding_z(x))
    forced = imbalance(x.w(SHORT_LIQ_12), x.w(LONG_LIQ_12))
    price_z, ok = move_z(x, 6)
    _, oi_z, oi_ok = oi_change(x, 12)
    push = 0.5 * (jnp.tanh(price_z) + forced)
    covering = 1.0 - jnp.tanh(oi_z)
    d = jnp.where(push * crowd > 0, jnp.clip(push * jnp.abs(crowd) * covering, -1.0, 1.0), 0.0)
    return output(d, jnp.abs(d), ok & oi_ok & x.has(RATE), push)


@card(
    "trend_flow_confirmation",
    "composite_alpha",
    lookback=50,
    inputs=("close", "volume", "buy_volume", "sell_volume"),
    streams=(RETURNS,),
    windows=move_windows(20) + (BUY_20, SELL_20, VOLUME_20, USUAL_VOLUME_50),
    params={"flow_gain": 3.0},
)
def trend_flow_confirmation(x: CardInput):
    """Trend confirmed by volume: taker flow on the trend's side and rising participation.

    Formula: t = tanh(zp), zp the vol-normalized move over n = 20 bars (see roc);
    phi = (taker buy - taker sell) / (taker buy + taker sell) over the same bars;
    agree = (t + |t| tanh(flow_gain * phi)) / 2 (flow_gain = 3: full trend when the flow is on its
    side, faded when against it); P = 1 + tanh(log(V20 / V50) / log 2), V20 and V50 the mean
    volume of the last 20 and 50 closed bars (1 at usual volume, towards 2 on heavy volume, 1
    without volume). direction = clip(agree * P, -1, 1), strength = |direction|. Value: phi.
    Confidence: 0 without the move or traded volume.
    Positive: an uptrend bought by takers on growing volume.
    Reference: Granville, New Key to Stock Market Profits (1963), volume confirms trend.
    """
    trend_z, ok = move_z(x, 20)
    buy, sell = x.w(BUY_20), x.w(SELL_20)
    flow = imbalance(buy, sell)
    t = jnp.tanh(trend_z)
    agree = 0.5 * (t + jnp.abs(t) * jnp.tanh(x.p("flow_gain") * flow))
    recent, usual = x.w(VOLUME_20), x.w(USUAL_VOLUME_50)
    participation = 1.0 + jnp.where((recent > 0) & (usual > 0), jnp.tanh(log_ratio(recent, usual) / LN2), 0.0)
    d = jnp.clip(agree * participation, -1.0, 1.0)
    return output(d, jnp.abs(d), ok & (buy + sell > 0), flow)


@card(
    "breakout_oi_build",
    "composite_alpha",
    lookback=21,
    inputs=("high", "low", "close", "open_interest"),
    streams=(OI_CHANGE,),
    windows=(CLOSE, PRIOR_HIGH_20, PRIOR_LOW_20) + oi_windows(12),
)
def breakout_oi_build(x: CardInput):
    """Range breakout backed by new open interest (fresh positions, not short covering).

    Formula: b = (close - (HH + LL) / 2) / ((HH - LL) / 2), HH and LL the highest high and lowest
    low of the 20 closed bars before the open bar (x mode scale), so |b| > 1 is a breakout;
    e = sign(b) * clip(|b| - 0.5, 0, 1) (0 inside the middle half of the range, full half a
    half-range beyond it); fuel = (1 + tanh(zo)) / 2, zo the z of the OI log change over 12 bars.
    direction = e * fuel, strength = |direction|. Value: b.
    Confidence: 0 for an empty range or without the OI change.
    Positive: price breaking above its range while open interest builds.
    """
    highest, lowest = x.w(PRIOR_HIGH_20), x.w(PRIOR_LOW_20)
    half = 0.5 * (highest - lowest)
    b = safe_div(x.w(CLOSE) - 0.5 * (highest + lowest), half)
    e = jnp.sign(b) * jnp.clip(jnp.abs(b) - 0.5, 0.0, 1.0)
    _, oi_z, oi_ok = oi_change(x, 12)
    d = e * 0.5 * (1.0 + jnp.tanh(oi_z))
    return output(d, jnp.abs(d), (half > 0) & oi_ok, b)


@card(
    "funding_momentum_divergence",
    "composite_alpha",
    lookback=100,
    inputs=("funding_rate", "close"),
    streams=(FUNDING, RETURNS),
    windows=(RATE,) + move_windows(24),
    params={"std_floor": 2e-5},
)
def funding_momentum_divergence(x: CardInput):
    """Price trend against the funding level: a trend nobody is paying up for, or crowding into a fall.

    Formula: zp = vol-normalized move over n = 24 bars (see roc); zf = (f - mean) / max(sd,
    std_floor), the funding rate against its EW history (span 100, std_floor = 0.2 bp).
    direction = (tanh(zp) - tanh(zf)) / 2, strength = |direction|. Value: zf.
    Confidence: 0 without the rate or the move.
    Positive: price rising while funding is below its norm (an uncrowded rally), or funding
    falling further than the price.
    """
    price_z, ok = move_z(x, 24)
    zf = funding_z(x)
    d = 0.5 * (jnp.tanh(price_z) - jnp.tanh(zf))
    return output(d, jnp.abs(d), ok & x.has(RATE), zf)


@card(
    "compression_flow_breakout",
    "composite_alpha",
    lookback=100,
    inputs=("close", "buy_volume", "sell_volume"),
    streams=(VOL_SHORT, VOL_LONG, FLOW_10),
    params={"flow_gain": 3.0},
)
def compression_flow_breakout(x: CardInput):
    """Direction of the coming volatility breakout: taker pressure building inside a compression.

    Formula: k = sigma_10 / sigma_100, the EW std of 1-bar log returns over 10 and 100 bars
    (x mode scale; 1 without data); w = 1 - tanh(log(k) / log 2) (1 at usual volatility, towards
    2 when compressed, towards 0 when expanding); q = EW mean of the taker imbalance
    (buy - sell) / volume (span 10). direction = clip(tanh(flow_gain * q) * w, -1, 1)
    (flow_gain = 3), strength = |direction|. Value: k.
    Confidence: 0 before the long volatility is known.
    Positive: takers keep buying while volatility is compressed (an upside break is loading).
    Reference: Bollinger, Bollinger on Bollinger Bands (2001), the squeeze.
    """
    short, long = x.std(VOL_SHORT), x.std(VOL_LONG)
    ratio = safe_div(short, long, 1.0)
    compression = 1.0 - jnp.tanh(jnp.where((short > 0) & (long > 0), log_ratio(short, long), 0.0) / LN2)
    d = jnp.clip(jnp.tanh(x.p("flow_gain") * x.mean(FLOW_10)) * compression, -1.0, 1.0)
    return output(d, jnp.abs(d), long > 0, ratio)


@card(
    "absorption_crowding",
    "composite_alpha",
    lookback=12,
    inputs=("close", "buy_volume", "sell_volume", "ls_global_accounts"),
    streams=(RETURNS,),
    windows=move_windows(12) + (BUY_12, SELL_12, LS_GLOBAL),
    params={"flow_gain": 3.0, "ratio_scale": 0.1},
)
def absorption_crowding(x: CardInput):
    """Taker flow the price did not follow (absorbed by passive orders), weighted by retail crowding.

    Formula: a = (tanh(zp) - tanh(flow_gain * phi)) / 2, zp the vol-normalized move over n = 12
    bars (see roc), phi = (taker buy - taker sell) / (taker buy + taker sell) over the same bars
    (flow_gain = 3): a < 0 when takers bought and price did not rise. lam = log(global long/short
    accounts ratio) / ratio_scale (ratio_scale = 0.1; > 0 when the crowd is long).
    direction = clip(a - |a| tanh(lam), -1, 1): absorbed buying reads stronger when the crowd
    is long (a (1 + tanh lam)), weaker when it is short; strength = |direction|. Value: a.
    Confidence: 0 without the move, traded volume or the ratio.
    Positive: takers sold into a price that held (passive buyers absorbing), crowd short.
    """
    price_z, ok = move_z(x, 12)
    buy, sell = x.w(BUY_12), x.w(SELL_12)
    flow = imbalance(buy, sell)
    a = 0.5 * (jnp.tanh(price_z) - jnp.tanh(x.p("flow_gain") * flow))
    ratio = x.w(LS_GLOBAL)
    crowd = jnp.tanh(jnp.where(ratio > 0, log_ratio(ratio, 1.0), 0.0) / x.p("ratio_scale"))
    d = jnp.clip(a - jnp.abs(a) * crowd, -1.0, 1.0)
    return output(d, jnp.abs(d), ok & (buy + sell > 0) & x.has(LS_GLOBAL) & (ratio > 0), a)


@card(
    "crowding_composite",
    "composite_alpha",
    lookback=200,
    inputs=("funding_rate", "mark", "index", "open_interest"),
    streams=(FUNDING, PREMIUM, OI_LEVEL),
    windows=(RATE, MARK, INDEX, OI),
    params={"std_floor": 2e-5, "premium_floor": 1e-5},
)
def crowding_composite(x: CardInput):
    """Leverage crowding from funding, basis and open interest together, read contrarian.

    Formula: zf = (f - mean) / max(sd, std_floor), the funding rate against its EW history
    (span 100, std_floor = 0.2 bp); zb = (p - mean) / max(sd, premium_floor), p = (mark - index) /
    index against its EW history (span 50, premium_floor = 0.1 bp); zo = log(OI / mean) / (sd /
    mean), open interest against its EW level (span 200). C = (zf + zb) / 2.
    direction = -tanh(C) * (1 + tanh(zo)) / 2 (crowding matters more with more open interest),
    strength = |direction|. Value: C.
    Confidence: 0 without the rate, mark, index or open interest.
    Positive: shorts crowded (funding and basis below their norms) with open interest high.
    Reference: He, Manela, Ross & von Wachter, "Fundamentals of perpetual futures" (2022).
    """
    index = x.w(INDEX)
    premium = safe_div(x.w(MARK) - index, index)
    basis_z = (premium - x.mean(PREMIUM)) / jnp.maximum(x.std(PREMIUM), x.p("premium_floor"))
    crowding = 0.5 * (funding_z(x) + basis_z)
    oi, level = x.w(OI), x.mean(OI_LEVEL)
    oi_z = safe_div(
        jnp.where((oi > 0) & (level > 0), log_ratio(oi, level), 0.0), safe_div(x.std(OI_LEVEL), level)
    )
    d = -jnp.tanh(crowding) * 0.5 * (1.0 + jnp.tanh(oi_z))
    confident = x.has(RATE) & x.has(MARK) & x.has(INDEX) & x.has(OI) & (index > 0) & (oi > 0)
    return output(d, jnp.abs(d), confident, crowding)


@card(
    "cascade_exhaustion_reversal",
    "composite_alpha",
    lookback=24,
    inputs=("close", "liq_long_notional", "liq_short_notional"),
    streams=(RETURNS,),
    windows=move_windows(12) + (LONG_LIQ_24, SHORT_LIQ_24),
)
def cascade_exhaustion_reversal(x: CardInput):
    """Exhaustion after a liquidation cascade: a stretched move made of forced closes reverts.

    Formula: s = -tanh(zp), zp the vol-normalized move over n = 12 bars (see roc), the reversal
    reading; l = (long liq - short liq) / (long liq + short liq) over 24 bars (0 without
    liquidations; > 0 when longs were forced out). direction = (s + l |s|) / 2: full reversal
    after a drop made of long liquidations (or a rise made of short liquidations), half without
    liquidations, none when the liquidations ran against the move. strength = |direction|.
    Value: l. Confidence: 0 without the move.
    Positive: price fell while longs were liquidated (forced selling exhausted).
    """
    price_z, ok = move_z(x, 12)
    reversal = -jnp.tanh(price_z)
    forced = imbalance(x.w(LONG_LIQ_24), x.w(SHORT_LIQ_24))
    d = 0.5 * (reversal + forced * jnp.abs(reversal))
    return output(d, jnp.abs(d), ok, forced)
