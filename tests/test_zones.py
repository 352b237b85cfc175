"""The zone engine's grid, liquidation levels and realized liquidations (SPEC section 6, steps
1-2): tier arithmetic by hand, placement, removal when price crosses, re-centring without loss,
conservation, and a float64 NumPy reference written independently of the JAX code."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bpjax.core.config import ConfigError, load_config
from bpjax.tick.compilations import counting
from bpjax.zones.grid import KINDS, LONG, SHORT, ZONE_FEATURES, ZoneGrid, ZoneInputs, liquidation_ratios


def zones(**changes):
    return load_config().replace(zones=changes).zones if changes else load_config().zones


def inputs(price, low=None, high=None, new=0.0, share=0.5, liq_long=0.0, liq_short=0.0, valid=True):
    price = np.atleast_1d(np.asarray(price, np.float32))
    full = lambda v: np.broadcast_to(np.asarray(v, np.float32), price.shape)  # noqa: E731
    return ZoneInputs(
        jnp.asarray(price),
        jnp.asarray(full(price if low is None else low)),
        jnp.asarray(full(price if high is None else high)),
        jnp.asarray(full(new)),
        jnp.asarray(full(share)),
        jnp.asarray(full(liq_long)),
        jnp.asarray(full(liq_short)),
        jnp.asarray(np.broadcast_to(np.asarray(valid), price.shape)),
    )


def test_liquidation_price_per_tier_by_hand():
    long, short = liquidation_ratios([5, 10, 20, 50, 100, 125], [0.004, 0.004, 0.005, 0.01, 0.004, 0.004])
    # long: 1 - 1/L + m; short: 1 + 1/L - m
    assert long.tolist() == pytest.approx([0.804, 0.904, 0.955, 0.99, 0.994, 0.996])
    assert short.tolist() == pytest.approx([1.196, 1.096, 1.045, 1.01, 1.006, 1.004])
    with pytest.raises(ConfigError, match="not below the initial margin"):
        zones(leverage=[100.0], leverage_weights=[1.0], maintenance_margin=[0.01])
    with pytest.raises(ConfigError, match="one value per tier"):
        zones(leverage=[10.0, 20.0], leverage_weights=[1.0], maintenance_margin=[0.004])


def one_tier(leverage=10.0, margin=0.004, **more):
    return ZoneGrid(
        zones(leverage=[leverage], leverage_weights=[1.0], maintenance_margin=[margin], **more), 10
    )


def test_a_crowd_of_longs_lands_below_and_shorts_above_at_their_liquidation_prices():
    grid = one_tier(bins=512, range=0.5)  # bins of 1/512 log price
    state = grid.init(1)
    state, flows = grid.step(state, inputs(100.0, new=1_000_000.0, share=0.75))
    prices = np.asarray(grid.prices(state))[:, 0]
    long, short = np.asarray(state.estimated[LONG])[:, 0], np.asarray(state.estimated[SHORT])[:, 0]
    assert long.sum() == pytest.approx(750_000.0, rel=1e-6) and short.sum() == pytest.approx(
        250_000.0, rel=1e-6
    )
    mean_long = math.exp(np.sum(long * np.log(prices)) / long.sum())
    mean_short = math.exp(np.sum(short * np.log(prices)) / short.sum())
    assert mean_long == pytest.approx(90.4, rel=1e-5) and mean_short == pytest.approx(109.6, rel=1e-5)
    assert np.all(prices[long > 0] < 100.0) and np.all(prices[short > 0] > 100.0)
    assert np.asarray(flows.added)[:, 0] == pytest.approx([750_000.0, 250_000.0], rel=1e-6)


def test_levels_are_removed_when_price_trades_through_them_and_not_before():
    grid = one_tier(bins=512, range=0.5, half_life_hours=8760.0)
    state, _ = grid.step(grid.init(1), inputs(100.0, new=1_000_000.0, share=1.0))
    state, flows = grid.step(state, inputs(95.0, low=91.0, high=100.0))  # above 90.4: holds
    assert float(flows.removed[LONG, 0]) == 0.0
    assert float(jnp.sum(state.estimated[LONG])) == pytest.approx(1_000_000.0, rel=1e-5)
    state, flows = grid.step(state, inputs(92.0, low=90.0, high=95.0))  # through 90.4: liquidated
    assert float(flows.removed[LONG, 0]) == pytest.approx(1_000_000.0, rel=1e-5)
    assert float(jnp.sum(state.estimated)) == pytest.approx(0.0, abs=1e-2)


def test_realized_liquidations_accumulate_at_the_price_per_side():
    grid = one_tier(bins=256, range=0.5, realized_half_life_hours=8760.0)
    state = grid.init(2)
    state, _ = grid.step(state, inputs([100.0, 20.0], liq_long=[5_000.0, 0.0], liq_short=[0.0, 700.0]))
    state, _ = grid.step(state, inputs([100.0, 20.0], liq_long=[2_500.0, 0.0]))
    realized = np.asarray(state.realized)
    assert realized[LONG, :, 0].sum() == pytest.approx(7_500.0, rel=1e-5) and realized[SHORT, :, 0].sum() == 0
    assert realized[SHORT, :, 1].sum() == pytest.approx(700.0, rel=1e-5)
    prices = np.asarray(grid.prices(state))
    assert prices[np.argmax(realized[LONG, :, 0]), 0] == pytest.approx(100.0, rel=grid.width)


def test_recentring_moves_the_grid_by_whole_bins_without_losing_or_moving_mass():
    grid = one_tier(bins=128, range=0.25, recentre_bins=8, half_life_hours=8760.0)
    state, _ = grid.step(grid.init(1), inputs(100.0, new=1e6, share=0.5))
    before = np.asarray(state.estimated)[:, :, 0]
    prices_before = np.asarray(grid.prices(state))[:, 0]
    centre = float(state.centre[0])
    state, _ = grid.step(state, inputs(104.0, low=104.0, high=104.0))  # +3.9 %: 10 bins of 0.0039
    after = np.asarray(state.estimated)[:, :, 0]
    prices_after = np.asarray(grid.prices(state))[:, 0]
    assert float(state.centre[0]) != centre
    assert (float(state.centre[0]) - centre) / grid.width == pytest.approx(10.0, abs=1e-3)
    assert after.sum() == pytest.approx(before.sum(), rel=1e-6)
    # every level keeps its price: the longs at 90.4 and the shorts at 109.6 (the high, 104, is
    # below them: nothing was bought back)
    for side in (LONG, SHORT):
        mean_before = np.sum(before[side] * np.log(prices_before)) / before[side].sum()
        mean_after = np.sum(after[side] * np.log(prices_after)) / after[side].sum()
        assert mean_after == pytest.approx(mean_before, abs=1e-5)
    # a jump beyond the grid keeps the far mass in the edge bin
    state, _ = grid.step(state, inputs(200.0, low=200.0, high=200.0))
    edge = np.asarray(state.estimated)[:, :, 0]
    assert edge[SHORT].sum() == 0.0  # the shorts at 109.6 were bought back on the way up
    assert edge[LONG].sum() == pytest.approx(before[LONG].sum(), rel=1e-6) and edge[LONG, 0] > 0


def test_realized_liquidations_land_at_the_forced_orders_own_price():
    """The average price of the forced orders (notional / quantity), not the tick's last price."""
    grid = one_tier(bins=256, range=0.5, realized_half_life_hours=8760.0)
    x = inputs(100.0, low=95.0, high=101.0, liq_long=4_000.0, liq_short=1_000.0)
    state, _ = grid.step(grid.init(1), x._replace(liq_long_price=jnp.asarray([96.0], jnp.float32)))
    realized, prices = np.asarray(state.realized), np.asarray(grid.prices(state))[:, 0]
    where = realized[LONG, :, 0] > 0
    assert np.sum(realized[LONG, where, 0] * np.log(prices[where])) / 4_000.0 == pytest.approx(
        math.log(96.0), abs=1e-5
    )
    assert prices[np.argmax(realized[SHORT, :, 0])] == pytest.approx(100.0, rel=grid.width)  # no price given


