"""bpjax import: every format against its source rows, validation, masks, extension and merges, and
the real sample data end to end."""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bpjax.cards import REGISTRY
from bpjax.core.config import ConfigError, load_config
from bpjax.core.defines import FEED_LIQUIDATIONS
from bpjax.core.fields import FIELD_INDEX as F
from bpjax.core.fields import group_fields
from bpjax.store.importer import ImportDataError, import_history
from bpjax.store.zarrstore import Store, StoreError

DAY = 1722470400  # 2024-08-01T00:00:00Z
KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
    "taker_buy_quote_volume,ignore"
)


def run_import(fmt, paths, out, config=None, **options):
    return import_history(
        fmt, [str(p) for p in paths], str(out), config or load_config(), REGISTRY.categories, **options
    )


def at(store: Store, t: float) -> int:
    """The index of the tick ending at ``t``."""
    times = store.read("time")
    k = int(np.searchsorted(times, t))
    assert times[k] == t, (times[k], t)
    return k


def value(store, t, symbol, name):
    k, j = at(store, t), store.attrs["symbols"].index(symbol)
    return float(store.read("fields", k, k + 1)[0, j, F[name]]), bool(
        store.read("valid", k, k + 1)[0, j, F[name]]
    )


def kline_rows(start, count, seconds=300, base=60000.0):
    rows = []
    for i in range(count):
        t = (start + i * seconds) * 1000
        o = base + 10 * i
        c = o + (5 if i % 2 else -5)
        volume, buy = 1.5 + i, 0.5 + i / 2
        end = t + seconds * 1000 - 1
        rows.append([t, o, max(o, c) + 7, min(o, c) - 3, c, volume, end, volume * o, 100 + i, buy, 0, 0])
    return rows


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        if header:
            f.write(header + "\n")
        csv.writer(f).writerows(rows)
    return path


# --- binance-archive ---------------------------------------------------------------------------------


@pytest.fixture
def archive(tmp_path):
    klines = kline_rows(DAY, 12)
    k = write_csv(tmp_path / "BTCUSDT-5m-2024-08-01.csv", KLINE_HEADER, klines)
    # the same layout without a header, zipped, as the archive serves it
    eth = write_csv(tmp_path / "ETHUSDT-5m-2024-08-01.csv", None, kline_rows(DAY, 12, base=3000.0))
    with zipfile.ZipFile(tmp_path / "ETHUSDT-5m-2024-08-01.zip", "w") as z:
        z.write(eth, eth.name)
    os.remove(eth)
    funding = write_csv(
        tmp_path / "BTCUSDT-fundingRate-2024-08.csv",
        "calc_time,funding_interval_hours,last_funding_rate",
        [
            [(DAY - 8 * 3600) * 1000, 8, 0.0001],
            [DAY * 1000, 8, 0.00025],
            [(DAY + 8 * 3600) * 1000, 8, -0.0001],
        ],
    )
    metrics = write_csv(
        tmp_path / "BTCUSDT-metrics-2024-08-01.csv",
        "create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,"
        "sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio",
        [["2024-08-01 00:15:00", "BTCUSDT", 80000.5, 4.8e9, 1.9, 1.6, 2.1, 0.95]],
    )
    mark = write_csv(
        tmp_path / "BTCUSDT-markPriceKlines-5m-2024-08-01.csv",
        KLINE_HEADER,
        [[(DAY + 300) * 1000, 60001, 60020, 59990, 60011.5, 0, 0, 0, 0, 0, 0, 0]],
    )
    return tmp_path, klines, [k, tmp_path / "ETHUSDT-5m-2024-08-01.zip", funding, metrics, mark]


