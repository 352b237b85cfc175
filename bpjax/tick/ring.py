"""Rolling bar history per timeframe, as ring buffers updated inside the jitted tick.

Layout: ``bars`` is (tf, lag, field, sym), the symbol axis innermost (every per-symbol
operation vectorizes over it); slot ``bar_index % lag`` of each timeframe holds that
bar, and ``slot_bar`` (tf, lag) remembers which bar a slot holds, so a slot left over
from before a gap is never read as recent history. All symbols share
bar boundaries (wall-clock time), so one slot index per timeframe serves every symbol.

Each tick writes exactly one row per timeframe (the open bar) with a scatter on the
donated buffer and reads a few rows back: O(sym x field) per tick whatever the
history length. Nothing here copies the history; rolling statistics over it are
streamed by :mod:`bpjax.features.windows`. When a tick
starts a new bar, the bar that just closed is handed out for committing the
streaming statistics, and level fields are carried into the new bar with the mask off.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from bpjax.core.fields import AGG_FIRST, AGG_MAX, AGG_MIN, AGG_SUM, AGGREGATION_CODES, IS_LEVEL
from bpjax.core.types import Array, Bool, Float, Int
from bpjax.features.series import Bar


class Ring(NamedTuple):
    bars: Float[Array, "tf lag field sym"]
    valid: Bool[Array, "tf lag field sym"]
    slot_bar: Int[Array, "tf lag"]  # bar index stored in each slot, -1 when empty
    last_bar: Int[Array, " tf"]  # bar index of the open bar, -1 before the first tick


class RingStep(NamedTuple):
    """What one tick's ring update hands to the rest of the tick (all rows (tf, field, sym))."""

    ring: Ring
    open_bar: Bar  # the bar this tick belongs to, with this tick folded in
    previous: Bar  # the bar before it (masked after a gap)
    closed: Bar  # the bar that closed this tick (masked unless new_bar)
    before_closed: Bar  # the bar before the closed one
    new_bar: Bool[Array, " tf"]


def init_ring(num_timeframes: int, num_symbols: int, lag: int, num_fields: int) -> Ring:
    return Ring(
        bars=jnp.zeros((num_timeframes, lag, num_fields, num_symbols), jnp.float32),
        valid=jnp.zeros((num_timeframes, lag, num_fields, num_symbols), bool),
        slot_bar=jnp.full((num_timeframes, lag), -1, jnp.int32),
        last_bar=jnp.full((num_timeframes,), -1, jnp.int32),
    )


def fold(bar, bar_valid, tick, tick_valid):
    """Fold one tick into a bar, field by field, by each field's aggregation rule.

    bar, tick: (..., field, sym); masks of the same shape. A masked side never contributes.
    """
    code = jnp.asarray(AGGREGATION_CODES).reshape((1,) * (bar.ndim - 2) + (-1, 1))
    both = bar_valid & tick_valid
    latest = jnp.where(tick_valid, tick, bar)  # "last", and the fallback of every rule
    out = jnp.where(code == AGG_FIRST, jnp.where(bar_valid, bar, tick), latest)
    out = jnp.where((code == AGG_MAX) & both, jnp.maximum(bar, tick), out)
    out = jnp.where((code == AGG_MIN) & both, jnp.minimum(bar, tick), out)
    summed = jnp.where(bar_valid, bar, 0.0) + jnp.where(tick_valid, tick, 0.0)
    out = jnp.where(code == AGG_SUM, summed, out)
    return out, bar_valid | tick_valid


def advance(
    ring: Ring,
    tick: Float[Array, "field sym"],
    tick_valid: Bool[Array, "field sym"],
    bar_index: Int[Array, " tf"],
) -> RingStep:
    """Fold this tick into the open bar of every timeframe, starting new bars on boundaries."""
    num_tf, lag = ring.bars.shape[:2]
    tf = jnp.arange(num_tf)
    slot = bar_index % lag
    new_bar = bar_index != ring.last_bar

    def row(bars, valid, slot_bar, index):
        """(tf, field, sym) rows of bar ``index`` per timeframe, valid only if the slot holds it."""
        slot_of = index % lag
        holds = (slot_bar[tf, slot_of] == index) & (index >= 0)
        return bars[tf, slot_of], valid[tf, slot_of] & holds[:, None, None]

    # Reads of the old buffers all feed the write below, so XLA orders them before it and
    # updates the donated ring in place. Everything else is read after the write (a read of
    # the old buffer that only a later consumer needs would force a copy of the whole ring).
    carried_from, _ = row(ring.bars, ring.valid, ring.slot_bar, ring.last_bar)
    current, current_valid = row(ring.bars, ring.valid, ring.slot_bar, bar_index)

    # a new bar starts from the last bar's levels (mask off) and empty flows
    level = jnp.asarray(IS_LEVEL)[None, :, None]
    carried = jnp.where(level, carried_from, 0.0)
    start = jnp.where(new_bar[:, None, None], carried, current)
    start_valid = current_valid & ~new_bar[:, None, None]
    tick_b = jnp.broadcast_to(tick, start.shape)
    tick_valid_b = jnp.broadcast_to(tick_valid, start.shape)
    open_bar, open_valid = fold(start, start_valid, tick_b, tick_valid_b)

    bars = ring.bars.at[tf, slot].set(open_bar)
    valid = ring.valid.at[tf, slot].set(open_valid)
    slot_bar = ring.slot_bar.at[tf, slot].set(bar_index)
    new_ring = Ring(bars, valid, slot_bar, bar_index)

    # after the write: a row whose slot was just overwritten (a gap of a multiple of the ring
    # length) reads as missing, which only costs the streams that one bar
    previous, previous_valid = row(bars, valid, slot_bar, bar_index - 1)
    closed, closed_valid = row(bars, valid, slot_bar, ring.last_bar)
    before_closed, before_closed_valid = row(bars, valid, slot_bar, ring.last_bar - 1)
    return RingStep(
        ring=new_ring,
        open_bar=Bar(open_bar, open_valid),
        previous=Bar(previous, previous_valid),
        closed=Bar(closed, closed_valid & new_bar[:, None, None]),
        before_closed=Bar(before_closed, before_closed_valid),
        new_bar=new_bar,
    )


def window_length(rows_needed: int) -> int:
    """Ring length: the rows the window features need (open bar and one bar of lag for returns
    included), rounded up to a multiple of 8."""
    return int(-(-max(rows_needed, 8) // 8) * 8)