def reference_step(state, x, config, tick_seconds=10.0):
    """Float64 reference of one tick, symbol by symbol and tier by tier, from the module docstring."""
    centre, estimated, realized = (np.array(a, np.float64) for a in state[:3])
    bins, width = config.bins, 2 * config.range / config.bins
    offsets = (np.arange(bins) - (bins - 1) / 2) * width
    fade = 0.5 ** (tick_seconds / (config.half_life_hours * 3600))
    rfade = 0.5 ** (tick_seconds / (config.realized_half_life_hours * 3600))
    weights = np.asarray(config.leverage_weights) / np.sum(config.leverage_weights)
    long_ratio, short_ratio = liquidation_ratios(config.leverage, config.maintenance_margin)
    flows = np.zeros((3, 2, len(centre)))

    def deposit(grid, c, logp, mass):
        position = min(max((logp - c) / width + (bins - 1) / 2, 0.0), bins - 1.0)
        i = int(math.floor(position))
        frac = position - i
        grid[i] += mass * (1 - frac)
        if frac > 0:
            grid[i + 1] += mass * frac

    for s in range(len(centre)):
        if not x.valid[s]:
            flows[1, :, s] = estimated[:, :, s].sum(axis=1) * (1 - fade)
            estimated[:, :, s] *= fade
            realized[:, :, s] *= rfade
            continue
        logp = math.log(x.price[s])
        if np.isnan(centre[s]):
            centre[s] = logp
        else:
            drift = (logp - centre[s]) / width
            if abs(drift) >= config.recentre_bins:
                k = int(np.round(drift))
                centre[s] += k * width
                for grid in (estimated, realized):
                    moved = np.zeros((2, bins))
                    for j in range(bins):
                        moved[:, min(max(j - k, 0), bins - 1)] += grid[:, j, s]
                    grid[:, :, s] = moved
        prices = np.exp(centre[s] + offsets)
        flows[1, :, s] = estimated[:, :, s].sum(axis=1) * (1 - fade)
        estimated[:, :, s] *= fade
        realized[:, :, s] *= rfade
        for side, crossed in ((LONG, prices >= x.low[s]), (SHORT, prices <= x.high[s])):
            flows[2, side, s] = estimated[side, crossed, s].sum()
            estimated[side, crossed, s] = 0.0
        notional = max(x.new_notional[s], 0.0)
        share = min(max(x.long_share[s], 0.0), 1.0)
        for w, lr, sr in zip(weights, long_ratio, short_ratio, strict=True):
            deposit(estimated[LONG, :, s], centre[s], logp + math.log(lr), w * notional * share)
            deposit(estimated[SHORT, :, s], centre[s], logp + math.log(sr), w * notional * (1 - share))
        flows[0, :, s] = [notional * share, notional * (1 - share)]
        for side, mass, at in ((LONG, x.liq_long, x.liq_long_price), (SHORT, x.liq_short, x.liq_short_price)):
            where = math.log(at[s]) if at is not None and at[s] > 0 else logp
            deposit(realized[side, :, s], centre[s], where, max(mass[s], 0.0))
    return (centre, estimated, realized), flows


