"""Cross-exchange: the same perpetual quoted on several venues, and what their differences say.

Venue mids are read as log distances from the primary venue's mid (``mid``), so they are
exact in float32 and reflect exactly when prices are mirrored. The primary venue is one of
the venues (its own venue mid equals ``mid``).
Positive direction: the card expects the primary venue's price to rise (a venue leading up,
the primary lagging a rise elsewhere); each card states its convention.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from bpjax.cards.base import CardInput, log_ratio, output, safe_div, wmean
from bpjax.cards.registry import card, cross_section_card
from bpjax.features.series import VENUE_FUNDING, VENUE_MIDS, venue_log_distances, venue_moments
from bpjax.features.streams import Stream
from bpjax.features.windows import Window

LN2 = math.log(2.0)


DISPERSION = Stream("venue_mid_dispersion", 50)
PREMIUM = Stream("primary_venue_premium", 50)
FUNDING_DISPERSION = Stream("venue_funding_dispersion", 50)
LEAD = Stream("venue_premium_lead", 100)
PREMIUM_SLOW = Stream("primary_venue_premium", 100)
RETURNS_SLOW = Stream("log_return", 100)

MID = Window("lag", "mid", 0)
MIDS = tuple(Window("lag", name, 0) for name in VENUE_MIDS)
RATES = tuple(Window("lag", name, 0) for name in VENUE_FUNDING)


def mids_back(lookback: float) -> tuple[Window, ...]:
    return (Window("lag", "mid", lookback),) + tuple(Window("lag", name, lookback) for name in VENUE_MIDS)


def venue_logs(x: CardInput, lookback: float = 0):
    """log(venue mid / mid) per venue ``lookback`` bars back (0 = the open bar), and presence."""
    windows = dict(zip(("mid",) + VENUE_MIDS, mids_back(lookback), strict=True))
    anchor = windows["mid"]
    return venue_log_distances(
        lambda name: x.w(windows[name]), lambda name: x.has(windows[name]), x.w(anchor), x.has(anchor)
    )


def premium(x: CardInput, lookback: float = 0):
    """Primary venue premium: log(mid) - mean over venues with data of log(venue mid); and whether at
    least two venues report."""
    mean, _, n = venue_moments(*venue_logs(x, lookback))
    return -mean, n >= 2


@cross_section_card(
    "venue_mid_dispersion",
    "cross_exchange",
    lookback=50,
    inputs=("mid",) + VENUE_MIDS,
    streams=(DISPERSION,),
    windows=mids_back(0),
    mirror=False,
)
def venue_mid_dispersion(x: CardInput):
    """Venue mids pulling apart, on this symbol and across the market: read as risk-off.

    Formula: D = population std over venues with data of log(venue mid / mid);
    e = clip(log(D / mean) / log 2, 0, 1), mean the EW mean of D (span 50 x mode scale):
    1 = twice the symbol's usual dispersion; m = mean of e over the symbols where it exists
    (how much of the market is fragmented at once). r = (e + m) / 2; direction = -r,
    strength = r. Value: D in bp.
    Confidence: 0 unless at least two venues report for the symbol and it has a usual level.
    Deliberately one-sided (mirror=False): dispersion has no price direction; arbitrage capital
    stretched thin shows up in stress and de-leveraging, so it reads bearish. Venue gaps
    co-move across coins when arbitrage capital is short, so the market-wide share is part
    of every symbol's reading.
    Positive: never; 0 when venues agree as usual everywhere.
    Reference: Makarov & Schoar, "Trading and arbitrage in cryptocurrency markets" (2020).
    """
    _, var, n = venue_moments(*venue_logs(x))
    dispersion, usual = jnp.sqrt(var), x.mean(DISPERSION)
    ok = (n >= 2) & (usual > 0)
    excess = jnp.clip(log_ratio(dispersion, usual) / LN2, 0.0, 1.0)
    reading = jnp.where(ok, 0.5 * (excess + wmean(excess, ok)), 0.0)
    return output(-reading, reading, ok, dispersion * 1e4)


@card(
    "primary_venue_premium",
    "cross_exchange",
    lookback=50,
    inputs=("mid",) + VENUE_MIDS,
    streams=(PREMIUM,),
    windows=mids_back(0),
    params={"std_floor": 1e-5},
)
def primary_venue_premium(x: CardInput):
    """Primary venue bid above the other venues: the price-discovery venue leading the move.

    Formula: p = log(mid) - mean over venues with data of log(venue mid);
    z = (p - mean) / max(sd, std_floor), mean and sd the EW statistics of p (span 50 x mode
    scale), std_floor = 0.1 bp. direction = tanh(z), strength = tanh(|z|/2). Value: p in bp.
    Confidence: 0 unless at least two venues report.
    Positive: the primary venue trades rich to the others more than usual (buyers arriving
    there first).
    Reference: Brandvold, Molnar, Vagstad & Valstad, "Price discovery on Bitcoin exchanges" (2015).
    """
    value, ok = premium(x)
    z = (value - x.mean(PREMIUM)) / jnp.maximum(x.std(PREMIUM), x.p("std_floor"))
    return output(jnp.tanh(z), jnp.tanh(jnp.abs(z) / 2.0), ok, value * 1e4)


@card(
    "venue_leader_skew",
    "cross_exchange",
    lookback=1,
    inputs=("mid",) + VENUE_MIDS,
    windows=mids_back(0),
)
def venue_leader_skew(x: CardInput):
    """One venue stretched away from the pack: the venue with the extreme mid is leading.

    Formula: l_v = log(venue mid / mid) for every venue; s = (max + min - 2 median) / (max - min)
    in [-1, 1]: 1 when one venue quotes far above the others (the rest bunched at the bottom),
    -1 when one quotes far below. direction = s, strength = |s|. Value: s.
    Confidence: 0 unless every venue reports and they differ.
    Positive: a single venue is bidding the price up ahead of the others.
    """
    logs, oks = venue_logs(x)
    stacked = jnp.stack(logs, axis=-1)
    highest, lowest = jnp.max(stacked, axis=-1), jnp.min(stacked, axis=-1)
    middle = jnp.median(stacked, axis=-1)
    value = jnp.clip(safe_div(highest + lowest - 2.0 * middle, highest - lowest), -1.0, 1.0)
    ok = oks[0]
    for present in oks[1:]:
        ok = ok & present
    return output(value, jnp.abs(value), ok & (highest > lowest), value)


@card(
    "venue_funding_dispersion",
    "cross_exchange",
    lookback=50,
    inputs=VENUE_FUNDING,
    streams=(FUNDING_DISPERSION,),
    windows=RATES,
    params={"rate_scale": 1e-4},
)
def venue_funding_dispersion(x: CardInput):
    """Venues disagreeing on funding more than usual, read contrarian on the average rate.

    Formula: f = mean over venues with data of the venue funding rates, s = their population
    std; e = clip(log(s / mean_s) / log 2, 0, 1), mean_s the EW mean of s (span 50 x mode scale).
    direction = -tanh(f / rate_scale) * e (rate_scale = 0.01 % per interval),
    strength = |direction|. Value: s.
    Confidence: 0 unless at least two venues report.
    Positive: shorts paying on average while venues disagree unusually (a crowded short side
    paying unevenly across venues, squeeze risk); normal dispersion reads neutral.
    """
    rates = [x.w(rate) for rate in RATES]
    mean, var, n = venue_moments(rates, [x.has(rate) for rate in RATES])
    dispersion, usual = jnp.sqrt(var), x.mean(FUNDING_DISPERSION)
    excess = jnp.clip(log_ratio(dispersion, usual) / LN2, 0.0, 1.0)
    d = -jnp.tanh(mean / x.p("rate_scale")) * excess
    return output(d, jnp.abs(d), (n >= 2) & (usual > 0), dispersion)


@card(
    "cross_venue_momentum_gap",
    "cross_exchange",
    lookback=10,
    inputs=("mid",) + VENUE_MIDS,
    streams=(PREMIUM,),
    windows=mids_back(0) + mids_back(10),
    params={"std_floor": 1e-5},
)
def cross_venue_momentum_gap(x: CardInput):
    """Momentum gap between venues: the primary lagging (or outrunning) the others over n bars.

    Formula: g = p - p[-n], p the primary venue premium (see primary_venue_premium), n = 10 bars
    (x mode scale): the primary's log move minus the venues' mean log move over the window.
    z = g / (sqrt(2) * max(sd, std_floor)), sd the EW std of p (span 50), std_floor = 0.1 bp.
    direction = -tanh(z), strength = tanh(|z|/2). Value: g in bp.
    Confidence: 0 unless two venues report at both ends.
    Positive: the other venues rose more than the primary (arbitrage pulls the primary up).
    """
    now, ok_now = premium(x)
    before, ok_before = premium(x, 10)
    gap = now - before
    z = gap / (math.sqrt(2.0) * jnp.maximum(x.std(PREMIUM), x.p("std_floor")))
    return output(-jnp.tanh(z), jnp.tanh(jnp.abs(z) / 2.0), ok_now & ok_before, gap * 1e4)


@card(
    "venue_lead_lag",
    "cross_exchange",
    lookback=100,
    inputs=("close", "mid") + VENUE_MIDS,
    streams=(LEAD, PREMIUM_SLOW, RETURNS_SLOW),
    windows=mids_back(0),
    params={"lead_scale": 0.1},
)
def venue_lead_lag(x: CardInput):
    """Learned lead-lag: how the primary venue premium has predicted the next bar, applied now.

    Formula: p = primary venue premium (see primary_venue_premium), r = 1-bar log return of the
    close; beta = (E[r_t p_(t-1)] - E[r] E[p]) / Var(p), EW moments over span 100 (x mode scale):
    the slope of the next bar's return on the premium. z = beta * p / sigma, sigma the EW std
    of r (span 100). direction = tanh(z / lead_scale) (lead_scale = 0.1),
    strength = |direction|. Value: beta.
    Confidence: 0 before the premium has varied or without two venues.
    Positive: the current premium points up in a market where it has led returns (or points
    down where it has lagged them).
    Reference: Hasbrouck, "One security, many markets" (1995).
    """
    value, ok = premium(x)
    var = x.std(PREMIUM_SLOW) * x.std(PREMIUM_SLOW)
    beta = safe_div(x.mean(LEAD) - x.mean(RETURNS_SLOW) * x.mean(PREMIUM_SLOW), var)
    sigma = x.std(RETURNS_SLOW)
    z = safe_div(beta * value, sigma)
    d = jnp.tanh(z / x.p("lead_scale"))
    return output(d, jnp.abs(d), ok & (var > 0) & (sigma > 0), beta)
