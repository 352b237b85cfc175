"""Ring buffers: ticks fold into the open bar of every timeframe, bars close on their boundaries."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from bpjax.core.fields import AGGREGATION_CODES, FIELD_INDEX, NUM_FIELDS
from bpjax.tick import ring as ring_buffers


def _ring_by_age(ring, tf: int, lag: int):
    bar_index = int(ring.last_bar[tf])
    symbols = ring.bars.shape[-1]
    values = np.zeros((lag, symbols, NUM_FIELDS))
    valid = np.zeros((lag, symbols, NUM_FIELDS), bool)
    for age in range(lag):
        slot = (bar_index - age) % lag
        if ring.slot_bar[tf, slot] == bar_index - age:
            values[age], valid[age] = ring.bars[tf, slot].T, ring.valid[tf, slot].T
    return values, valid


def test_ring_holds_exactly_the_reference_bars_at_every_checkpoint(engine, live_scenario):
    for point, checkpoint in live_scenario.checkpoints.items():
        for tf in range(len(live_scenario.config.timeframes)):
            got, got_valid = _ring_by_age(checkpoint.ring, tf, engine.lag)
            expected, expected_valid = checkpoint.bars[tf].by_age(engine.lag)
            np.testing.assert_array_equal(
                got_valid, expected_valid, err_msg=f"valid checkpoint {point} tf {tf}"
            )
            np.testing.assert_allclose(
                np.where(got_valid, got, 0.0),
                np.where(expected_valid, expected, 0.0),
                rtol=1e-6,
                err_msg=f"values checkpoint {point} tf {tf}",
            )


def test_bars_close_on_their_boundaries(live_scenario):
    """A tick (t - 10 s, t] belongs to the bar holding its start: the tick ending 01:00:00 still
    closes the 00:00 hour, the one ending 01:00:10 opens the next."""
    tick = live_scenario.config.engine.tick_seconds
    seen_hour_close = False
    for checkpoint in live_scenario.checkpoints.values():
        for tf, timeframe in enumerate(live_scenario.config.timeframes):
            assert int(checkpoint.ring.last_bar[tf]) == int((checkpoint.time - tick) // timeframe.seconds)
        seen_hour_close |= checkpoint.time % 3600 == 0
    assert seen_hour_close


def test_fold_follows_each_fields_aggregation_rule():
    rng = np.random.default_rng(0)
    bar, tick = rng.normal(size=(2, NUM_FIELDS, 4)).astype(np.float32)
    bar_valid, tick_valid = rng.random((2, NUM_FIELDS, 4)) < 0.7
    out, out_valid = ring_buffers.fold(
        jnp.asarray(bar), jnp.asarray(bar_valid), jnp.asarray(tick), jnp.asarray(tick_valid)
    )
    out = np.asarray(out)
    for f in range(NUM_FIELDS):
        code = AGGREGATION_CODES[f]
        for s in range(4):
            b, bv, t, tv = bar[f, s], bar_valid[f, s], tick[f, s], tick_valid[f, s]
            expected = {
                0: b if bv else t,  # first
                1: t if tv else b,  # last
                2: max(b, t) if bv and tv else (t if tv else b),
                3: min(b, t) if bv and tv else (t if tv else b),
                4: (b if bv else 0.0) + (t if tv else 0.0),
            }[code]
            assert out[f, s] == np.float32(expected), (f, s)
    np.testing.assert_array_equal(np.asarray(out_valid), bar_valid | tick_valid)


def test_a_gap_never_reads_a_stale_slot_as_recent_history():
    ring = ring_buffers.init_ring(1, 2, 8, NUM_FIELDS)
    tick = jnp.ones((NUM_FIELDS, 2), jnp.float32)
    valid = jnp.ones((NUM_FIELDS, 2), bool)
    for b in range(5):
        ring = ring_buffers.advance(ring, tick * (b + 1), valid, jnp.array([b], jnp.int32)).ring
    step = ring_buffers.advance(
        ring, tick * 99, valid, jnp.array([13], jnp.int32)
    )  # 8 bars later: every slot is old
    assert not bool(step.previous.valid.any())
    assert int(step.ring.last_bar[0]) == 13
    close = FIELD_INDEX["close"]
    assert float(step.open_bar.values[0, close, 0]) == 99.0