def random_market(rng, symbols, ticks):
    price = 100.0 * np.exp(rng.normal(size=symbols))
    for _ in range(ticks):
        price = price * np.exp(rng.normal(scale=0.004, size=symbols))
        low = price * np.exp(-np.abs(rng.normal(scale=0.003, size=symbols)))
        high = price * np.exp(np.abs(rng.normal(scale=0.003, size=symbols)))
        valid = rng.random(symbols) > 0.1
        yield ZoneInputs(
            price.astype(np.float32),
            low.astype(np.float32),
            high.astype(np.float32),
            (rng.random(symbols) * 1e5 * (rng.random(symbols) > 0.3)).astype(np.float32),
            rng.random(symbols).astype(np.float32),
            (rng.random(symbols) * 1e3 * (rng.random(symbols) > 0.8)).astype(np.float32),
            (rng.random(symbols) * 1e3 * (rng.random(symbols) > 0.8)).astype(np.float32),
            valid,
            None,
            # forced orders' average prices: at the price (0), or anywhere in the tick's range
            *((rng.uniform(low, high) * (rng.random(symbols) > 0.5)).astype(np.float32) for _ in range(2)),
        )


def test_the_jitted_step_matches_the_numpy_reference_and_conserves_mass():
    """Each tick from the same state (the reference starts every step from the JAX state, in
    float64): flows and grids agree. A bin whose middle lies within float32 rounding of the
    tick's low or high may be judged crossed by one and not the other; such flips are counted
    and must stay rare (they are one bin's mass, not a drift)."""
    config = zones(bins=64, range=0.1, recentre_bins=4, half_life_hours=0.05, realized_half_life_hours=0.1)
    grid = ZoneGrid(config, 10)
    step = jax.jit(grid.step)
    rng = np.random.default_rng(3)
    state = grid.init(5)
    ledger = np.zeros((3, 2, 5))
    compared = flipped = 0
    for x in random_market(rng, 5, 300):
        before = tuple(np.asarray(a, np.float64) for a in state)
        state, flows = step(state, ZoneInputs(*(None if a is None else jnp.asarray(a) for a in x)))
        ref, ref_flows = reference_step(before, x, config)
        got = np.asarray(jnp.stack(flows), np.float64)
        ledger += got
        close = np.isclose(got, ref_flows, rtol=2e-3, atol=1.0)
        np.testing.assert_array_equal(close[:2], True)  # added and faded: always
        np.testing.assert_allclose(np.asarray(state.centre), ref[0], rtol=1e-6)
        grids_close = np.isclose(np.asarray(state.estimated), ref[1], rtol=2e-3, atol=1.0)
        np.testing.assert_array_equal(np.all(grids_close, axis=1) | ~close[2], True)
        np.testing.assert_allclose(np.asarray(state.realized), ref[2], rtol=2e-3, atol=1.0)
        compared += close[2].size
        flipped += int(np.count_nonzero(~close[2]))
    assert flipped <= compared // 500, (flipped, compared)
    # conservation: added = faded + removed + remaining, per side and symbol
    remaining = np.asarray(state.estimated, np.float64).sum(axis=1)
    np.testing.assert_allclose(ledger[0], ledger[1] + ledger[2] + remaining, rtol=1e-4)
    assert ledger[2].sum() > 0 and ledger[1].sum() > 0  # both exits exercised
    assert step._cache_size() == 1


