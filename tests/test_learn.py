"""Learning the category weights (``bpjax.learn.offline``): planted signals are found, noise is not
claimed, gradients stay finite on masked data, targets never look ahead, metrics and baselines
by hand, walk-forward folds, weights files, and ``bpjax train`` / ``evaluate`` end to end on an
imported store."""

from __future__ import annotations

import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bpjax.cards import REGISTRY
from bpjax.core.config import DEFAULT_CONFIG_PATH, LearningConfig, load_config
from bpjax.learn.offline import (
    History,
    LearnError,
    Rows,
    _ranks,
    bias,
    fit,
    folds,
    load_weights,
    loss,
    metrics,
    normalized_forward_returns,
    ridge,
    save_weights,
    walk_forward,
)

CATEGORIES = REGISTRY.categories
K = len(CATEGORIES)


def synthetic_history(ticks=2400, symbols=6, planted="order_flow", beta=0.3, seed=0) -> History:
    """Category scores that wander (AR(1), squashed to [-1, 1]) with random confidences; the next
    tick's return is ``beta`` x the planted category's score x sigma plus noise of sigma (no
    planted category: pure noise). One mode whose horizon is one tick."""
    rng = np.random.default_rng(seed)
    walk = np.zeros((ticks, symbols, K))
    shocks = rng.normal(size=(ticks, symbols, K))
    for t in range(1, ticks):
        walk[t] = 0.8 * walk[t - 1] + 0.6 * shocks[t]
    scores = np.tanh(walk)
    confidence = rng.uniform(0.5, 1.0, size=(ticks, symbols, K)) * 3.0
    sigma = 0.002
    returns = rng.normal(size=(ticks, symbols)) * sigma
    if planted:
        returns[1:] += beta * scores[:-1, :, CATEGORIES.index(planted)] * sigma
    price = 100.0 * np.exp(np.cumsum(returns, axis=0))
    return History(
        time=1.7e9 + 60.0 * np.arange(ticks),
        price=price,
        funding=np.zeros((ticks, symbols)),
        usable=np.ones((ticks, symbols), bool),
        bias=np.zeros((ticks, symbols, 1), np.float32),
        signal=(scores * confidence)[:, :, None].astype(np.float32),
        confidence=confidence[:, :, None].astype(np.float32),
        tick_seconds=60.0,
        symbols=tuple(f"S{i}USDT" for i in range(symbols)),
        modes=("day",),
        horizons=(60.0,),
        categories=CATEGORIES,
        config_hash="synthetic",
    )


LEARNING = LearningConfig(volatility_halflife_hours=2.0, folds=3, steps=200)


def test_a_planted_category_is_recovered_and_beats_equal_weights_out_of_sample():
    report = walk_forward(synthetic_history(), "day", LEARNING).report()
    weights = report["weights"]
    ranked = sorted(weights, key=weights.get, reverse=True)
    assert ranked[0] == "order_flow"
    assert weights["order_flow"] > 3 * weights[ranked[1]]
    paths = np.array([report["categories"][c]["fold_weights"] for c in CATEGORIES])  # (cat, fold)
    assert paths.shape == (K, 3)
    assert np.all(np.argmax(paths, axis=0) == CATEGORIES.index("order_flow"))  # in every fold
    test, equal = report["test"], report["baselines"]["equal_weights"]
    assert test["ic"] > 0.1 and test["ic"] > 2 * equal["ic"]
    assert test["rank_ic"] > equal["rank_ic"] and test["hit_rate"] > equal["hit_rate"]
    assert report["beats_equal_weights"] is True
    assert report["categories"]["order_flow"]["test_ic"] > 0.1  # the category alone carries it
    # the ridge fit on the same 25 scores finds it too; the momentum category alone does not
    assert report["baselines"]["ridge"]["ic"] > 0.1
    assert abs(report["baselines"]["momentum"]["ic"]) < 0.05
    for fold in report["folds"]:
        assert fold["test_metrics"]["ic"] > fold["equal_weights_metrics"]["ic"]