def test_binance_archive_values_land_on_their_ticks(archive):
    folder, klines, paths = archive
    out = folder / "store"
    summary = run_import("binance-archive", paths, out)
    store = Store.open(str(out))
    assert store.kind == "import" and store.config().engine.tick_seconds == 300
    assert summary["tick_seconds"] == 300 and summary["rows"]["bars"] == 24
    row = klines[4]  # 00:20-00:25, lands on the tick ending 00:25
    t = DAY + 5 * 300
    for name, column in (("open", 1), ("high", 2), ("low", 3), ("close", 4), ("volume", 5), ("turnover", 7)):
        assert value(store, t, "BTCUSDT", name) == (np.float32(row[column]), True), name
    assert value(store, t, "BTCUSDT", "trade_count") == (row[8], True)
    assert value(store, t, "BTCUSDT", "buy_volume") == (np.float32(row[9]), True)
    assert value(store, t, "BTCUSDT", "sell_volume") == (np.float32(row[5] - row[9]), True)
    assert value(store, t, "ETHUSDT", "close")[0] == np.float32(kline_rows(DAY, 12, base=3000.0)[4][4])
    # funding: the last settled rate between settlements (0.00025 settled at 00:00)
    assert value(store, t, "BTCUSDT", "funding_rate") == (np.float32(0.00025), True)
    assert value(store, t, "BTCUSDT", "predicted_funding")[1] is False
    # metrics at 00:15: open interest and the four ratios on the 00:15 tick
    assert value(store, DAY + 900, "BTCUSDT", "open_interest") == (np.float32(80000.5), True)
    assert value(store, DAY + 900, "BTCUSDT", "ls_top_positions") == (np.float32(1.6), True)
    assert value(store, DAY + 900, "BTCUSDT", "taker_ratio") == (np.float32(0.95), True)
    # the mark of the 00:05-00:10 bar on its close tick only; large prints are never in bars
    assert value(store, DAY + 600, "BTCUSDT", "mark") == (np.float32(60011.5), True)
    assert value(store, DAY + 900, "BTCUSDT", "mark")[1] is False
    assert value(store, t, "BTCUSDT", "large_buy_notional")[1] is False
    # a universe symbol without data is masked, never filled
    assert value(store, t, "SOLUSDT", "close")[1] is False


def test_archive_aggtrades_sum_per_tick_and_zero_only_while_the_log_runs(tmp_path):
    rows = [  # agg_trade_id, price, quantity, first, last, transact_time, is_buyer_maker
        [1, 3000.5, 2.0, 1, 1, (DAY + 1) * 1000, "false"],
        [2, 3001.0, 0.5, 2, 3, (DAY + 4) * 1000 + 500, "true"],
        [3, 2999.0, 1.0, 4, 4, (DAY + 12) * 1000, "true"],
        [4, 3002.0, 3.0, 5, 5, (DAY + 41) * 1000, "false"],
    ]
    path = write_csv(
        tmp_path / "ETHUSDT-aggTrades-2024-08-01.csv",
        "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker",
        rows,
    )
    out = tmp_path / "store"
    run_import("binance-archive", [path], out, coverage_gap=60.0)
    store = Store.open(str(out))
    assert store.config().engine.tick_seconds == 10
    assert value(store, DAY + 10, "ETHUSDT", "volume") == (2.5, True)
    assert value(store, DAY + 10, "ETHUSDT", "buy_volume") == (2.0, True)
    assert value(store, DAY + 10, "ETHUSDT", "sell_volume") == (0.5, True)
    assert value(store, DAY + 10, "ETHUSDT", "turnover")[0] == np.float32(3000.5 * 2 + 3001.0 * 0.5)
    assert value(store, DAY + 10, "ETHUSDT", "high") == (3001.0, True)
    assert value(store, DAY + 10, "ETHUSDT", "close") == (3001.0, True)
    # no trade in (30, 40] but the log runs: a real zero volume
    assert value(store, DAY + 40, "ETHUSDT", "volume") == (0.0, True)
    assert store.read("time")[-1] == DAY + 50


# --- bars-parquet ------------------------------------------------------------------------------------