def read(grid, state, price):
    return jax.device_get(jax.jit(grid.read)(state, jnp.asarray(np.atleast_1d(np.float32(price)))))


def test_a_leveraged_crowd_gives_a_zone_a_cascade_and_a_target_then_a_trap_when_swept_and_reversed():
    """Scripted: 1 M of 10x longs opened at 100 (liquidated at 90.4) and 0.4 M of 10x shorts
    (109.6); price drifts, dips through 90.4 and comes back."""
    grid = one_tier(bins=256, range=0.5, half_life_hours=8760.0, realized_half_life_hours=8760.0)
    state, _ = grid.step(grid.init(2), inputs([100.0, 100.0], new=[1e6, 0.0], share=[1.0, 0.5]))
    state, _ = grid.step(state, inputs([100.0, 100.0], new=[4e5, 0.0], share=[0.0, 0.5]))
    r = read(grid, state, [100.0, 100.0])
    kinds = r.zone_kind[:, :, 0]
    assert kinds[LONG, 0] == KINDS.index("pool") and kinds[SHORT, 0] == KINDS.index("pool")
    assert r.zone_low[LONG, 0, 0] <= 90.4 <= r.zone_high[LONG, 0, 0] and r.zone_high[LONG, 0, 0] < 91.5
    assert r.zone_notional[LONG, 0, 0] == pytest.approx(1e6, rel=1e-4)
    assert r.zone_low[SHORT, 0, 0] <= 109.6 <= r.zone_high[SHORT, 0, 0]
    # exit targets: a long exits into the shorts above, a short into the longs below
    assert r.exit_price[0, 0] == pytest.approx(r.zone_low[SHORT, 0, 0]) and r.exit_notional[
        0, 0
    ] == pytest.approx(4e5, rel=1e-4)
    assert r.exit_price[1, 0] == pytest.approx(r.zone_high[LONG, 0, 0]) and r.exit_notional[
        1, 0
    ] == pytest.approx(1e6, rel=1e-4)
    assert -1.0 < r.imbalance[0] < 0.0  # more liquidity below at the same distance
    moves = list(grid.moves)
    assert r.cascade[LONG, moves.index(np.float32(0.05)), 0] == 0.0
    assert r.cascade[LONG, moves.index(np.float32(0.1)), 0] == pytest.approx(1e6, rel=1e-4)
    assert r.cascade[SHORT, moves.index(np.float32(0.1)), 0] == pytest.approx(4e5, rel=1e-4)
    # the second symbol has no positions: no zones, no targets, finite everything
    assert np.all(r.zone_kind[:, :, 1] == KINDS.index("none")) and r.exit_price[:, 1].tolist() == [0.0, 0.0]
    assert all(np.all(np.isfinite(np.asarray(a))) for a in r)

    # the dip through 90.4: the longs are liquidated (predicted), the zone is swept ...
    state, flows = grid.step(state, inputs([89.5, 100.0], low=[89.0, 100.0], high=[95.0, 100.0]))
    assert float(flows.removed[LONG, 0]) == pytest.approx(1e6, rel=1e-4)
    r = read(grid, state, [89.5, 100.0])
    assert r.zone_kind[LONG, 0, 0] == KINDS.index("swept")
    assert r.cascade[LONG, -1, 0] == 0.0  # nothing left to cascade
    # ... and reversed: price back above it makes it a trap; the long-side target is gone
    state, _ = grid.step(state, inputs([96.0, 100.0], low=[95.0, 100.0], high=[96.0, 100.0]))
    r = read(grid, state, [96.0, 100.0])
    assert r.zone_kind[LONG, 0, 0] == KINDS.index("trap")
    assert r.exit_price[1, 0] == 0.0  # a short has no live long liquidity below to exit into
    assert r.zone_strength.min() >= 0.0 and r.zone_strength.max() <= 1.0