@pytest.mark.parametrize("seed", [1, 2])
def test_pure_noise_claims_no_skill(seed):
    """Returns independent of every category: the out-of-sample IC is within three standard errors
    of zero (one-tick horizon, so the samples do not overlap), though the fit finds some in-sample."""
    report = walk_forward(synthetic_history(planted=None, seed=seed), "day", LEARNING).report()
    test = report["test"]
    spread = 1.0 / math.sqrt(test["samples"])
    assert abs(test["ic"]) < 3 * spread, (test["ic"], spread)
    assert abs(test["hit_rate"] - 0.5) < 3 * 0.5 * spread  # three standard errors of a fair coin
    assert report["train"]["ic"] > test["ic"]  # in-sample skill is what fitting noise looks like


def test_gradients_are_finite_with_nan_masked_inputs():
    rng = np.random.default_rng(4)
    n = 400
    signal = rng.normal(size=(n, K)).astype(np.float32)
    confidence = np.abs(rng.normal(size=(n, K))).astype(np.float32) + 0.1
    z = rng.normal(size=n).astype(np.float32)
    mask = np.ones(n, np.float32)
    masked = rng.random(n) < 0.3
    signal[masked] = np.nan  # a masked row may hold anything
    confidence[masked] = np.inf
    z[masked] = np.nan
    mask[masked] = 0.0
    confidence[~masked, 3] = 0.0  # a category with no confidence anywhere
    signal[~masked, 3] = 0.0
    z[~masked & (rng.random(n) < 0.1)] = np.nan  # unknown targets are masked too
    mask[np.isnan(z)] = 0.0
    for weights in (np.ones(K), np.zeros(K), np.r_[np.zeros(K - 1), 2.0]):
        value, grad = jax.value_and_grad(loss)(
            jnp.asarray(weights, jnp.float32), signal, confidence, z, mask, 0.1
        )
        assert np.isfinite(value) and np.all(np.isfinite(np.asarray(grad)))
    nothing = np.zeros(n, np.float32)  # every row masked: a finite loss and a zero gradient from the data
    value, grad = jax.value_and_grad(loss)(jnp.ones(K, jnp.float32), signal, confidence, z, nothing, 0.0)
    assert np.isfinite(value) and np.all(np.asarray(grad) == 0.0)
    weights, curve = fit(Rows(signal, confidence, z, mask), LearningConfig(steps=20))
    assert np.all(np.isfinite(weights)) and np.all(np.isfinite(curve["loss"]))
    assert np.all((weights >= 0.0) & (weights <= 4.0))


def test_the_bias_is_the_ticks_composite():
    """bias(w, S, C) is 100 x sum w S / sum |w| C, clipped (the aggregation's composite_bias)."""
    rng = np.random.default_rng(5)
    confidence = rng.uniform(0.0, 2.0, size=(7, K))
    signal = confidence * rng.uniform(-1.0, 1.0, size=(7, K))
    weights = rng.uniform(0.0, 3.0, size=K)
    expected = (signal @ weights) / (confidence @ np.abs(weights))
    got = np.asarray(
        bias(
            jnp.asarray(weights, jnp.float32),
            jnp.asarray(signal, jnp.float32),
            jnp.asarray(confidence, jnp.float32),
        )
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # scale invariance: what the l2 penalty pins down
    doubled = bias(
        jnp.asarray(2 * weights, jnp.float32),
        jnp.asarray(signal, jnp.float32),
        jnp.asarray(confidence, jnp.float32),
    )
    np.testing.assert_allclose(np.asarray(doubled), got, rtol=1e-5, atol=1e-6)


def test_targets_by_hand_and_without_look_ahead():
    # a steady 1 % per tick: sigma = 1 %, so z = h x 1 % / (1 % x sqrt h) = sqrt(h) once warm
    ticks, h = 40, 4
    price = 100.0 * np.exp(0.01 * np.arange(ticks))[:, None]
    usable = np.ones((ticks, 1), bool)
    z, step = normalized_forward_returns(price, usable, h, halflife_ticks=3.0, clip=5.0)
    np.testing.assert_allclose(step[:-1, 0], 0.01)
    assert np.isnan(step[-1, 0]) and np.all(np.isnan(z[-h:, 0]))  # the future is unknown at the end
    assert np.isnan(z[0, 0])  # no return seen yet: no volatility to normalize by
    warm = np.flatnonzero(np.isfinite(z[:, 0]))
    assert warm[0] <= 4
    np.testing.assert_allclose(z[warm, 0], 2.0, rtol=1e-9)
    # clipped
    z_clipped, _ = normalized_forward_returns(price, usable, h, 3.0, clip=1.5)
    assert np.nanmax(z_clipped) == 1.5
    # no look-ahead: prices after t + h never change z[t]; the price at t + h does
    rng = np.random.default_rng(0)
    noisy = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, size=(ticks, 3)), axis=0))
    base, _ = normalized_forward_returns(noisy, np.ones((ticks, 3), bool), h, 3.0, 5.0)
    t0 = 20
    changed = noisy.copy()
    changed[t0 + h + 1 :] *= 1.3
    after, _ = normalized_forward_returns(changed, np.ones((ticks, 3), bool), h, 3.0, 5.0)
    np.testing.assert_array_equal(after[: t0 + 1], base[: t0 + 1])
    changed[t0 + h] *= 1.01
    again, _ = normalized_forward_returns(changed, np.ones((ticks, 3), bool), h, 3.0, 5.0)
    assert np.all(again[t0] != base[t0])
    # an unusable price is unknown: neither a return into it nor out of it
    holes = np.ones((ticks, 3), bool)
    holes[t0 + h, 0] = False
    z_holes, step_holes = normalized_forward_returns(noisy, holes, h, 3.0, 5.0)
    assert np.isnan(z_holes[t0, 0]) and np.isnan(step_holes[t0 + h - 1, 0]) and np.isfinite(z_holes[t0, 1])


