"""Every window feature the engine streams, against a direct float64 computation on the bars."""

from __future__ import annotations

import numpy as np
import pytest

from bpjax.streams import SERIES
from bpjax.windows import FIELD_INDEX


def _features(engine):
    return engine.windows.features


def test_every_window_feature_matches_a_direct_computation(engine, live_scenario):
    windows = engine.windows
    failures = []
    for point, checkpoint in live_scenario.checkpoints.items():
        got_value = np.asarray(checkpoint.output["metrics"]["windows"].value)
        got_count = np.asarray(checkpoint.output["metrics"]["windows"].count)
        for mode in range(len(live_scenario.config.modes)):
            for tf in range(len(live_scenario.config.timeframes)):
                s = live_scenario.slice(point, mode, tf)
                for k, w in enumerate(windows.features):
                    if w.op == "lag":
                        expected, ok = s.lag_value(w.series, w.lookback)
                        expected_count = ok.astype(float)
                    else:
                        expected, expected_count = s.window(w.op, w.series, w.lookback, w.offset)
                    value, count = got_value[mode, k, tf, :], got_count[mode, k, tf, :]
                    scale = max(float(np.max(np.abs(expected))), 1e-12)
                    # log_close carries float32 rounding of a log level (~1e-6): slopes of it
                    # are good to ~1e-7 per bar, far below anything a card reads
                    floor = 2e-7 if w.series == "log_close" else 0.0
                    if not np.allclose(count, expected_count):
                        failures.append(
                            f"{w} count checkpoint {point} mode {mode} tf {tf}: {count} vs {expected_count}"
                        )
                    elif not np.allclose(value, expected, rtol=1e-4, atol=max(1e-5 * scale, floor)):
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
    from bpjax.windows import Window

    if series in SERIES:
        with pytest.raises(ValueError, match="open bar"):
            Window("lag", series, 3)
    else:
        assert Window("lag", series, 3).series in FIELD_INDEX
