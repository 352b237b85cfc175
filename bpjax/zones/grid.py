"""The liquidation zone engine: where leveraged positions would be forced out,
on a price grid per symbol, as tensor operations inside the jitted tick. :meth:`ZoneGrid.step`
keeps the grids (steps 1 and 2, below); :meth:`ZoneGrid.read` turns them into the heatmap,
zones, strength, directional imbalance, zone kinds, exit targets and the cascade curve (steps
3 to 7, described there).

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
forced orders' average price (notional / quantity; the tick's price when the quantity is not
known) and kept as a cumulative, fading (``realized_half_life_hours``) profile.

Conservation: per side, the notional added equals the notional faded plus the notional
removed by price plus what remains on the grid (tests hold it over long random runs).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bpjax.core.config import ZonesConfig
from bpjax.core.types import Array, Float

LONG, SHORT = 0, 1


class ZoneState(NamedTuple):
    centre: Float[Array, " sym"]  # log price of the grid's middle; NaN until the symbol's first price
    estimated: Float[Array, "2 bin sym"]  # notional of estimated liquidation levels per side
    realized: Float[Array, "2 bin sym"]  # cumulative realized liquidation notional per side
    age: Float[Array, "2 bin sym"]  # sum over estimated notional of its age, notional x seconds
    swept: Float[Array, "2 bin sym"]  # estimated levels price traded through (fading like realized)
    volume: Float[Array, "bin sym"]  # traded notional at price (volume profile, fading like realized)
    touches: Float[Array, "bin sym"]  # ticks whose range covered the bin (fading like realized)


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
    volume: Float[Array, " sym"] | None = None  # traded notional this tick (the volume profile)
    liq_long_price: Float[Array, " sym"] | None = None  # forced orders' average price; 0: at price
    liq_short_price: Float[Array, " sym"] | None = None


class ZoneFlows(NamedTuple):
    """What moved this tick, per (side, sym): for outputs and the conservation ledger."""

    added: Float[Array, "2 sym"]
    faded: Float[Array, "2 sym"]
    removed: Float[Array, "2 sym"]  # predicted liquidations: levels price traded through


# zone kinds (step 7)
KIND_NONE, KIND_POOL, KIND_SUPPORT, KIND_TRAP, KIND_SWEPT = range(5)
KINDS = ("none", "pool", "support_resistance", "trap", "swept")

# what the liquidation and zones cards read of the zone engine, per symbol (``ZoneGrid.features``;
# ``CardInput.zone(name)``). Above: the nearest live zone of short levels above the price (a long
# position's exit target); below: the nearest live zone of long levels below it (a short's).
ZONE_FEATURES = (
    "above_distance",  # log(zone low / price), 0 when there is none
    "above_present",  # 1 when there is one
    "above_notional",  # estimated liquidation notional still in it
    "below_distance",  # log(price / zone high)
    "below_present",
    "below_notional",
    "imbalance",  # step 6, [-1, 1]: liquidity above minus below, by proximity
    "heat_mass",  # liquidation notional on the heatmap, both sides (0: the engine knows nothing)
    "cascade_down",  # long notional a drop of the cascade move nearest 2 % would liquidate
    "cascade_up",  # short notional a rise of that move would liquidate
    "trap_below",  # strength of the strongest trap among long-level zones (swept, price back above)
    "trap_above",  # ... among short-level zones (swept, price back below)
)
ZONE_FEATURE_INDEX = {name: k for k, name in enumerate(ZONE_FEATURES)}
CASCADE_REFERENCE_MOVE = 0.02


class ZoneReading(NamedTuple):
    """What the zone engine says of every symbol this tick (steps 3-7); the symbol axis last."""

    prices: Float[Array, "bin sym"]  # heatmap grid: price at every bin's middle
    heat: Float[Array, "2 bin sym"]  # smoothed density of long / short liquidation notional
    zone_low: Float[Array, "2 zone sym"]  # per side (0 long levels, 1 short levels), largest first
    zone_high: Float[Array, "2 zone sym"]
    zone_notional: Float[Array, "2 zone sym"]  # liquidation notional inside the zone
    zone_strength: Float[Array, "2 zone sym"]  # [0, 1]
    zone_kind: Array  # (2, zone, sym) int32, index into KINDS; KIND_NONE where no zone
    exit_price: Float[Array, "2 sym"]  # target of a long position (above), of a short (below); 0: none
    exit_notional: Float[Array, "2 sym"]  # estimated liquidation notional still behind that target
    imbalance: Float[Array, " sym"]  # [-1, 1]: liquidity above (shorts) minus below (longs), by proximity
    cascade: Float[Array, "2 move sym"]  # long notional liquidated by a drop of each move; short, a rise


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
        self.tick_seconds = np.float32(tick_seconds)
        self.offsets = ((np.arange(self.bins) - (self.bins - 1) / 2.0) * self.width).astype(np.float32)
        reach = max(1, int(math.ceil(2.5 * zones.smooth_bins)))  # 99 % of the kernel
        taps = np.exp(-0.5 * (np.arange(-reach, reach + 1) / zones.smooth_bins) ** 2)
        self.taps = (taps / taps.sum()).astype(np.float32)
        self.cluster_share = zones.cluster_share
        self.zones = zones.zones_per_side
        self.attraction = zones.attraction_range
        self.moves = np.asarray(zones.cascade_moves, np.float32)
        self.cascade_reference = int(np.argmin(np.abs(self.moves - CASCADE_REFERENCE_MOVE)))

    def features(self, r: ZoneReading, price: Float[Array, " sym"]) -> Float[Array, "feature sym"]:
        """The :data:`ZONE_FEATURES` of every symbol, from its reading at ``price``."""
        ok = price > 0
        safe_price = jnp.where(ok, price, 1.0)

        def nearest(target, sign):
            has = ok & (target > 0)
            distance = sign * jnp.log(jnp.where(has, target, 1.0) / safe_price)
            return jnp.where(has, jnp.maximum(distance, 0.0), 0.0), has.astype(jnp.float32)

        above, has_above = nearest(r.exit_price[0], 1.0)
        below, has_below = nearest(r.exit_price[1], -1.0)
        trap = jnp.max(jnp.where(r.zone_kind == KIND_TRAP, r.zone_strength, 0.0), axis=1)  # (side, sym)
        j = self.cascade_reference
        rows = {
            "above_distance": above,
            "above_present": has_above,
            "above_notional": r.exit_notional[0],
            "below_distance": below,
            "below_present": has_below,
            "below_notional": r.exit_notional[1],
            "imbalance": r.imbalance,
            "heat_mass": jnp.sum(r.heat, axis=(0, 1)),
            "cascade_down": r.cascade[LONG, j],
            "cascade_up": r.cascade[SHORT, j],
            "trap_below": trap[LONG],
            "trap_above": trap[SHORT],
        }
        return jnp.stack([rows[name] for name in ZONE_FEATURES]).astype(jnp.float32)

    def init(self, symbols: int) -> ZoneState:
        """Empty grids, not yet centred (NaN centre: placed at the symbol's first price)."""

        def sides():  # a buffer each: the engine donates its state, one buffer per leaf
            return jnp.zeros((2, self.bins, symbols), jnp.float32)

        def one():
            return jnp.zeros((self.bins, symbols), jnp.float32)

        centre = jnp.full((symbols,), jnp.nan, jnp.float32)
        return ZoneState(centre, sides(), sides(), sides(), sides(), one(), one())

    def prices(self, state: ZoneState) -> Float[Array, "bin sym"]:
        """Price at every bin's middle (around 1 for a symbol that never had a price)."""
        centre = jnp.where(jnp.isnan(state.centre), 0.0, state.centre)
        return jnp.exp(centre[None, :] + jnp.asarray(self.offsets)[:, None])

    # --- the tick -----------------------------------------------------------------------------------
    def step(self, state: ZoneState, x: ZoneInputs) -> tuple[ZoneState, ZoneFlows]:
        log_price = jnp.log(jnp.where(x.valid & (x.price > 0), x.price, 1.0))
        state = self._recentre(state, log_price, x.valid)
        prices = self.prices(state)

        # fade (ages fade with their mass, then every remaining unit grows one tick older)
        faded = state.estimated * (1.0 - self.fade)
        estimated = state.estimated * self.fade
        age = state.age * self.fade
        realized = state.realized * self.realized_fade

        # levels price traded through are liquidated (removed): longs at or above the low,
        # shorts at or below the high
        low = jnp.where(x.valid, x.low, jnp.inf)[None, :]  # no price this tick: nothing crossed
        high = jnp.where(x.valid, x.high, 0.0)[None, :]
        crossed = jnp.stack([prices >= low, prices <= high])  # (side, bin, sym)
        removed = jnp.where(crossed, estimated, 0.0)
        estimated = estimated - removed
        age = jnp.where(crossed, 0.0, age) + estimated * self.tick_seconds
        swept = state.swept * self.realized_fade + removed
        touched = crossed[LONG] & crossed[SHORT]  # (bin, sym): the tick's range covered it
        touches = state.touches * self.realized_fade + touched.astype(jnp.float32)

        # new positions at this tick's price, over the leverage tiers
        notional = jnp.where(x.valid, jnp.maximum(x.new_notional, 0.0), 0.0)
        share = jnp.clip(x.long_share, 0.0, 1.0)
        tiers = jnp.asarray(self.tier_weights)[:, None]  # (tier, 1)
        long_mass = tiers * (notional * share)[None, :]  # (tier, sym)
        short_mass = tiers * (notional * (1.0 - share))[None, :]
        added_levels = jnp.stack(
            [
                self._deposit_tiers(state.centre, log_price, self.long_offset, long_mass),
                self._deposit_tiers(state.centre, log_price, self.short_offset, short_mass),
            ]
        )
        estimated = estimated + added_levels

        # realized liquidations at the forced orders' own price (this tick's price without one)
        liq = jnp.maximum(jnp.stack([x.liq_long, x.liq_short]), 0.0)  # (side, sym)
        liq = jnp.where(x.valid[None, :], liq, 0.0)
        deposits = []
        for side, at in ((LONG, x.liq_long_price), (SHORT, x.liq_short_price)):
            where = (
                log_price if at is None else jnp.where(at > 0, jnp.log(jnp.where(at > 0, at, 1.0)), log_price)
            )
            deposits.append(self._deposit(state.centre, where[None, :], liq[side][None, :]))
        realized = realized + jnp.stack(deposits)
        traded = jnp.zeros_like(x.price) if x.volume is None else jnp.maximum(x.volume, 0.0)
        volume = state.volume * self.realized_fade + self._deposit(
            state.centre, log_price[None, :], jnp.where(x.valid, traded, 0.0)[None, :]
        )

        flows = ZoneFlows(
            added=jnp.stack([jnp.sum(long_mass, axis=0), jnp.sum(short_mass, axis=0)]),
            faded=jnp.sum(faded, axis=1),
            removed=jnp.sum(removed, axis=1),
        )
        return ZoneState(state.centre, estimated, realized, age, swept, volume, touches), flows

    # --- reading the grid (steps 3-7) -----------------------------------------------------------
    def read(self, state: ZoneState, price: Float[Array, " sym"]) -> ZoneReading:
        """Heatmap, zones, strength, classification, exit targets, imbalance and the cascade curve
        of every symbol at ``price`` (static shapes; no host work).

        3. heatmap: estimated + realized + swept notional, smoothed along price (Gaussian,
           ``smooth_bins``); 4. zones: runs of bins whose smoothed live-or-swept levels exceed
           ``cluster_share`` of the side's peak, the ``zones_per_side`` largest by notional;
        5. strength = 0.4 x share of the side's notional + 0.2 x share of the traded volume
           + 0.2 tanh(touches / 3) + 0.2 tanh(age / 24 h), in [0, 1];
        6. imbalance = (A - B) / (A + B), A the short levels above and B the long levels below,
           each weighted by exp(-distance / ``attraction_range``);
        7. kind: ``trap`` when at least half the zone was swept and price is back on the side it
           came from, ``swept`` when swept and price is beyond, ``support_resistance`` when
           touched (at or next to the zone) and holding, else ``pool``. Exit targets and the
           cascade are read from the live (estimated) levels only."""
        prices = self.prices(state)  # (bin, sym)
        price = jnp.where(price > 0, price, jnp.exp(jnp.where(jnp.isnan(state.centre), 0.0, state.centre)))
        # step 3: the heatmap, a Gaussian smoothing along price of the estimated levels, the
        # realized liquidations and the swept levels (mass reaching past an edge is dropped)
        reach = (len(self.taps) - 1) // 2

        def smooth(profile):
            return sum(float(w) * _shift(profile, k - reach) for k, w in enumerate(self.taps))

        heat = smooth(state.estimated + state.realized + state.swept)
        # zones are found on the model's levels, live or swept (realized prints at the current
        # price are in the heatmap, not zones of their own), off the two edge bins: they hold the
        # mass that left the grid, at an unknown distance beyond it
        inner = np.ones((1, self.bins, 1), np.float32)
        inner[:, [0, -1]] = 0.0
        mass = (state.estimated + state.swept) * inner  # (2, bin, sym)
        density = smooth(mass)

        # step 4: zones = runs of bins denser than cluster_share of the side's peak; the largest
        # per side by notional (cumulative sums give every run's totals at its last bin)
        peak = jnp.max(density, axis=1, keepdims=True)
        dense = (density >= self.cluster_share * peak) & (density > 0)
        start = dense & ~_shift(dense, 1)
        end = dense & ~_shift(dense, -1)
        index = jnp.arange(self.bins, dtype=jnp.int32)[None, :, None]
        first = _running(jnp.maximum, jnp.where(start, index, -1), 1)  # (2, bin, sym) run start

        total = _running(jnp.add, mass, 1)
        before = jnp.take_along_axis(total - mass, jnp.maximum(first, 0), axis=1)
        score = jnp.where(end, total - before, -1.0)  # a run's notional, at its last bin
        top, last = _largest(score, self.zones)  # (2, zone, sym)
        present = top > 0

        def at(profile):  # (2, bin, sym) -> (2, zone, sym) value at each zone's last bin
            return jnp.take_along_axis(profile, last, axis=1)

        lo = at(first)

        bins = jnp.arange(self.bins, dtype=jnp.int32)[None, :, None]

        def zone_sums(*profiles):  # (2, bin, sym) or (bin, sym) -> (2, zone, sym): masked sums,
            # zone by zone (one (profile, side, zone, bin, sym) mask and reduction ran slower)
            sums = [[] for _ in profiles]
            for z in range(self.zones):
                inside = (bins >= lo[:, z][:, None, :]) & (bins <= last[:, z][:, None, :])  # (2, bin, sym)
                for k, profile in enumerate(profiles):
                    sums[k].append(jnp.sum(jnp.where(inside, profile, 0.0), axis=1))
            return tuple(jnp.stack(parts, axis=1) for parts in sums)

        half = math.exp(self.width / 2.0)
        grid_prices = jnp.broadcast_to(prices[None], (2, self.bins, prices.shape[1]))
        zone_low = jnp.take_along_axis(grid_prices, jnp.maximum(lo, 0), axis=1) / half
        zone_high = at(grid_prices) * half
        zone_notional = top

        # step 5: strength from density (share of the side's notional), age, touches at and next
        # to the zone, and the traded volume inside it
        side_total = jnp.sum(mass, axis=1, keepdims=True)
        share = zone_notional / jnp.maximum(side_total, 1e-9)
        near = jnp.maximum(
            state.touches, jnp.maximum(_shift(state.touches, 1, 0), _shift(state.touches, -1, 0))
        )
        estimated_in, age_in, near_in, volume, swept_in = zone_sums(
            state.estimated,
            state.age,
            near,
            state.volume,
            state.swept,
        )
        age_hours = age_in / jnp.maximum(estimated_in, 1e-9) / 3600.0
        touches = near_in / jnp.maximum((last - lo + 1).astype(jnp.float32), 1.0)
        volume_share = volume / jnp.maximum(jnp.sum(state.volume, axis=0)[None, None, :], 1e-9)
        strength = jnp.clip(
            0.4 * share
            + 0.2 * volume_share
            + 0.2 * jnp.tanh(touches / 3.0)
            + 0.2 * jnp.tanh(age_hours / 24.0),
            0.0,
            1.0,
        )

        # step 7: swept and reversed (a trap), swept (price beyond), held after a touch (support /
        # resistance), or untouched liquidity (a pool)
        swept_share = swept_in / jnp.maximum(zone_notional, 1e-9)
        p = price[None, None, :]
        back = jnp.stack([p[0] > zone_high[LONG], p[0] < zone_low[SHORT]])  # on the side it came from
        kind = jnp.where(
            swept_share >= 0.5,
            jnp.where(back, KIND_TRAP, KIND_SWEPT),
            jnp.where(touches >= 0.5, KIND_SUPPORT, KIND_POOL),
        )
        kind = jnp.where(present, kind, KIND_NONE).astype(jnp.int32)
        zone_low = jnp.where(present, zone_low, 0.0)
        zone_high = jnp.where(present, zone_high, 0.0)
        zone_notional = jnp.where(present, zone_notional, 0.0)
        strength = jnp.where(present, strength, 0.0)

        # exit targets: a long position exits at the nearest short-level zone above (shorts forced
        # to buy), a short at the nearest long-level zone below: zones with levels still to be
        # liquidated (not swept, not a trap), with that estimated notional behind them
        live = present & ((kind == KIND_POOL) | (kind == KIND_SUPPORT)) & (estimated_in > 0)
        above = live[SHORT] & (zone_low[SHORT] > p[0])
        below = live[LONG] & (zone_high[LONG] < p[0])
        up = jnp.argmin(jnp.where(above, zone_low[SHORT], jnp.inf), axis=0)
        down = jnp.argmax(jnp.where(below, zone_high[LONG], -jnp.inf), axis=0)

        def pick(values, k):  # (zone, sym), (sym,) -> (sym,)
            return jnp.take_along_axis(values, k[None, :], axis=0)[0]

        exit_price = jnp.stack(
            [
                jnp.where(jnp.any(above, axis=0), pick(zone_low[SHORT], up), 0.0),
                jnp.where(jnp.any(below, axis=0), pick(zone_high[LONG], down), 0.0),
            ]
        )
        exit_notional = jnp.stack(
            [
                jnp.where(jnp.any(above, axis=0), pick(estimated_in[SHORT], up), 0.0),
                jnp.where(jnp.any(below, axis=0), pick(estimated_in[LONG], down), 0.0),
            ]
        )

        # step 6: liquidity above (short levels) against below (long levels), weighted by proximity
        distance = jnp.abs(jnp.log(prices / price[None, :]))
        weight = jnp.exp(-distance / self.attraction)
        levels = state.estimated + state.realized
        above_mass = jnp.sum(jnp.where(prices > price[None, :], levels[SHORT] * weight, 0.0), axis=0)
        below_mass = jnp.sum(jnp.where(prices < price[None, :], levels[LONG] * weight, 0.0), axis=0)
        imbalance = (above_mass - below_mass) / jnp.maximum(above_mass + below_mass, 1e-9)

        # the cascade what-if: estimated notional a move of each size would liquidate
        # (cumulative sums read at the bins a move reaches: no (move, bin, sym) masks)
        centre = jnp.where(jnp.isnan(state.centre), 0.0, state.centre)
        here = (jnp.log(price) - centre) / self.width + (self.bins - 1) / 2.0  # (sym,) bin position
        reach = jnp.log1p(jnp.asarray(self.moves))[:, None] / self.width  # (move, 1) bins
        longs = _running(jnp.add, state.estimated[LONG][::-1], 0)[::-1]  # sum over bins >= i
        shorts = _running(jnp.add, state.estimated[SHORT], 0)  # sum over bins <= i

        def read_at(running, position, beyond):  # running total at a clipped bin position
            index = jnp.clip(position, 0, self.bins - 1).astype(jnp.int32)
            value = jnp.take_along_axis(running, index, axis=0)
            return jnp.where(beyond, 0.0, value)

        # longs liquidated by a drop to P (1 - m): bins from ceil(position of that price) up to
        # the price's own bin; shorts by a rise, symmetrically
        drop_to = jnp.ceil(here[None, :] + jnp.log1p(-jnp.asarray(self.moves))[:, None] / self.width)
        rise_to = jnp.floor(here[None, :] + reach)
        at_price_long = jnp.floor(here)[None, :] + 1.0
        at_price_short = jnp.ceil(here)[None, :] - 1.0
        cascade = jnp.stack(
            [
                read_at(longs, drop_to, drop_to > self.bins - 1)
                - read_at(
                    longs, jnp.broadcast_to(at_price_long, drop_to.shape), at_price_long > self.bins - 1
                ),
                read_at(shorts, rise_to, rise_to < 0)
                - read_at(shorts, jnp.broadcast_to(at_price_short, rise_to.shape), at_price_short < 0),
            ]
        )
        cascade = jnp.maximum(cascade, 0.0)
        return ZoneReading(
            prices, heat, zone_low, zone_high, zone_notional, strength, kind, exit_price, exit_notional,
            imbalance, cascade,
        )  # fmt: skip

    def _deposit(self, centre, log_price: Float[Array, "n sym"], mass: Float[Array, "n sym"]) -> Array:
        """(bin, sym) grid of ``mass`` placed at ``log_price``: split linearly between the two
        nearest bins (a triangle kernel one bin wide), clamped into the grid at its edges."""
        position = (log_price - centre[None, :]) / self.width + (self.bins - 1) / 2.0
        position = jnp.clip(jnp.where(jnp.isfinite(position), position, 0.0), 0.0, self.bins - 1.0)
        index = jnp.arange(self.bins, dtype=jnp.float32)[None, :, None]  # (1, bin, 1)
        kernel = jnp.maximum(0.0, 1.0 - jnp.abs(position[:, None, :] - index))  # (n, bin, sym)
        return jnp.sum(kernel * mass[:, None, :], axis=0)

    def _deposit_tiers(self, centre, log_price, offsets: np.ndarray, mass: Float[Array, "tier sym"]) -> Array:
        """(bin, sym) grid of the tiers' ``mass`` placed at ``log_price`` + each tier's (static)
        log ``offsets``: what :meth:`_deposit` gives, at a fraction of its cost. Every symbol's
        tiers sit at the same offsets from its price, so their pattern is built on the few bins
        the tiers span, relative to the price's bin (it depends on the price's fraction of a bin
        only), then moved into place by a gather; what falls beyond the grid joins its edge bin."""
        position = (log_price - centre) / self.width + (self.bins - 1) / 2.0  # (sym,)
        position = jnp.where(jnp.isfinite(position), position, 0.0)
        whole = jnp.floor(position)
        fraction = position - whole
        relative = offsets.astype(np.float64) / self.width  # (tier,) in bins
        first = int(math.floor(relative.min()))
        span = int(math.ceil(relative.max())) + 2 - first  # relative bins a tier can touch
        at = jnp.asarray((first + np.arange(span)).astype(np.float32))[:, None]  # (span, 1)
        # the tiers unrolled: one elementwise pass (a reduction over the tier axis ran 10x slower)
        pattern = sum(
            jnp.maximum(0.0, 1.0 - jnp.abs(fraction[None, :] + np.float32(r) - at)) * mass[t][None, :]
            for t, r in enumerate(relative)
        )  # (span, sym)
        shift = whole.astype(jnp.int32) + first  # absolute bin of pattern entry 0
        index = jnp.arange(self.bins, dtype=jnp.int32)[:, None]
        source = index - shift[None, :]  # (bin, sym): the pattern entry landing on each bin
        inner = (index > 0) & (index < self.bins - 1) & (source >= 0) & (source < span)
        grid = jnp.where(inner, jnp.take_along_axis(pattern, jnp.clip(source, 0, span - 1), axis=0), 0.0)
        landing = jnp.arange(span, dtype=jnp.int32)[:, None] + shift[None, :]  # (span, sym)
        low = jnp.sum(jnp.where(landing <= 0, pattern, 0.0), axis=0)
        high = jnp.sum(jnp.where(landing >= self.bins - 1, pattern, 0.0), axis=0)
        return grid.at[0].set(low).at[self.bins - 1].set(high)

    def _recentre(self, state: ZoneState, log_price, valid) -> ZoneState:
        """Move the grid by whole bins when the price has left the centre by ``recentre`` bins
        (or on a symbol's first price); mass moves with its bin, edge mass stays on the edge."""
        fresh = jnp.isnan(state.centre)
        drift = jnp.where(fresh, 0.0, (log_price - state.centre) / self.width)
        shift = jnp.where(valid & (jnp.abs(drift) >= self.recentre), jnp.round(drift), 0.0)
        centre = jnp.where(valid & fresh, log_price, state.centre + shift * self.width)
        # old bin j goes to j - shift, clamped to the grid: a gather for the inner bins and two
        # masked sums for the edges (no scatter: slow on the CPU)
        k = shift.astype(jnp.int32)[None, :]
        index = jnp.arange(self.bins, dtype=jnp.int32)[:, None]  # (bin, 1)
        source = index + k  # the old bin that lands on each inner new bin
        inner = (index > 0) & (index < self.bins - 1) & (source >= 0) & (source < self.bins)
        source = jnp.clip(source, 0, self.bins - 1)
        to_low, to_high = index - k <= 0, index - k >= self.bins - 1  # old bins landing on an edge

        def move(grid):  # (bin, sym)
            moved = jnp.where(inner, jnp.take_along_axis(grid, source, axis=0), 0.0)
            low = jnp.sum(jnp.where(to_low, grid, 0.0), axis=0)
            high = jnp.sum(jnp.where(to_high, grid, 0.0), axis=0)
            return moved.at[0].set(low).at[self.bins - 1].set(high)

        def sides(grid):  # (2, bin, sym)
            return jnp.stack([move(g) for g in grid])

        def moved(state):
            return ZoneState(
                centre,
                sides(state.estimated),
                sides(state.realized),
                sides(state.age),
                sides(state.swept),
                move(state.volume),
                move(state.touches),
            )

        # most ticks move no grid: skip the work then
        return jax.lax.cond(jnp.any(shift != 0), moved, lambda state: state._replace(centre=centre), state)


def _largest(score: Array, k: int) -> tuple[Array, Array]:
    """The ``k`` largest values along axis 1 of (side, bin, sym) and their bins (the lowest bin
    among equals), largest first: ``k`` rounds of a max and a min over the bins. XLA:CPU's
    argmax (a variadic reduction) cost 5x more here, ``lax.top_k`` over the bins more still."""
    bins = jnp.arange(score.shape[1], dtype=jnp.int32)[None, :, None]
    values, indices = [], []
    for _ in range(k):
        top = jnp.max(score, axis=1)  # (side, sym)
        index = jnp.min(jnp.where(score == top[:, None], bins, score.shape[1]), axis=1)
        values.append(top)
        indices.append(index)
        score = jnp.where(bins == index[:, None], -jnp.inf, score)
    return jnp.stack(values, axis=1), jnp.stack(indices, axis=1).astype(jnp.int32)


def _running(op, x: Array, axis: int) -> Array:
    """Running sum / max along ``axis`` as a parallel prefix scan: XLA:CPU lowers ``cumsum`` and
    ``cummax`` to a windowed reduction, quadratic in the axis (5 ms vs 1 ms on (2, 128, 2,100))."""
    return jax.lax.associative_scan(op, x, axis=axis)


def _shift(x: Array, k: int, axis: int = 1) -> Array:
    """``x`` moved by ``k`` along ``axis`` (towards higher indices for k > 0), zero-filled."""
    if k == 0:
        return x
    n = x.shape[axis]
    pad = [(0, 0)] * x.ndim
    pad[axis] = (k, 0) if k > 0 else (0, -k)
    moved = jnp.pad(x, pad)
    return (
        jax.lax.slice_in_dim(moved, 0, n, axis=axis)
        if k > 0
        else jax.lax.slice_in_dim(moved, -k, -k + n, axis=axis)
    )


def liquidation_ratios(leverage, margin) -> tuple[np.ndarray, np.ndarray]:
    """Liquidation price over entry price for longs and shorts, per tier (isolated margin):
    a long loses its initial margin 1/L down to the maintenance margin m at P (1 - 1/L + m)."""
    leverage = np.asarray(leverage, np.float64)
    margin = np.asarray(margin, np.float64)
    return 1.0 - 1.0 / leverage + margin, 1.0 + 1.0 / leverage - margin