def test_metrics_by_hand():
    learning = LearningConfig(fee_bps=10.0, funding_interval_hours=8.0)
    # two symbols, four ticks of 1 h; positions held over the next tick's return
    position = np.array([[0.5, -1.0], [0.5, 0.0], [-0.5, 1.0], [np.nan, np.nan]])
    step_return = np.array([[0.01, 0.02], [-0.02, 0.01], [0.03, -0.01], [np.nan, np.nan]])
    funding = np.array([[0.0008, 0.0], [0.0008, 0.0], [0.0008, -0.0008], [0.0, 0.0]])
    z = np.array([[1.0, 2.0], [-1.0, -0.5], [0.5, 1.0], [np.nan, np.nan]])
    usable = np.ones((4, 2), bool)
    got = metrics(position, z, step_return, funding, usable, 3600.0, learning)
    # P&L per symbol: gains - fees (10 bps of every change) - funding (1/8 of the rate
    # per hour, longs pay a positive rate)
    gains = [0.5 * 0.01 + 0.5 * -0.02 + -0.5 * 0.03, -1.0 * 0.02 + 0.0 + 1.0 * -0.01]
    changes = [0.5 + 0.0 + 1.0 + 0.5, 1.0 + 1.0 + 1.0 + 1.0]  # from flat, and flat again at the end
    paid = [(0.5 * 0.0008 + 0.5 * 0.0008 - 0.5 * 0.0008) / 8, (1.0 * -0.0008) / 8]
    pnl = sum(g - 1e-3 * c - f for g, c, f in zip(gains, changes, paid, strict=True)) / 2
    assert got["pnl"] == pytest.approx(pnl, abs=1e-5)
    assert got["fees"] == pytest.approx(1e-3 * sum(changes) / 2, abs=1e-5)
    assert got["days"] == pytest.approx(3 / 24, abs=0.01)
    assert got["turnover"] == pytest.approx(sum(changes) / 2 / (3 / 24), rel=1e-4)
    p = np.array([0.5, -1.0, 0.5, 0.0, -0.5, 1.0])
    y = np.array([1.0, 2.0, -1.0, -0.5, 0.5, 1.0])
    assert got["ic"] == pytest.approx(np.corrcoef(p, y)[0, 1], abs=1e-5)
    assert got["hit_rate"] == pytest.approx(2 / 5)  # the zero position makes no call
    assert got["samples"] == 6
    assert got["rank_ic"] == pytest.approx(np.corrcoef(_ranks(p), _ranks(y))[0, 1], abs=1e-5)


def test_ranks_share_ties():
    np.testing.assert_array_equal(_ranks(np.array([3.0, 1.0, 3.0, 2.0, 3.0])), [4.0, 1.0, 4.0, 2.0, 4.0])


