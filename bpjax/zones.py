"""The liquidation zone engine, steps 1 and 2 of SPEC section 6: where leveraged positions would
be forced out, on a price grid per symbol, as tensor operations for the jitted tick.

The grid. Each symbol has ``bins`` price bins, equally spaced in log price, ``range`` (log
units) either side of a centre that follows the price: when the price leaves the centre by
more than ``recentre_bins`` bins, the grid moves by a whole number of bins and every bin's
mass moves with its price; mass that would leave the grid is kept in the edge bin, so nothing
is ever lost. All arrays are (side, bin, sym): side 0 is long positions (liquidated below
the price, by a sell), side 1 short positions (liquidated above, by a buy); the symbol axis is
innermost like every device array of the engine.

Step 1, estimated levels. Each tick, the notional of newly opened interest (the rise in open
interest x price; where a history has no open interest, traded notional stands in and the
caller says so) is split between longs and shorts by ``long_share`` and over the leverage
tiers by ``leverage_weights``. A tier's positions, opened at the tick's price P with leverage
L and maintenance margin rate m, are liquidated at (isolated margin, fees ignored)::

    long:  P x (1 - 1/L + m)        short: P x (1 + 1/L - m)

Their notional is placed there, split linearly between the two nearest bins (so a level's
mass-weighted price is kept exactly). Levels fade with half-life ``half_life_hours``; a level
that price trades through is removed: long mass in every bin at or above the tick's low,
short mass at or below its high. Those removals are the model's predicted liquidations.

Step 2, realized liquidations: each tick's force-closed notional per side is added at the
tick's price and kept as a cumulative, fading (``realized_half_life_hours``) profile.

Conservation: per side, the notional added equals the notional faded plus the notional
removed by price plus what remains on the grid (tests hold it over long random runs).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from bpjax.config import ZonesConfig
from bpjax.types import Array, Float

LONG, SHORT = 0, 1


class ZoneState(NamedTuple):
    centre: Float[Array, " sym"]  # log price of the grid's middle; NaN until the symbol's first price
    estimated: Float[Array, "2 bin sym"]  # notional of estimated liquidation levels per side
    realized: Float[Array, "2 bin sym"]  # cumulative realized liquidation notional per side


class ZoneInputs(NamedTuple):
    """One tick of a symbol's market, from the snapshot (all (sym,))."""

    price: Float[Array, " sym"]  # last price (where new positions open and liquidations print)
    low: Float[Array, " sym"]
    high: Float[Array, " sym"]
    new_notional: Float[Array, " sym"]  # interest opened this tick (quote), >= 0
    long_share: Float[Array, " sym"]  # share of it opened by longs, [0, 1]
    liq_long: Float[Array, " sym"]  # long notional force-closed this tick
    liq_short: Float[Array, " sym"]
    valid: Array  # (sym,) bool: a price this tick (otherwise the symbol only fades)


class ZoneFlows(NamedTuple):
    """What moved this tick, per (side, sym): for outputs and the conservation ledger."""

    added: Float[Array, "2 sym"]
    faded: Float[Array, "2 sym"]
    removed: Float[Array, "2 sym"]  # predicted liquidations: levels price traded through


