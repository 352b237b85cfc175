"""Derivatives features several card categories read: funding, the premium, mark and index
prices, and open interest with its volatility-normalized change.

Like :mod:`bpjax.features.price`: static declarations, and elementwise helpers that read them
from a card's :class:`~bpjax.cards.base.CardInput`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax.numpy as jnp

from bpjax.features.ops import log_ratio, safe_div
from bpjax.features.streams import Stream
from bpjax.features.windows import Window

if TYPE_CHECKING:
    from bpjax.cards.base import CardInput

FUNDING = Stream("funding_rate", 100)
PREMIUM = Stream("premium", 50)
RATE = Window("lag", "funding_rate", 0)
MARK = Window("lag", "mark", 0)
INDEX = Window("lag", "index", 0)
OI_CHANGE = Stream("oi_log_change", 50)
OI_LEVEL = Stream("open_interest", 200)
OI = Window("lag", "open_interest", 0)


def oi_back(lookback: float) -> Window:
    return Window("lag", "open_interest", lookback)


def oi_windows(lookback: float) -> tuple[Window, ...]:
    return (OI, oi_back(lookback))


def oi_change(x: CardInput, lookback: float):
    """Log change of open interest over n bars, its z-score against the 1-bar change volatility
    (EW span 50) scaled by sqrt(n), and whether both ends are present. Cards using it declare
    ``oi_windows(lookback)`` and the OI_CHANGE stream."""
    past = oi_back(lookback)
    now, before = x.w(OI), x.w(past)
    both = x.has(OI) & x.has(past) & (before > 0) & (now > 0)
    change = jnp.where(both, log_ratio(now, before), 0.0)
    return change, safe_div(change, x.std(OI_CHANGE) * jnp.sqrt(x.n(lookback))), both