def test_the_heatmap_is_the_smoothed_liquidation_notional():
    grid = one_tier(bins=128, range=0.25, smooth_bins=2.0)
    state, _ = grid.step(grid.init(1), inputs(100.0, new=1e6, share=0.5, liq_short=5e4))
    r = read(grid, state, 100.0)
    total = np.asarray(state.estimated + state.realized + state.swept)[:, :, 0].sum(axis=1)
    np.testing.assert_allclose(r.heat[:, :, 0].sum(axis=1), total, rtol=1e-5)  # nothing near an edge
    peak = np.argmax(r.heat[LONG, :, 0])
    assert r.prices[peak, 0] == pytest.approx(90.4, rel=2 * grid.width)
    assert np.all(np.diff(r.prices[:, 0]) > 0)


def test_the_engine_tick_reads_zones_for_every_symbol(engine, config):
    """Inside the one jitted tick: every symbol gets a heatmap, zones, targets and a cascade, all
    finite; the simulator has open interest, so new positions are read from it."""
    from bpjax.app.runner import Runner
    from bpjax.tick.engine import ZONE_SOURCES

    runner = Runner(config, engine=engine)
    with counting() as compiled:
        runner.run(ticks=30)
    assert compiled.total == 0, compiled  # the runner runs the engine's compiled tick
    output = jax.device_get(runner.last_output)
    z, symbols, bins = output.zones, len(config.symbols), config.zones.bins
    assert z.heat.shape == (2, bins, symbols) and z.zone_low.shape == (
        2,
        config.zones.zones_per_side,
        symbols,
    )
    assert z.cascade.shape == (2, len(config.zones.cascade_moves), symbols)
    assert all(np.all(np.isfinite(np.asarray(a))) for a in z)
    assert np.all(output.zone_source == ZONE_SOURCES.index("open_interest"))
    assert np.all(z.heat.sum(axis=(0, 1)) > 0)  # every symbol has liquidation levels by now
    assert np.all((z.prices[0] < output.price) & (z.prices[-1] > output.price))  # the grid follows price
    assert np.all(np.diff(z.cascade, axis=1) >= 0)  # a larger move liquidates at least as much


def test_a_card_reads_the_zone_engine_only_when_it_declares_so():
    """CardInput.zone raises at trace time for a card registered without zones=True."""
    from bpjax.cards.base import CardInput

    def card_input(zones):
        return CardInput(
            name="probe", windows=None, counts=None, streams=None, committed=None, latest=None,
            fresh_mask=None, scale=None, window_length=2, progress=None, bar_seconds=None, params={},
            stream_index={}, window_index={}, zones=zones,
        )  # fmt: skip

    with pytest.raises(KeyError, match="probe.*zones=True"):
        card_input(None).zone("imbalance")
    features = jnp.arange(len(ZONE_FEATURES), dtype=jnp.float32)[:, None]
    assert float(card_input(features).zone("imbalance")[0]) == ZONE_FEATURES.index("imbalance")
    with pytest.raises(KeyError, match="zone feature"):
        card_input(features).zone("no_such_feature")
