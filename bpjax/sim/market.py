"""A seeded synthetic perpetual-futures market, emitting the same normalized events as real feeds.

The market, for every configured symbol at once (NumPy, vectorized over symbols):

* **Price**: log-price driven by a market factor (every symbol has a beta to it) and an
  idiosyncratic part, each with Markov trend regimes (up / flat / down); volatility
  regimes (calm / normal / stressed) per symbol; mean reversion of the perp premium.
* **Crowding**: a per-symbol state in [-1, 1] that chases recent returns (trend-following
  retail) and relaxes; **funding** follows crowding (longs pay when crowded long), the
  **premium** (mark over index) follows funding, the **predicted funding** leads it.
* **Open interest** builds while crowding grows and trends run, decays slowly, and is
  destroyed by liquidations.
* **Leveraged positions**: new open interest opens positions across leverage tiers
  (5x to 100x) whose liquidation prices are tracked; when price trades through them
  they are force-closed (liquidation events), and the forced orders move price, which
  can liquidate the next tier: **cascades**.
* **Order book**: depth within 10/50/200 bp whose imbalance leads the next move, a
  spread that widens with volatility, 10 levels per side.
* **Positioning ratios**: retail accounts lean against the trend, top traders lean
  with the regime; reported every 5 minutes like Binance's ratio endpoints.
* **Trades** on all three venues (primary venue with the prices, others adding volume),
  taker side tilted by the drift and the book, occasional large prints by informed
  traders; per-venue mids and funding with small basis noise.

Nothing here is fitted to real data: it is a test bed rich enough that every card has
something to read, deterministic for a given seed.
"""

from __future__ import annotations

import math

import numpy as np

from bpjax.core.config import Config
from bpjax.core.defines import (
    FEED_LIQUIDATIONS,
    FEED_TRADES,
    LONG_LIQUIDATED,
    RATIO_GLOBAL_ACCOUNTS,
    RATIO_TAKER,
    RATIO_TOP_ACCOUNTS,
    RATIO_TOP_POSITIONS,
    SHORT_LIQUIDATED,
    VENUES,
)
from bpjax.ingest.events import (
    BookLevels,
    Event,
    Funding,
    Heartbeat,
    Liquidations,
    MarkPrice,
    OpenInterest,
    PositioningRatio,
    Trades,
)

SECONDS_PER_YEAR = 365.0 * 86_400.0
FUNDING_INTERVAL = 8 * 3_600
RATIO_PERIOD = 300
LEVERAGE_TIERS = np.array([5.0, 10.0, 20.0, 50.0, 100.0])
LEVERAGE_WEIGHTS = np.array([0.25, 0.3, 0.25, 0.15, 0.05])
MAINTENANCE_MARGIN = 0.005
BOOK_LEVELS_BPS = np.array([0.0, 2.0, 5.0, 8.0, 15.0, 30.0, 50.0, 90.0, 150.0, 200.0])
POSITION_SLOTS = 192

# rough starting prices for well-known symbols; others get a seeded price
KNOWN_PRICES = {
    "BTCUSDT": 65_000.0,
    "ETHUSDT": 3_200.0,
    "SOLUSDT": 150.0,
    "XRPUSDT": 0.6,
    "DOGEUSDT": 0.15,
    "BNBUSDT": 580.0,
    "ADAUSDT": 0.45,
    "AVAXUSDT": 30.0,
    "LINKUSDT": 14.0,
    "DOTUSDT": 6.5,
    "LTCUSDT": 80.0,
    "1000PEPEUSDT": 0.012,
}


