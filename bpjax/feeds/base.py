"""What every venue adapter shares: per-feed health counters, field parsing, book flushing.

An adapter turns raw frames (WebSocket text, REST bodies) into normalized events
(:mod:`bpjax.ingest.events`). It never raises on bad input: a frame that is not JSON, lacks
a field or carries a wrong type is counted (``malformed``) and logged once per
reason; a frame of a kind it does not know is counted (``unknown``). Sequence gaps
are counted per feed and mark the book for resynchronization.

Frames do not produce an event each: :meth:`Adapter.feed` buffers rows (trades and
liquidations as tuples, levels such as mark, funding and open interest as the latest
value per symbol) and :meth:`Adapter.take` turns them into one columnar event per kind,
once per tick; a per-frame NumPy event would cost more than parsing the frame.
Likewise the adapter keeps the books and :meth:`Adapter.flush_books` emits one
:class:`~bpjax.ingest.events.BookLevels` event for every book that changed since the last
flush. Levels are summarized for the accumulator: the best level
exactly, then one level per depth band (``bpjax.core.defines.DEPTH_BANDS_BPS``) holding the
band's total quantity at its volume-weighted price, so band notionals are exact with
four levels instead of thousands.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import orjson

from bpjax.core.defines import DEPTH_BANDS_BPS
from bpjax.feeds.book import OrderBook
from bpjax.ingest.events import BookLevels, Event, Funding, Liquidations, MarkPrice, OpenInterest, Trades

log = logging.getLogger("bpjax.feeds")

BOOK_ROWS = 1 + len(DEPTH_BANDS_BPS)


class Malformed(ValueError):
    """A frame this adapter cannot use: the message says what is wrong."""


@dataclass
class FeedHealth:
    """Counters of one (venue, feed); ``last_recv`` is the local receive time (Unix s)."""

    messages: int = 0
    malformed: int = 0
    unknown: int = 0
    gaps: int = 0
    resyncs: int = 0
    out_of_order: int = 0
    last_recv: float = float("-inf")
    reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self, now: float) -> dict[str, object]:
        age = now - self.last_recv if np.isfinite(self.last_recv) else None
        return {
            "messages": self.messages,
            "malformed": self.malformed,
            "unknown": self.unknown,
            "gaps": self.gaps,
            "resyncs": self.resyncs,
            "out_of_order": self.out_of_order,
            "last_message_age_s": None if age is None else round(age, 3),
        }


def number(value: object, name: str) -> float:
    """A decimal string (or JSON number) as float64; Malformed names the field otherwise."""
    if isinstance(value, bool) or value is None:
        raise Malformed(f"{name} is {value!r}, expected a number")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise Malformed(f"{name} is {value!r}, expected a number") from None


def optional_number(value: object, name: str) -> float:
    """Like :func:`number`, with ``""`` or missing as NaN (venues send "" for not applicable)."""
    return float("nan") if value in ("", None) else number(value, name)


def millis(value: object, name: str) -> float:
    """A ms timestamp (JSON int or string) as Unix seconds."""
    if isinstance(value, bool):
        raise Malformed(f"{name} is {value!r}, expected ms since the epoch")
    try:
        return int(value) / 1000.0  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise Malformed(f"{name} is {value!r}, expected ms since the epoch") from None


def levels(value: object, name: str) -> list:
    if not isinstance(value, list) or any(not isinstance(level, list) or len(level) < 2 for level in value):
        raise Malformed(f"{name} must be a list of [price, qty] levels")
    return value


def band_levels(book: OrderBook) -> tuple[np.ndarray, np.ndarray]:
    """(BOOK_ROWS, 2) [price, qty] per side: the best level, then each depth band beyond it as one
    level at the band's volume-weighted price (NaN where a band is empty)."""
    bid, _, ask, _ = book.best()
    mid = 0.5 * (bid + ask)
    out = []
    for side, sign in ((book.bids, 1.0), (book.asks, -1.0)):
        rows = np.full((BOOK_ROWS, 2), np.nan)
        if side:
            prices = np.fromiter(side.keys(), np.float64, len(side))
            qtys = np.fromiter(side.values(), np.float64, len(side))
            best = prices.max() if sign > 0 else prices.min()
            rows[0] = best, side[float(best)]
            distance = sign * (mid - prices) / mid * 1e4
            rest = prices != best
            lower = -np.inf
            for k, band in enumerate(DEPTH_BANDS_BPS, start=1):
                inside = rest & (distance > lower) & (distance <= band)
                qty = qtys[inside].sum()
                if qty > 0:
                    rows[k] = (prices[inside] * qtys[inside]).sum() / qty, qty
                lower = band
        out.append(rows)
    return out[0], out[1]


