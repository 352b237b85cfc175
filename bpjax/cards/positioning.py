"""Positioning: the long/short ratios venues publish about their users, and the taker ratio.

Ratios are read in logs: log(ratio) is 0 when balanced, positive when more long (or, for the
taker ratio, more taker buying), and negates when the sides swap. The crowd (all accounts) is
read contrarian, top traders' positions are followed; each card states its convention.

Sign convention: positive = the card expects price to rise.
"""

from __future__ import annotations

import jax.numpy as jnp

from bpjax.cards.base import CardInput, output, safe_log
from bpjax.cards.registry import card
from bpjax.features.streams import Stream
from bpjax.features.windows import Window

GLOBAL_LOG = Stream("positioning_log_global_ratio", 100)
TAKER_LOG = Stream("positioning_log_taker_ratio", 20)
GLOBAL = Window("lag", "ls_global_accounts", 0)
TOP_ACCOUNTS = Window("lag", "ls_top_accounts", 0)
TOP_POSITIONS = Window("lag", "ls_top_positions", 0)
GLOBAL_12 = Window("lag", "ls_global_accounts", 12)


def log_ratio_of(x: CardInput, window: Window):
    """log of a ratio field read through a window, and whether it is present and positive."""
    ratio = x.w(window)
    ok = x.has(window) & (ratio > 0)
    return jnp.where(ok, safe_log(ratio), 0.0), ok


@card(
    "crowd_contrarian",
    "positioning",
    lookback=1,
    inputs=("ls_global_accounts",),
    windows=(GLOBAL,),
    params={"log_scale": 0.3},
)
def crowd_contrarian(x: CardInput):
    """The crowd's lean, faded: long/short ratio of all accounts, read contrarian.

    Formula: g = log(global long/short account ratio); direction = -tanh(g / log_scale)
    (log_scale = 0.3: a ratio of 1.35 reads -0.76), strength = |direction|. Value: the ratio.
    Positive: most accounts are short (retail leaning against a move that tends to continue).
    Reference: retail positioning as a contrarian indicator, e.g. the CFTC COT / broker
    sentiment literature; Binance globalLongShortAccountRatio.
    """
    value, ok = log_ratio_of(x, GLOBAL)
    d = -jnp.tanh(value / x.p("log_scale"))
    return output(d, jnp.abs(d), ok, x.w(GLOBAL))


@card(
    "top_trader_positions",
    "positioning",
    lookback=1,
    inputs=("ls_top_positions",),
    windows=(TOP_POSITIONS,),
    params={"log_scale": 0.3},
)
def top_trader_positions(x: CardInput):
    """Follow the top traders' positions: their long/short ratio by position size.

    Formula: t = log(top-trader long/short position ratio); direction = tanh(t / log_scale)
    (log_scale = 0.3), strength = |direction|. Value: the ratio.
    Positive: the largest accounts hold more long than short exposure.
    Reference: Binance topLongShortPositionRatio.
    """
    value, ok = log_ratio_of(x, TOP_POSITIONS)
    d = jnp.tanh(value / x.p("log_scale"))
    return output(d, jnp.abs(d), ok, x.w(TOP_POSITIONS))


@card(
    "top_global_divergence",
    "positioning",
    lookback=1,
    inputs=("ls_top_accounts", "ls_global_accounts"),
    windows=(TOP_ACCOUNTS, GLOBAL),
    params={"log_scale": 0.3},
)
def top_global_divergence(x: CardInput):
    """Top traders against the crowd, account for account: who is long that the crowd is not.

    Formula: u = log(top-trader account ratio) - log(global account ratio), both long/short
    ratios by number of accounts; direction = tanh(u / log_scale) (log_scale = 0.3),
    strength = |direction|. Value: u.
    Positive: top accounts lean long relative to the crowd (informed longs, retail shorts).
    """
    top, top_ok = log_ratio_of(x, TOP_ACCOUNTS)
    crowd, crowd_ok = log_ratio_of(x, GLOBAL)
    value = top - crowd
    d = jnp.tanh(value / x.p("log_scale"))
    return output(d, jnp.abs(d), top_ok & crowd_ok, value)


@card(
    "crowd_ratio_momentum",
    "positioning",
    lookback=12,
    inputs=("ls_global_accounts",),
    windows=(GLOBAL, GLOBAL_12),
    params={"change_scale": 0.15},
)
def crowd_ratio_momentum(x: CardInput):
    """The crowd turning: change of the all-accounts long/short ratio over n bars, faded.

    Formula: m = log(ratio / ratio[-n]), n = 12 bars (x mode scale); direction = -tanh(m /
    change_scale) (change_scale = 0.15), strength = |direction|. Value: m.
    Confidence: 0 when the ratio n bars back is missing.
    Positive: accounts have been turning short (fuel for a move up).
    """
    now, now_ok = log_ratio_of(x, GLOBAL)
    before, before_ok = log_ratio_of(x, GLOBAL_12)
    value = now - before
    d = -jnp.tanh(value / x.p("change_scale"))
    return output(d, jnp.abs(d), now_ok & before_ok, value)


@card(
    "taker_ratio_regime",
    "positioning",
    lookback=20,
    inputs=("taker_ratio",),
    streams=(TAKER_LOG,),
    params={"log_scale": 0.2},
)
def taker_ratio_regime(x: CardInput):
    """Taker regime: the venue's taker buy/sell ratio, smoothed.

    Formula: k = EW mean (span 20 x mode scale) of log(taker buy/sell volume ratio);
    direction = tanh(k / log_scale) (log_scale = 0.2), strength = |direction|.
    Value: e^k (the smoothed ratio).
    Positive: takers have persistently bought more than they sold.
    Reference: Binance takerlongshortRatio.
    """
    value = x.mean(TAKER_LOG)
    d = jnp.tanh(value / x.p("log_scale"))
    return output(d, jnp.abs(d), 1.0, jnp.exp(value))


@card(
    "ratio_extreme_z",
    "positioning",
    lookback=100,
    inputs=("ls_global_accounts",),
    streams=(GLOBAL_LOG,),
    windows=(GLOBAL,),
    params={"std_floor": 0.02},
)
def ratio_extreme_z(x: CardInput):
    """Crowd positioning extreme against its own history, faded at the extremes.

    Formula: z = (log ratio - mean) / max(sd, std_floor), mean and sd the EW statistics of the
    log all-accounts long/short ratio (span 100 x mode scale), std_floor = 0.02.
    direction = -tanh(z) x clip(|z| / 2, 0, 1) (only stretched readings count fully),
    strength = |direction|. Value: z.
    Positive: the crowd is unusually short for this market.
    """
    value, ok = log_ratio_of(x, GLOBAL)
    z = (value - x.mean(GLOBAL_LOG)) / jnp.maximum(x.std(GLOBAL_LOG), x.p("std_floor"))
    d = -jnp.tanh(z) * jnp.clip(jnp.abs(z) / 2.0, 0.0, 1.0)
    return output(d, jnp.abs(d), ok, jnp.where(ok, z, 0.0))