def test_ridge_recovers_a_linear_rule():
    rng = np.random.default_rng(2)
    n = 2000
    confidence = np.ones((n, K), np.float32)
    scores = rng.uniform(-1, 1, size=(n, K))
    coef = np.zeros(K)
    coef[[0, 5]] = [0.8, -0.4]
    z = (0.1 + scores @ coef).astype(np.float32)
    fitted = ridge(Rows((scores * confidence).astype(np.float32), confidence, z, np.ones(n, np.float32)), 0.0)
    np.testing.assert_allclose(fitted[1:], coef, atol=1e-4)
    assert fitted[0] == pytest.approx(0.1, abs=1e-4)
    shrunk = ridge(Rows((scores * confidence).astype(np.float32), confidence, z, np.ones(n, np.float32)), 1.0)
    assert 0 < shrunk[1] < 0.8 / 2


def test_walk_forward_folds_expand_embargo_and_refuse_short_histories():
    made = folds(np.arange(10, 110), 4, embargo=3)
    assert [(f.test.start, f.test.stop) for f in made] == [(30, 50), (50, 70), (70, 90), (90, 110)]
    for fold in made:
        assert fold.train.start == 10 and fold.train.stop == fold.test.start - 3
    with pytest.raises(LearnError, match="too short"):
        folds(np.arange(0, 8), 4, embargo=3)
    with pytest.raises(LearnError, match="no tick"):
        folds(np.arange(0), 2, embargo=1)


def test_weights_files_merge_modes_and_refuse_bad_content(tmp_path):
    config = load_config()
    path = str(tmp_path / "w.json")
    day = np.linspace(0.5, 2.0, K)
    save_weights(path, "day", CATEGORIES, day, {"note": "day"})
    save_weights(path, "swing", CATEGORIES, np.full(K, 3.0), {"note": "swing"})
    table = load_weights(path, config, CATEGORIES)
    modes = config.mode_names
    np.testing.assert_allclose(table[modes.index("day")], day, atol=1e-6)
    np.testing.assert_allclose(table[modes.index("swing")], 3.0)
    np.testing.assert_allclose(table[modes.index("scalp")], 1.0)  # the config's where the file has none
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".tmp-")]  # atomic: no leftovers
    with open(path) as f:
        document = json.load(f)
    bad = {
        "not readable JSON": "{",
        "not a bpjax weights file": json.dumps({"modes": {}}),
        "unknown category": json.dumps({**document, "modes": {"day": {"astrology": 1.0}}}),
        "must be a finite number": json.dumps({**document, "modes": {"day": {"trend": "NaN"}}}),
        "has mode 'hodl'": json.dumps({**document, "modes": {"hodl": {"trend": 1.0}}}),
    }
    for message, text in bad.items():
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(LearnError, match=message):
            load_weights(str(tmp_path / "bad.json"), config, CATEGORIES)
    with pytest.raises(LearnError, match="does not exist"):
        load_weights(str(tmp_path / "missing.json"), config, CATEGORIES)


