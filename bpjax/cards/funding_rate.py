"""Funding rate: what perpetual longs pay shorts, and what that says about crowding.

Funding is read mostly contrarian: expensive longs mean a crowded long side that is
fragile; each card states its sign convention. Rates are fractions per funding interval.
"""

from __future__ import annotations

import jax.numpy as jnp

from bpjax.cards.base import CardInput, count, from_z, output, safe_div, wmean
from bpjax.cards.registry import card
from bpjax.core.defines import VENUES
from bpjax.features.derivatives import FUNDING, INDEX, MARK, PREMIUM, RATE
from bpjax.features.price import RETURNS, move_windows, move_z
from bpjax.features.streams import Stream
from bpjax.features.windows import Window

FUNDING_CHANGE = Stream("funding_change", 50)
VENUE_FUNDING = tuple(f"funding_{venue}" for venue in VENUES)
PREDICTED = Window("lag", "predicted_funding", 0)
VENUE_RATES = tuple(Window("lag", name, 0) for name in VENUE_FUNDING)


def rate_back(lookback: float) -> Window:
    return Window("lag", "funding_rate", lookback)


def funding_now(x: CardInput):
    return x.w(RATE)


def funding_change_z(x: CardInput, lookback: float):
    """z of the funding change over n bars: (f - f[-n]) / (sd of 1-bar changes * sqrt(n)), and
    whether both rates are present. Cards using it declare RATE, ``rate_back(lookback)`` and the
    FUNDING_CHANGE stream."""
    past = rate_back(lookback)
    change = x.w(RATE) - x.w(past)
    scale = jnp.maximum(x.std(FUNDING_CHANGE), x.p("change_floor")) * jnp.sqrt(x.n(lookback))
    return change / scale, x.has(RATE) & x.has(past)


@card(
    "funding_level",
    "funding_rate",
    lookback=100,
    inputs=("funding_rate",),
    streams=(FUNDING,),
    windows=(RATE,),
    params={"std_floor": 2e-5},
)
def funding_level(x: CardInput):
    """Funding against its own history, read contrarian.

    Formula: z = (f - mean) / max(sd, std_floor), mean and sd the EW mean and std of the
    funding rate (span 100 bars x mode scale), std_floor = 0.2 bp so a rate pinned at its
    clamp does not blow up. direction = -tanh(z), strength = tanh(|z|/2). Value: f.
    Positive: funding unusually low/negative (shorts crowded and paying).
    Reference: the crowding/funding premium literature, e.g. He, Manela, Ross & von Wachter (2022).
    """
    rate = funding_now(x)
    z = (rate - x.mean(FUNDING)) / jnp.maximum(x.std(FUNDING), x.p("std_floor"))
    d, s = from_z(-z)
    return output(d, s, 1.0, rate)


@card(
    "funding_extreme",
    "funding_rate",
    lookback=1,
    inputs=("funding_rate",),
    windows=(RATE,),
    params={"baseline": 1e-4, "extreme": 1e-3},
)
def funding_extreme(x: CardInput):
    """Absolute funding beyond the venue's neutral clamp, read contrarian.

    Formula: e = clip((|f| - baseline) / (extreme - baseline), 0, 1), baseline = 0.01 % (the
    usual interest-rate clamp), extreme = 0.1 % per interval. direction = -sign(f) * e,
    strength = e. Value: f.
    Positive: shorts paying an extreme rate (squeeze risk for shorts).
    """
    rate = funding_now(x)
    excess = jnp.clip(safe_div(jnp.abs(rate) - x.p("baseline"), x.p("extreme") - x.p("baseline")), 0.0, 1.0)
    return output(-jnp.sign(rate) * excess, excess, 1.0, rate)


@card(
    "funding_momentum",
    "funding_rate",
    lookback=8,
    inputs=("funding_rate",),
    streams=(FUNDING_CHANGE,),
    windows=(RATE, rate_back(8)),
    params={"change_floor": 1e-5},
)
def funding_momentum(x: CardInput):
    """Funding rising or falling over n bars, read contrarian.

    Formula: z = (f - f[-n]) / (max(sd_change, change_floor) * sqrt(n)), n = 8 bars (x mode
    scale), sd_change the EW std of 1-bar funding changes (span 50), change_floor = 0.1 bp.
    direction = -tanh(z), strength = tanh(|z|/2). Value: f - f[-n].
    Confidence: 0 when the rate n bars back is missing.
    Positive: funding falling fast (longs de-crowding, shorts piling in).
    """
    z, ok = funding_change_z(x, 8)
    d, s = from_z(-z)
    return output(d, s, ok, x.w(RATE) - x.w(rate_back(8)))