class ZoneGrid:
    """Static layout and parameters of the zone grid for one config."""

    def __init__(self, zones: ZonesConfig, tick_seconds: float):
        self.bins = zones.bins
        self.width = 2.0 * zones.range / zones.bins  # log price per bin
        self.recentre = zones.recentre_bins
        weights = np.asarray(zones.leverage_weights, np.float64)
        self.tier_weights = (weights / weights.sum()).astype(np.float32)
        leverage = np.asarray(zones.leverage, np.float64)
        margin = np.asarray(zones.maintenance_margin, np.float64)
        # liquidation price over entry price, per tier: long below, short above
        self.long_ratio, self.short_ratio = liquidation_ratios(leverage, margin)
        self.long_offset = np.log(self.long_ratio).astype(np.float32)
        self.short_offset = np.log(self.short_ratio).astype(np.float32)
        self.fade = np.float32(0.5 ** (tick_seconds / (zones.half_life_hours * 3600.0)))
        self.realized_fade = np.float32(0.5 ** (tick_seconds / (zones.realized_half_life_hours * 3600.0)))
        self.offsets = ((np.arange(self.bins) - (self.bins - 1) / 2.0) * self.width).astype(np.float32)

    def init(self, symbols: int) -> ZoneState:
        """Empty grids, not yet centred (NaN centre: placed at the symbol's first price)."""
        zeros = jnp.zeros((2, self.bins, symbols), jnp.float32)
        return ZoneState(jnp.full((symbols,), jnp.nan, jnp.float32), zeros, zeros)

    def prices(self, state: ZoneState) -> Float[Array, "bin sym"]:
        """Price at every bin's middle (around 1 for a symbol that never had a price)."""
        centre = jnp.where(jnp.isnan(state.centre), 0.0, state.centre)
        return jnp.exp(centre[None, :] + jnp.asarray(self.offsets)[:, None])

    # --- the tick -----------------------------------------------------------------------------------
    def step(self, state: ZoneState, x: ZoneInputs) -> tuple[ZoneState, ZoneFlows]:
        log_price = jnp.log(jnp.where(x.valid & (x.price > 0), x.price, 1.0))
        state = self._recentre(state, log_price, x.valid)
        prices = self.prices(state)

        # fade
        faded = state.estimated * (1.0 - self.fade)
        estimated = state.estimated * self.fade
        realized = state.realized * self.realized_fade

        # levels price traded through are liquidated (removed): longs at or above the low,
        # shorts at or below the high
        low = jnp.where(x.valid, x.low, jnp.inf)[None, :]  # no price this tick: nothing crossed
        high = jnp.where(x.valid, x.high, 0.0)[None, :]
        crossed = jnp.stack([prices >= low, prices <= high])  # (side, bin, sym)
        removed = jnp.where(crossed, estimated, 0.0)
        estimated = estimated - removed

        # new positions at this tick's price, over the leverage tiers
        notional = jnp.where(x.valid, jnp.maximum(x.new_notional, 0.0), 0.0)
        share = jnp.clip(x.long_share, 0.0, 1.0)
        tiers = jnp.asarray(self.tier_weights)[:, None]  # (tier, 1)
        long_mass = tiers * (notional * share)[None, :]  # (tier, sym)
        short_mass = tiers * (notional * (1.0 - share))[None, :]
        long_at = log_price[None, :] + jnp.asarray(self.long_offset)[:, None]
        short_at = log_price[None, :] + jnp.asarray(self.short_offset)[:, None]
        added_levels = jnp.stack(
            [
                self._deposit(state.centre, long_at, long_mass),
                self._deposit(state.centre, short_at, short_mass),
            ]
        )
        estimated = estimated + added_levels

        # realized liquidations at this tick's price
        liq = jnp.maximum(jnp.stack([x.liq_long, x.liq_short]), 0.0)  # (side, sym)
        liq = jnp.where(x.valid[None, :], liq, 0.0)
        realized = realized + jnp.stack(
            [self._deposit(state.centre, log_price[None, :], liq[side][None, :]) for side in (LONG, SHORT)]
        )

        flows = ZoneFlows(
            added=jnp.stack([jnp.sum(long_mass, axis=0), jnp.sum(short_mass, axis=0)]),
            faded=jnp.sum(faded, axis=1),
            removed=jnp.sum(removed, axis=1),
        )
        return ZoneState(state.centre, estimated, realized), flows

    def _deposit(self, centre, log_price: Float[Array, "n sym"], mass: Float[Array, "n sym"]) -> Array:
        """(bin, sym) grid of ``mass`` placed at ``log_price``: split linearly between the two
        nearest bins (a triangle kernel one bin wide), clamped into the grid at its edges."""
        position = (log_price - centre[None, :]) / self.width + (self.bins - 1) / 2.0
        position = jnp.clip(jnp.where(jnp.isfinite(position), position, 0.0), 0.0, self.bins - 1.0)
        index = jnp.arange(self.bins, dtype=jnp.float32)[None, :, None]  # (1, bin, 1)
        kernel = jnp.maximum(0.0, 1.0 - jnp.abs(position[:, None, :] - index))  # (n, bin, sym)
        return jnp.sum(kernel * mass[:, None, :], axis=0)

    def _recentre(self, state: ZoneState, log_price, valid) -> ZoneState:
        """Move the grid by whole bins when the price has left the centre by ``recentre`` bins
        (or on a symbol's first price); mass moves with its bin, edge mass stays on the edge."""
        fresh = jnp.isnan(state.centre)
        drift = jnp.where(fresh, 0.0, (log_price - state.centre) / self.width)
        shift = jnp.where(valid & (jnp.abs(drift) >= self.recentre), jnp.round(drift), 0.0)
        centre = jnp.where(valid & fresh, log_price, state.centre + shift * self.width)
        # old bin j goes to j - shift, clamped to the grid
        source = jnp.arange(self.bins)[:, None]
        target = jnp.clip(source - shift.astype(jnp.int32)[None, :], 0, self.bins - 1)  # (bin, sym)
        columns = jnp.broadcast_to(jnp.arange(log_price.shape[0])[None, :], target.shape)

        def move(grid):  # (2, bin, sym)
            return jnp.stack([jnp.zeros_like(g).at[target, columns].add(g) for g in grid])

        return ZoneState(centre, move(state.estimated), move(state.realized))


def liquidation_ratios(leverage, margin) -> tuple[np.ndarray, np.ndarray]:
    """Liquidation price over entry price for longs and shorts, per tier (isolated margin):
    a long loses its initial margin 1/L down to the maintenance margin m at P (1 - 1/L + m)."""
    leverage = np.asarray(leverage, np.float64)
    margin = np.asarray(margin, np.float64)
    return 1.0 - 1.0 / leverage + margin, 1.0 + 1.0 / leverage - margin
