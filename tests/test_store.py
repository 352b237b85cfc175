"""Recordings: record/replay equality, kill -9 while recording, resume, refusals, damaged chunks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from bpjax.cards import REGISTRY
from bpjax.core.fields import NUM_FIELDS
from bpjax.store.zarrstore import CHUNK_TICKS, Store, StoreError
from tests.harness import small_config


def bpjax(*args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "bpjax", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A simulated run recorded to a store, and its JSONL."""
    folder = tmp_path_factory.mktemp("rec")
    store, live = folder / "run.zarr", folder / "live.jsonl"
    result = bpjax(
        "run", "--source", "sim", "--ticks", "40", "--jsonl", str(live), "--record", str(store), "--quiet"
    )
    assert result.returncode == 0, result.stderr
    return folder, store, live


@pytest.mark.slow
def test_replay_publishes_exactly_what_the_run_published(recorded):
    folder, store, live = recorded
    replayed = folder / "replay.jsonl"
    result = bpjax("replay", str(store), "--jsonl", str(replayed), "--quiet")
    assert result.returncode == 0, result.stderr
    assert replayed.read_bytes() == live.read_bytes() and live.read_text().count("\n") >= 20
    summary = json.loads(result.stderr.strip().splitlines()[-1])["summary"]
    assert summary["ticks"] == 40 and summary["ticks_in_store"] == 40 + summary["warmup_ticks"]
    assert summary["path"] == "scan" and summary["symbol_ticks_per_s"] > 0


@pytest.mark.slow
def test_the_per_tick_path_and_the_scan_path_publish_the_same_records(recorded):
    """The scan path (lax.scan over chunks, the default at --speed max, here with a chunk that
    does not divide the store so the last chunk is padded) and one engine call per tick."""
    folder, store, live = recorded
    paths = {}
    for path, extra in (("tick", ()), ("scan", ("--chunk", "64"))):
        paths[path] = folder / f"{path}.jsonl"
        result = bpjax("replay", str(store), "--path", path, *extra, "--jsonl", str(paths[path]), "--quiet")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stderr.strip().splitlines()[-1])["summary"]["path"] == path
    assert paths["tick"].read_bytes() == paths["scan"].read_bytes() == live.read_bytes()
    result = bpjax("replay", str(store), "--path", "scan", "--speed", "realtime", "--quiet")
    assert result.returncode != 0 and "--speed max only" in result.stderr


def test_the_store_holds_the_published_outputs_and_its_stamps(recorded):
    _, path, live = recorded
    store = Store.open(str(path))
    assert store.attrs["schema_version"] == 1 and store.attrs["categories"] == list(REGISTRY.categories)
    assert store.config().hash() == store.attrs["config_hash"] and len(store.attrs["fields"]) == len(
        store.attrs["units"]
    )
    times, phase = store.read("time"), store.read("phase")
    assert np.all(np.diff(times) > 0) and phase[-40:].tolist() == [1] * 40 and phase[0] == 0
    bias = store.read("out/bias")
    symbols, modes = store.attrs["symbols"], store.attrs["modes"]
    for line in live.read_text().splitlines()[-3:]:
        record = json.loads(line)
        k = int(np.flatnonzero(times == _unix(record["time"]))[0])
        for symbol in symbols[:3]:
            expected = record["symbols"][symbol]["bias"]
            assert round(float(bias[k, symbols.index(symbol), modes.index(record["mode"])]), 3) == expected


def _unix(text):
    import datetime as dt

    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.mark.slow
