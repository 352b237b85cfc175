"""The feed clients against the wire-level exchange simulator on loopback: real sockets, real
subscribe/ping protocols and REST, and the faults a venue can throw at them."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from bpjax.app.runner import Runner
from bpjax.app.sources import FeedSource
from bpjax.core.defines import BINANCE, BYBIT, OKX, STATUS_STALE_PRICE
from bpjax.core.fields import FIELD_INDEX
from bpjax.ingest.snapshot import Accumulator
from tests.harness import small_config

STALE = {
    "trades": 3.0,
    "book": 3.0,
    "mark": 3.0,
    "funding": 30.0,
    "open_interest": 30.0,
    "liquidations": 30.0,
    "positioning": 600.0,
    "venue": 3.0,
}


def live_config(**feeds):
    return small_config(
        engine={"tick_seconds": 1, "stale_seconds": STALE},
        feeds={
            "silence_seconds": 2.0,
            "backoff_initial_seconds": 0.2,
            "backoff_max_seconds": 1.0,
            "backfill_bars": 30,
            **feeds,
        },
    )


def wait_until(predicate, timeout=15.0, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


class Live:
    """The wire-sim exchange, every venue client, and an accumulator fed like the runner feeds it."""

    def __init__(self, config):
        self.config = config
        self.source = FeedSource(config, wire_sim=True, seed=3)
        self.source.start()
        self.exchange = self.source.exchange
        self.accumulator = Accumulator(config)

    def server(self, venue):
        return self.exchange.servers[venue]

    def call(self, coroutine):
        return self.source.feeds.call(coroutine)

    def pump(self, seconds=0.0):
        """Fold what arrived into the accumulator; returns the packed snapshot."""
        if seconds:
            time.sleep(seconds)
        now = time.time()
        self.accumulator.apply_all(self.source.events(now))
        return self.accumulator.pack(now)

    def health(self, venue):
        return self.source.health()[venue]

    def close(self):
        self.source.close()


@pytest.fixture
def live():
    session = Live(live_config())
    yield session
    session.close()


def valid(snapshot, field, symbol=0):
    return bool(snapshot.valid[symbol, FIELD_INDEX[field]])


def test_every_venue_delivers_through_its_adapter(live):
    assert wait_until(lambda: all(live.health(v)["frames_parsed"] > 200 for v in (BINANCE, BYBIT, OKX)))
    snapshot = live.pump(1.5)
    for field in (
        "close",
        "mid",
        "mark",
        "index",
        "funding_rate",
        "predicted_funding",
        "open_interest",
        "mid_binance",
        "mid_bybit",
        "mid_okx",
        "funding_binance",
        "funding_bybit",
        "funding_okx",
    ):
        assert snapshot.valid[:, FIELD_INDEX[field]].all(), field
    # the three venues' mids agree to within the simulated basis (a few bp), so sizes and
    # contract values were decoded consistently; OKX sizes came in contracts
    mids = snapshot.fields[:, [FIELD_INDEX[f"mid_{v}"] for v in (BINANCE, BYBIT, OKX)]]
    assert np.all(np.abs(mids / mids[:, :1] - 1.0) < 0.01)
    for venue in (BINANCE, BYBIT, OKX):
        feeds = live.health(venue)["feeds"]
        assert sum(f["malformed"] + f["unknown"] + f["gaps"] for f in feeds.values()) == 0, (venue, feeds)
        assert all(book.synced for book in live.source.feeds.clients[venue].adapter.books.values())


def test_price_is_the_last_trade_price_the_exchange_sent(live):
    assert wait_until(lambda: live.health(BINANCE)["feeds"]["trades"]["messages"] > 50)
    live.exchange.paused = True  # the wire drains, nothing new is sent
    time.sleep(1.0)
    live.pump()
    sent = live.exchange.market.last_trade[BINANCE]
    assert len(sent) >= len(live.config.symbols) - 1
    for symbol, price in sent.items():
        assert live.accumulator.last_price[live.config.symbols.index(symbol)] == float(price), symbol


def test_dropped_connections_reconnect_and_books_resync(live):
    assert wait_until(lambda: live.health(BINANCE)["frames_parsed"] > 100)
    before = {v: live.health(v)["reconnects"] for v in (BINANCE, BYBIT, OKX)}
    for venue in (BINANCE, BYBIT, OKX):
        live.call(live.server(venue).drop_connections())
    assert wait_until(lambda: all(live.health(v)["reconnects"] > before[v] for v in before))
    parsed = {v: live.health(v)["frames_parsed"] for v in before}
    assert wait_until(lambda: all(live.health(v)["frames_parsed"] > parsed[v] + 50 for v in before))
    assert wait_until(
        lambda: all(
            all(b.synced for b in live.source.feeds.clients[v].adapter.books.values()) for v in before
        )
    )
    assert live.health(BINANCE)["feeds"]["book"]["resyncs"] > len(live.config.symbols)  # REST again


def test_silence_trips_the_watchdog(live):
    assert wait_until(lambda: live.health(BYBIT)["frames_parsed"] > 100)
    live.server(BYBIT).faults.silent = True
    assert wait_until(lambda: live.health(BYBIT)["silences"] >= 1, timeout=10)
    assert live.health(BINANCE)["silences"] == 0  # the others keep talking
    live.server(BYBIT).faults.silent = False
    parsed = live.health(BYBIT)["frames_parsed"]
    assert wait_until(lambda: live.health(BYBIT)["frames_parsed"] > parsed + 50)


@pytest.mark.parametrize("venue", [BINANCE, BYBIT, OKX])
def test_sequence_gap_resyncs_the_book(live, venue):
    assert wait_until(lambda: live.health(venue)["feeds"]["book"]["messages"] > 30)
    resyncs = live.health(venue)["feeds"]["book"]["resyncs"]
    live.server(venue).faults.skip_sequence = True
    assert wait_until(lambda: live.health(venue)["feeds"]["book"]["gaps"] == 1)
    books = live.source.feeds.clients[venue].adapter.books
    assert wait_until(lambda: live.health(venue)["feeds"]["book"]["resyncs"] > resyncs)
    assert wait_until(lambda: all(b.synced for b in books.values()))
    assert live.health(venue)["feeds"]["book"]["gaps"] == 1


def test_corrupt_unknown_wrong_typed_and_out_of_order_frames_are_counted(live):
    assert wait_until(lambda: live.health(BINANCE)["feeds"]["trades"]["messages"] > 20)
    server = live.server(BINANCE)
    symbol = live.config.symbols[0]
    frames = [
        '{"stream":"x","data":{"e":"aggTrade","s":"' + symbol + '"',  # cut: not JSON
        json.dumps({"stream": "x", "data": {"e": "brandNewEvent", "s": symbol}}),
        json.dumps(
            {
                "stream": "x",
                "data": {
                    "e": "aggTrade",
                    "E": 1,
                    "s": symbol,
                    "a": 10**12,
                    "p": {"x": 1},
                    "q": "1",
                    "T": 1,
                    "m": True,
                },
            }
        ),
        json.dumps(
            {
                "stream": "x",
                "data": {"e": "aggTrade", "E": 1, "s": symbol, "a": 5, "p": "1", "q": "1", "T": 1, "m": True},
            }
        ),  # an id long past: out of order
    ]
    for frame in frames:
        live.call(server.inject(frame))
    server.faults.corrupt_every = 97
    assert wait_until(lambda: live.health(BINANCE)["feeds"]["other"]["malformed"] > 3)
    feeds = live.health(BINANCE)["feeds"]
    assert feeds["other"]["unknown"] >= 1 and feeds["trades"]["malformed"] >= 1
    assert feeds["trades"]["out_of_order"] >= 1
    server.faults.corrupt_every = 0
    parsed = live.health(BINANCE)["frames_parsed"]
    assert wait_until(lambda: live.health(BINANCE)["frames_parsed"] > parsed + 50)  # still flowing


def test_a_venue_down_masks_its_fields_while_the_others_stay_up(live):
    assert wait_until(lambda: all(live.health(v)["frames_parsed"] > 100 for v in (BINANCE, BYBIT, OKX)))
    live.pump(0.5)
    okx = live.server(OKX)
    okx.faults.down = True
    live.call(okx.drop_connections())
    snapshot = live.pump(STALE["venue"] + 1.5)
    assert not snapshot.valid[:, FIELD_INDEX["mid_okx"]].any()
    assert snapshot.valid[:, FIELD_INDEX["mid_bybit"]].all() and snapshot.valid[:, FIELD_INDEX["close"]].all()
    assert live.health(OKX)["reconnects"] >= 2 and not any(live.health(OKX)["connected"])
    okx.faults.down = False
    assert wait_until(lambda: any(live.health(OKX)["connected"]))
    assert wait_until(lambda: bool(live.pump().valid[:, FIELD_INDEX["mid_okx"]].all()))


@pytest.mark.slow
def test_engine_keeps_publishing_and_confidence_drops_when_the_primary_venue_goes_down():
    config = live_config()
    source = FeedSource(config, wire_sim=True, seed=5)
    runner = Runner(config, source=source)

    def tick_for(n):
        for _ in range(n):
            t = float(np.ceil(time.time()))
            time.sleep(max(0.0, t - time.time()))
            runner.tick(t)
        return runner.last_output

    try:
        source.start()
        runner.start(time.time())
        assert wait_until(lambda: source.health()[BINANCE]["frames_parsed"] > 200)
        up = tick_for(4)
        server = source.exchange.servers[BINANCE]
        server.faults.down = True
        source.feeds.call(server.drop_connections())
        down = tick_for(6)
        assert runner.summary.ticks == 10  # it kept ticking
        quality_up, quality_down = (float(np.asarray(o.metrics["mean_quality"])) for o in (up, down))
        assert quality_down < quality_up - 0.05, (quality_up, quality_down)
        assert np.all(np.asarray(down.status) & STATUS_STALE_PRICE)  # the primary's trades are gone
        assert not np.any(np.asarray(up.status) & STATUS_STALE_PRICE)
        assert np.asarray(down.confidence).mean() < np.asarray(up.confidence).mean()
    finally:
        source.close()


def test_history_backfill_serves_klines_and_warms_the_engine():
    config = live_config(backfill_bars=45)
    source = FeedSource(config, wire_sim=True, seed=9)
    runner = Runner(config, source=source)
    try:
        source.start()
        end = float(np.floor(time.time() / 60.0) * 60.0)
        history = source.backfill(end)
        assert 44 <= len(history) <= 45 and max(history) <= end
        klines = source.exchange.market.klines
        for t, (bars,) in list(history.items())[-3:]:
            for k, symbol in enumerate(bars.symbol):
                row = klines[symbol][int((t - 60) * 1000)]
                assert bars.ts[k] == t and bars.recv_ts == t
                assert abs(bars.close[k] / row[4] - 1) < 1e-7  # served as 8 significant digits
                assert bars.trade_count[k] == row[8] and abs(bars.volume[k] - row[5]) <= 1e-6 * row[5]
        source.exchange.paused = True  # let the wire drain: the last trade sent is then known
        time.sleep(1.0)
        runner.start(float(np.ceil(time.time())))
        assert 44 <= runner.summary.warmup_ticks <= 45
        # the backfilled bars, then the live trades after the last bar (none counted twice): the
        # price the engine starts from is the last trade the exchange sent
        sent = source.exchange.market.last_trade[BINANCE]
        for symbol, price in sent.items():
            assert runner.accumulator.last_price[config.symbols.index(symbol)] == float(price)
        source.exchange.paused = False
        t = float(np.ceil(time.time()))
        time.sleep(max(0.0, t - time.time()))
        runner.tick(t)  # the live ticks follow the backfill
        assert runner.summary.ticks == 1 and np.isfinite(np.asarray(runner.last_output.bias)).all()
    finally:
        source.close()


def test_keepalive_pings_are_answered_while_the_data_is_silent(live):
    """OKX and Bybit: a quiet socket is pinged (text ping / op ping) before the watchdog would
    trip; the pongs keep it open. The data fields still go stale."""
    assert wait_until(
        lambda: live.health(OKX)["frames_parsed"] > 100 and live.health(BYBIT)["frames_parsed"] > 100
    )
    pongs = {v: live.health(v)["feeds"]["other"]["messages"] for v in (OKX, BYBIT)}
    live.server(OKX).faults.quiet = live.server(BYBIT).faults.quiet = True
    time.sleep(4.0)
    for venue in (OKX, BYBIT):
        assert live.health(venue)["feeds"]["other"]["messages"] >= pongs[venue] + 2, venue
        assert live.health(venue)["silences"] == 0 and all(live.health(venue)["connected"])
    assert not live.pump().valid[:, FIELD_INDEX["mid_okx"]].any()


def test_connections_are_renewed_before_the_venue_would_drop_them():
    session = Live(live_config(max_connection_hours=0.001))  # 3.6 s instead of Binance's 24 h
    try:
        assert wait_until(lambda: session.health(BINANCE)["reconnects"] >= 2, timeout=12)  # both sockets
        assert session.health(BINANCE)["silences"] == 0
        parsed = session.health(BINANCE)["frames_parsed"]
        assert wait_until(lambda: session.health(BINANCE)["frames_parsed"] > parsed + 50)
    finally:
        session.close()


def test_okx_maintenance_notice_reconnects_at_once(live):
    assert wait_until(lambda: live.health(OKX)["frames_parsed"] > 50 and all(live.health(OKX)["connected"]))
    before = live.health(OKX)["reconnects"]
    notice = {
        "event": "notice",
        "code": "64008",
        "msg": "The connection will soon be closed for a service upgrade. Please reconnect.",
        "connId": "a4d3ae55",
    }
    live.call(live.server(OKX).inject(json.dumps(notice)))
    assert wait_until(lambda: live.health(OKX)["reconnects"] == before + 1, timeout=3)
    assert wait_until(lambda: all(live.health(OKX)["connected"]))


def test_reconnects_back_off_while_a_venue_is_down(live):
    assert wait_until(lambda: all(live.health(BYBIT)["connected"]))
    server = live.server(BYBIT)
    server.faults.down = True
    live.call(server.drop_connections())
    before = live.health(BYBIT)["reconnects"]
    time.sleep(4.0)
    attempts = live.health(BYBIT)["reconnects"] - before
    # backoff 0.2 s doubling to a 1 s cap (+-20 % jitter): about 0.2, 0.4, 0.8, 1, 1 -> 4 to 7 tries,
    # where retrying at once would have made hundreds
    assert 3 <= attempts <= 8, attempts
    server.faults.down = False
    assert wait_until(lambda: all(live.health(BYBIT)["connected"]))
