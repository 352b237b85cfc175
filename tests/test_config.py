"""Configuration: typed, frozen, strict about keys and ranges, with a stable hash."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest

from bpjax.core.config import DEFAULT_CONFIG_PATH, ConfigError, load_config, parse_config


def _default_document() -> dict:
    return tomllib.loads(DEFAULT_CONFIG_PATH.read_text())


def test_default_config_has_21_symbols_three_modes_three_timeframes(default_config):
    assert len(default_config.symbols) == 21
    assert default_config.mode_names == ("scalp", "day", "swing")
    assert [m.publish_seconds for m in default_config.modes] == [30, 60, 300]
    assert default_config.timeframe_names == ("1m", "5m", "1h")
    assert [tf.seconds for tf in default_config.timeframes] == [60, 300, 3600]
    assert default_config.engine.tick_seconds == 10


def test_config_objects_are_frozen(default_config):
    with pytest.raises(dataclasses.FrozenInstanceError):
        default_config.engine.tick_seconds = 1  # type: ignore[misc]


def test_hash_is_stable_across_loads_and_formatting(tmp_path, default_config):
    text = DEFAULT_CONFIG_PATH.read_text()
    reformatted = tmp_path / "same.toml"
    reformatted.write_text("# a comment\n\n" + text.replace(" = ", "   =   "))
    assert load_config(reformatted).hash() == default_config.hash() == load_config().hash()


def test_hash_changes_with_any_number_but_not_with_where_it_runs(default_config):
    assert default_config.replace(engine={"tick_seconds": 5}).hash() != default_config.hash()
    assert default_config.replace(aggregation={"neutral_band": 16.0}).hash() != default_config.hash()
    assert (
        default_config.replace(engine={"platform": "cpu", "compilation_cache": ""}).hash()
        == default_config.hash()
    )


def test_to_dict_round_trips(default_config):
    again = parse_config(default_config.to_dict())
    assert again == default_config


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["engine"].update(tick_secs=10), "unknown key engine.tick_secs"),
        (lambda d: d.update(engines={}), "unknown key engines at the top level"),
        (lambda d: d["modes"]["day"].update(speed=2), "unknown key modes.day.speed"),
        (lambda d: d["engine"]["stale_seconds"].update(trade=5), "unknown key engine.stale_seconds.trade"),
        (lambda d: d["weights"].update(momentum=1.0), "unknown key weights.momentum"),
    ],
)
def test_unknown_keys_are_refused_with_their_path(edit, message):
    document = _default_document()
    edit(document)
    with pytest.raises(ConfigError, match=message):
        parse_config(document)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["engine"].update(tick_seconds=0),
            r"engine.tick_seconds must be an integer in \[1, 3600\], was 0",
        ),
        (lambda d: d["engine"].update(tick_seconds=2.5), r"engine.tick_seconds must be an integer"),
        (
            lambda d: d["engine"].update(platform="tpu9"),
            r"engine.platform must be one of 'auto', 'cpu', 'gpu', 'tpu'",
        ),
        (
            lambda d: d["modes"]["day"].update(lookback_scale=9.0),
            r"modes.day.lookback_scale must be a number in \[0.25, 4\]",
        ),
        (
            lambda d: d["modes"]["day"].update(lookback_scale="1"),
            r"modes.day.lookback_scale must be a number",
        ),
        (
            lambda d: d["aggregation"].update(neutral_band=float("nan")),
            "aggregation.neutral_band must be a finite number",
        ),
        (lambda d: d["modes"]["day"].update(timeframe_weights=[1.0, 1.0]), "one weight per timeframe"),
        (lambda d: d["modes"]["day"].update(publish_seconds=45), "multiple of engine.tick_seconds"),
        (lambda d: d["timeframes"][0].update(seconds=65), r"timeframes\[0\].seconds must be a multiple"),
        (lambda d: d["universe"].update(symbols=["BTCUSDT", "BTCUSDT"]), "lists 'BTCUSDT' more than once"),
        (
            lambda d: d["universe"].update(symbols=["btc-usdt"]),
            r"universe.symbols\[0\] must be an upper-case USDT perpetual",
        ),
        (
            lambda d: d["universe"].update(benchmark="XYZUSDT"),
            "universe.benchmark must be one of universe.symbols",
        ),
        (lambda d: d["universe"].update(primary_venue="kraken"), "universe.primary_venue must be one of"),
        (lambda d: d["simulator"].update(start="yesterday"), "simulator.start must be an ISO 8601 time"),
        (lambda d: d.pop("modes"), r"missing required table \[modes\]"),
        (lambda d: d["universe"].pop("symbols"), "missing required key universe.symbols"),
        (
            lambda d: d["weights"].update(volatility=1000.0),
            r"weights.volatility must be a number in \[-100, 100\]",
        ),
    ],
)
def test_bad_values_are_refused_naming_the_key_and_the_range(edit, message):
    document = _default_document()
    edit(document)
    with pytest.raises(ConfigError, match=message):
        parse_config(document)


def test_invalid_toml_and_missing_files_are_clear(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[engine\ntick_seconds = 10")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(broken)
    with pytest.raises(ConfigError, match="was not found"):
        load_config(tmp_path / "missing.toml")


def test_with_symbols_builds_a_valid_universe(default_config):
    config = default_config.with_symbols(("ETHUSDT", "SOLUSDT"))
    assert config.symbols == ("ETHUSDT", "SOLUSDT")
    assert config.universe.benchmark == "ETHUSDT"
