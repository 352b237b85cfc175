"""Where a run's market events come from: the in-process simulator on simulated time, or the
feeds over the wire (the real venues, or the wire-level simulator on loopback) on the wall
clock. A source has ``events(until)``; a wire source also ``start``, ``backfill``, ``health``
and ``close``."""

from __future__ import annotations

from bpjax.core.config import Config
from bpjax.sim.market import MarketSimulator


class SimSource:
    """The embedded market simulator as a source of normalized events."""

    name = "sim"

    def __init__(self, config: Config, seed: int | None = None):
        self.simulator = MarketSimulator(config, seed=seed)
        self.cursor: float | None = None

    def events(self, until: float):
        """Every event from the last call up to ``until`` (Unix s)."""
        if self.cursor is None:
            self.cursor = until - 1.0
        if until <= self.cursor:
            return []
        events = self.simulator.step(self.cursor, until)
        self.cursor = until
        return events


class FeedSource:
    """Market data over the wire, on the wall clock: the real venues (``live``) or the wire-level
    simulator on loopback (``wire-sim``), both through the venue adapters of :mod:`bpjax.feeds`."""

    simulated = False

    def __init__(self, config: Config, wire_sim: bool, seed: int | None = None):
        from bpjax.feeds.client import LiveFeeds
        from bpjax.sim.wire import WireExchange

        self.name = "wire-sim" if wire_sim else "live"
        self.exchange = WireExchange(config, seed=seed) if wire_sim else None
        self.feeds = LiveFeeds(config, exchange=self.exchange)
        self.started = False

    def start(self, wait: bool = True) -> None:
        if not self.started:
            self.feeds.start(wait=wait)
            self.started = True

    def events(self, until: float):
        self.start()
        return self.feeds.events(until)

    def backfill(self, end: float) -> dict[float, list]:
        self.start()
        return self.feeds.backfill(end)

    def health(self) -> dict[str, object]:
        return self.feeds.health() if self.started else {}

    def close(self) -> None:
        if self.started:
            self.feeds.stop()
