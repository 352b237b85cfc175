"""The registry-wide contract: shapes, ranges, finite outputs on garbage, jit == no-jit,
one compilation, traced parameters."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from bpjax.cards import REGISTRY
from bpjax.core.defines import STATES, STATUS_NONFINITE_INPUT
from bpjax.ingest.snapshot import tick_timing
from bpjax.tick.compilations import assert_no_compilation, counting
from tests.harness import Scenario

SHAPES = {
    "bias": ("sym", "mode"),
    "confidence": ("sym", "mode"),
    "conflicted": ("sym", "mode"),
    "state": ("sym", "mode"),
    "transition": ("sym", "mode"),
    "deceleration": ("sym", "mode"),
    "exhaustion": ("sym", "mode"),
    "agreement": ("sym", "mode"),
    "category_scores": ("sym", "mode", "cat"),
    "timeframe_bias": ("sym", "mode", "tf"),
    "size": ("sym", "mode"),
    "stop": ("sym", "mode"),
    "price": ("sym",),
    "status": ("sym",),
    "card_direction": ("sym", "mode", "card"),
    "card_strength": ("sym", "mode", "card"),
    "card_confidence": ("sym", "mode", "card"),
}


def check_output(engine, output) -> None:
    """Shapes, dtypes, finiteness and ranges of one TickOutput."""
    for name, axes in SHAPES.items():
        value = np.asarray(getattr(output, name))
        assert value.shape == tuple(engine.shape[a] for a in axes), name
        if value.dtype.kind == "f":
            assert value.dtype == np.float32 and np.isfinite(value).all(), name
    assert np.abs(np.asarray(output.bias)).max() <= 100.0
    confidence = np.asarray(output.confidence)
    assert confidence.min() >= 0.0 and confidence.max() <= 100.0
    assert set(np.unique(np.asarray(output.state))) <= set(range(len(STATES)))
    assert np.abs(np.asarray(output.category_scores)).max() <= 100.0
    assert np.abs(np.asarray(output.size)).max() <= engine.config.aggregation.max_position + 1e-6
    assert np.asarray(output.stop).min() >= 0.0
    cards = output.metrics["cards"]
    for part, low, high in (
        (cards.direction, -1, 1),
        (cards.strength, 0, 1),
        (cards.confidence, 0, 1),
        (cards.quality, 0, 1),
    ):
        part = np.asarray(part)
        assert part.shape == (
            engine.shape["card"],
            engine.shape["mode"],
            engine.shape["tf"],
            engine.shape["sym"],
        )
        assert np.isfinite(part).all() and part.min() >= low and part.max() <= high
    assert np.isfinite(np.asarray(cards.value)).all()


def test_outputs_have_their_shapes_and_ranges_on_a_live_market(engine, live_scenario):
    for checkpoint in live_scenario.checkpoints.values():
        output = jax.tree_util.tree_map(np.asarray, checkpoint.output)
        check_output(engine, type("Output", (), output)())


GARBAGE = (np.nan, np.inf, -np.inf, 1e30, -1e30, 0.0, -5.0, 3.4e38)


def test_garbage_inputs_give_finite_in_range_outputs_and_flags(engine, config):
    rng = np.random.default_rng(4)
    scenario = Scenario.run(engine, ticks=30, seed=2, warmup=False)
    state = engine.init()
    for snapshot in scenario.snapshots:
        fields = snapshot.fields.copy()
        poison = rng.random(fields.shape) < 0.3
        fields[poison] = rng.choice(GARBAGE, poison.sum())
        valid = snapshot.valid | (rng.random(fields.shape) < 0.2)
        state, output = engine.step(state, snapshot._replace(fields=fields.astype(np.float32), valid=valid))
        check_output(engine, output)
    assert (np.asarray(output.status) & STATUS_NONFINITE_INPUT).any()


def test_the_tick_compiles_once_and_refuses_other_shapes(engine, live_scenario):
    state = engine.init()
    snapshots = live_scenario.snapshots[-2:]

    def two_ticks():
        nonlocal state
        for snapshot in snapshots:
            state, output = engine.step(state, snapshot)
        jax.block_until_ready(output)

    assert_no_compilation(two_ticks, "two ticks")
    with pytest.raises(TypeError):
        engine.step(state, np.zeros(engine.layout.size + 1, np.float32))


def test_the_recompilation_guard_fails_when_the_tick_is_recompiled(engine, live_scenario):
    """The guard counts XLA's own compile events: dropping the compiled tick (as a bug that
    rebuilt it every tick would) makes it fail. The rebuilt program comes from the on-disk
    compilation cache, and still counts."""
    state = engine.init()
    snapshot = live_scenario.snapshots[-1]

    def recompiled_tick():
        nonlocal state
        jax.clear_caches()  # deliberately: forget the tick, so that the next step compiles it
        engine._programs.pop("tick")
        state, output = engine.step(state, snapshot)
        jax.block_until_ready(output)

    with pytest.raises(AssertionError, match="compiled 1 program"):
        assert_no_compilation(recompiled_tick, "a recompiling tick")
    with counting() as compiled:  # a jitted call outside the engine's own programs counts too
        jax.jit(lambda x: x * 3.0 + 1.0)(np.arange(7, dtype=np.float32))
    assert compiled.total == 1


def test_changing_weights_or_scales_changes_outputs_without_recompiling(engine, live_scenario):
    snapshots = live_scenario.snapshots[-30:]

    def run(params):
        state = engine.init()
        for snapshot in snapshots:
            state, output = engine.step(state, snapshot, params)
        return np.asarray(output.bias)

    base = run(engine.params)
    weights = np.asarray(engine.params.category_weights).copy()
    weights[:, 0] *= 4.0
    heavier = engine.params.with_category_weights(weights)
    longer = engine.params._replace(lookback_scale=engine.params.lookback_scale * 1.5)
    reweighted = rescaled = None

    def other_numbers():
        nonlocal reweighted, rescaled
        reweighted, rescaled = run(heavier), run(longer)

    assert_no_compilation(other_numbers, "new weights and scales")
    assert not np.allclose(base, reweighted) and not np.allclose(base, rescaled)
    with pytest.raises(ValueError, match="category weights must have shape"):
        engine.params.with_category_weights(np.ones(3))


@pytest.mark.slow
def test_jit_and_no_jit_agree(engine, live_scenario):
    snapshots = live_scenario.snapshots[-3:]
    jitted, eager = engine.init(), engine.init()
    for snapshot in snapshots:
        jitted, out_jit = engine.step(jitted, snapshot)
        eager, out_eager = engine.step_uncompiled(eager, snapshot)
    for name in (
        "bias",
        "confidence",
        "category_scores",
        "card_direction",
        "card_confidence",
        "size",
        "stop",
    ):
        np.testing.assert_allclose(
            np.asarray(getattr(out_jit, name)),
            np.asarray(getattr(out_eager, name)),
            rtol=1e-4,
            atol=1e-4,
            err_msg=name,
        )
    np.testing.assert_array_equal(np.asarray(out_jit.state), np.asarray(out_eager.state))


def test_a_card_that_produces_nan_is_neutralized_and_flagged(config):
    """A registry with a deliberately broken card: the tick stays finite and says which symbol."""
    import jax.numpy as jnp

    from bpjax.cards.base import output
    from bpjax.cards.registry import Registry, card
    from bpjax.tick.engine import Engine

    registry = REGISTRY.subset(["roc", "rsi"])

    @card("broken", "volatility", lookback=1, inputs=("close",), registry=registry)
    def broken(x):
        """Always NaN."""
        return output(jnp.nan, jnp.inf, 1.0, jnp.nan)

    engine = Engine(config, registry)
    state = engine.init()
    t = config.start_time().timestamp()
    scenario = Scenario.run(engine, ticks=3, warmup=False)
    for snapshot in scenario.snapshots:
        state, out = engine.step(state, snapshot)
    assert np.isfinite(np.asarray(out.bias)).all()
    assert int(out.metrics["nonfinite_cards"]) > 0
    assert isinstance(registry, Registry) and tick_timing(config, t)[0].shape == (3,)