# --- end to end: bpjax train / evaluate on an imported store -------------------------------------
@pytest.mark.slow
def test_train_and_evaluate_end_to_end(tmp_path, capsys):
    from bpjax.app.cli import main
    from bpjax.learn.offline import History as Cached
    from tests.test_import import DAY, parquet_candles, run_import

    symbols = load_config().symbols[:3]
    config = load_config().with_symbols(symbols)  # the import takes the bars' 5 m as its tick
    candles = parquet_candles(tmp_path / "c.parquet", symbols, DAY, 480)
    # wiggle the hand-written straight lines so returns vary
    import pyarrow.parquet as pq

    table = pq.read_table(candles).to_pydict()
    rng = np.random.default_rng(3)
    factor = np.exp(np.cumsum(rng.normal(0, 0.004, size=len(table["close"]))))
    for key in ("open", "high", "low", "close"):
        table[key] = list(np.asarray(table[key]) * factor)
    import pyarrow as pa

    arrays = {k: pa.array(v) for k, v in table.items()}
    pq.write_table(pa.table(arrays), candles)
    run_import("bars-parquet", [candles], tmp_path / "store", config)
    settings = (
        DEFAULT_CONFIG_PATH.read_text()
        .replace("volatility_halflife_hours = 24.0", "volatility_halflife_hours = 2.0")
        .replace("steps = 300", "steps = 40")
        .replace("folds = 4", "folds = 2")
    )
    (tmp_path / "learning.toml").write_text(settings)
    store, cache, out = str(tmp_path / "store"), str(tmp_path / "cache.npz"), str(tmp_path / "w.json")
    common = [
        "--recording",
        store,
        "--mode",
        "scalp",
        "--config",
        str(tmp_path / "learning.toml"),
        "--cache",
        cache,
        "--json",
        "--quiet",
    ]
    assert main(["train", *common, "--out", out, "--report", str(tmp_path / "report")]) == 0
    report = json.loads(capsys.readouterr().out)
    metric_keys = {"ic", "rank_ic", "hit_rate", "pnl", "turnover"}
    assert metric_keys <= set(report["train"]) and metric_keys <= set(report["test"])
    assert set(report["baselines"]) == {"equal_weights", "ridge", "momentum"}
    for metrics_ in report["baselines"].values():
        assert metric_keys <= set(metrics_) and metrics_["samples"] == report["test"]["samples"] > 0
    assert report["mode"] == "scalp" and report["horizon_ticks"] == 1 and len(report["folds"]) == 2
    assert set(report["weights"]) == set(CATEGORIES)
    for name in ("report.md", "learning_curves.svg", "ic_over_time.svg", "weight_paths.svg", "pnl.svg"):
        assert os.path.getsize(tmp_path / "report" / name) > 200
    assert "<polyline" in (tmp_path / "report" / "pnl.svg").read_text()
    mode = load_config().mode_names.index("scalp")
    np.testing.assert_allclose(
        load_weights(out, load_config(), CATEGORIES)[mode],
        [report["weights"][c] for c in CATEGORIES],
        atol=1e-5,
    )
    # what is learned is what runs: the cached sums give back the engine's own published bias
    history = Cached.load(cache)
    assert history.signal.shape == (480, 3, 3, K) and history.usable.any()
    assert {load_config().category_weight(c) for c in CATEGORIES} == {1.0}  # the run's weights
    for m in range(3):
        again = 100 * np.asarray(
            bias(jnp.ones(K, jnp.float32), history.signal[:, :, m], history.confidence[:, :, m])
        )
        np.testing.assert_allclose(again, history.bias[:, :, m], atol=2e-3)

    # no look-ahead in the features: the same market cut short gives the same sums up to the cut
    from bpjax.learn.offline import collect
    from bpjax.store.zarrstore import Store

    keep = [i for i, t in enumerate(table["open_time"]) if t.timestamp() < DAY + 300 * 300]
    cut = {k: [v[i] for i in keep] for k, v in table.items()}
    pq.write_table(pa.table({k: pa.array(v) for k, v in cut.items()}), tmp_path / "short.parquet")
    run_import("bars-parquet", [tmp_path / "short.parquet"], tmp_path / "short", config)
    short = collect(Store.open(str(tmp_path / "short")))
    assert len(short.time) == 300
    np.testing.assert_array_equal(short.signal, history.signal[:300])
    np.testing.assert_array_equal(short.confidence, history.confidence[:300])

    # evaluate the learned weights: same folds, same baselines; the cache is reused
    assert main(["evaluate", *common, "--weights", out]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["baselines"] == report["baselines"]
    assert metric_keys <= set(evaluated["test"]) and evaluated["train"] is None
    # bpjax bench-learn on the same store and cache
    assert (
        main(
            [
                "bench-learn",
                store,
                "--mode",
                "scalp",
                "--cache",
                cache,
                "--config",
                str(tmp_path / "learning.toml"),
                "--json",
            ]
        )
        == 0
    )
    timing = json.loads(capsys.readouterr().out)
    assert timing["history_cached"] is True and timing["rows"] > 0 and timing["fit_steps"] == 40
    for key in ("fit_s", "ridge_ms", "walk_forward_s", "online_update_ms"):
        assert timing[key] > 0
    assert main(["bench-learn", store, "--mode", "hodl", "--cache", cache]) == 2
    assert "unknown mode 'hodl'" in capsys.readouterr().err

    # errors: an unknown mode, a bad weights file, a missing recording
    assert main(["train", *common[:2], "--mode", "hodl", "--quiet"]) == 2
    assert "unknown mode 'hodl'" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("[]")
    assert main(["evaluate", *common, "--weights", str(tmp_path / "bad.json")]) == 2
    assert "not a bpjax weights file" in capsys.readouterr().err
    assert main(["train", "--recording", str(tmp_path / "nothing"), "--quiet"]) == 2
    assert "no recording" in capsys.readouterr().err
