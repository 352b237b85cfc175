"""Every window feature the engine streams, against a direct float64 computation on the bars."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from bpjax.features.series import SERIES
from bpjax.features.windows import FIELD_INDEX


def _features(engine):
    return engine.windows.features


def _perturbed(s, rng):
    """The same slice with every bar field moved by a few float32 roundings (relative 2^-21)."""
    other = copy.copy(s)
    other.rows = s.rows * (1.0 + rng.uniform(-1.0, 1.0, s.rows.shape) * 2.0**-21)
    return other


def test_every_window_feature_matches_a_direct_computation(engine, live_scenario):
    """Within the problem's float32 conditioning: a feature is allowed the error it shows when
    its inputs move by a few float32 roundings (e.g. volume x log(close / vwap) of a tiny
    close-vwap gap, or the mean deviation of a price quoted at 60,000), never less precise
    than 1e-4 relative for well-conditioned features."""
    windows = engine.windows
    rng = np.random.default_rng(7)
    failures = []
    for point, checkpoint in live_scenario.checkpoints.items():
        got_value = np.asarray(checkpoint.output["metrics"]["windows"].value)
        got_count = np.asarray(checkpoint.output["metrics"]["windows"].count)
        for mode in range(len(live_scenario.config.modes)):
            for tf in range(len(live_scenario.config.timeframes)):
                s = live_scenario.slice(point, mode, tf)
                shaken = _perturbed(s, rng)
                for k, w in enumerate(windows.features):
                    if w.op == "lag":
                        expected, ok = s.lag_value(w.series, w.lookback)
                        expected_count = ok.astype(float)
                        nearby = shaken.lag_value(w.series, w.lookback)[0]
                    else:
                        expected, expected_count = s.window(w.op, w.series, w.lookback, w.offset)
                        nearby = shaken.window(w.op, w.series, w.lookback, w.offset)[0]
                    value, count = got_value[mode, k, tf, :], got_count[mode, k, tf, :]
                    scale = max(float(np.max(np.abs(expected))), 1e-12)
                    conditioning = 2.0 * np.abs(nearby - expected)
                    # log_close also carries the float32 rounding of the log itself (~1e-6 on
                    # a level near 11): slopes of it are good to ~1e-7 per bar
                    floor = 2e-7 if w.series == "log_close" else 0.0
                    if not np.allclose(count, expected_count):
                        failures.append(
                            f"{w} count checkpoint {point} mode {mode} tf {tf}: {count} vs {expected_count}"
                        )
                    elif not np.all(
                        np.abs(value - expected)
                        <= np.maximum(1e-4 * np.abs(expected) + max(1e-5 * scale, floor), conditioning)
                    ):
                        failures.append(
                            f"{w} value checkpoint {point} mode {mode} tf {tf}: {value} vs {expected}"
                        )
    assert not failures, f"{len(failures)} mismatches, first: " + "\n".join(failures[:5])


def test_window_cache_is_only_rebuilt_when_a_bar_closes(engine, config):
    """Between bar closes the cached prefix statistics of closed bars must not change."""
    import jax

    from tests.harness import Scenario

    scenario = Scenario.run(engine, ticks=4, seed=11, warmup=False, checkpoints=())
    state = engine.init()
    caches = []
    for snapshot in scenario.snapshots:
        state, output = engine.step(state, snapshot)
        caches.append(
            (np.asarray(jax.device_get(state.windows.prefix)), np.asarray(output.metrics["new_bar"]))
        )
    for (before, _), (after, new_bar) in zip(caches, caches[1:], strict=False):
        for tf in range(len(config.timeframes)):
            if not new_bar[tf]:
                np.testing.assert_array_equal(after[tf], before[tf])


@pytest.mark.parametrize("series", ["close", "typical_price"])
def test_a_derived_series_lag_is_only_allowed_at_the_open_bar(series):
    from bpjax.features.windows import Window

    if series in SERIES:
        with pytest.raises(ValueError, match="open bar"):
            Window("lag", series, 3)
    else:
        assert Window("lag", series, 3).series in FIELD_INDEX


def test_advancing_the_cache_bar_by_bar_agrees_with_rebuilding_it(engine, config):
    """After more contiguous closes than the ring holds (every column fully re-derived by
    advances), features read from the advanced cache equal those of a cache rebuilt from the
    ring on the same tick, to float32 rounding."""
    import jax
    import jax.numpy as jnp

    from tests.harness import Scenario

    minutes = engine.lag + 20
    scenario = Scenario.run(engine, ticks=minutes + 1, seed=13, step=60, warmup=False, checkpoints=())
    state = engine.init()
    for snapshot in scenario.snapshots[:-1]:
        state, _ = engine.step(state, snapshot)
    rebuilt = state._replace(
        windows=state.windows._replace(bar=state.windows.bar.at[0].set(np.iinfo(np.int32).min))
    )
    rebuilt = jax.tree_util.tree_map(jnp.copy, rebuilt)
    advanced, out_advanced = engine.step(state, scenario.snapshots[-1])
    rebuilt, out_rebuilt = engine.step(rebuilt, scenario.snapshots[-1])
    assert bool(np.asarray(out_advanced.metrics["new_bar"])[0])  # a 1 m bar closed: advanced vs rebuilt
    np.testing.assert_array_equal(np.asarray(advanced.windows.bar), np.asarray(rebuilt.windows.bar))
    a = np.asarray(out_advanced.metrics["windows"].value, np.float64)
    b = np.asarray(out_rebuilt.metrics["windows"].value, np.float64)
    np.testing.assert_array_equal(
        np.asarray(out_advanced.metrics["windows"].count), np.asarray(out_rebuilt.metrics["windows"].count)
    )
    tf = 0  # the 1 m timeframe advanced on every tick
    failures = []
    for k, w in enumerate(engine.windows.features):
        x, y = a[:, k, tf], b[:, k, tf]
        scale = max(float(np.max(np.abs(y))), 1e-12)
        if not np.all(np.abs(x - y) <= 1e-4 * np.abs(y) + 1e-5 * scale):
            failures.append(f"{w}: advanced {x.ravel()[:4]} rebuilt {y.ravel()[:4]}")
    assert not failures, f"{len(failures)} features differ, first: " + "\n".join(failures[:5])
