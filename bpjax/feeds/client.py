"""Live connections: aiohttp WebSockets and REST polling for every enabled venue.

:class:`LiveFeeds` runs all venue clients on one asyncio loop in a background thread and
hands the runner what arrived since its last call (:meth:`LiveFeeds.events`), so the tick
loop stays synchronous and never waits on the network.

Per connection: receive frames (stamped with the local receive time, the only clock used
for staleness) into a bounded queue that a parser task drains in batches through the
venue adapter; reconnect with exponential backoff, reset once a connection has delivered
data; keep it alive by the venue's rules (Binance: the server pings and aiohttp answers;
Bybit: ``{"op": "ping"}`` every 20 s; OKX: the text ``ping`` after 25 s without data);
reconnect when nothing arrived for ``feeds.silence_seconds`` (the watchdog), before the
venue's forced disconnect (``feeds.max_connection_hours``) and on OKX's maintenance
notice. Books are resynchronized as the adapters ask (Binance and OKX REST snapshots,
Bybit resubscription). Every counter is in :meth:`LiveFeeds.health`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable

import aiohttp

from bpjax.core.config import Config
from bpjax.core.defines import BINANCE, BYBIT, FEED_LIQUIDATIONS, FEED_TRADES, OKX
from bpjax.feeds.base import Adapter, Malformed
from bpjax.feeds.binance import RATIO_PATHS, BinanceAdapter, parse_klines
from bpjax.feeds.bybit import BybitAdapter
from bpjax.feeds.okx import OkxAdapter
from bpjax.ingest.events import Bars, Event, Heartbeat

log = logging.getLogger("bpjax.feeds")

BATCH = 512  # frames parsed per wake-up of a parser task
STREAMS_PER_SOCKET = 200  # Binance: stay well under the documented 1024
BYBIT_PING_SECONDS = 20.0
OKX_PING_SECONDS = 25.0


class Connection:
    """One WebSocket with reconnects, watchdog and keepalive; frames go to ``queue``."""

    def __init__(
        self,
        name: str,
        url: str,
        client: VenueClient,
        on_open: Callable[[aiohttp.ClientWebSocketResponse], Awaitable[None]] | None = None,
        ping: tuple[str, float, bool] | None = None,
    ):
        """``ping``: (text to send, seconds between pings, only when the socket has been idle
        that long) for venues that want the client to ping; None when the server pings."""
        self.name, self.url, self.client = name, url, client
        self.on_open, self.ping = on_open, ping
        self.connected = False
        self.reconnects = 0
        self.dropped = 0  # frames lost to a full queue
        self.last_frame = 0.0  # monotonic
        self.force_reconnect = False
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def run(self) -> None:
        feeds = self.client.config.feeds
        backoff = feeds.backoff_initial_seconds
        while True:
            delivered = False
            try:
                async with self.client.session.ws_connect(self.url, autoping=True, heartbeat=None) as ws:
                    self.ws, self.connected, opened = ws, True, time.monotonic()
                    self.last_frame, self.force_reconnect = opened, False
                    if self.on_open is not None:
                        await self.on_open(ws)
                    keepalive = asyncio.create_task(self._keepalive(ws)) if self.ping else None
                    try:
                        delivered = await self._read(ws, opened)
                    finally:
                        if keepalive is not None:
                            keepalive.cancel()
            except (TimeoutError, aiohttp.ClientError, OSError) as error:
                log.warning("%s: connection failed: %s", self.name, error)
            finally:
                self.connected, self.ws = False, None
            if delivered:
                backoff = feeds.backoff_initial_seconds  # reset after a connection that worked
            self.reconnects += 1
            self.client.on_reconnect(self)
            await asyncio.sleep(backoff * (0.8 + 0.4 * random.random()))
            backoff = min(backoff * 2.0, feeds.backoff_max_seconds)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, opened: float) -> bool:
        feeds = self.client.config.feeds
        queue, delivered = self.client.queue, False
        lifetime = feeds.max_connection_hours * 3600.0
        while not self.force_reconnect:
            try:
                message = await ws.receive(timeout=feeds.silence_seconds)
            except TimeoutError:
                log.warning("%s: silent for %.0f s, reconnecting", self.name, feeds.silence_seconds)
                self.client.silences += 1
                return delivered
            if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                now = time.monotonic()
                self.last_frame, delivered = now, True
                if queue.full():
                    self.dropped += 1
                else:
                    queue.put_nowait((time.time(), message.data))
                if now - opened > lifetime:
                    log.info("%s: connection age limit, reconnecting before the venue drops it", self.name)
                    return delivered
            elif message.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.CLOSING,
            ):
                return delivered
            elif message.type == aiohttp.WSMsgType.ERROR:
                log.warning("%s: socket error %s", self.name, ws.exception())
                return delivered
        return delivered

    async def _keepalive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        text, every, when_idle = self.ping  # type: ignore[misc]
        pinged = time.monotonic()
        with contextlib.suppress(ConnectionError, RuntimeError, aiohttp.ClientError):
            while not ws.closed:
                await asyncio.sleep(min(1.0, every / 2))
                now = time.monotonic()
                if now - pinged >= every and (not when_idle or now - self.last_frame >= every):
                    pinged = now
                    await ws.send_str(text)


class VenueClient:
    """One venue: its adapter, connections, REST tasks and the parser task."""

    venue = ""

    def __init__(self, config: Config, adapter: Adapter):
        self.config = config
        self.adapter = adapter
        self.urls = getattr(config.venues, self.venue)
        self.session: aiohttp.ClientSession = None  # type: ignore[assignment]  # made on the loop
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=config.feeds.queue_frames)
        self.outbox: list[Event] = []
        self.connections: list[Connection] = []
        self.tasks: list[asyncio.Task] = []
        self.silences = 0
        self.rest_errors = 0
        self.frames_parsed = 0

    async def start(self) -> None:
        self.session = aiohttp.ClientSession()
        await self.prepare()
        self.connections = self.make_connections()
        self.tasks = [asyncio.create_task(c.run()) for c in self.connections]
        self.tasks.append(asyncio.create_task(self._parse()))
        self.tasks += [asyncio.create_task(job) for job in self.jobs()]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.session.close()

    async def prepare(self) -> None:
        """REST work before the sockets open (instrument tables)."""

    def make_connections(self) -> list[Connection]:
        raise NotImplementedError

    def jobs(self) -> list[Awaitable[None]]:
        return []

    def on_reconnect(self, connection: Connection) -> None:
        """A connection is about to reconnect: books it carried must be rebuilt."""

    async def _parse(self) -> None:
        while True:
            recv_ts, frame = await self.queue.get()
            batch = [(recv_ts, frame)]
            while len(batch) < BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            for recv_ts, frame in batch:
                self.adapter.feed(frame, recv_ts)
            self.frames_parsed += len(batch)
            await self.after_batch()
            await asyncio.sleep(0)  # let the readers run between batches: the queue bound then holds

    async def after_batch(self) -> None:
        """Resync books the adapter asked for."""

    def snapshot_request(self, symbol: str) -> tuple[str, dict, Callable]:
        """(REST path, query, adapter loader) of a book snapshot, for venues that resync by REST."""
        raise NotImplementedError

    async def _snapshots(self) -> None:
        """Fetch a REST snapshot for every book the adapter wants rebuilt, once its diffs flow."""
        while True:
            for symbol in sorted(self.adapter.needs_snapshot):  # type: ignore[attr-defined]
                if self.adapter.pending[symbol]:  # type: ignore[attr-defined]
                    path, query, load = self.snapshot_request(symbol)
                    body = await self.get_json(path, **query)
                    if body is not None:
                        load(symbol, body, time.time())
            await asyncio.sleep(0.2)

    def carries_trades(self, connection: Connection) -> bool:
        """Whether the trades and liquidations streams run on this connection (their heartbeats
        need it up)."""
        return True

    async def get_json(self, path: str, **params) -> object | None:
        """A REST GET; None (counted and logged) on a transport error, an HTTP error or bad JSON."""
        url = self.urls.rest_url.rstrip("/") + path
        try:
            async with self.session.get(
                url, params=params, timeout=aiohttp.ClientTimeout(total=10)
            ) as response:
                if response.status == 429 or response.status == 418:
                    retry = float(response.headers.get("Retry-After", "5"))
                    log.warning("%s %s: rate limited, waiting %.0f s", self.venue, path, retry)
                    await asyncio.sleep(retry)
                    self.rest_errors += 1
                    return None
                if response.status != 200:
                    self.rest_errors += 1
                    log.warning("%s %s: HTTP %d", self.venue, path, response.status)
                    return None
                return json.loads(await response.text())
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as error:
            self.rest_errors += 1
            log.warning("%s %s: %s", self.venue, path, error)
            return None

    def collect(self, now: float, primary: str) -> list[Event]:
        """Events since the last call, books flushed; heartbeats keep quiet feeds of symbols that
        are still live (anything arrived for them lately) from looking stale."""
        events, self.outbox = self.outbox + self.adapter.take(), []
        events += self.adapter.flush_books(now)
        if self.venue == primary:
            live = self.adapter.live_symbols(now, self.config.engine.stale_seconds.mark)
            if live and any(c.connected for c in self.connections if self.carries_trades(c)):
                events.append(Heartbeat.of(self.venue, FEED_LIQUIDATIONS, live, now))
                events.append(Heartbeat.of(self.venue, FEED_TRADES, live, now))
        return events

    def health(self, now: float) -> dict[str, object]:
        return {
            "connected": [c.connected for c in self.connections],
            "reconnects": sum(c.reconnects for c in self.connections),
            "dropped_frames": sum(c.dropped for c in self.connections),
            "silences": self.silences,
            "rest_errors": self.rest_errors,
            "frames_parsed": self.frames_parsed,
            "queued": self.queue.qsize(),
            "feeds": self.adapter.health_report(now),
        }


class BinanceClient(VenueClient):
    venue = BINANCE
    adapter: BinanceAdapter

    def make_connections(self) -> list[Connection]:
        out = []
        for entry, names in self.adapter.streams().items():
            for k in range(0, len(names), STREAMS_PER_SOCKET):
                chunk = "/".join(names[k : k + STREAMS_PER_SOCKET])
                url = f"{self.urls.ws_url.rstrip('/')}/{entry}/stream?streams={chunk}"
                out.append(Connection(f"binance/{entry}#{k // STREAMS_PER_SOCKET}", url, self))
        return out

    async def backfill(self, end: float, minutes: int) -> dict[float, list[Event]]:
        """Closed 1m klines of the ``minutes`` before ``end`` as Bars events keyed by bar close time
        (``recv_ts`` is that time, so the history ages like live data would have)."""
        rows: dict[float, list[tuple]] = {}
        for symbol in self.adapter.symbols:
            body = await self.get_json(
                "/fapi/v1/klines",
                symbol=symbol,
                interval="1m",
                limit=min(minutes, 1500),
                startTime=int((end - minutes * 60) * 1000),
                endTime=int(end * 1000) - 1,
            )
            if body is None:
                continue
            try:
                k = parse_klines(body)
            except Malformed as error:
                self.adapter.bad("other", "malformed", str(error))
                continue
            for i in range(k["open_time"].size):
                close = k["open_time"][i] + 60.0
                if close <= end:  # the last row is the still-open candle
                    rows.setdefault(close, []).append(
                        (
                            symbol,
                            close,
                            k["open"][i],
                            k["high"][i],
                            k["low"][i],
                            k["close"][i],
                            k["volume"][i],
                            k["taker_buy_volume"][i],
                            k["trades"][i],
                            k["quote_volume"][i],
                        )
                    )
        return {t: [Bars.of(self.venue, *zip(*r, strict=True), recv_ts=t)] for t, r in sorted(rows.items())}

    def carries_trades(self, connection: Connection) -> bool:
        return "/market" in connection.name

    def on_reconnect(self, connection: Connection) -> None:
        if "/public" in connection.name:
            for symbol in self.adapter.symbols:
                self.adapter.resync(symbol)

    def jobs(self):
        return [self._snapshots(), self._poll_open_interest(), self._poll_ratios(), self._poll_funding()]

    def snapshot_request(self, symbol: str) -> tuple[str, dict, Callable]:
        return "/fapi/v1/depth", {"symbol": symbol, "limit": 1000}, self.adapter.on_depth_snapshot

    async def _poll_open_interest(self) -> None:
        while True:
            for symbol in self.adapter.symbols:
                body = await self.get_json("/fapi/v1/openInterest", symbol=symbol)
                if body is not None:
                    self.outbox += self.adapter.on_open_interest(body, time.time())
            await asyncio.sleep(self.config.feeds.poll_open_interest_seconds)

    async def _poll_ratios(self) -> None:
        while True:
            for symbol in self.adapter.symbols:
                for kind, path in RATIO_PATHS.items():
                    body = await self.get_json(path, symbol=symbol, period="5m", limit=2)
                    if body is not None:
                        self.outbox += self.adapter.on_ratio(kind, symbol, body, time.time())
            await asyncio.sleep(self.config.feeds.poll_ratios_seconds)

    async def _poll_funding(self) -> None:
        while True:
            for symbol in self.adapter.symbols:
                body = await self.get_json("/fapi/v1/fundingRate", symbol=symbol, limit=1)
                if body is not None:
                    self.adapter.on_funding_history(symbol, body, time.time())
            await asyncio.sleep(600.0)  # settlements are hours apart; ten minutes catches each


class BybitClient(VenueClient):
    venue = BYBIT
    adapter: BybitAdapter

    def make_connections(self) -> list[Connection]:
        every = min(BYBIT_PING_SECONDS, self.config.feeds.silence_seconds / 3)  # pongs feed the watchdog
        ping = (json.dumps({"op": "ping"}), every, False)
        return [Connection("bybit", self.urls.ws_url, self, self._subscribe, ping)]

    async def _subscribe(self, ws) -> None:
        topics = self.adapter.topics()
        for k in range(0, len(topics), 100):  # args of one request stay far below 21,000 characters
            await ws.send_str(json.dumps({"op": "subscribe", "args": topics[k : k + 100]}))

    def on_reconnect(self, connection: Connection) -> None:
        for symbol, book in self.adapter.books.items():
            book.clear()  # the new subscription starts with a snapshot
            self.adapter.resyncing.add(symbol)

    async def after_batch(self) -> None:
        if not self.adapter.needs_resubscribe:
            return
        ws = self.connections[0].ws
        topics = [f"orderbook.{self.adapter.depth}.{s}" for s in sorted(self.adapter.needs_resubscribe)]
        if ws is not None and not ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(json.dumps({"op": "unsubscribe", "args": topics}))
                await ws.send_str(json.dumps({"op": "subscribe", "args": topics}))
                self.adapter.needs_resubscribe.clear()


class OkxClient(VenueClient):
    venue = OKX
    adapter: OkxAdapter

    async def prepare(self) -> None:
        body = await self.get_json("/api/v5/public/instruments", instType="SWAP")
        if body is not None:
            self.adapter.on_instruments(body)
        missing = [i for i in self.adapter.instruments if i not in self.adapter.contract_values]
        if missing:
            log.warning("okx: no contract value for %s: their sizes are dropped", ", ".join(missing))

    def make_connections(self) -> list[Connection]:
        every = min(OKX_PING_SECONDS, self.config.feeds.silence_seconds / 3)
        return [Connection("okx", self.urls.ws_url, self, self._subscribe, ("ping", every, True))]

    async def _subscribe(self, ws) -> None:
        args = self.adapter.subscriptions()
        for k in range(0, len(args), 100):
            await ws.send_str(json.dumps({"op": "subscribe", "args": args[k : k + 100]}))

    async def after_batch(self) -> None:
        if self.adapter.reconnect_requested:  # maintenance notice: reconnect now, on our terms
            self.adapter.reconnect_requested = False
            self.connections[0].force_reconnect = True

    def on_reconnect(self, connection: Connection) -> None:
        for symbol in self.adapter.symbols:
            self.adapter.books[symbol].clear()

    def jobs(self):
        return [self._snapshots()]

    def snapshot_request(self, symbol: str) -> tuple[str, dict, Callable]:
        query = {"instId": self.adapter.instrument_of[symbol], "sz": 400}
        return "/api/v5/market/books", query, self.adapter.on_rest_books


CLIENTS = {
    BINANCE: (BinanceClient, BinanceAdapter),
    BYBIT: (BybitClient, BybitAdapter),
    OKX: (OkxClient, OkxAdapter),
}


class LiveFeeds:
    """Every enabled venue on one event loop in a background thread."""

    def __init__(self, config: Config, exchange=None):
        """``exchange``: a :class:`bpjax.sim.wire.WireExchange` to start first, on this loop;
        the venues' URLs then point at its servers."""
        self.config = config
        self.exchange = exchange
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="bpjax-feeds", daemon=True)
        self.clients: dict[str, VenueClient] = {}
        self._started = None  # the future of _start

    def start(self, wait: bool = True) -> None:
        """Start the loop and connect every venue; ``wait=False`` returns at once (the runner
        compiles the tick meanwhile) and the first call that needs the feeds waits for them."""
        self.thread.start()
        self._started = asyncio.run_coroutine_threadsafe(self._start(), self.loop)
        if wait:
            self.ready()

    def ready(self) -> None:
        if self._started is not None:
            self._started.result(timeout=120)

    async def _start(self) -> None:
        if self.exchange is not None:
            await self.exchange.start(history_minutes=self.config.feeds.backfill_bars)
            self.config = self.config.with_venues(self.exchange.venue_urls())
        for venue, (client_class, adapter_class) in CLIENTS.items():
            if getattr(self.config.venues, venue).enabled:
                client = client_class(self.config, adapter_class(self.config.symbols))
                self.clients[venue] = client
                await client.start()
        if not self.clients:
            raise RuntimeError("no venue is enabled in [venues]")

    def events(self, until: float) -> list[Event]:
        """What arrived since the last call (the tick's events), from every venue."""
        self.ready()
        primary = self.config.universe.primary_venue

        async def gather():
            return [e for c in self.clients.values() for e in c.collect(time.time(), primary)]

        return self.call(gather(), timeout=10)  # type: ignore[return-value]

    def backfill(self, end: float) -> dict[float, list[Event]]:
        """History before ``end`` from the primary venue (1m klines), keyed by bar close time."""
        self.ready()
        client = self.clients.get(self.config.universe.primary_venue)
        minutes = self.config.feeds.backfill_bars
        if client is None or not minutes or not hasattr(client, "backfill"):
            log.warning("no history backfill: the primary venue has no kline backfill here")
            return {}
        return self.call(client.backfill(end, minutes))  # type: ignore[return-value]

    def health(self) -> dict[str, object]:
        self.ready()

        async def gather():
            now = time.time()
            return {venue: client.health(now) for venue, client in self.clients.items()}

        return self.call(gather(), timeout=10)  # type: ignore[return-value]

    def call(self, coroutine, timeout: float = 120.0) -> object:
        """Run a coroutine on the feeds' loop (the backfill; tests use it to reach the servers)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=timeout)

    def stop(self) -> None:
        async def shutdown():
            for client in self.clients.values():
                await client.stop()
            if self.exchange is not None:
                await self.exchange.stop()

        if self.thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(timeout=30)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
