"""Price features several card categories read: the open bar's close and past closes, the
volatility-normalized move, the EMAs, rolling extremes, the benchmark blocks of the
cross-sectional cards, and the price noise over a horizon.

Declarations are static (a :class:`~bpjax.features.streams.Stream` or
:class:`~bpjax.features.windows.Window` is computed once per tick for every card that names
it, however many do); the helper functions read them from a card's
:class:`~bpjax.cards.base.CardInput` and are elementwise, like the cards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax.numpy as jnp

from bpjax.features.ops import log_ratio, safe_div
from bpjax.features.streams import Stream
from bpjax.features.windows import Window

if TYPE_CHECKING:
    from bpjax.cards.base import CardInput

RETURNS = Stream("log_return", 50)  # per-bar return volatility used to normalize moves
EMA_FAST = Stream("close", 12)
EMA_SLOW = Stream("close", 26)
CLOSE = Window("lag", "close", 0)  # the open bar's close


def close_back(lookback: float) -> Window:
    """The close ``lookback`` bars (x mode scale) before the open bar."""
    return Window("lag", "close", lookback)


def move_windows(lookback: float) -> tuple[Window, ...]:
    return (CLOSE, close_back(lookback))


def move_z(x: CardInput, lookback: float):
    """z-score of the log move over n = round(lookback x scale) bars,
    log(close / close[-n]) / (sigma sqrt(n)), sigma the EW std of 1-bar log returns (span 50);
    and whether both closes are present. Cards using it declare ``move_windows(lookback)`` and
    the ``RETURNS`` stream."""
    past = close_back(lookback)
    close, before = x.w(CLOSE), x.w(past)
    ok = x.has(CLOSE) & x.has(past) & (close > 0) & (before > 0)
    move = jnp.where(ok, log_ratio(close, before), 0.0)
    return safe_div(move, x.std(RETURNS) * jnp.sqrt(x.n(lookback))), ok


PATH_10 = Window("sum", "abs_change", 10)


HIGHEST_20 = Window("max", "high", 20)


LOWEST_20 = Window("min", "low", 20)


PRIOR_HIGH_20 = Window("max", "high", 20, offset=1)


PRIOR_LOW_20 = Window("min", "low", 20, offset=1)
BLOCK_BARS = 2  # bars per block at day-mode scale
BLOCKS = 8
BLOCK_LAGS = tuple(BLOCK_BARS * k for k in range(BLOCKS + 1))  # 0, 2, ..., 16
BLOCK_CLOSES = tuple(Window("lag", "close", lag) for lag in BLOCK_LAGS)
BLOCK_LOOKBACK = BLOCK_LAGS[-1] + 1


def block_returns(x: CardInput):
    """(block, sym) log returns of the close over consecutive 2-bar blocks (block 0 ends at the
    open bar) and where both ends are present. Cards using it declare ``BLOCK_CLOSES``."""
    closes = jnp.stack([x.w(w) for w in BLOCK_CLOSES])
    present = jnp.stack([x.has(w) for w in BLOCK_CLOSES]) & (closes > 0)
    ok = present[:-1] & present[1:]
    return jnp.where(ok, log_ratio(closes[:-1], closes[1:]), 0.0), ok


def horizon(x: CardInput, lookback: float):
    """Price noise over n bars: sigma sqrt(n), sigma the EW std of 1-bar log returns (span 50)."""
    return x.std(RETURNS) * jnp.sqrt(x.n(lookback))
