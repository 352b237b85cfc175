"""Import real history into a store: ``bpjax import --from FORMAT --in PATH... --out STORE``.

Every format is read into normalized tables (one kind of row per table: bars, mark, index,
premium, funding, interest, ratios, trades, liquidations), validated, and turned into the
same normalized events the live feeds produce. One :class:`~bpjax.ingest.snapshot.Accumulator`
folds them tick by tick on one time grid and packs the snapshots the store keeps, so an
imported tick means what a live tick means. Formats:

``binance-archive``
    Binance public-data-archive CSVs (data.binance.vision, USD-M futures), plain or zipped,
    recognised by file name: ``SYM-1m-DATE`` klines, ``SYM-markPriceKlines-1m-DATE``,
    ``SYM-indexPriceKlines-..``, ``SYM-premiumIndexKlines-..``, ``SYM-aggTrades-DATE``,
    ``SYM-fundingRate-MONTH``, ``SYM-metrics-DATE`` (open interest and long/short ratios).
``bars-parquet``
    Parquet files recognised by their columns: candles (symbol, open_time, OHLC, volume),
    mark (the same without volume), funding (symbol, funding_time, funding_rate), aggTrades
    (symbol, price, quantity, is_buyer_maker, trade_time_ms or event_time_ms).
``binance-ws-capture``
    Gzipped JSONL of raw Binance WebSocket frames (``local_ts_ns``, ``kind``, ``msg``), run
    through the live Binance adapter itself (book sync on the REST snapshot, trades).
``liquidations-csv``
    Liquidation logs of the all-market forceOrder stream (``trade_time_ms``, ``symbol``,
    ``side``, ``average_price``, ``accumulated_filled_quantity`` ...).

What is never invented. A tick without a row is masked, not filled: a gap in the bars masks
the bar fields; an hourly mark is valid at the tick its bar closes, not for the hour after.
Flows (volume, liquidations) read as a real zero only while the source is known to be
running: event logs inside stretches without a silence longer than ``coverage_gap``
seconds; a bar series only at its bars. The funding rate between two settlements is the last
settled rate, as the live feed reports it; predicted funding and the time to the next
settlement are masked. What bars cannot tell (taker-buy volume, trade counts, quote
turnover in OHLCV-only files, large prints) stays masked. The index price from
``premiumIndexKlines`` is derived as last price / (1 + premium) and the summary says so.

The grid. Bars alone are imported on a tick equal to the finest bar length (coarser than the
live 10 s tick); the engine then masks the timeframes finer than the tick. Trade-level
sources (aggTrades, captures) use the config's tick. A bar lands on the tick its close time
falls in; an event at time t on the tick ending at or after t.

Re-running extends a store: later times are appended (ticks between the store's end and the
new data are masked), and rows for times the store already holds replace only the fields of
the new sources (e.g. liquidations onto a store that holds the bars). A rewrite cut short is
safe to repeat: the same import writes the same values.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import math
import os
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import orjson

from bpjax.core.config import Config, is_universe_symbol
from bpjax.core.defines import (
    FEED_FUNDING,
    FEED_LIQUIDATIONS,
    FEED_OPEN_INTEREST,
    FEED_POSITIONING,
    FEED_TRADES,
    LONG_LIQUIDATED,
    SHORT_LIQUIDATED,
)
from bpjax.core.fields import FIELD_INDEX, group_fields
from bpjax.core.timefmt import iso
from bpjax.feeds.binance import KLINE_COLUMNS
from bpjax.ingest.events import (
    Bars,
    Funding,
    Heartbeat,
    Liquidations,
    MarkPrice,
    OpenInterest,
    PositioningRatio,
    Trades,
)
from bpjax.ingest.snapshot import (
    RATIO_GLOBAL_ACCOUNTS,
    RATIO_TAKER,
    RATIO_TOP_ACCOUNTS,
    RATIO_TOP_POSITIONS,
    Accumulator,
)
from bpjax.store.zarrstore import CHUNK_TICKS, KIND_IMPORT, PHASE_LIVE, Store, StoreError

FORMATS = ("binance-archive", "bars-parquet", "binance-ws-capture", "liquidations-csv")
VENUE = "binance"
BAR_KINDS = ("bars", "mark", "index", "premium")
REORDER_SECONDS = 5.0  # event-log rows at most this much earlier than the row before are re-sorted


class ImportDataError(ValueError):
    """Input that cannot be imported as given; the message names the file, the row and the fix."""


@dataclass
class Table:
    """Rows of one kind from one file, in time order: ``ts`` is the event time in Unix seconds
    (a bar's close time), ``columns`` the kind's values, ``seconds`` a bar series' length."""

    kind: str
    path: str
    symbol: np.ndarray  # (row,) str
    ts: np.ndarray  # (row,) float64
    columns: dict[str, np.ndarray]
    seconds: int = 0
    notes: list[str] = field(default_factory=list)  # what the reader had to decide, for the summary

    @property
    def rows(self) -> int:
        return len(self.ts)

    def select(self, rows: np.ndarray) -> None:
        """Keep (and order) the rows ``rows`` picks: a boolean mask or indices."""
        self.symbol, self.ts = self.symbol[rows], self.ts[rows]
        self.columns = {k: v[rows] for k, v in self.columns.items()}


# --- units and validation ---------------------------------------------------------------------------


def to_seconds(values: np.ndarray, path: str, column: str) -> np.ndarray:
    """Epoch times in s, ms, us or ns to seconds, recognised by magnitude (Binance's archives
    moved some files from ms to us); a column mixing units, or not an epoch time at all, is refused."""
    values = np.asarray(values, np.float64)
    if values.size == 0:
        return values
    if not np.all(np.isfinite(values)):
        raise ImportDataError(f"{path}: column {column!r} has missing or non-numeric times")
    scales = [(1e8, 1e11, 1.0), (1e11, 1e14, 1e3), (1e14, 1e17, 1e6), (1e17, 1e20, 1e9)]
    for low, high, scale in scales:
        inside = (values >= low) & (values < high)
        if inside.all():
            return values / scale
        if inside.any():
            raise ImportDataError(
                f"{path}: column {column!r} mixes time units (some values look like "
                f"{ {1.0: 's', 1e3: 'ms', 1e6: 'us', 1e9: 'ns'}[scale] }, others do not): wrong units"
            )
    raise ImportDataError(
        f"{path}: column {column!r} is not an epoch time in s/ms/us/ns "
        f"(first value {values[0]!r}): wrong units"
    )


def _datetime_seconds(values, path: str, column: str) -> np.ndarray:
    """Arrow timestamps or ISO strings to Unix seconds."""
    array = np.asarray(values)
    if np.issubdtype(array.dtype, np.datetime64):
        return array.astype("datetime64[ns]").astype(np.int64) / 1e9
    if np.issubdtype(array.dtype, np.number):
        return to_seconds(array, path, column)
    try:
        parsed = [dt.datetime.fromisoformat(str(v)) for v in array]
    except ValueError:
        raise ImportDataError(f"{path}: column {column!r} holds times that are not ISO 8601") from None
    return np.array([(p if p.tzinfo else p.replace(tzinfo=dt.UTC)).timestamp() for p in parsed])


def validate(table: Table, strict: bool) -> dict[str, object]:
    """Refuse what cannot be imported; return what the summary reports (gaps).

    Per symbol, times must be increasing (``strict``: no two rows at one time, for bars and
    levels; event logs may repeat a time). Prices and sizes must be positive, volumes not
    negative, funding rates fractions. Bar series report their gaps (missing bars stay masked).
    """
    path = table.path
    order = np.argsort(table.symbol, kind="stable")
    symbols, starts = np.unique(table.symbol[order], return_index=True)
    gaps: dict[str, int] = {}
    widest = 0.0
    reordered = 0
    for k, symbol in enumerate(symbols):
        rows = order[starts[k] : starts[k + 1] if k + 1 < len(starts) else len(order)]
        ts = table.ts[rows]
        step = np.diff(ts)
        # an event log is written in receive order: trades a few ms apart may swap places; they are
        # put in time order (and counted), a larger step back is a file out of order
        back = np.flatnonzero(step < (0 if strict else -REORDER_SECONDS))
        reordered += 0 if strict else int(np.count_nonzero(step < 0))
        if back.size:
            i = rows[back[0] + 1]
            raise ImportDataError(
                f"{path}: rows are not in time order for {symbol} (row {i} is earlier than the row "
                f"before it): sort the file by time first"
            )
        same = np.flatnonzero(step == 0) if strict else np.array([], int)
        if same.size:
            i = rows[same[0] + 1]
            raise ImportDataError(
                f"{path}: {same.size} duplicate {table.kind} row(s) for {symbol}, first at row {i} "
                f"({iso(ts[same[0]])}): remove the duplicates"
            )
        if table.seconds and step.size:
            missing = np.round(step / table.seconds).astype(np.int64) - 1
            if np.any(np.abs(step / table.seconds - np.round(step / table.seconds)) > 1e-6):
                raise ImportDataError(
                    f"{path}: {symbol} bars are not spaced by whole {table.seconds} s bars: wrong units "
                    "or mixed bar lengths"
                )
            if missing.sum():
                gaps[symbol] = int(missing.sum())
                widest = max(widest, float(step.max()))
    for name in ("open", "high", "low", "close", "price", "qty", "mark"):
        values = table.columns.get(name)
        if values is not None and values.size and not np.all(values > 0):
            i = int(np.flatnonzero(~(values > 0))[0])
            raise ImportDataError(
                f"{path}: {name} must be positive, row {i} ({table.symbol[i]}) has {values[i]!r}"
            )
    for name in ("volume", "open_interest"):
        values = table.columns.get(name)
        if values is not None and values.size and np.any(values < 0):
            i = int(np.flatnonzero(values < 0)[0])
            raise ImportDataError(f"{path}: {name} must not be negative, row {i} has {values[i]!r}")
    rate = table.columns.get("rate")
    if rate is not None and rate.size and np.median(np.abs(rate)) > 0.003:
        raise ImportDataError(
            f"{path}: funding rates have a median of {np.median(np.abs(rate)):.4g} per interval: that "
            "looks like percent, not a fraction (wrong units)"
        )
    return {"gaps": gaps, "widest_gap_seconds": widest, "reordered": reordered}


def _bar_seconds(table_symbol: np.ndarray, open_ts: np.ndarray, path: str) -> int:
    """A bar series' length: the most common spacing of consecutive bars of one symbol."""
    spacing: Counter[float] = Counter()
    for symbol in np.unique(table_symbol):
        ts = open_ts[table_symbol == symbol]
        spacing.update(np.diff(ts)[:1000].tolist())
    positive = {s: n for s, n in spacing.items() if s > 0}
    if not positive:
        raise ImportDataError(f"{path}: cannot tell the bar length (fewer than two bars per symbol)")
    seconds = max(positive, key=positive.get)
    if seconds < 1 or seconds != round(seconds):
        raise ImportDataError(f"{path}: bars are {seconds} s apart: wrong units")
    return int(seconds)


def _numbers_or_nan(values: np.ndarray) -> np.ndarray:
    """Numbers, or NaN where a cell is not one (a string column with stray text)."""
    try:
        return values.astype(np.float64)
    except (TypeError, ValueError):
        out = np.full(len(values), np.nan)
        for i, v in enumerate(values):
            with contextlib.suppress(TypeError, ValueError):
                out[i] = float(v)
        return out


def _sorted(table: Table) -> Table:
    """The table in global time order (stable: rows of one time keep their file order)."""
    order = np.argsort(table.ts, kind="stable")
    table.select(order)
    return table


# --- readers --------------------------------------------------------------------------------------


def _bars_table(kind, path, symbol, open_ts, columns, seconds=None) -> Table:
    seconds = seconds or _bar_seconds(symbol, open_ts, path)
    return Table(kind, path, symbol, open_ts + seconds, columns, seconds)


def read_parquet(path: str) -> Table:
    """One Parquet file of ``bars-parquet``, recognised by its columns."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as error:  # pyarrow raises its own types for damaged files
        raise ImportDataError(f"{path}: not a readable Parquet file ({error})") from None
    names = set(table.column_names)

    def column(name, dtype=np.float64):
        return table.column(name).to_numpy(zero_copy_only=False).astype(dtype)

    if "symbol" not in names:
        raise ImportDataError(f"{path}: no 'symbol' column (columns: {', '.join(sorted(names))})")
    symbol = column("symbol", object).astype(str)
    ohlc = {"open", "high", "low", "close"}
    if {"open_time"} | ohlc <= names:
        open_ts = _datetime_seconds(
            table.column("open_time").to_numpy(zero_copy_only=False), path, "open_time"
        )
        prices = {name: column(name) for name in ohlc}
        if "volume" in names:
            return _bars_table("bars", path, symbol, open_ts, {**prices, "volume": column("volume")})
        return _bars_table("mark", path, symbol, open_ts, {"mark": prices["close"]})
    if {"funding_time", "funding_rate"} <= names:
        ts = _datetime_seconds(
            table.column("funding_time").to_numpy(zero_copy_only=False), path, "funding_time"
        )
        return Table("funding", path, symbol, ts, {"rate": column("funding_rate")})
    if {"price", "quantity", "is_buyer_maker"} <= names and names & {"trade_time_ms", "event_time_ms"}:
        notes = []
        stamps = [c for c in ("trade_time_ms", "event_time_ms") if c in names]
        values = [_numbers_or_nan(table.column(c).to_numpy(zero_copy_only=False)) for c in stamps]
        ms = values[0]
        if len(values) == 2 and np.isnan(ms).any():  # a logger's clock strings: the stream's event time
            fallback = np.isnan(ms) & np.isfinite(values[1])
            ms = np.where(fallback, values[1], ms)
            notes.append(
                f"{os.path.basename(path)}: {int(fallback.sum())} row(s) without a numeric trade time "
                "stamped with their event time instead"
            )
        if np.isnan(ms).any():
            i = int(np.flatnonzero(np.isnan(ms))[0])
            raise ImportDataError(f"{path}: row {i} has no numeric {stamps[0]}")
        ts = to_seconds(ms, path, stamps[0])
        side = np.where(column("is_buyer_maker", bool), -1, 1).astype(np.int8)
        values = {"price": column("price"), "qty": column("quantity"), "side": side}
        return Table("trades", path, symbol, ts, values, notes=notes)
    raise ImportDataError(
        f"{path}: columns {', '.join(sorted(names))} match no bars-parquet layout (candles: symbol, "
        "open_time, open, high, low, close, volume; mark: the same without volume; funding: symbol, "
        "funding_time, funding_rate; aggTrades: symbol, price, quantity, is_buyer_maker, trade_time_ms)"
    )


_ARCHIVE_NAME = re.compile(
    r"^(?P<symbol>[0-9A-Z]+)-(?:(?P<kind>markPriceKlines|indexPriceKlines|premiumIndexKlines|aggTrades|"
    r"fundingRate|metrics)-?)?(?P<interval>\d+[smhdw])?-?(?P<date>\d{4}-\d{2}(?:-\d{2})?)\.(?:csv|zip)$"
)
# the archive's kline header: the REST layout, with "count" for "trades" and a trailing "ignore"
_KLINE_COLUMNS = (*KLINE_COLUMNS[:8], "count", *KLINE_COLUMNS[9:], "ignore")
_ARCHIVE_COLUMNS = {
    "klines": _KLINE_COLUMNS,
    "markPriceKlines": _KLINE_COLUMNS,
    "indexPriceKlines": _KLINE_COLUMNS,
    "premiumIndexKlines": _KLINE_COLUMNS,
    "aggTrades": (
        "agg_trade_id",
        "price",
        "quantity",
        "first_trade_id",
        "last_trade_id",
        "transact_time",
        "is_buyer_maker",
    ),
    "fundingRate": ("calc_time", "funding_interval_hours", "last_funding_rate"),
    "metrics": (
        "create_time",
        "symbol",
        "sum_open_interest",
        "sum_open_interest_value",
        "count_toptrader_long_short_ratio",
        "sum_toptrader_long_short_ratio",
        "count_long_short_ratio",
        "sum_taker_long_short_vol_ratio",
    ),
}


def _csv_text(path: str) -> str:
    if path.endswith(".zip"):
        try:
            with zipfile.ZipFile(path) as archive:
                inner = [n for n in archive.namelist() if n.endswith(".csv")]
                if len(inner) != 1:
                    raise ImportDataError(f"{path}: expected one CSV inside the zip, found {inner}")
                return archive.read(inner[0]).decode()
        except zipfile.BadZipFile:
            raise ImportDataError(f"{path}: not a readable zip file (truncated download?)") from None
    with open(path, encoding="utf-8") as f:
        return f.read()


def _csv_rows(path: str, expected: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The columns of a CSV whose header (present or not) is ``expected``."""
    lines = [line for line in _csv_text(path).splitlines() if line.strip()]
    if not lines:
        return {name: np.array([], dtype=object) for name in expected}
    first = lines[0].split(",")
    if not first[0].replace(".", "", 1).replace("-", "", 1).isdigit():  # a header row
        header = [h.strip() for h in first]
        if header[: len(expected)] != list(expected[: len(header)]) or len(header) < len(expected) - 1:
            raise ImportDataError(
                f"{path}: header {','.join(header)} is not the archive layout {','.join(expected)}"
            )
        lines = lines[1:]
    cells = [line.split(",") for line in lines]
    width = {len(c) for c in cells}
    if len(width) > 1 or (cells and len(cells[0]) < len(expected) - 1):
        raise ImportDataError(f"{path}: rows have {sorted(width)} columns, expected {len(expected)}")
    data = np.array(cells, dtype=object) if cells else np.empty((0, len(expected)), object)
    return {name: data[:, i] for i, name in enumerate(expected) if i < data.shape[1]}


def _floats(values: np.ndarray, path: str, column: str) -> np.ndarray:
    try:
        return values.astype(np.float64)
    except ValueError:
        raise ImportDataError(f"{path}: column {column!r} has values that are not numbers") from None


def read_archive(path: str) -> Table:
    """One Binance public-data-archive CSV (or its zip), recognised by its file name."""
    name = os.path.basename(path)
    match = _ARCHIVE_NAME.match(name)
    if match is None:
        raise ImportDataError(
            f"{path}: not a Binance archive file name (SYMBOL-1m-2024-08-01.csv, "
            "SYMBOL-aggTrades-2024-08-01.csv, SYMBOL-fundingRate-2024-08.csv, SYMBOL-metrics-2024-08-01.csv, "
            "SYMBOL-markPriceKlines-1m-....csv)"
        )
    kind = match["kind"] or "klines"
    symbol_name = match["symbol"]
    columns = _csv_rows(path, _ARCHIVE_COLUMNS[kind])
    n = len(next(iter(columns.values())))
    symbol = np.full(n, symbol_name, dtype=object).astype(str)

    def f(column):
        return _floats(columns[column], path, column)

    if kind.endswith("lines"):
        open_ts = to_seconds(f("open_time"), path, "open_time")
        interval = match["interval"]
        seconds = _interval_seconds(interval, path) if interval else None
        prices = {c: f(c) for c in ("open", "high", "low", "close")}
        if kind == "klines":
            values = {
                **prices,
                "volume": f("volume"),
                "buy_volume": f("taker_buy_volume"),
                "trade_count": f("count"),
                "turnover": f("quote_volume"),
            }
            return _bars_table("bars", path, symbol, open_ts, values, seconds)
        target = {"markPriceKlines": "mark", "indexPriceKlines": "index", "premiumIndexKlines": "premium"}[
            kind
        ]
        return _bars_table(target, path, symbol, open_ts, {target: prices["close"]}, seconds)
    if kind == "aggTrades":
        ts = to_seconds(f("transact_time"), path, "transact_time")
        maker = np.array([str(v).strip().lower() == "true" for v in columns["is_buyer_maker"]])
        side = np.where(maker, -1, 1).astype(np.int8)
        return Table("trades", path, symbol, ts, {"price": f("price"), "qty": f("quantity"), "side": side})
    if kind == "fundingRate":
        ts = to_seconds(f("calc_time"), path, "calc_time")
        return Table("funding", path, symbol, ts, {"rate": f("last_funding_rate")})
    # metrics: five-minute open interest and ratios; the file names its symbol, every row must agree
    stated = columns["symbol"].astype(str)
    if np.any(stated != symbol_name):
        other = sorted(set(stated) - {symbol_name})
        raise ImportDataError(f"{path}: rows of {other} in a file of {symbol_name}: mixed symbols")
    ts = _datetime_seconds(columns["create_time"], path, "create_time")
    values = {
        "open_interest": f("sum_open_interest"),
        RATIO_TOP_ACCOUNTS: f("count_toptrader_long_short_ratio"),
        RATIO_TOP_POSITIONS: f("sum_toptrader_long_short_ratio"),
        RATIO_GLOBAL_ACCOUNTS: f("count_long_short_ratio"),
        RATIO_TAKER: f("sum_taker_long_short_vol_ratio"),
    }
    return Table("interest", path, symbol, ts, values)


def _interval_seconds(interval: str, path: str) -> int:
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[interval[-1]]
    return int(interval[:-1]) * unit


LIQUIDATION_COLUMNS = ("trade_time_ms", "symbol", "side", "price", "average_price", "original_quantity")


def read_liquidations(path: str) -> Table:
    """A liquidation log CSV (all-market forceOrder stream): side BUY is a short force-closed,
    SELL a long; price is the average fill price (the order price when unfilled), size the
    filled quantity (the order quantity when unfilled), as the live adapter reads them."""
    import csv

    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in LIQUIDATION_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise ImportDataError(f"{path}: missing liquidation column(s) {', '.join(missing)}")
        rows = list(reader)
    symbol = np.array([r["symbol"].strip() for r in rows], dtype=object).astype(str)
    sides = [r["side"].strip().upper() for r in rows]
    bad = [i for i, s in enumerate(sides) if s not in ("BUY", "SELL")]
    if bad:
        raise ImportDataError(f"{path}: row {bad[0]} has side {sides[bad[0]]!r}, expected BUY or SELL")
    side = np.array([SHORT_LIQUIDATED if s == "BUY" else LONG_LIQUIDATED for s in sides], np.int8)

    def numbers(name, fallback):
        out = np.empty(len(rows))
        for i, r in enumerate(rows):
            try:
                value = float(r.get(name) or "nan")
                out[i] = value if value > 0 else float(r[fallback])
            except ValueError:
                raise ImportDataError(f"{path}: row {i} column {name!r} is not a number") from None
        return out

    price = numbers("average_price", "price")
    qty = numbers("accumulated_filled_quantity", "original_quantity")
    ts = to_seconds(np.array([float(r["trade_time_ms"]) for r in rows]), path, "trade_time_ms")
    return Table("liquidations", path, symbol, ts, {"price": price, "qty": qty, "side": side})


@dataclass
class Capture:
    """A raw Binance WebSocket capture: frames (receive time, JSON) of one symbol."""

    path: str
    symbol: str
    recv: np.ndarray  # (frame,) float64 s
    frames: list  # (kind, message) with kind ws | rest_depth_snapshot

    @property
    def rows(self) -> int:
        return len(self.frames)


def read_capture(path: str) -> Capture:
    opener = gzip.open if path.endswith(".gz") else open
    recv, frames, symbols = [], [], set()
    try:
        with opener(path, "rb") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    row = orjson.loads(line)
                    kind, message, stamp = row["kind"], row["msg"], row["local_ts_ns"]
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    raise ImportDataError(
                        f"{path}: line {number} is not a capture row {{local_ts_ns, kind, msg}}"
                    ) from None
                if kind == "ws":
                    stream = message.get("stream", "") if isinstance(message, dict) else ""
                    symbols.add(stream.split("@", 1)[0].upper())
                recv.append(stamp)
                frames.append((kind, message))
    except (OSError, EOFError) as error:
        raise ImportDataError(f"{path}: cannot read the capture ({error}; truncated gzip?)") from None
    if len(symbols) != 1:
        raise ImportDataError(
            f"{path}: a capture file holds one symbol's streams, found {sorted(symbols) or 'none'}: "
            "mixed symbols"
        )
    times = to_seconds(np.array(recv, np.float64), path, "local_ts_ns")
    if np.any(np.diff(times) < 0):
        raise ImportDataError(f"{path}: frames are not in receive-time order")
    return Capture(path, symbols.pop(), times, frames)


# --- the import ---------------------------------------------------------------------------------------


@dataclass
class Plan:
    """What an import will write: its tables, the grid and the store's config."""

    tables: list[Table]
    captures: list[Capture]
    config: Config
    tick: int
    start: float  # first tick end
    stop: float  # last tick end
    symbols: tuple[str, ...]
    checks: dict[str, dict[str, object]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ticks(self) -> int:
        return int(round((self.stop - self.start) / self.tick)) + 1


def read_inputs(fmt: str, paths: Iterable[str]) -> tuple[list[Table], list[Capture]]:
    if fmt not in FORMATS:
        raise ImportDataError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
    tables: list[Table] = []
    captures: list[Capture] = []
    for path in paths:
        if not os.path.isfile(path):
            raise ImportDataError(f"{path}: no such file")
        if fmt == "bars-parquet":
            tables.append(read_parquet(path))
        elif fmt == "binance-archive":
            tables.append(read_archive(path))
        elif fmt == "liquidations-csv":
            tables.append(read_liquidations(path))
        else:
            captures.append(read_capture(path))
    return tables, captures


def _merge_series(tables: list[Table]) -> tuple[list[Table], list[str]]:
    """Files of one kind, interval and symbols are one series (archive files come one per day);
    where one symbol has bars of several lengths, the finest is kept and the rest dropped."""
    notes: list[str] = []
    groups: dict[tuple[str, int], list[Table]] = {}
    for table in tables:
        groups.setdefault((table.kind, table.seconds), []).append(table)
    merged = []
    for (kind, seconds), group in groups.items():
        if len(group) == 1:
            merged.append(group[0])
            continue
        group.sort(key=lambda t: float(t.ts.min()) if t.rows else 0.0)  # daily files in any order
        merged.append(
            Table(
                kind,
                ", ".join(t.path for t in group),
                np.concatenate([t.symbol for t in group]),
                np.concatenate([t.ts for t in group]),
                {k: np.concatenate([t.columns[k] for t in group]) for k in group[0].columns},
                seconds,
            )
        )
    for kind in BAR_KINDS:
        series = sorted((t for t in merged if t.kind == kind), key=lambda t: t.seconds)
        taken: set[str] = set()
        for table in series:
            overlap = taken & set(table.symbol.tolist())
            if overlap:
                keep = ~np.isin(table.symbol, sorted(overlap))
                notes.append(
                    f"{kind} of {len(overlap)} symbol(s) also at a finer length: the {table.seconds} s "
                    f"{kind} of {', '.join(sorted(overlap)[:5])}{'...' if len(overlap) > 5 else ''} dropped"
                )
                table.select(keep)
            taken |= set(table.symbol.tolist())
    return [t for t in merged if t.rows], notes


def plan_import(
    fmt: str,
    paths: list[str],
    config: Config,
    *,
    store: Store | None = None,
    symbols_from_data: bool = False,
    skip_other_symbols: bool = False,
    tick_seconds: int | None = None,
) -> Plan:
    """Read and validate the inputs, choose the grid and the store's config."""
    tables, captures = read_inputs(fmt, paths)
    notes = [note for t in tables for note in t.notes]
    tables, merge_notes = _merge_series(tables)
    notes += merge_notes
    checks = {}
    for table in tables:
        strict = table.kind not in ("trades", "liquidations")
        checks[f"{table.kind}:{os.path.basename(table.path)[:60]}"] = validate(table, strict)
        _sorted(table)
    data_symbols = sorted({s for t in tables for s in t.symbol.tolist()} | {c.symbol for c in captures})
    if not data_symbols:
        raise ImportDataError("the inputs hold no rows")
    bar_seconds = [t.seconds for t in tables if t.kind == "bars"]
    trade_level = any(t.kind == "trades" for t in tables) or bool(captures)
    if trade_level and bar_seconds:
        raise ImportDataError(
            "the inputs mix trade-level data (aggTrades, captures) with klines: they describe the same "
            "trades twice; import one of them"
        )
    if store is not None:
        config = store.config()
        tick = config.engine.tick_seconds
        if tick_seconds is not None and tick_seconds != tick:
            raise ImportDataError(
                f"{store.path} is on a {tick} s grid; --tick-seconds {tick_seconds} differs"
            )
    else:
        tick = tick_seconds or (min(bar_seconds) if bar_seconds else config.engine.tick_seconds)
    if bar_seconds and tick < min(bar_seconds):
        raise ImportDataError(
            f"a {tick} s tick is finer than the {min(bar_seconds)} s bars: the ticks between bar closes "
            "would read as zero volume; use a tick of at least the bar length"
        )
    outside = [s for s in data_symbols if s not in config.symbols]
    if outside and skip_other_symbols and (store is not None or not symbols_from_data):
        skipped = _drop_symbols(tables, captures, outside)
        notes.append(f"skipped {skipped} row(s) of {len(outside)} symbol(s) outside the universe")
        tables = [t for t in tables if t.rows]
        captures = [c for c in captures if c.symbol in config.symbols]
        outside = []
        if not tables and not captures:
            raise ImportDataError("no rows left: no symbol of the data is in the universe")
    if store is not None:
        if outside:
            raise ImportDataError(
                f"{store.path} holds {len(config.symbols)} symbols; the data adds {', '.join(outside[:8])}"
                f"{'...' if len(outside) > 8 else ''}: a store's universe is fixed, import into a new store"
            )
    elif symbols_from_data:
        foreign = [s for s in data_symbols if not is_universe_symbol(s)]
        if foreign:
            skipped = _drop_symbols(tables, captures, foreign)
            tables = [t for t in tables if t.rows]
            captures = [c for c in captures if c.symbol not in foreign]
            notes.append(f"skipped {skipped} row(s) of {', '.join(foreign)}: not USDT perpetuals")
        universe = tuple(s for s in data_symbols if s not in foreign)
        benchmark = config.universe.benchmark
        if benchmark not in universe:
            benchmark = _most_traded(tables, captures, universe)
            notes.append(
                f"benchmark {config.universe.benchmark} has no data: {benchmark} (most traded) instead"
            )
        config = config.with_symbols(universe).replace(universe={"benchmark": benchmark})
    elif outside:
        raise ImportDataError(
            f"{len(outside)} symbol(s) in the data are not in the config's universe: {', '.join(outside[:8])}"
            f"{'...' if len(outside) > 8 else ''}. Add them with --symbols-from-data, skip them with "
            "--skip-other-symbols, or use a config listing them"
        )
    if store is None and tick != config.engine.tick_seconds:
        modes = {
            name: {**settings, "publish_seconds": math.ceil(settings["publish_seconds"] / tick) * tick}
            for name, settings in config.to_dict()["modes"].items()
        }
        config = config.replace(engine={"tick_seconds": tick}, modes=modes)
        masked = [tf.name for tf in config.timeframes if tf.seconds < tick]
        if masked:
            notes.append(f"tick {tick} s: timeframes {', '.join(masked)} are finer than the data and masked")
    if store is not None and store.ticks:
        origin = float(store.read("time", 0, 1)[0])
        opens = origin - tick  # the store's first tick covers (opens, origin]
        if all(t.ts[-1] <= opens for t in tables) and all(c.recv[-1] <= opens for c in captures):
            raise ImportDataError(
                f"the data ends before {store.path} starts ({iso(opens)}): a store is extended "
                "forward only; import the earlier history into a new store"
            )
        early = 0
        for table in tables:
            keep = table.ts > opens
            early += int(np.count_nonzero(~keep))
            table.select(keep)
        if early:
            notes.append(f"skipped {early} row(s) before the store's first tick ({iso(opens)})")
        tables = [t for t in tables if t.rows]
    first = min([float(t.ts[0]) for t in tables] + [float(c.recv[0]) for c in captures])
    last = max([float(t.ts[-1]) for t in tables] + [float(c.recv[-1]) for c in captures])
    start, stop = math.ceil(first / tick) * tick, math.ceil(last / tick) * tick
    if store is not None and store.ticks:
        start = origin + math.floor((start - origin) / tick) * tick
    if any(t.kind == "premium" for t in tables):
        notes.append("index price derived from premiumIndexKlines as last price / (1 + premium)")
    return Plan(tables, captures, config, tick, start, stop, tuple(config.symbols), checks, notes)


def _drop_symbols(tables: list[Table], captures: list[Capture], symbols: list[str]) -> int:
    dropped = sum(c.rows for c in captures if c.symbol in symbols)
    for table in tables:
        keep = ~np.isin(table.symbol, symbols)
        dropped += int(np.count_nonzero(~keep))
        table.select(keep)
    return dropped


def _most_traded(tables: list[Table], captures: list[Capture], universe: tuple[str, ...]) -> str:
    notional: Counter[str] = Counter()
    for table in tables:
        if table.kind == "bars":
            for symbol, close, volume in zip(
                table.symbol, table.columns["close"], table.columns["volume"], strict=True
            ):
                notional[symbol] += close * volume
        elif table.kind == "trades":
            for symbol, price, qty in zip(
                table.symbol, table.columns["price"], table.columns["qty"], strict=True
            ):
                notional[symbol] += price * qty
    for capture in captures:
        notional[capture.symbol] += len(capture.frames)
    return max(universe, key=lambda s: notional.get(s, 0.0))


def coverage(times: np.ndarray, gap: float) -> np.ndarray:
    """(segment, 2) start/end of the stretches in which consecutive event times are at most
    ``gap`` apart: where an event log is known to have been running."""
    if times.size == 0:
        return np.zeros((0, 2))
    times = np.sort(times)
    breaks = np.flatnonzero(np.diff(times) > gap)
    starts = np.concatenate([[times[0]], times[breaks + 1]])
    ends = np.concatenate([times[breaks], [times[-1]]])
    return np.stack([starts, ends], axis=1)


def _covered(grid: np.ndarray, tick: float, segments: np.ndarray) -> np.ndarray:
    """(tick,) True where the tick (t - tick, t] overlaps a segment."""
    if segments.size == 0:
        return np.zeros(grid.shape, bool)
    k = np.searchsorted(segments[:, 0], grid, side="right") - 1  # last segment starting <= t
    ok = k >= 0
    return ok & (segments[np.maximum(k, 0), 1] > grid - tick)


class EventBuilder:
    """The normalized events of one tick, from the sorted tables."""

    def __init__(self, plan: Plan, grid: np.ndarray, coverage_gap: float):
        self.plan, self.grid, self.tick = plan, grid, plan.tick
        self.bounds = {
            id(t): np.searchsorted(t.ts, np.concatenate([[grid[0] - plan.tick], grid]), side="right")
            for t in plan.tables
        }
        symbols = plan.symbols
        self.symbols = symbols
        # funding: the last settled rate, per tick and symbol, from the first settlement to one
        # interval after the last
        self.funding = np.full((len(grid), len(symbols)), np.nan)
        for table in (t for t in plan.tables if t.kind == "funding"):
            for j, symbol in enumerate(symbols):
                mine = table.symbol == symbol
                ts, rate = table.ts[mine], table.columns["rate"][mine]
                if ts.size == 0:
                    continue
                interval = float(np.median(np.diff(ts))) if ts.size > 1 else 8 * 3600.0
                k = np.searchsorted(ts, grid, side="right") - 1
                live = (k >= 0) & (grid < ts[-1] + interval)
                self.funding[live, j] = rate[k[live]]
        # flow coverage of event logs (a tick without an event inside it is a real zero); bars
        # need none: every bar is its own data, a missing bar stays masked
        self.liq_covered = np.zeros(len(grid), bool)
        self.trade_covered = np.zeros((len(grid), len(symbols)), bool)
        index = {s: j for j, s in enumerate(symbols)}
        for table in plan.tables:
            if table.kind == "liquidations":
                self.liq_covered |= _covered(grid, self.tick, coverage(table.ts, coverage_gap))
            elif table.kind == "trades":
                segments = coverage(table.ts, coverage_gap)
                for symbol in np.unique(table.symbol):
                    self.trade_covered[:, index[symbol]] |= _covered(grid, self.tick, segments)
        for capture in plan.captures:
            inside = (grid >= capture.recv[0]) & (grid - self.tick <= capture.recv[-1])
            self.trade_covered[:, index[capture.symbol]] |= inside
        self.captures = sorted(plan.captures, key=lambda c: c.recv[0])
        self.adapter = None
        if self.captures:
            from bpjax.feeds.binance import BinanceAdapter

            self.adapter = BinanceAdapter(sorted({c.symbol for c in self.captures}), depth_speed="0ms")
            self.frames = [
                (r, c.symbol, k, m) for c in self.captures for r, (k, m) in zip(c.recv, c.frames, strict=True)
            ]
            self.frames.sort(key=lambda f: f[0])
            self.frame_times = np.array([f[0] for f in self.frames])
            self.frame_cursor = 0
        self.last_close: dict[str, float] = {}

    def events(self, k: int) -> list:
        t = float(self.grid[k])
        out: list = []
        for table in self.plan.tables:
            lo, hi = self.bounds[id(table)][k], self.bounds[id(table)][k + 1]
            if hi > lo:
                out.extend(self._rows(table, slice(lo, hi), t))
        rates = self.funding[k]
        known = np.isfinite(rates)
        if known.any():
            syms = [s for s, ok in zip(self.symbols, known, strict=True) if ok]
            nan = np.full(len(syms), np.nan)
            out.append(Funding.of(VENUE, syms, np.full(len(syms), t), rates[known], nan, nan, t))
        if self.liq_covered[k]:
            out.append(Heartbeat.of(VENUE, FEED_LIQUIDATIONS, self.symbols, t))
        covered = self.trade_covered[k]
        if covered.any():
            syms = [s for s, ok in zip(self.symbols, covered, strict=True) if ok]
            out.append(Heartbeat.of(VENUE, FEED_TRADES, syms, t))
        if self.adapter is not None:
            out.extend(self._capture(t))
        return out

    def _capture(self, t: float) -> list:
        stop = int(np.searchsorted(self.frame_times, t, side="right"))
        adapter = self.adapter
        for recv, symbol, kind, message in self.frames[self.frame_cursor : stop]:
            if kind == "rest_depth_snapshot":
                adapter.on_depth_snapshot(symbol, message, recv)
            else:
                adapter.feed(orjson.dumps(message), recv)
        self.frame_cursor = stop
        return adapter.take() + adapter.flush_books(t)

    def _rows(self, table: Table, rows: slice, t: float) -> list:
        symbol, ts, c = table.symbol[rows], table.ts[rows], {k: v[rows] for k, v in table.columns.items()}
        if table.kind == "bars":
            nan = np.full(len(ts), np.nan)
            for s, close in zip(symbol, c["close"], strict=True):
                self.last_close[s] = close
            return [
                Bars.of(
                    VENUE, symbol, ts, c["open"], c["high"], c["low"], c["close"], c["volume"],
                    c.get("buy_volume", nan), c.get("trade_count", nan), c.get("turnover", nan), t,
                )
            ]  # fmt: skip
        if table.kind == "mark":
            return [MarkPrice.of(VENUE, symbol, ts, c["mark"], np.full(len(ts), np.nan), t)]
        if table.kind in ("index", "premium"):
            index = c["index"] if table.kind == "index" else self._from_premium(symbol, c["premium"])
            keep = np.isfinite(index)
            # an index series alone: a mark event whose mark is NaN sets the index only
            nan = np.full(np.count_nonzero(keep), np.nan)
            return [MarkPrice.of(VENUE, symbol[keep], ts[keep], nan, index[keep], t)] if keep.any() else []
        if table.kind == "trades":
            return [Trades.of(VENUE, symbol, ts, c["price"], c["qty"], c["side"], t)]
        if table.kind == "liquidations":
            return [Liquidations.of(VENUE, symbol, ts, c["side"], c["price"], c["qty"], t)]
        if table.kind == "interest":
            events: list = [OpenInterest.of(VENUE, symbol, ts, c["open_interest"], t)]
            for kind in (RATIO_TOP_ACCOUNTS, RATIO_TOP_POSITIONS, RATIO_GLOBAL_ACCOUNTS, RATIO_TAKER):
                events.append(PositioningRatio.of(VENUE, symbol, ts, kind, c[kind], t))
            return events
        return []

    def _from_premium(self, symbol: np.ndarray, premium: np.ndarray) -> np.ndarray:
        last = np.array([self.last_close.get(s, np.nan) for s in symbol])
        return last / (1.0 + premium)


# fields each source kind provides: a merge into existing ticks replaces exactly these
_PROVIDES = {
    "bars": [
        i
        for i in group_fields(FEED_TRADES)
        if not FIELD_INDEX["large_buy_notional"] <= i <= FIELD_INDEX["large_sell_notional"]
    ],
    "trades": group_fields(FEED_TRADES),
    "mark": [FIELD_INDEX["mark"]],
    "index": [FIELD_INDEX["index"]],
    "premium": [FIELD_INDEX["index"]],
    "funding": group_fields(FEED_FUNDING) + [FIELD_INDEX["funding_binance"]],
    "interest": group_fields(FEED_OPEN_INTEREST) + group_fields(FEED_POSITIONING),
    "liquidations": group_fields(FEED_LIQUIDATIONS),
}


def provided_fields(plan: Plan) -> np.ndarray:
    kinds = {t.kind for t in plan.tables}
    fields = sorted({f for kind in kinds for f in _PROVIDES[kind]})
    if plan.captures:
        return np.arange(len(FIELD_INDEX))  # a capture is the whole venue: trades, book, venue mid
    return np.array(fields, np.int64)


def run_import(
    plan: Plan,
    out: str,
    categories: tuple[str, ...],
    *,
    coverage_gap: float = 300.0,
    progress: Callable[[int], None] | None = None,
) -> dict[str, object]:
    """Write the plan's ticks into ``out`` (created, or extended and merged); the summary."""
    store = Store.create_or_resume(out, plan.config, categories, kind=KIND_IMPORT)
    tick = plan.tick
    grid = plan.start + tick * np.arange(plan.ticks, dtype=np.float64)
    existing = store.ticks
    origin = float(store.read("time", 0, 1)[0]) if existing else plan.start
    store_end = origin + (existing - 1) * tick if existing else plan.start - tick
    # ticks between the store's end and the data's start are written masked
    if grid[0] > store_end + tick:
        lead = np.arange(store_end + tick, grid[0], tick)
        grid = np.concatenate([lead, grid])
    builder = EventBuilder(plan, grid, coverage_gap)
    accumulator = Accumulator(plan.config)
    provides = provided_fields(plan)
    merged = appended = 0
    for begin in range(0, len(grid), CHUNK_TICKS):
        end = min(begin + CHUNK_TICKS, len(grid))
        snapshots = []
        for k in range(begin, end):
            for event in builder.events(k):
                accumulator.apply(event)
            snapshots.append(accumulator.pack(float(grid[k])))
        rows = {
            "time": grid[begin:end].copy(),
            "phase": np.full(end - begin, PHASE_LIVE, np.int8),
            "fields": np.stack([s.fields for s in snapshots]),
            "valid": np.stack([s.valid for s in snapshots]),
            "bar_index": np.stack([s.bar_index for s in snapshots]).astype(np.int32),
            "bar_progress": np.stack([s.bar_progress for s in snapshots]).astype(np.float32),
            "clock": np.stack([s.clock for s in snapshots]).astype(np.float32),
        }
        overlap = int(np.count_nonzero(rows["time"] <= store_end + tick / 2))
        if overlap:
            first = int(round((rows["time"][0] - origin) / tick))
            for name in ("fields", "valid"):
                current = store.read(name, first, first + overlap)
                current[:, :, provides] = rows[name][:overlap][:, :, provides]
                store.overwrite(name, first, current)
            merged += overlap
        if overlap < end - begin:
            store.append({name: values[overlap:] for name, values in rows.items()})
            appended += end - begin - overlap
        if progress is not None:
            progress(end)
    imports = list(store.attrs.get("imports", []))
    record = {
        "files": [os.path.basename(t.path) for t in plan.tables]
        + [os.path.basename(c.path) for c in plan.captures],
        "rows": sum(t.rows for t in plan.tables) + sum(c.rows for c in plan.captures),
        "from": iso(float(grid[0])),
        "to": iso(float(grid[-1])),
    }
    imports.append(record)
    store.group.attrs["imports"] = imports
    gaps = {name: check["gaps"] for name, check in plan.checks.items() if check["gaps"]}
    rows: Counter[str] = Counter()
    for table in plan.tables:
        rows[table.kind] += table.rows
    for capture in plan.captures:
        rows["capture frames"] += capture.rows
    health = {}
    if builder.adapter is not None:
        health = {
            feed: {"messages": h.messages, "malformed": h.malformed, "unknown": h.unknown, "gaps": h.gaps}
            for feed, h in builder.adapter.health.items()
            if h.messages or h.malformed or h.gaps
        }
    return {
        "store": out,
        "rows": dict(rows),
        "time_range": [iso(float(grid[0])), iso(float(grid[-1]))],
        "tick_seconds": tick,
        "symbols": len(plan.symbols),
        "symbols_with_data": len(
            {s for t in plan.tables for s in t.symbol.tolist()} | {c.symbol for c in plan.captures}
        ),
        "ticks_appended": appended,
        "ticks_merged": merged,
        "ticks_in_store": store.ticks,
        "gaps": {
            "series_with_gaps": sum(len(g) for g in gaps.values()),
            "missing_bars": sum(sum(g.values()) for g in gaps.values()),
            "widest_seconds": max((c["widest_gap_seconds"] for c in plan.checks.values()), default=0.0),
        },
        "rows_reordered": sum(int(c["reordered"]) for c in plan.checks.values()),
        "rejected_rows": dict(accumulator.rejected),
        **({"feeds": health} if health else {}),
        "notes": plan.notes,
    }


def import_history(
    fmt: str,
    paths: list[str],
    out: str,
    config: Config,
    categories: tuple[str, ...],
    *,
    symbols_from_data: bool = False,
    skip_other_symbols: bool = False,
    tick_seconds: int | None = None,
    coverage_gap: float = 300.0,
    progress_factory: Callable[[int], Callable[[int], None]] | None = None,
) -> dict[str, object]:
    """Plan and run one import (see the module docstring)."""
    store = None
    if os.path.exists(out):
        store = Store.open(out)
        if store.kind != KIND_IMPORT:
            raise StoreError(f"{out} is a recording of a run; imports write import stores: use a new path")
    plan = plan_import(
        fmt,
        paths,
        config,
        store=store,
        symbols_from_data=symbols_from_data,
        skip_other_symbols=skip_other_symbols,
        tick_seconds=tick_seconds,
    )
    progress = progress_factory(plan.ticks) if progress_factory else None
    return run_import(plan, out, categories, coverage_gap=coverage_gap, progress=progress)