class Adapter:
    """Shared state of a venue adapter: symbol maps, books, health per feed."""

    venue: str = ""
    feeds: tuple[str, ...] = ()
    # message type (Binance event, Bybit topic kind, OKX channel) -> (feed it is counted under,
    # name of the handler method)
    handlers: dict[str, tuple[str, str]] = {}

    def __init__(self, symbols: Iterable[str]):
        self.symbols = tuple(symbols)
        self.books: dict[str, OrderBook] = {s: OrderBook() for s in self.symbols}
        self.dirty: set[str] = set()
        self.health: dict[str, FeedHealth] = {name: FeedHealth() for name in self.feeds}
        self.seen_at = dict.fromkeys(self.symbols, float("-inf"))  # last frame naming the symbol
        self.now = 0.0  # receive time of the frame being handled
        self._logged: set[str] = set()
        self._trades: list[tuple] = []
        self._liquidations: list[tuple] = []
        self._marks: dict[str, tuple] = {}
        self._funding: dict[str, tuple] = {}
        self._interest: dict[str, tuple] = {}
        self._latest = float("-inf")  # latest receive time among buffered rows
        self._dispatch = {kind: (feed, getattr(self, name)) for kind, (feed, name) in self.handlers.items()}

    # --- buffered rows --------------------------------------------------------------------------
    def feed(self, frame: str | bytes, recv_ts: float) -> None:
        """Parse one frame into the buffers (never raises; problems are counted)."""
        raise NotImplementedError

    def on_frame(self, frame: str | bytes, recv_ts: float) -> list[Event]:
        """The events of one frame (:meth:`feed` then :meth:`take`)."""
        self.feed(frame, recv_ts)
        return self.take()

    def trade(self, symbol: str, ts: float, price: float, qty: float, side: int) -> None:
        self._trades.append((symbol, ts, price, qty, side))
        if self.now > self._latest:
            self._latest = self.now

    def liquidation(self, symbol: str, ts: float, side: int, price: float, qty: float) -> None:
        self._liquidations.append((symbol, ts, side, price, qty))
        if self.now > self._latest:
            self._latest = self.now

    def mark(self, symbol: str, ts: float, mark: float, index: float) -> None:
        self._marks[symbol] = (ts, mark, index)
        if self.now > self._latest:
            self._latest = self.now

    def funding(self, symbol: str, ts: float, rate: float, predicted: float, next_ts: float) -> None:
        self._funding[symbol] = (ts, rate, predicted, next_ts)
        if self.now > self._latest:
            self._latest = self.now

    def interest(self, symbol: str, ts: float, value: float) -> None:
        self._interest[symbol] = (ts, value)
        if self.now > self._latest:
            self._latest = self.now

    def take(self) -> list[Event]:
        """Buffered rows as columnar events (at most one per kind), stamped with the latest
        receive time among them (an event has one receive time, so staleness is resolved to the
        collection period, one engine tick); the buffers are emptied."""
        events: list[Event] = []
        recv, venue = self._latest, self.venue
        if self._trades:
            symbol, ts, price, qty, side = zip(*self._trades, strict=True)
            events.append(Trades.of(venue, symbol, ts, price, qty, side, recv))
        if self._liquidations:
            symbol, ts, side, price, qty = zip(*self._liquidations, strict=True)
            events.append(Liquidations.of(venue, symbol, ts, side, price, qty, recv))
        if self._marks:
            ts, mark, index = zip(*self._marks.values(), strict=True)
            events.append(MarkPrice.of(venue, tuple(self._marks), ts, mark, index, recv))
        if self._funding:
            ts, rate, predicted, next_ts = zip(*self._funding.values(), strict=True)
            events.append(Funding.of(venue, tuple(self._funding), ts, rate, predicted, next_ts, recv))
        if self._interest:
            ts, value = zip(*self._interest.values(), strict=True)
            events.append(OpenInterest.of(venue, tuple(self._interest), ts, value, recv))
        self._trades, self._liquidations = [], []
        self._marks, self._funding, self._interest = {}, {}, {}
        self._latest = float("-inf")
        return events

    # --- counting -------------------------------------------------------------------------------
    def count(self, feed: str, recv_ts: float) -> FeedHealth:
        health = self.health[feed]
        health.messages += 1
        if recv_ts > health.last_recv:  # (not max(): this runs for every frame)
            health.last_recv = recv_ts
        return health

    def bad(self, feed: str, kind: str, reason: str) -> None:
        """Count a malformed or unknown frame; log each distinct reason once."""
        health = self.health[feed]
        setattr(health, kind, getattr(health, kind) + 1)
        health.reasons[reason] = health.reasons.get(reason, 0) + 1
        if reason not in self._logged:
            self._logged.add(reason)
            log.warning("%s %s: %s frame: %s", self.venue, feed, kind, reason)

    def touched(self, symbol: str, recv_ts: float | None = None) -> None:
        """A book changed (at ``recv_ts``, default: the frame being handled): publish it next flush."""
        self.dirty.add(symbol)
        self.books[symbol].received = self.now if recv_ts is None else recv_ts

    def saw(self, symbol: str) -> None:
        if self.now > self.seen_at[symbol]:
            self.seen_at[symbol] = self.now

    def live_symbols(self, now: float, within: float) -> tuple[str, ...]:
        """Symbols this venue sent anything about in the last ``within`` seconds."""
        return tuple(s for s in self.symbols if now - self.seen_at[s] <= within)

    def handler(self, kind: object, what: str):
        """(feed, bound handler) of a message type; None, counted as unknown, for any other."""
        found = self._dispatch.get(kind) if isinstance(kind, str) else None  # (a list is unhashable)
        if found is None:
            self.bad("other", "unknown", f"{what} {kind!r}")
        return found

    def guarded(self, feed: str, label: str, function, *args) -> None:
        """Run a handler; a Malformed or a missing/wrong-typed field is counted, never raised."""
        try:
            function(*args)
        except Malformed as error:
            self.bad(feed, "malformed", f"{label}: {error}")
        except (KeyError, TypeError, AttributeError, ValueError, IndexError) as error:
            self.bad(feed, "malformed", f"{label}: missing or wrong-typed field ({error!r})")

    def decode(self, frame: str | bytes, feed: str = "other") -> object | None:
        try:
            return orjson.loads(frame)  # several times faster than json.loads on venue frames
        except (ValueError, TypeError) as error:
            self.bad(feed, "malformed", f"not JSON ({error.__class__.__name__})")
            return None

    # --- books ----------------------------------------------------------------------------------
    def flush_books(self, now: float) -> list[Event]:
        """One BookLevels event for every synced book that changed since the last flush, stamped
        with the latest local receive time of those changes (never ``now``: a quiet book must age)."""
        names = [s for s in self.symbols if s in self.dirty and self.books[s].synced]
        self.dirty.clear()
        if not names:
            return []
        recv_ts = max(self.books[s].received for s in names)
        if not np.isfinite(recv_ts):
            recv_ts = now
        summaries = [band_levels(self.books[s]) for s in names]
        bids = np.stack([b for b, _ in summaries])
        asks = np.stack([a for _, a in summaries])
        ts = [self.books[s].ts for s in names]
        return [BookLevels.of(self.venue, tuple(names), ts, bids, asks, recv_ts)]

    def health_report(self, now: float) -> dict[str, dict[str, object]]:
        return {feed: h.as_dict(now) for feed, h in self.health.items()}