class MarketSimulator:
    """Advance a synthetic market over (start, end] and return the events it produced."""

    def __init__(self, config: Config, seed: int | None = None):
        self.config = config
        self.symbols = config.symbols
        self.primary = config.universe.primary_venue
        self.rng = np.random.default_rng(config.simulator.seed if seed is None else seed)
        n = len(self.symbols)
        rng = self.rng
        is_benchmark = np.array([s == config.universe.benchmark for s in self.symbols])
        base = np.array([KNOWN_PRICES.get(s, float(np.exp(rng.uniform(-2.0, 5.0)))) for s in self.symbols])
        self.log_price = np.log(base)
        self.fair = self.log_price.copy()  # index (spot) log price
        self.beta = np.where(is_benchmark, 1.0, rng.uniform(0.7, 1.6, n))
        self.base_vol = np.where(is_benchmark, 0.5, rng.uniform(0.7, 1.3, n))  # annualized
        self.market_regime = 0
        self.trend_regime = rng.integers(-1, 2, n)
        self.vol_regime = np.ones(n, dtype=int)
        self.crowding = rng.uniform(-0.2, 0.2, n)
        self.funding = 1e-4 + 4e-4 * self.crowding
        self.premium = 0.3 * self.funding
        self.volume_scale = np.where(is_benchmark, 60.0, rng.uniform(2.0, 25.0, n))  # trades per second
        self.notional_depth = np.where(is_benchmark, 4e6, rng.uniform(1e5, 1.5e6, n))  # within 10 bp
        self.open_interest = self.notional_depth * rng.uniform(40.0, 120.0, n) / base  # base units
        self.recent_return = np.zeros(n)
        self.informed = np.zeros(n)  # the drift informed traders know (per second)
        self.imbalance = np.zeros(n)
        self.venue_basis = np.zeros((len(VENUES), n))
        self.venue_funding = np.zeros((len(VENUES), n))
        self.taker_buy = np.zeros(n)
        self.taker_sell = np.zeros(n)
        self.last_ratio_period = -1
        # leveraged positions: liquidation price, notional, side (+1 long, -1 short)
        self.position_price = np.zeros((n, POSITION_SLOTS))
        self.position_notional = np.zeros((n, POSITION_SLOTS))
        self.position_side = np.zeros((n, POSITION_SLOTS))
        self.position_cursor = 0
        self.liquidated_total = 0.0
        self.cascades = 0

    # --- regimes and drift ---------------------------------------------------------------------
    def _switch_regimes(self, dt: float) -> None:
        rng, n = self.rng, len(self.symbols)
        if rng.random() < dt / (4 * 3_600):
            self.market_regime = int(rng.integers(-1, 2))
        flip = rng.random(n) < dt / (2 * 3_600)
        self.trend_regime = np.where(flip, rng.integers(-1, 2, n), self.trend_regime)
        shift = rng.random(n) < dt / (3 * 3_600)
        self.vol_regime = np.where(shift, rng.choice([0, 1, 2], n, p=[0.3, 0.5, 0.2]), self.vol_regime)

    def _volatility(self) -> np.ndarray:
        """Per-second volatility of log price."""
        multiplier = np.array([0.6, 1.0, 2.2])[self.vol_regime]
        return self.base_vol * multiplier / math.sqrt(SECONDS_PER_YEAR)

    def _drift(self) -> np.ndarray:
        """Per-second drift: 4 %/day market trend x beta, 3 %/day idiosyncratic, crowding reversal."""
        per_day = 0.04 * self.market_regime * self.beta + 0.03 * self.trend_regime - 0.01 * self.crowding
        return per_day / 86_400.0

    # --- positions and liquidations ------------------------------------------------------------
    def _open_positions(self, price: np.ndarray, new_interest: np.ndarray) -> None:
        """Spread new open interest (base units) over leverage tiers, long share from crowding."""
        n = len(self.symbols)
        notional = np.maximum(new_interest, 0.0) * price
        long_share = np.clip(0.5 + 0.3 * self.crowding, 0.1, 0.9)
        for side, share in ((1.0, long_share), (-1.0, 1.0 - long_share)):
            tiers = self.rng.choice(LEVERAGE_TIERS, n, p=LEVERAGE_WEIGHTS)
            distance = 1.0 / tiers - MAINTENANCE_MARGIN
            slot = self.position_cursor % POSITION_SLOTS
            self.position_price[:, slot] = price * (1.0 - side * distance)
            self.position_notional[:, slot] = notional * share
            self.position_side[:, slot] = side
            self.position_cursor += 1

    def _liquidate(self, log_price: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Force-close positions the price has traded through; forced orders push price further
        (up to 4 rounds: cascades). Returns the final log price and liquidated long/short notional."""
        longs = np.zeros(len(self.symbols))
        shorts = np.zeros(len(self.symbols))
        for round_ in range(4):
            price = np.exp(log_price)[:, None]
            hit = (self.position_notional > 0) & (
                ((self.position_side > 0) & (price <= self.position_price))
                | ((self.position_side < 0) & (price >= self.position_price))
            )
            if not hit.any():
                break
            if round_ > 0:
                self.cascades += 1
            amount = np.where(hit, self.position_notional, 0.0)
            long_hit = np.where(self.position_side > 0, amount, 0.0).sum(axis=1)
            short_hit = np.where(self.position_side < 0, amount, 0.0).sum(axis=1)
            self.position_notional = np.where(hit, 0.0, self.position_notional)
            longs += long_hit
            shorts += short_hit
            # forced sells (long liquidations) push down, forced buys up: impact ~ notional / depth
            impact = (short_hit - long_hit) / (self.notional_depth * 400.0)
            log_price = log_price + np.clip(impact, -0.01, 0.01)
        return log_price, longs, shorts

    # --- one step -----------------------------------------------------------------------------
    def step(self, start: float, end: float) -> list[Event]:
        """Advance the market from ``start`` to ``end`` (Unix s) and return the events of (start, end]."""
        dt = end - start
        if dt <= 0:
            raise ValueError(f"simulator step must move forward, was {start} -> {end}")
        rng, n = self.rng, len(self.symbols)
        self._switch_regimes(dt)
        sigma = self._volatility()
        drift = self._drift()
        # informed flow and the book lead the move by one step
        self.informed = drift + sigma * rng.standard_normal(n) * 0.3 / math.sqrt(max(dt, 1.0))
        self.imbalance = np.tanh(self.informed / (sigma + 1e-12) * 2.0) * 0.6 + 0.15 * rng.standard_normal(n)
        self.imbalance = np.clip(self.imbalance, -0.9, 0.9)
        market_shock = rng.standard_normal()
        shock = 0.6 * market_shock * self.beta / 1.2 + 0.8 * rng.standard_normal(n)
        step_return = self.informed * dt + sigma * math.sqrt(dt) * shock
        open_log_price = self.log_price.copy()
        new_log_price, long_liq, short_liq = self._liquidate(self.log_price + step_return)
        self.log_price = new_log_price
        realized = self.log_price - open_log_price
        self.liquidated_total += float((long_liq + short_liq).sum())

        # crowding chases returns and relaxes; funding and premium follow it
        z = realized / (sigma * math.sqrt(dt) + 1e-12)
        decay = math.exp(-dt / 7_200.0)
        kick = math.sqrt(dt / 60.0)  # step-size invariant: increments add up like a random walk
        self.crowding = np.clip(
            self.crowding * decay + kick * (0.03 * np.tanh(z) + 0.01 * rng.standard_normal(n)), -1, 1
        )
        target_funding = 1e-4 + 6e-4 * self.crowding
        self.funding += (target_funding - self.funding) * (1.0 - math.exp(-dt / 1_800.0))
        self.funding += 2e-6 * rng.standard_normal(n)
        predicted = self.funding + 0.5 * (target_funding - self.funding)
        self.premium += (0.3 * target_funding - self.premium) * (1.0 - math.exp(-dt / 600.0))
        self.premium += 2e-5 * rng.standard_normal(n)
        self.fair = self.log_price - self.premium
        self.recent_return = self.recent_return * math.exp(-dt / 3_600.0) + realized

        # open interest: positions turn over (30 %/day gross), build while crowding and trends run,
        # and are destroyed by liquidations; opening and closing both scale with dt
        price = np.exp(self.log_price)
        days = dt / 86_400.0
        build = (0.5 * np.abs(self.crowding) + 0.2 * np.abs(self.trend_regime)) * days
        opened = self.open_interest * (0.3 * days + build)
        self._open_positions(price, opened)
        self.position_notional *= math.exp(-0.3 * days)
        noise = 0.01 * math.sqrt(days) * rng.standard_normal(n)
        self.open_interest = np.maximum(
            self.open_interest * (1.0 + build - 0.1 * days + noise) - (long_liq + short_liq) / price, 1e-9
        )

        events: list[Event] = []
        recv = end + 0.05
        events += self._trades(start, end, open_log_price, recv)
        events += self._books(end, price, sigma, recv)
        mark = price * np.exp(2e-5 * rng.standard_normal(n))
        index = np.exp(self.fair)
        events.append(MarkPrice.of(self.primary, self.symbols, np.full(n, end), mark, index, recv))
        next_funding = (math.floor(end / FUNDING_INTERVAL) + 1) * FUNDING_INTERVAL
        for v, venue in enumerate(VENUES):
            self.venue_funding[v] = 0.7 * self.venue_funding[v] + 3e-6 * rng.standard_normal(n)
            rate = self.funding + (0.0 if venue == self.primary else self.venue_funding[v])
            predicted_rate = predicted if venue == self.primary else np.full(n, np.nan)
            events.append(
                Funding.of(
                    venue,
                    self.symbols,
                    np.full(n, end),
                    rate,
                    predicted_rate,
                    np.full(n, float(next_funding)),
                    recv,
                )
            )
        events.append(OpenInterest.of(self.primary, self.symbols, np.full(n, end), self.open_interest, recv))
        liquidated = (long_liq > 0) | (short_liq > 0)
        if liquidated.any():
            events.append(self._liquidation_event(end, price, long_liq, short_liq, recv))
        events.append(Heartbeat.of(self.primary, FEED_LIQUIDATIONS, self.symbols, recv))
        period = int(end // RATIO_PERIOD)
        if period != self.last_ratio_period:
            self.last_ratio_period = period
            events += self._ratios(end, recv)
        return events

    def _trades(self, start, end, open_log_price, recv) -> list[Event]:
        rng, n, dt = self.rng, len(self.symbols), end - start
        activity = self.volume_scale * np.array([0.5, 1.0, 2.5])[self.vol_regime] * dt
        counts = rng.poisson(np.minimum(activity, 40.0))
        total = int(counts.sum())
        owner = np.repeat(np.arange(n), counts)
        position = rng.random(total)
        order = np.lexsort((position, owner))
        owner, position = owner[order], position[order]
        path = open_log_price[owner] + position * (self.log_price[owner] - open_log_price[owner])
        spread = self._spread()
        price = np.exp(path + spread[owner] * 1e-4 * 0.5 * rng.uniform(-1, 1, total))
        # sizes keep volume realistic whatever the step: notional ~ depth share per trade
        notional = self.notional_depth[owner] * 0.002 * rng.lognormal(0.0, 1.0, total)
        notional *= np.maximum(activity / 40.0, 1.0)[owner]  # fewer, larger prints on long steps
        # taker flow leans with the informed part of the move (in units of the step's noise)
        informed_z = self.informed * math.sqrt(dt) / (self._volatility() + 1e-12)
        lean = 0.3 * np.tanh(2.0 * informed_z[owner]) + 0.1 * self.imbalance[owner]
        buy = rng.random(total) < 0.5 + np.clip(lean, -0.4, 0.4)
        large = rng.random(total) < 0.02
        informed_side = np.sign(self.informed[owner])
        buy = np.where(large & (informed_side != 0), informed_side > 0, buy)
        notional = np.where(large, notional * 40.0, notional)
        qty = notional / price
        side = np.where(buy, 1, -1).astype(np.int8)
        ts = start + position * (end - start)
        self.taker_buy = self.taker_buy * math.exp(-dt / RATIO_PERIOD) + np.bincount(
            owner, np.where(buy, qty, 0.0), n
        )
        self.taker_sell = self.taker_sell * math.exp(-dt / RATIO_PERIOD) + np.bincount(
            owner, np.where(buy, 0.0, qty), n
        )
        symbols = np.asarray(self.symbols, dtype=object)
        events: list[Event] = []
        venue_share = rng.random(total)
        for venue, low, high in ((self.primary, 0.0, 0.6), *self._other_venues(0.6)):
            pick = (venue_share >= low) & (venue_share < high)
            if pick.any():
                events.append(
                    Trades.of(
                        venue, tuple(symbols[owner[pick]]), ts[pick], price[pick], qty[pick], side[pick], recv
                    )
                )
        quiet = counts == 0
        if quiet.any():
            events.append(Heartbeat.of(self.primary, FEED_TRADES, tuple(symbols[quiet]), recv))
        return events

    def _other_venues(self, from_share: float):
        others = [v for v in VENUES if v != self.primary]
        width = (1.0 - from_share) / len(others)
        return [
            (venue, from_share + i * width, from_share + (i + 1) * width) for i, venue in enumerate(others)
        ]

    def _spread(self) -> np.ndarray:
        """Spread in bp: tighter for deep books, wider in stressed regimes."""
        return np.clip(2.0e5 / self.notional_depth, 0.1, 8.0) * np.array([0.8, 1.0, 2.0])[self.vol_regime]

    def _books(self, end, price, sigma, recv) -> list[Event]:
        rng, n = self.rng, len(self.symbols)
        spread = self._spread()
        events: list[Event] = []
        distances = np.maximum(BOOK_LEVELS_BPS[None, :], 0.5 * spread[:, None])  # (sym, level) bp
        weights = np.diff(np.concatenate([[0.0], np.sqrt(BOOK_LEVELS_BPS[1:] + 1.0), [15.0]]))[None, :]
        base = self.notional_depth[:, None] * weights / weights[:, :2].sum()
        noise = rng.lognormal(0.0, 0.25, (2, n, BOOK_LEVELS_BPS.size))
        bid_notional = base * (1.0 + self.imbalance[:, None]) * noise[0]
        ask_notional = base * (1.0 - self.imbalance[:, None]) * noise[1]
        for v, venue in enumerate(VENUES):
            self.venue_basis[v] = 0.8 * self.venue_basis[v] + 1.5e-4 * rng.standard_normal(n)
            mid = price * (1.0 + (0.0 if venue == self.primary else self.venue_basis[v]))
            bids = mid[:, None] * (1.0 - distances * 1e-4)
            asks = mid[:, None] * (1.0 + distances * 1e-4)
            depth = 1.0 if venue == self.primary else 0.5
            book_bids = np.stack([bids, depth * bid_notional / bids], axis=-1)
            book_asks = np.stack([asks, depth * ask_notional / asks], axis=-1)
            events.append(BookLevels.of(venue, self.symbols, np.full(n, end), book_bids, book_asks, recv))
        return events

    def _liquidation_event(self, end, price, long_liq, short_liq, recv) -> Liquidations:
        rows = [(i, LONG_LIQUIDATED, long_liq[i]) for i in np.flatnonzero(long_liq > 0)]
        rows += [(i, SHORT_LIQUIDATED, short_liq[i]) for i in np.flatnonzero(short_liq > 0)]
        index = np.array([r[0] for r in rows])
        side = np.array([r[1] for r in rows], np.int8)
        notional = np.array([r[2] for r in rows])
        fill = price[index] * (1.0 - 5e-4 * side)  # forced orders fill through the book
        return Liquidations.of(
            self.primary,
            tuple(self.symbols[i] for i in index),
            np.full(index.size, end),
            side,
            fill,
            notional / fill,
            recv,
        )

    def _ratios(self, end, recv) -> list[Event]:
        rng, n = self.rng, len(self.symbols)
        trend = np.tanh(self.recent_return * 20.0)
        retail = -0.6 * trend + 0.4 * self.crowding + 0.1 * rng.standard_normal(n)
        smart = np.sign(self._drift()) * 0.4 + 0.15 * rng.standard_normal(n)
        taker = (self.taker_buy + 1e-12) / (self.taker_sell + 1e-12)
        ts = np.full(n, end)
        return [
            PositioningRatio.of(
                self.primary, self.symbols, ts, RATIO_GLOBAL_ACCOUNTS, np.exp(0.8 * retail), recv
            ),
            PositioningRatio.of(
                self.primary,
                self.symbols,
                ts,
                RATIO_TOP_ACCOUNTS,
                np.exp(0.5 * self.crowding + 0.1 * rng.standard_normal(n)),
                recv,
            ),
            PositioningRatio.of(self.primary, self.symbols, ts, RATIO_TOP_POSITIONS, np.exp(smart), recv),
            PositioningRatio.of(
                self.primary, self.symbols, ts, RATIO_TAKER, np.clip(taker, 0.05, 20.0), recv
            ),
        ]