def test_kill_9_while_recording_leaves_a_replayable_store(tmp_path):
    path = tmp_path / "killed.zarr"
    command = ["run", "--source", "sim", "--ticks", "100000", "--record", str(path), "--quiet"]
    process = subprocess.Popen(
        [sys.executable, "-m", "bpjax", *command], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                if Store.open(str(path)).ticks > 300:  # warm-up done and live ticks being written
                    break
            except (StoreError, KeyError):
                pass
        time.sleep(1.3)  # mid-stream: a batch may be half written
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    store = Store.open(str(path))
    assert store.ticks > 300
    for name in ("time", "fields", "valid", "out/bias"):  # every committed tick is whole
        assert store.read(name).shape[0] == store.ticks
    result = bpjax("replay", str(path), "--quiet")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stderr.strip().splitlines()[-1])["summary"]["ticks_in_store"] == store.ticks
    # reopening for appends drops whatever a killed write left beyond the last complete tick
    resumed = Store.create_or_resume(str(path), store.config(), REGISTRY.categories)
    assert all(resumed.group[n].shape[0] == store.ticks for n in ("time", "fields", "out/categories"))


def test_resume_appends_and_a_different_config_is_refused(tmp_path):
    config = small_config()
    path = str(tmp_path / "store.zarr")
    store = Store.create_or_resume(path, config, REGISTRY.categories)
    rows = _rows(config, 5, start=100.0)
    store.append(rows)
    store = Store.create_or_resume(path, config, REGISTRY.categories)  # reopened: appends after
    store.append(_rows(config, 3, start=200.0))
    assert Store.open(path).ticks == 8 and Store.open(path).read("time")[5] == 200.0
    other = config.replace(engine={"tick_seconds": 5})
    with pytest.raises(StoreError, match="recorded with config"):
        Store.create_or_resume(path, other, REGISTRY.categories)
    # a tail that a killed writer left past the commit is not data
    store = Store.create_or_resume(path, config, REGISTRY.categories)
    store.group["time"].append(np.array([999.0]))
    assert Store.open(path).ticks == 8 and Store.open(path).read("time").shape == (8,)


def test_a_run_recorded_before_weights_were_kept_resumes_with_its_config_weights(tmp_path):
    """Such a store ran on its config's weights, without a learner: resuming it fills the new
    arrays with exactly that for the ticks it holds, then appends."""
    config = small_config().replace(weights={"trend": 2.0})
    path = str(tmp_path / "store.zarr")
    store = Store.create_or_resume(path, config, REGISTRY.categories)
    store.append(_rows(config, 5, start=100.0))
    del store.group["weights"], store.group["weights_version"]
    assert Store.open(path).recorded_weights() is None
    store = Store.create_or_resume(path, config, REGISTRY.categories)
    rows = _rows(config, 2, start=200.0)
    rows["weights_version"][:] = 7
    store.append(rows)
    weights, versions = Store.open(path).recorded_weights()
    assert weights.shape == (7, len(config.modes), len(REGISTRY.categories))
    trend = REGISTRY.categories.index("trend")
    assert np.all(weights[:5, :, trend] == 2.0) and np.all(np.delete(weights[:5], trend, axis=2) == 1.0)
    assert versions.tolist() == [0] * 5 + [7, 7]


def test_the_cli_refuses_a_mismatched_store_and_a_missing_one(recorded, tmp_path):
    _, store, _ = recorded
    config = tmp_path / "other.toml"
    from bpjax.core.config import DEFAULT_CONFIG_PATH

    config.write_text(DEFAULT_CONFIG_PATH.read_text().replace("tick_seconds = 10 ", "tick_seconds = 5 "))
    result = bpjax(
        "run", "--source", "sim", "--ticks", "1", "--config", str(config), "--record", str(store), "--quiet"
    )
    assert result.returncode == 2 and "recorded with config" in result.stderr
    result = bpjax("replay", str(tmp_path / "nothing.zarr"))
    assert result.returncode == 2 and "no recording at" in result.stderr


def test_a_store_of_another_field_layout_is_refused_with_what_differs(recorded, tmp_path):
    """A store written before a field was added reads as garbage if opened blindly: refused, naming
    the fields that differ."""
    import shutil

    import zarr

    _, store, _ = recorded
    old = tmp_path / "old.zarr"
    shutil.copytree(store, old)
    group = zarr.open_group(str(old), mode="r+")
    group.attrs["fields"] = [name for name in group.attrs["fields"] if name != "liq_short_qty"]
    with pytest.raises(StoreError, match=r"another snapshot field layout .*missing \['liq_short_qty'\]"):
        Store.open(str(old))
    result = bpjax("replay", str(old), "--quiet")
    assert result.returncode == 2 and "record or import it again" in result.stderr