def parquet_candles(path, symbols, start, count, seconds=300, volume=True, skip=()):
    table = {"symbol": [], "open_time": [], "open": [], "high": [], "low": [], "close": []}
    if volume:
        table["volume"] = []
    for symbol_index, symbol in enumerate(symbols):
        for i in range(count):
            if i in skip:
                continue
            price = 100.0 * (symbol_index + 1) + i
            table["symbol"].append(symbol)
            table["open_time"].append(int((start + i * seconds) * 10**9))
            table["open"].append(price)
            table["high"].append(price + 2)
            table["low"].append(price - 1)
            table["close"].append(price + 1)
            if volume:
                table["volume"].append(10.0 + i)
    table["source"] = ["test"] * len(table["symbol"])
    arrays = {k: pa.array(v) for k, v in table.items()}
    arrays["open_time"] = arrays["open_time"].cast(pa.timestamp("ns", tz="UTC"))
    pq.write_table(pa.table(arrays), path)
    return path


def test_bars_parquet_recognises_each_file_by_its_columns(tmp_path):
    candles = parquet_candles(tmp_path / "c.parquet", ["BTCUSDT", "ETHUSDT"], DAY, 24)
    mark = parquet_candles(tmp_path / "m.parquet", ["BTCUSDT"], DAY, 2, seconds=3600, volume=False)
    funding = tmp_path / "f.parquet"
    pq.write_table(
        pa.table(
            {
                "symbol": ["BTCUSDT", "BTCUSDT"],
                "funding_time": pa.array(
                    [DAY * 10**9 + 5000, (DAY + 4 * 3600) * 10**9], pa.timestamp("ns", tz="UTC")
                ),
                "funding_rate": [0.0003, -0.0002],
            }
        ),
        funding,
    )
    out = tmp_path / "store"
    summary = run_import("bars-parquet", [candles, mark, funding], out)
    assert summary["rows"] == {"bars": 48, "mark": 2, "funding": 2}
    store = Store.open(str(out))
    # ETH bar 7 (00:35-00:40): close = 200 + 7 + 1
    assert value(store, DAY + 8 * 300, "ETHUSDT", "close") == (208.0, True)
    assert value(store, DAY + 8 * 300, "ETHUSDT", "volume") == (17.0, True)
    # OHLCV-only: taker split, counts and turnover are unknown, so masked
    for name in ("buy_volume", "sell_volume", "trade_count", "turnover"):
        assert value(store, DAY + 8 * 300, "ETHUSDT", name)[1] is False, name
    assert value(store, DAY + 3600, "BTCUSDT", "mark") == (101.0, True)  # hourly mark bar 0 closes at 01:00
    assert value(store, DAY + 3300, "BTCUSDT", "mark")[1] is False
    assert value(store, DAY + 7200, "BTCUSDT", "funding_rate") == (np.float32(0.0003), True)
    assert value(store, DAY + 7200, "ETHUSDT", "funding_rate")[1] is False


@pytest.mark.slow
def test_a_coarse_tick_masks_the_finer_timeframes_in_the_engine(tmp_path):
    """An import on a 5 m tick keeps the config's 1 m timeframe, and the engine gives it no weight:
    its cards have no confidence and the outputs do not depend on what the 1 m ring holds."""
    import jax

    from bpjax.tick.engine import Engine
    from tests.harness import small_config

    config = small_config().replace(engine={"tick_seconds": 300}, modes=_modes_at(300))
    engine = Engine(config, card_slices=True)
    assert engine.timeframe_usable.tolist() == [False, True, True] and engine.shortest_timeframe == 1
    candles = parquet_candles(tmp_path / "c.parquet", config.symbols, DAY, 40)
    run_import("bars-parquet", [candles], tmp_path / "store", config)
    store = Store.open(str(tmp_path / "store"))
    state = engine.init()
    for _, _, snapshot in store.snapshots():
        state, output = engine.step(state, snapshot)
    output = jax.device_get(output)
    cards = output.metrics["cards"]
    assert np.all(cards.confidence[:, :, 0] == 0) and np.any(cards.confidence[:, :, 1] > 0)
    assert np.all(output.timeframe_bias[:, :, 0] == 0)
    # a finer timeframe must divide the tick (5 m bars on a 2 m tick would straddle ticks)
    with pytest.raises(ConfigError, match="multiple of engine.tick_seconds"):
        load_config().replace(engine={"tick_seconds": 120})