@card(
    "predicted_funding_shift",
    "funding_rate",
    lookback=1,
    inputs=("funding_rate", "predicted_funding"),
    streams=(FUNDING,),
    windows=(RATE, PREDICTED),
    params={"std_floor": 2e-5},
)
def predicted_funding_shift(x: CardInput):
    """Predicted next funding against the current rate: where perp demand is heading.

    Formula: z = (predicted - f) / max(sd, std_floor), sd the EW std of funding (span 100).
    direction = tanh(z), strength = tanh(|z|/2). Value: predicted - f.
    Read as flow, not crowding: a predicted rate above the current one means the perp is
    being bid over spot right now.
    Positive: the next funding is heading up (buyers paying up now).
    """
    shift = x.w(PREDICTED) - funding_now(x)
    d, s = from_z(shift / jnp.maximum(x.std(FUNDING), x.p("std_floor")))
    return output(d, s, 1.0, shift)


@card(
    "premium_index",
    "funding_rate",
    lookback=50,
    inputs=("mark", "index"),
    streams=(PREMIUM,),
    windows=(MARK, INDEX),
    params={"std_floor": 1e-5},
)
def premium_index(x: CardInput):
    """Perpetual premium over the index (what funding will charge), against its history.

    Formula: p = (mark - index) / index on the open bar; z = (p - mean) / max(sd, std_floor), mean and
    sd the EW statistics of p (span 50 x mode scale), std_floor = 0.1 bp.
    direction = tanh(z), strength = tanh(|z|/2). Value: p in basis points.
    Positive: perp bid above spot more than usual (aggressive longs, momentum reading).
    """
    mark, index = x.w(MARK), x.w(INDEX)
    premium = safe_div(mark - index, index)
    z = (premium - x.mean(PREMIUM)) / jnp.maximum(x.std(PREMIUM), x.p("std_floor"))
    d, s = from_z(z)
    return output(d, s, jnp.where(index > 0, 1.0, 0.0), premium * 1e4)


@card(
    "funding_carry",
    "funding_rate",
    lookback=50,
    inputs=("funding_rate", "close"),
    streams=(RETURNS,),
    windows=(RATE,),
    params={"interval_seconds": 28_800.0, "carry_scale": 0.05},
)
def funding_carry(x: CardInput):
    """Carry of holding the perp against the price risk over one funding interval.

    Formula: c = -f / (sigma * sqrt(interval / bar_seconds)), the funding a long receives per
    interval over the interval's return volatility (sigma = EW std of 1-bar log returns, span
    50); direction = tanh(c / carry_scale) (carry_scale = 0.05), strength = |direction|.
    Value: c (a carry Sharpe ratio per interval).
    Positive: longs are paid enough funding to matter against the volatility they carry.
    Reference: Koijen, Moskowitz, Pedersen & Vrugt, "Carry" (2018).
    """
    horizon = jnp.sqrt(safe_div(x.p("interval_seconds"), x.bar_seconds, 1.0))
    value = safe_div(-funding_now(x), x.std(RETURNS) * horizon)
    d = jnp.tanh(value / x.p("carry_scale"))
    return output(d, jnp.abs(d), jnp.where(x.std(RETURNS) > 0, 1.0, 0.0), value)


@card(
    "cross_venue_funding_spread",
    "funding_rate",
    lookback=1,
    inputs=("funding_rate",) + VENUE_FUNDING,
    streams=(FUNDING,),
    windows=(RATE,) + VENUE_RATES,
    params={"std_floor": 2e-5},
)
def cross_venue_funding_spread(x: CardInput):
    """Primary-venue funding against the average over venues, read contrarian.

    Formula: s = f_primary - mean over venues with data of f_venue;
    z = s / max(sd, std_floor), sd the EW std of primary funding (span 100).
    direction = -tanh(z), strength = tanh(|z|/2). Value: s.
    Confidence: 0 unless at least two venues report (the primary counts as one).
    Positive: longs pay less on the primary venue than elsewhere (the primary's shorts crowded).
    """
    rates = jnp.stack([x.w(rate) for rate in VENUE_RATES], axis=-1)
    present = jnp.stack([x.has(rate) for rate in VENUE_RATES], axis=-1)
    spread = funding_now(x) - wmean(rates, present)
    d, s = from_z(-spread / jnp.maximum(x.std(FUNDING), x.p("std_floor")))
    return output(d, s, jnp.where(count(present) >= 2, 1.0, 0.0), spread)


@card(
    "funding_price_divergence",
    "funding_rate",
    lookback=12,
    inputs=("funding_rate", "close"),
    streams=(FUNDING_CHANGE, RETURNS),
    windows=(RATE, rate_back(12)) + move_windows(12),
    params={"change_floor": 1e-5},
)
def funding_price_divergence(x: CardInput):
    """Price and funding moving apart: who is adding into the move.

    Formula: zp = vol-normalized price move over n = 12 bars (see roc), zf = normalized funding
    change over the same bars (see funding_momentum); u = (zp - zf) / 2.
    direction = tanh(u), strength = tanh(|u|/2). Value: u.
    Positive: price rising while funding falls (shorts adding into a rally: squeeze fuel),
    or price falling less than funding (longs capitulating).
    """
    price_z, price_ok = move_z(x, 12)
    funding_z, funding_ok = funding_change_z(x, 12)
    value = 0.5 * (price_z - funding_z)
    d, s = from_z(value)
    return output(d, s, price_ok & funding_ok, value)
