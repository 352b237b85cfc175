"""Funding clock and sessions: readings that depend on where the tick sits in time.

Perpetual funding settles on a fixed clock (every 8 h on the major venues): positioning
bends around the settlement. Crypto trades around the clock, but activity follows the
Asia / Europe / US sessions and thins out at the weekend. The cards weight a market
reading (funding, a move) by a time profile from ``funding_time_left`` or the wall clock
(``x.clock`` = sin/cos of the UTC hour of day and of the day of week), so a flat market
reads neutral at any hour.
Positive direction: the card expects price to rise.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from bpjax.cards.base import CardInput, output, safe_div
from bpjax.cards.registry import card
from bpjax.features.price import RETURNS, move_windows, move_z
from bpjax.features.windows import Window

RATE = Window("lag", "funding_rate", 0)
TIME_LEFT = Window("lag", "funding_time_left", 0)
RECENT_VOLUME_5 = Window("mean", "volume", 5, offset=1)
USUAL_VOLUME_50 = Window("mean", "volume", 50, offset=1)


def cyclic_weight(sin_t, cos_t, center_angle):
    """0.5 + 0.5 cos(t - center): 1 at the center of the cycle, 0 half a cycle away."""
    return 0.5 + 0.5 * (cos_t * jnp.cos(center_angle) + sin_t * jnp.sin(center_angle))


@card(
    "pre_funding_pressure",
    "funding_clock",
    lookback=1,
    inputs=("funding_rate", "funding_time_left"),
    windows=(RATE, TIME_LEFT),
    params={"funding_scale": 2e-4, "horizon_seconds": 28_800.0},
)
def pre_funding_pressure(x: CardInput):
    """Pre-funding positioning: the paying side closes before the settlement, more so as it nears.

    Formula: w = exp(-time_left / horizon) (horizon = 8 h: w = 0.37 just after a settlement,
    1 at the settlement); direction = -tanh(f / funding_scale) * w (funding_scale = 0.02 % per
    interval), strength = |direction|. Value: hours to the next funding.
    Confidence: 0 without the rate or the time to funding.
    Positive: shorts are paying (negative funding) and the settlement is near (shorts cover).
    """
    rate, time_left = x.w(RATE), x.w(TIME_LEFT)
    proximity = jnp.exp(-jnp.maximum(time_left, 0.0) / x.p("horizon_seconds"))
    d = -jnp.tanh(rate / x.p("funding_scale")) * proximity
    return output(d, jnp.abs(d), x.has(RATE) & x.has(TIME_LEFT), time_left / 3600.0)


@card(
    "post_funding_reversal",
    "funding_clock",
    lookback=8,
    inputs=("close", "funding_time_left"),
    streams=(RETURNS,),
    windows=move_windows(8) + (TIME_LEFT,),
    params={"interval_seconds": 28_800.0, "decay_seconds": 7_200.0},
)
def post_funding_reversal(x: CardInput):
    """Post-funding reversal: the move made into and through the settlement tends to unwind after it.

    Formula: since = clip(interval - time_left, 0, interval) (interval = 8 h), the seconds since
    the last settlement; w = exp(-since / decay) (decay = 2 h); z = vol-normalized move over
    n = 8 bars (see roc). direction = -tanh(z) * w, strength = |direction|.
    Value: hours since the last funding.
    Confidence: 0 without the time to funding or the close n bars back.
    Positive: price fell into a settlement that has just passed (the selling unwinds).
    """
    interval = x.p("interval_seconds")
    since = jnp.clip(interval - x.w(TIME_LEFT), 0.0, interval)
    recency = jnp.exp(-since / x.p("decay_seconds"))
    z, ok = move_z(x, 8)
    d = -jnp.tanh(z) * recency
    return output(d, jnp.abs(d), ok & x.has(TIME_LEFT), since / 3600.0)


@card(
    "session_momentum",
    "funding_clock",
    lookback=12,
    inputs=("close",),
    streams=(RETURNS,),
    windows=move_windows(12),
    params={"peak_hour": 15.0},
)
def session_momentum(x: CardInput):
    """Session momentum: moves made in the active sessions carry, moves in the quiet hours do not.

    Formula: a = 0.5 + 0.5 cos(2 pi (hour - peak_hour) / 24), the session activity profile of
    the UTC hour (peak_hour = 15: the Europe / US overlap; lowest at 03 UTC, late Asia),
    computed from the clock's sin/cos of the hour; z = vol-normalized move over n = 12 bars
    (see roc). direction = tanh(z) * a, strength = |direction|. Value: a.
    Confidence: 0 without the close n bars back.
    Positive: price rising during the active sessions.
    Reference: Eross, McGroarty, Urquhart & Wolfe, "The intraday dynamics of bitcoin" (2019).
    """
    peak = 2.0 * math.pi * x.p("peak_hour") / 24.0
    activity = cyclic_weight(x.clock[0], x.clock[1], peak)
    z, ok = move_z(x, 12)
    d = jnp.tanh(z) * activity
    return output(d, jnp.abs(d), ok, activity)


@card(
    "weekend_fade",
    "funding_clock",
    lookback=50,
    inputs=("close", "volume"),
    streams=(RETURNS,),
    windows=move_windows(24) + (RECENT_VOLUME_5, USUAL_VOLUME_50),
    params={"center_day": 6.0},
)
def weekend_fade(x: CardInput):
    """Weekend effect: moves made on thin weekend liquidity tend to fade.

    Formula: k = 0.5 + 0.5 cos(2 pi (day - center_day) / 7), day = days since Monday 00:00 UTC
    from the clock's sin/cos of the weekday (center_day = 6: Sunday 00:00, the middle of the
    weekend); thin = 2 * V50 / (V50 + V5), V5 and V50 the mean volume of the last 5 and 50 closed
    bars (1 at usual volume, up to 2 when volume dried up; 1 without volume);
    z = vol-normalized move over n = 24 bars (see roc).
    direction = clip(-tanh(z) * k * thin, -1, 1), strength = |direction|. Value: k.
    Confidence: 0 without the close n bars back.
    Positive: price fell over the weekend on thin volume (expected to recover).
    Reference: Caporale & Plastun, "The day of the week effect in the cryptocurrency market" (2019).
    """
    center = 2.0 * math.pi * x.p("center_day") / 7.0
    weekend = cyclic_weight(x.clock[2], x.clock[3], center)
    recent, usual = x.w(RECENT_VOLUME_5), x.w(USUAL_VOLUME_50)
    thin = jnp.where(usual > 0, safe_div(2.0 * usual, usual + recent, 1.0), 1.0)
    z, ok = move_z(x, 24)
    d = jnp.clip(-jnp.tanh(z) * weekend * thin, -1.0, 1.0)
    return output(d, jnp.abs(d), ok, weekend)