def test_a_damaged_chunk_is_reported_with_its_array_and_ticks(tmp_path):
    config = small_config()
    path = str(tmp_path / "store.zarr")
    store = Store.create_or_resume(path, config, REGISTRY.categories)
    store.append(_rows(config, CHUNK_TICKS + 10, start=0.0))
    chunk = os.path.join(path, "fields", "c", "1", "0", "0")
    with open(chunk, "r+b") as f:
        f.truncate(os.path.getsize(chunk) // 2)
    store = Store.open(path)
    assert store.read("fields", 0, CHUNK_TICKS).shape[0] == CHUNK_TICKS  # the first chunk is intact
    with pytest.raises(StoreError, match=r"array 'fields', ticks 256-266: a chunk is corrupt or truncated"):
        store.read("fields", CHUNK_TICKS)


def _rows(config, count, start):
    s, f, k, m, c = (
        len(config.symbols),
        90,
        len(config.timeframes),
        len(config.modes),
        len(REGISTRY.categories),
    )

    rng = np.random.default_rng(int(start))
    return (
        {
            "time": start + np.arange(count, dtype=np.float64),
            "phase": np.ones(count, np.int8),
            "fields": rng.random((count, s, NUM_FIELDS)).astype(np.float32),
            "valid": rng.random((count, s, NUM_FIELDS)) > 0.5,
            "bar_index": np.zeros((count, k), np.int32),
            "bar_progress": np.ones((count, k), np.float32),
            "clock": np.zeros((count, 4), np.float32),
            "out/bias": np.zeros((count, s, m), np.float32),
            "out/confidence": np.zeros((count, s, m), np.float32),
            "out/categories": np.zeros((count, s, m, c), np.float32),
            "out/status": np.zeros((count, s), np.int32),
            "out/price": np.zeros((count, s), np.float32),
            "weights": np.ones((count, m, c), np.float32),
            "weights_version": np.zeros(count, np.int32),
        }
        if f
        else {}
    )


@pytest.mark.slow
def test_zones_of_a_symbol_from_a_recording_as_json_and_png(recorded, tmp_path):
    import struct
    import zlib

    _, store, _ = recorded
    png = tmp_path / "heat.png"
    result = bpjax("zones", str(store), "--symbol", "ETHUSDT", "--json", "--png", str(png))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    heatmap = report["heatmap"]
    assert len(heatmap["prices"]) == len(heatmap["long"]) == len(heatmap["short"]) > 8
    assert np.all(np.diff(heatmap["prices"]) > 0) and sum(heatmap["long"]) > 0 and sum(heatmap["short"]) > 0
    assert report["zones"] and {"low", "high", "side", "strength", "kind"} <= set(report["zones"][0])
    assert all(z["low"] < z["high"] and z["side"] in ("long", "short") for z in report["zones"])
    assert set(report["exit_targets"]) == {"long", "short"} and -1 <= report["imbalance"] <= 1
    assert len(report["cascade"]["down_long_notional"]) == len(report["cascade"]["moves"])
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert height == 240 and width > 100
    idat = data[data.index(b"IDAT") + 4 : data.index(b"IEND") - 8]
    assert len(zlib.decompress(idat)) == height * (1 + 3 * width)
    # an earlier --at reads an earlier tick; a symbol not in the store is refused
    early = bpjax("zones", str(store), "--symbol", "ETHUSDT", "--json", "--at", "2026-01-04T12:00:00Z")
    assert early.returncode == 0, early.stderr
    assert json.loads(early.stdout)["time"] < report["time"]
    missing = bpjax("zones", str(store), "--symbol", "WIFUSDT")
    assert missing.returncode == 2 and "has no symbol WIFUSDT" in missing.stderr
