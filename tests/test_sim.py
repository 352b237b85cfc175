"""The embedded market simulator: deterministic, complete, and alive enough for every card."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from bpjax.ingest.events import (
    BookLevels,
    Funding,
    Heartbeat,
    Liquidations,
    MarkPrice,
    OpenInterest,
    PositioningRatio,
    Trades,
)
from bpjax.sim.market import MarketSimulator

T0 = 1_767_571_200.0


def _run(config, seconds: int, step: int, seed: int = 7):
    sim = MarketSimulator(config, seed=seed)
    events = []
    for i in range(seconds // step):
        events += sim.step(T0 + i * step, T0 + (i + 1) * step)
    return sim, events


def test_same_seed_same_market_other_seed_other_market(config):
    def fingerprint(seed):
        _, events = _run(config, 600, 10, seed)
        trades = [e for e in events if isinstance(e, Trades)]
        return np.concatenate([e.price for e in trades])

    np.testing.assert_array_equal(fingerprint(1), fingerprint(1))
    assert not np.array_equal(fingerprint(1), fingerprint(2))


def test_every_event_kind_from_every_venue(config):
    _, events = _run(config, 1_800, 10)
    kinds = Counter((type(e).__name__, e.venue) for e in events)
    for venue in ("binance", "bybit", "okx"):
        assert kinds[("Trades", venue)] and kinds[("BookLevels", venue)] and kinds[("Funding", venue)]
    assert (
        kinds[("MarkPrice", "binance")]
        and kinds[("OpenInterest", "binance")]
        and kinds[("Heartbeat", "binance")]
    )
    ratios = [e for e in events if isinstance(e, PositioningRatio)]
    assert {e.kind for e in ratios} == {"global_accounts", "top_accounts", "top_positions", "taker"}
    assert len(ratios) == 4 * 7  # every 5 minutes over 30 minutes, plus the first step
    for event in events:
        if isinstance(event, Trades):
            assert set(np.unique(event.side)) <= {-1, 1} and (event.price > 0).all() and (event.qty > 0).all()
        if isinstance(event, BookLevels):
            assert (event.bid_price[:, 0] < event.ask_price[:, 0]).all()
        if isinstance(event, MarkPrice | Funding | OpenInterest | Heartbeat):
            assert event.recv_ts >= T0


def test_leveraged_positions_get_liquidated_in_cascades_on_both_sides(config):
    sim, events = _run(config, 2 * 86_400, 60)
    liquidations = [e for e in events if isinstance(e, Liquidations)]
    sides = np.concatenate([e.side for e in liquidations])
    assert (sides == -1).sum() > 10 and (sides == 1).sum() > 10
    assert sim.cascades > 0


def test_funding_follows_crowding_and_prices_stay_plausible(config):
    sim = MarketSimulator(config, seed=3)
    crowding, funding, paths = [], [], []
    for i in range(3 * 24 * 12):
        sim.step(T0 + i * 300, T0 + (i + 1) * 300)
        crowding.append(sim.crowding.copy())
        funding.append(sim.funding.copy())
        paths.append(sim.log_price.copy())
    assert np.corrcoef(np.ravel(crowding), np.ravel(funding))[0, 1] > 0.5
    returns = np.diff(np.array(paths), axis=0)
    annual = returns.std(axis=0) * math.sqrt(365 * 288)
    assert (annual > 0.2).all() and (annual < 3.0).all()
    assert np.isfinite(paths).all()


def test_taker_flow_leans_towards_the_next_move(config):
    """Informed flow: the share of taker buys leans with the step's move."""
    sim = MarketSimulator(config, seed=9)
    imbalance, moves = [], []
    for i in range(2_000):
        before = sim.log_price.copy()
        events = sim.step(T0 + i * 10, T0 + (i + 1) * 10)
        flow = np.zeros(len(config.symbols))
        for e in events:
            if isinstance(e, Trades):
                index = np.array([config.symbols.index(s) for s in e.symbol])
                np.add.at(flow, index, e.side.astype(float))
        imbalance.append(flow)
        moves.append(sim.log_price - before)
    assert np.corrcoef(np.ravel(imbalance), np.ravel(moves))[0, 1] > 0.1
