"""The command line, end to end in subprocesses, as a user runs it."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest

from bpjax.cards import REGISTRY
from bpjax.core.defines import CATEGORIES, STATES, STATUS_BITS


def bpjax(*args, timeout=900):
    return subprocess.run(
        [sys.executable, "-m", "bpjax", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def sixty_ticks(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "out.jsonl"
    result = bpjax("run", "--source", "sim", "--ticks", "60", "--jsonl", str(path), "--with-cards")
    assert result.returncode == 0, result.stderr
    return result, [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_run_publishes_every_mode_on_its_cadence(sixty_ticks, default_config):
    _, records = sixty_ticks
    by_mode = {m: [r for r in records if r["mode"] == m] for m in default_config.mode_names}
    # 60 ticks of 10 s from 00:00:00: scalp every 30 s, day every 60 s, swing every 300 s
    assert [len(by_mode[m]) for m in ("scalp", "day", "swing")] == [20, 10, 2]
    times = [dt.datetime.fromisoformat(r["time"].replace("Z", "+00:00")) for r in by_mode["day"]]
    assert all(t.tzinfo is not None and t.second == 0 for t in times)
    assert times == sorted(times)


@pytest.mark.slow
def test_every_record_is_well_formed_and_in_range(sixty_ticks, default_config):
    _, records = sixty_ticks
    for record in records:
        assert {"time", "mode", "symbols"} <= set(record)
        assert record["time"].endswith("Z")
        assert set(record["symbols"]) == set(default_config.symbols)
        for entry in record["symbols"].values():
            assert -100.0 <= entry["bias"] <= 100.0
            assert 0.0 <= entry["confidence"] <= 100.0
            assert isinstance(entry["conflicted"], bool)
            assert entry["state"] in STATES
            assert entry["price"] > 0
            assert set(entry["categories"]) == set(REGISTRY.categories)
            assert all(-100.0 <= v <= 100.0 for v in entry["categories"].values())
            assert set(entry["flags"]) <= set(STATUS_BITS)
            assert set(entry["cards"]) == set(REGISTRY.names)
            for direction, strength, confidence in entry["cards"].values():
                assert -1 <= direction <= 1 and 0 <= strength <= 1 and 0 <= confidence <= 1
    biases = [e["bias"] for r in records for e in r["symbols"].values()]
    assert len(set(biases)) > 20  # a live market, not constants


@pytest.mark.slow
def test_run_reports_a_summary_and_a_table(sixty_ticks):
    result, _ = sixty_ticks
    summary = json.loads(result.stderr.strip().splitlines()[-1])["summary"]
    assert summary["ticks"] == 60 and summary["published"] == 32
    assert "BTCUSDT" in result.stdout and "bias" in result.stdout


def test_cards_json_lists_the_registry():
    result = bpjax("cards", "--json")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert listing["count"] == len(REGISTRY) == len(listing["cards"]) == 173
    assert listing["categories"] == list(CATEGORIES)  # all 25, none empty
    assert {card["category"] for card in listing["cards"]} == set(CATEGORIES)
    for card in listing["cards"]:
        assert {"name", "category", "lookback", "inputs", "description"} <= set(card)
        assert card["description"] and card["inputs"]


@pytest.mark.slow
def test_bench_json_has_results_and_baselines():
    result = bpjax("bench", "--json", "--symbols", "6", "--ticks", "20", "--baseline-seconds", "0.2")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    (row,) = report["results"]
    assert row["symbols"] == 6 and row["compilations"] == 1
    assert {"compile_s", "tick_p50_ms", "tick_p99_ms"} <= set(row)
    assert row["zone_step_p50_ms"] > 0 and row["zone_read_p50_ms"] > 0  # the zone engine alone
    assert report["host_heap"] == ("tuned" if sys.platform.startswith("linux") else "system")
    assert {b["name"] for b in report["baselines"]} == {
        "talib-loop",
        "talib-loop-all-modes",
        "numpy-vectorized",
    }


def test_a_bad_config_fails_with_a_clear_message(tmp_path):
    from bpjax.core.config import DEFAULT_CONFIG_PATH

    path = tmp_path / "bad.toml"
    path.write_text(DEFAULT_CONFIG_PATH.read_text().replace("[engine]\n", "[engine]\ntick_secs = 10\n"))
    result = bpjax("run", "--config", str(path), "--ticks", "1")
    assert result.returncode == 2
    assert "unknown key engine.tick_secs" in result.stderr


def test_bad_arguments_are_refused():
    assert bpjax("run", "--ticks", "0").returncode == 2
    assert bpjax("bench", "--symbols", "a,b").returncode == 2


def test_the_card_catalogue_is_generated_and_current():
    from pathlib import Path

    from bpjax.cards.catalogue import markdown

    path = Path(__file__).resolve().parent.parent / "docs" / "cards.md"
    assert path.read_text() == markdown(REGISTRY), (
        "docs/cards.md is stale: run `bpjax cards --markdown > docs/cards.md`"
    )
    for name in REGISTRY.names:
        assert f"### {name}" in path.read_text()


@pytest.mark.slow
def test_the_readme_python_example_runs():
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    (example,) = re.findall(r"```python\n(.*?)```", readme, re.S)
    result = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    (promised,) = re.findall(r"print\(out\.bias\.shape.*#\s*(.*)", example)
    assert result.stdout.strip() == promised.strip()  # the README shows what really prints
    assert promised.endswith(f"(21, 3, {len(REGISTRY.categories)})")


@pytest.mark.slow
def test_run_by_default_goes_through_the_wire_level_simulator(tmp_path):
    """`bpjax run` with no --source: local exchange servers, the real adapters, wall-clock ticks."""
    from bpjax.core.config import DEFAULT_CONFIG_PATH

    config = tmp_path / "fast.toml"
    text = DEFAULT_CONFIG_PATH.read_text().replace("tick_seconds = 10 ", "tick_seconds = 1 ")
    text = text.replace("publish_seconds = 30", "publish_seconds = 2")
    config.write_text(text + "\n[feeds]\nbackfill_bars = 20\n")
    out = tmp_path / "out.jsonl"
    started = dt.datetime.now(dt.UTC)
    result = bpjax("run", "--config", str(config), "--ticks", "6", "--jsonl", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stderr.strip().splitlines()[-1])["summary"]
    assert summary["ticks"] == 6 and 18 <= summary["warmup_ticks"] <= 20
    for venue in ("binance", "bybit", "okx"):
        assert all(summary["feeds"][venue]["connected"]) and summary["feeds"][venue]["frames_parsed"] > 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    modes = [r["mode"] for r in records]
    assert modes.count("scalp") >= 2 and set(modes) <= {"scalp", "day", "swing"}  # scalp every 2 s
    for record in records:  # wall-clock ticks: times are now, a publish cadence apart
        moment = dt.datetime.fromisoformat(record["time"].replace("Z", "+00:00"))
        assert started - dt.timedelta(seconds=5) <= moment <= dt.datetime.now(dt.UTC)
        assert all(s["price"] > 0 for s in record["symbols"].values())