def _modes_at(tick):
    modes = load_config().to_dict()["modes"]
    return {
        n: {**m, "publish_seconds": max(tick, m["publish_seconds"] // tick * tick)} for n, m in modes.items()
    }


# --- liquidations-csv and merging into a store --------------------------------------------------------


LIQ_HEADER = (
    "trade_time,trade_time_ms,symbol,symbol_raw,side,order_type,time_in_force,original_quantity,price,"
    "average_price,order_status,last_filled_quantity,accumulated_filled_quantity,notional_usd,"
    "usd_size_capturer,source_repo,source_path"
)


def liquidation_rows(rows):
    """(seconds after DAY, symbol, side, qty, price, average price, filled qty)"""
    out = []
    for s, sym, side, qty, price, avg, filled in rows:
        order = [sym[:-4], side, "LIMIT", "IOC", qty, price, avg, "FILLED", 0, filled, 0, 0, "t", "t"]
        out.append(["", (DAY + s) * 1000, sym, *order])
    return out


def test_liquidations_merge_onto_bars_and_only_touch_their_fields(tmp_path):
    candles = parquet_candles(tmp_path / "c.parquet", ["BTCUSDT", "ETHUSDT"], DAY, 24)
    out = tmp_path / "store"
    run_import("bars-parquet", [candles], out)
    before = Store.open(str(out))
    fields_before, ticks_before = before.read("fields"), before.ticks
    liq = write_csv(
        tmp_path / "liq.csv",
        LIQ_HEADER,
        liquidation_rows(
            [
                (610, "BTCUSDT", "SELL", 0.5, 59000.0, 59010.0, 0.5),  # a long force-closed
                (650, "BTCUSDT", "BUY", 0.2, 61000.0, 60990.0, 0.2),  # a short
                (700, "ETHUSDT", "SELL", 3.0, 2900.0, 0.0, 0.0),  # unfilled: order price and quantity
                (1500, "BTCUSDT", "BUY", 1.0, 60000.0, 60100.0, 1.0),
            ]
        ),
    )
    summary = run_import("liquidations-csv", [liq], out, coverage_gap=900.0)  # one stretch, 610 to 1500 s
    assert summary["ticks_merged"] == 3 and summary["ticks_appended"] == 0
    store = Store.open(str(out))
    assert store.ticks == ticks_before
    assert value(store, DAY + 900, "BTCUSDT", "liq_long_notional") == (np.float32(0.5 * 59010.0), True)
    assert value(store, DAY + 900, "BTCUSDT", "liq_short_notional") == (np.float32(0.2 * 60990.0), True)
    assert value(store, DAY + 900, "ETHUSDT", "liq_long_notional") == (np.float32(3.0 * 2900.0), True)
    # inside the log's coverage a tick without liquidations is a real zero; outside it, masked
    assert value(store, DAY + 1200, "BTCUSDT", "liq_long_notional") == (0.0, True)
    assert value(store, DAY + 300, "BTCUSDT", "liq_long_notional")[1] is False
    assert value(store, DAY + 900, "BTCUSDT", "liq_long_qty") == (np.float32(0.5), True)  # its price: 59010
    after = store.read("fields")
    liq_fields = group_fields(FEED_LIQUIDATIONS)
    others = np.ones(after.shape[2], bool)
    others[liq_fields] = False
    np.testing.assert_array_equal(after[:, :, others], fields_before[:, :, others])


def test_a_rerun_extends_with_later_times_and_masks_the_gap(tmp_path):
    out = tmp_path / "store"
    run_import("bars-parquet", [parquet_candles(tmp_path / "a.parquet", ["BTCUSDT"], DAY, 12)], out)
    later = parquet_candles(tmp_path / "b.parquet", ["BTCUSDT"], DAY + 24 * 300, 12)
    summary = run_import("bars-parquet", [later], out)
    store = Store.open(str(out))
    assert summary["ticks_appended"] == 24 and store.ticks == 36
    assert np.all(np.diff(store.read("time")) == 300)
    assert value(store, DAY + 18 * 300, "BTCUSDT", "close")[1] is False  # the gap: masked
    assert value(store, DAY + 25 * 300, "BTCUSDT", "close") == (101.0, True)
    earlier = parquet_candles(tmp_path / "c.parquet", ["BTCUSDT"], DAY - 20 * 300, 10)
    with pytest.raises(ImportDataError, match="extended forward only"):
        run_import("bars-parquet", [earlier], out)


# --- validation --------------------------------------------------------------------------------------


def test_unsorted_duplicate_gapped_and_misnamed_inputs(tmp_path):
    klines = kline_rows(DAY, 6)
    swapped = klines[:2] + [klines[3], klines[2]] + klines[4:]
    path = write_csv(tmp_path / "BTCUSDT-5m-2024-08-01.csv", KLINE_HEADER, swapped)
    with pytest.raises(ImportDataError, match="not in time order for BTCUSDT"):
        run_import("binance-archive", [path], tmp_path / "s1")
    write_csv(path, KLINE_HEADER, klines + [klines[-1]])
    with pytest.raises(ImportDataError, match="1 duplicate bars row"):
        run_import("binance-archive", [path], tmp_path / "s2")
    write_csv(path, KLINE_HEADER, klines[:2] + klines[4:])  # two bars missing: masked and reported
    summary = run_import("binance-archive", [path], tmp_path / "s3")
    assert summary["gaps"] == {"series_with_gaps": 1, "missing_bars": 2, "widest_seconds": 900.0}
    store = Store.open(str(tmp_path / "s3"))
    assert value(store, DAY + 3 * 300, "BTCUSDT", "volume")[1] is False
    with pytest.raises(ImportDataError, match="not a Binance archive file name"):
        run_import(
            "binance-archive", [write_csv(tmp_path / "btc.csv", KLINE_HEADER, klines)], tmp_path / "s4"
        )


def test_mixed_symbols_and_wrong_units_are_refused(tmp_path):
    metrics = write_csv(
        tmp_path / "BTCUSDT-metrics-2024-08-01.csv",
        "create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,"
        "sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio",
        [
            ["2024-08-01 00:15:00", "BTCUSDT", 1, 1, 1, 1, 1, 1],
            ["2024-08-01 00:20:00", "ETHUSDT", 1, 1, 1, 1, 1, 1],
        ],
    )
    with pytest.raises(ImportDataError, match="mixed symbols"):
        run_import("binance-archive", [metrics], tmp_path / "s1")
    funding = write_csv(
        tmp_path / "BTCUSDT-fundingRate-2024-08.csv",
        "calc_time,funding_interval_hours,last_funding_rate",
        [[DAY * 1000, 8, 0.01], [(DAY + 28800) * 1000, 8, 0.012]],  # percent, not a fraction
    )
    with pytest.raises(ImportDataError, match="looks like percent"):
        run_import("binance-archive", [funding], tmp_path / "s2")
    rows = kline_rows(DAY, 4)
    rows[2][0] = rows[2][0] // 1000  # one open time in seconds among milliseconds
    with pytest.raises(ImportDataError, match="mixes time units"):
        run_import(
            "binance-archive",
            [write_csv(tmp_path / "BTCUSDT-5m-2024-08-02.csv", None, rows)],
            tmp_path / "s3",
        )
    rows = kline_rows(DAY, 4)
    rows[1][4] = -1.0
    with pytest.raises(ImportDataError, match="close must be positive"):
        run_import(
            "binance-archive",
            [write_csv(tmp_path / "BTCUSDT-5m-2024-08-03.csv", None, rows)],
            tmp_path / "s4",
        )
    capture = tmp_path / "mixed.jsonl.gz"
    with gzip.open(capture, "wt") as f:
        for stream in ("btcusdt@trade", "ethusdt@trade"):
            f.write(
                json.dumps({"local_ts_ns": DAY * 10**9, "kind": "ws", "msg": {"stream": stream, "data": {}}})
                + "\n"
            )
    with pytest.raises(ImportDataError, match="mixed symbols"):
        run_import("binance-ws-capture", [capture], tmp_path / "s5")


def test_symbols_outside_the_universe_are_refused_added_or_skipped(tmp_path):
    candles = parquet_candles(tmp_path / "c.parquet", ["BTCUSDT", "WIFUSDT"], DAY, 6)
    with pytest.raises(ImportDataError, match="not in the config's universe: WIFUSDT"):
        run_import("bars-parquet", [candles], tmp_path / "s1")
    summary = run_import("bars-parquet", [candles], tmp_path / "s2", symbols_from_data=True)
    assert (
        Store.open(str(tmp_path / "s2")).attrs["symbols"] == ["BTCUSDT", "WIFUSDT"]
        and summary["symbols"] == 2
    )
    summary = run_import("bars-parquet", [candles], tmp_path / "s3", skip_other_symbols=True)
    assert "skipped 6 row(s) of 1 symbol(s)" in summary["notes"][0]
    more = parquet_candles(tmp_path / "d.parquet", ["DOGEUSDT"], DAY + 1800, 6)
    with pytest.raises(ImportDataError, match="universe is fixed"):
        run_import("bars-parquet", [more], tmp_path / "s2")


def test_a_tick_finer_than_the_bars_and_a_run_store_are_refused(tmp_path):
    candles = parquet_candles(tmp_path / "c.parquet", ["BTCUSDT"], DAY, 6)
    with pytest.raises(ImportDataError, match="finer than the 300 s bars"):
        run_import("bars-parquet", [candles], tmp_path / "s1", tick_seconds=60)
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(ImportDataError, match="not a readable Parquet file"):
        run_import("bars-parquet", [tmp_path / "broken.parquet"], tmp_path / "s2")
    run_store = tmp_path / "run.zarr"
    Store.create_or_resume(str(run_store), load_config(), REGISTRY.categories)
    with pytest.raises(StoreError, match="recording of a run"):
        run_import("bars-parquet", [candles], run_store)


# --- the real sample data -------------------------------------------------------------------------------


def bpjax(*args, timeout=900):
    return subprocess.run(
        [sys.executable, "-m", "bpjax", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
def test_real_bars_import_end_to_end_with_exact_values(shared, tmp_path):
    folder = os.path.join(shared, "data", "sample", "binance_um_bars")
    out = tmp_path / "bars"
    result = bpjax(
        "import", "--from", "bars-parquet", "--in", os.path.join(folder, "candles_5m.parquet"),
        "--out", str(out), "--symbols-from-data",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stderr.strip().splitlines()[-1])["summary"]
    assert summary["symbols"] == 21 and summary["rows"]["bars"] == 254071
    result = bpjax(
        "import", "--from", "bars-parquet", "--in", os.path.join(folder, "funding.parquet"),
        os.path.join(folder, "mark_1h.parquet"), "--out", str(out), "--skip-other-symbols", "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    store = Store.open(str(out))
    candles = pq.read_table(os.path.join(folder, "candles_5m.parquet")).to_pydict()
    funding = pq.read_table(os.path.join(folder, "funding.parquet")).to_pydict()
    picked = [i for i, s in enumerate(candles["symbol"]) if s == "SOLUSDT"][5000:5003]
    picked += [i for i, s in enumerate(candles["symbol"]) if s == "ATOMUSDT"][-1:]
    for i in picked:
        close_time = candles["open_time"][i].timestamp() + 300
        for name in ("open", "high", "low", "close", "volume"):
            got, ok = value(store, close_time, candles["symbol"][i], name)
            assert ok and got == np.float32(candles[name][i]), (i, name)
        settled = [
            (t.timestamp(), r)
            for s, t, r in zip(
                funding["symbol"], funding["funding_time"], funding["funding_rate"], strict=True
            )
            if s == candles["symbol"][i] and t.timestamp() <= close_time
        ]
        assert value(store, close_time, candles["symbol"][i], "funding_rate") == (
            np.float32(max(settled)[1]),
            True,
        )


def test_real_liquidations_import_with_coverage(shared, tmp_path):
    path = os.path.join(shared, "data", "sample", "binance_um_liquidations", "forceorder_2024-08.csv")
    summary = run_import("liquidations-csv", [path], tmp_path / "liq", symbols_from_data=True)
    # 841 events over 124 symbols, one of them a USDC perpetual the universe cannot hold
    assert summary["rows"]["liquidations"] == 840 and summary["symbols"] == 123
    assert "skipped 1 row(s) of SUIUSDC: not USDT perpetuals" in summary["notes"]
    store = Store.open(str(tmp_path / "liq"))
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["symbol"] != "SUIUSDC"]
    longs, shorts = (
        store.read("fields")[:, :, F["liq_long_notional"]],
        store.read("fields")[:, :, F["liq_short_notional"]],
    )
    total = sum(float(r["average_price"]) * float(r["accumulated_filled_quantity"]) for r in rows)
    assert float(longs.astype(np.float64).sum() + shorts.astype(np.float64).sum()) == pytest.approx(
        total, rel=1e-6
    )
    row = rows[0]  # RAREUSDT, BUY: a short force-closed
    t = np.ceil(int(row["trade_time_ms"]) / 1000 / 10) * 10
    got, ok = value(store, t, row["symbol"], "liq_short_notional")
    assert ok and got == pytest.approx(
        float(row["average_price"]) * float(row["accumulated_filled_quantity"]), rel=1e-6
    )
    # between the two logged windows (2024-08-17 12:28 to 08-18 09:00) nothing is known
    assert value(store, 1723960800.0, "BTCUSDT", "liq_long_notional")[1] is False  # 2024-08-18 06:00
    assert value(store, t + 60, "BTCUSDT", "liq_long_notional")[1] is True


@pytest.mark.slow
def test_real_aggtrades_parquet_and_ws_capture_import_and_replay(shared, tmp_path):
    trades = os.path.join(shared, "data", "sample", "binance_um_aggtrades", "aggtrades_2024-08-15_16.parquet")
    summary = run_import(
        "bars-parquet", [trades], tmp_path / "agg", symbols_from_data=True, coverage_gap=60.0
    )
    assert summary["rows"]["trades"] == 20635
    table = pq.read_table(trades).to_pydict()
    store = Store.open(str(tmp_path / "agg"))
    assert "stamped with their event time" in summary["notes"][0] and summary["rows_reordered"] > 0
    # the logger wrote some trade times as local clock strings: those rows carry their event time
    stamp = [
        int(t) if t.isdigit() else e
        for t, e in zip(table["trade_time_ms"], table["event_time_ms"], strict=True)
    ]
    symbol = table["symbol"][100]
    tick = np.ceil(stamp[100] / 1000 / 10) * 10
    inside = [i for i, s in enumerate(table["symbol"]) if s == symbol and tick - 10 < stamp[i] / 1000 <= tick]
    got, ok = value(store, tick, symbol, "volume")
    assert ok and got == pytest.approx(sum(table["quantity"][i] for i in inside), rel=1e-6)

    folder = os.path.join(shared, "data", "sample", "binance_um_ws_raw")
    paths = [
        os.path.join(folder, n)
        for n in ("btcusdt_2024-07-18T2357Z.jsonl.gz", "btcusdt_2024-07-19T0000Z.jsonl.gz")
    ]
    out = tmp_path / "capture"
    result = bpjax(
        "import", "--from", "binance-ws-capture", "--in", *paths, "--out", str(out), "--symbols-from-data"
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stderr.strip().splitlines()[-1])["summary"]
    assert summary["feeds"]["book"]["gaps"] == 0 and summary["feeds"]["trades"]["messages"] > 5000
    store = Store.open(str(out))
    last_trade = {}
    with gzip.open(paths[0], "rt") as f:
        for line in f:
            row = json.loads(line)
            data = row["msg"].get("data", {}) if row["kind"] == "ws" else {}
            if data.get("e") == "trade":
                last_trade[np.ceil(row["local_ts_ns"] / 1e9 / 10) * 10] = float(data["p"])
    for t in sorted(last_trade)[3:6]:
        assert value(store, t, "BTCUSDT", "close") == (np.float32(last_trade[t]), True)
        assert value(store, t, "BTCUSDT", "bid_depth_10")[1] is True
    replayed = tmp_path / "replay.jsonl"
    result = bpjax("replay", str(out), "--jsonl", str(replayed), "--quiet")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stderr.strip().splitlines()[-1])["summary"]
    assert summary["path"] == "scan" and summary["ticks"] == store.ticks and summary["symbol_ticks_per_s"] > 0
    records = [json.loads(line) for line in replayed.read_text().splitlines()]
    assert records and all(abs(r["symbols"]["BTCUSDT"]["bias"]) <= 100 for r in records)


def test_index_and_premium_klines_set_the_index_only(tmp_path):
    klines = write_csv(tmp_path / "BTCUSDT-5m-2024-08-01.csv", KLINE_HEADER, kline_rows(DAY, 6))
    index = write_csv(
        tmp_path / "BTCUSDT-indexPriceKlines-5m-2024-08-01.csv",
        KLINE_HEADER,
        [[(DAY + 300) * 1000, 1, 1, 1, 59990.5, 0, 0, 0, 0, 0, 0, 0]],
    )
    run_import("binance-archive", [klines, index], tmp_path / "a")
    store = Store.open(str(tmp_path / "a"))
    assert value(store, DAY + 600, "BTCUSDT", "index") == (np.float32(59990.5), True)
    assert value(store, DAY + 600, "BTCUSDT", "mark")[1] is False
    premium = write_csv(
        tmp_path / "BTCUSDT-premiumIndexKlines-5m-2024-08-01.csv",
        KLINE_HEADER,
        [[(DAY + 600) * 1000, 0, 0, 0, 0.0004, 0, 0, 0, 0, 0, 0, 0]],
    )
    summary = run_import("binance-archive", [klines, premium], tmp_path / "b")
    assert any("premiumIndexKlines" in note for note in summary["notes"])
    close = kline_rows(DAY, 6)[2][4]  # the 00:10-00:15 bar: the last price of that tick
    got, ok = value(Store.open(str(tmp_path / "b")), DAY + 900, "BTCUSDT", "index")
    assert ok and got == np.float32(close / 1.0004)


@pytest.mark.slow
def test_an_import_killed_mid_write_is_finished_by_running_it_again(tmp_path):
    """SIGKILL while importing leaves a store of whole chunks; the same command again merges the
    ticks already written and appends the rest: the result equals an uninterrupted import."""
    import signal
    import time

    candles = parquet_candles(
        tmp_path / "c.parquet", ["BTCUSDT", "ETHUSDT", "SOLUSDT"], DAY, 12_000, seconds=60
    )
    args = ("import", "--from", "bars-parquet", "--in", str(candles), "--quiet", "--out")
    clean = bpjax(*args, str(tmp_path / "clean"))
    assert clean.returncode == 0, clean.stderr
    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "bpjax", *args, str(killed)], stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.2)
        try:
            if Store.open(str(killed)).ticks >= 512:
                break
        except (StoreError, KeyError):
            continue
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = Store.open(str(killed))
    assert 0 < partial.ticks < 12_000 and partial.ticks % 256 == 0
    again = bpjax(*args, str(killed))
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stderr.strip().splitlines()[-1])["summary"]
    assert summary["ticks_merged"] == partial.ticks and summary["ticks_in_store"] == 12_000
    a, b = Store.open(str(tmp_path / "clean")), Store.open(str(killed))
    for name in ("time", "fields", "valid", "bar_index", "bar_progress", "clock"):
        np.testing.assert_array_equal(a.read(name), b.read(name), err_msg=name)
