"""Basis / derivatives: the perpetual against spot (mark vs index) and against its last trade.

The premium p = (mark - index) / index is the perpetual's basis over the spot index, a
fraction (per funding interval it is what funding converges to). The level against its
history is the funding_rate category's premium_index card; these cards read its change,
its range, its volatility, its carry and its gap to funding and to the last trade.
Positive direction: the card expects price to rise; each card states its convention.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from bpjax.cards.base import CardInput, log_ratio, output, safe_div
from bpjax.cards.registry import card
from bpjax.features.streams import Stream
from bpjax.features.windows import Window

LN2 = math.log(2.0)
SECONDS_PER_YEAR = 365.0 * 86_400.0


PREMIUM = Stream("premium", 50)
PREMIUM_SLOW = Stream("premium", 200)
MARK_CLOSE = Stream("mark_close_gap", 50)
MARK = Window("lag", "mark", 0)
INDEX = Window("lag", "index", 0)
CLOSE = Window("lag", "close", 0)
RATE = Window("lag", "funding_rate", 0)
PREMIUM_MEAN_20 = Window("mean", "premium", 20)
PREMIUM_STD_20 = Window("std", "premium", 20)


def basis_windows(lookback: float = 0) -> tuple[Window, Window]:
    return Window("lag", "mark", lookback), Window("lag", "index", lookback)


def premium(x: CardInput, lookback: float = 0):
    """(mark - index) / index ``lookback`` bars back (0 = the open bar), and whether both exist."""
    mark, index = basis_windows(lookback)
    value = safe_div(x.w(mark) - x.w(index), x.w(index))
    return value, x.has(mark) & x.has(index) & (x.w(index) > 0) & (x.w(mark) > 0)


@card(
    "basis_momentum",
    "basis",
    lookback=8,
    inputs=("mark", "index"),
    streams=(PREMIUM,),
    windows=basis_windows(0) + basis_windows(8),
    params={"std_floor": 1e-5},
)
def basis_momentum(x: CardInput):
    """Basis momentum: the perpetual premium rising or falling over n bars.

    Formula: p = (mark - index) / index; c = p - p[-n], n = 8 bars (x mode scale);
    z = c / (sqrt(2) * max(sd, std_floor)), sd the EW std of p (span 50), std_floor = 0.1 bp.
    direction = tanh(z), strength = tanh(|z|/2). Value: c in bp.
    Confidence: 0 when either end is missing.
    Positive: the perp is being bid up against spot (leveraged demand building).
    """
    now, ok_now = premium(x)
    before, ok_before = premium(x, 8)
    change = now - before
    z = change / (math.sqrt(2.0) * jnp.maximum(x.std(PREMIUM), x.p("std_floor")))
    return output(jnp.tanh(z), jnp.tanh(jnp.abs(z) / 2.0), ok_now & ok_before, change * 1e4)


@card(
    "basis_funding_gap",
    "basis",
    lookback=50,
    inputs=("mark", "index", "funding_rate"),
    streams=(PREMIUM,),
    windows=basis_windows(0) + (RATE,),
    params={"std_floor": 1e-5},
)
def basis_funding_gap(x: CardInput):
    """Implied carry mismatch: the premium against the funding rate that should track it.

    Formula: g = p - f, p = (mark - index) / index and f the current funding rate (both per
    funding interval); z = g / max(sd, std_floor), sd the EW std of p (span 50), std_floor =
    0.1 bp. direction = tanh(z), strength = tanh(|z|/2). Value: g in bp.
    Positive: the perp trades richer than funding charges for (buyers paying up in price before
    funding catches up); negative: funding expensive for a perp that is no longer rich.
    """
    value, ok = premium(x)
    gap = value - x.w(RATE)
    z = gap / jnp.maximum(x.std(PREMIUM), x.p("std_floor"))
    return output(jnp.tanh(z), jnp.tanh(jnp.abs(z) / 2.0), ok & x.has(RATE), gap * 1e4)


@card(
    "basis_reversion",
    "basis",
    lookback=20,
    inputs=("mark", "index"),
    windows=basis_windows(0) + (PREMIUM_MEAN_20, PREMIUM_STD_20),
    params={"std_floor": 1e-5},
)
def basis_reversion(x: CardInput):
    """Basis mean reversion: a premium stretched from its recent average, read contrarian.

    Formula: z = (p - SMA_n(p)) / max(SD_n(p), std_floor), SMA and SD the mean and population
    std of p = (mark - index) / index over the last n = 20 bars (x mode scale), std_floor =
    0.1 bp. direction = -tanh(z), strength = tanh(|z|/2). Value: z.
    Positive: the premium has collapsed below its recent range (perp sold too hard against
    spot, expected to snap back).
    """
    value, ok = premium(x)
    z = (value - x.w(PREMIUM_MEAN_20)) / jnp.maximum(x.w(PREMIUM_STD_20), x.p("std_floor"))
    return output(-jnp.tanh(z), jnp.tanh(jnp.abs(z) / 2.0), ok & x.has(PREMIUM_MEAN_20), z)


@card(
    "mark_close_gap",
    "basis",
    lookback=50,
    inputs=("mark", "close"),
    streams=(MARK_CLOSE,),
    windows=(MARK, CLOSE),
    params={"std_floor": 1e-6},
)
def mark_close_gap(x: CardInput):
    """Mark price against the last trade: where the venue's fair price sits relative to the tape.

    Formula: g = log(mark / close) on the open bar; z = g / max(sd, std_floor), sd the EW std of
    g (span 50 x mode scale), std_floor = 0.01 bp. direction = tanh(z), strength =
    tanh(|z|/2). Value: g in bp.
    Positive: the last trade printed below the mark (trades expected to lift towards fair value).
    """
    mark, close = x.w(MARK), x.w(CLOSE)
    gap = log_ratio(mark, close)
    z = gap / jnp.maximum(x.std(MARK_CLOSE), x.p("std_floor"))
    ok = x.has(MARK) & x.has(CLOSE) & (mark > 0) & (close > 0)
    return output(jnp.tanh(z), jnp.tanh(jnp.abs(z) / 2.0), ok, gap * 1e4)


@card(
    "basis_carry",
    "basis",
    lookback=1,
    inputs=("mark", "index", "funding_rate"),
    windows=basis_windows(0) + (RATE,),
    params={"interval_seconds": 28_800.0, "hurdle": 0.2},
)
def basis_carry(x: CardInput):
    """Annualized cash-and-carry yield of shorting the perp against spot, read contrarian.

    Formula: c = (f + p) * (seconds per year / interval_seconds): the funding a short perp
    receives per interval plus the premium p = (mark - index) / index it earns on convergence,
    annualized over funding intervals of 8 h (interval_seconds = 28 800).
    direction = -tanh(c / hurdle) (hurdle = 20 % a year), strength = |direction|.
    Value: c (fraction per year).
    Positive: the carry pays longs (negative funding and a discount): arbitrage buys the perp.
    Reference: Koijen, Moskowitz, Pedersen & Vrugt, "Carry" (2018).
    """
    value, ok = premium(x)
    per_year = safe_div(SECONDS_PER_YEAR, x.p("interval_seconds"))
    carry = (x.w(RATE) + value) * per_year
    d = -jnp.tanh(carry / x.p("hurdle"))
    return output(d, jnp.abs(d), ok & x.has(RATE), carry)


@card(
    "basis_volatility_regime",
    "basis",
    lookback=200,
    inputs=("mark", "index"),
    streams=(PREMIUM_SLOW,),
    windows=basis_windows(0) + (PREMIUM_STD_20,),
    params={"std_floor": 1e-5},
)
def basis_volatility_regime(x: CardInput):
    """Basis turbulence: a premium that swings more than usual, read against its sign.

    Formula: ratio = SD_20(p) / sd_slow, SD_20 the population std of p = (mark - index) / index
    over the last 20 bars and sd_slow the EW std of p (span 200), both x mode scale;
    e = clip(log(ratio) / log 2, 0, 1) (1 = twice the usual basis volatility).
    direction = -tanh(p / max(sd_slow, std_floor)) * e (std_floor = 0.1 bp),
    strength = |direction|. Value: ratio.
    Positive: a perp at a discount while the basis is turbulent (shorts paying up in a
    disorderly market, squeeze risk); a calm basis reads neutral.
    """
    value, ok = premium(x)
    short, slow = x.w(PREMIUM_STD_20), x.std(PREMIUM_SLOW)
    excess = jnp.clip(log_ratio(short, slow) / LN2, 0.0, 1.0)
    d = -jnp.tanh(value / jnp.maximum(slow, x.p("std_floor"))) * excess
    return output(d, jnp.abs(d), ok & (slow > 0), safe_div(short, slow))
