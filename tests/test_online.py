"""The online self-learning loop (``bpjax.learn.online``): weights move toward a planted signal, versions
are written atomically, a degradation rolls back, a restart resumes from the live version, and
``bpjax run --learn DIR`` end to end on the simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from bpjax.cards import REGISTRY
from bpjax.core.config import DEFAULT_CONFIG_PATH, load_config
from bpjax.learn.offline import LearnError, atomic_write
from bpjax.learn.online import INDEX, OnlineLearner

CATEGORIES = REGISTRY.categories
K = len(CATEGORIES)
PLANTED = CATEGORIES.index("order_flow")
TICK = 60.0


def small_online_config():
    """Three modes with horizons of one, two and three ticks; quick online settings."""
    modes = load_config().to_dict()["modes"]
    for name, horizon in zip(modes, (60, 120, 180), strict=True):
        modes[name]["horizon_seconds"] = horizon
    config = load_config().replace(
        modes=modes,
        learning={
            "volatility_halflife_hours": 0.5,
            "online_every_minutes": 10.0,
            "online_min_samples": 200,
            "online_window": 2000,
            "online_steps": 20,
            "online_learning_rate": 0.05,
            "online_max_change": 0.2,
        },
    )
    return config.with_symbols(config.symbols[:8])


class Market:
    """Eight symbols; category scores wander; the next minute's return is ``effect`` x the planted
    category's score x sigma, plus noise."""

    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)
        self.walk = np.zeros((8, K))
        self.log_price = np.log(100.0) * np.ones(8)
        self.t = 1.8e9
        self.effect = 0.5

    def tick(self):
        self.walk = 0.8 * self.walk + 0.6 * self.rng.normal(size=self.walk.shape)
        scores = np.tanh(self.walk)
        confidence = np.repeat((self.rng.uniform(0.5, 1.0, size=(8, 1, K)) * 3.0), 3, axis=1)
        signal = scores[:, None, :] * confidence
        t, price = self.t, np.exp(self.log_price)
        self.log_price = self.log_price + 0.002 * (self.effect * scores[:, PLANTED] + self.rng.normal(size=8))
        self.t += TICK
        return t, price, np.ones(8, bool), signal.astype(np.float32), confidence.astype(np.float32)


def run(learner, market, ticks):
    changes = 0
    for _ in range(ticks):
        changes += learner.observe(*market.tick())
    return changes


def test_weights_move_toward_a_planted_signal_in_bounded_versioned_steps(tmp_path):
    config = small_online_config()
    learner = OnlineLearner(config, CATEGORIES, str(tmp_path), np.ones((3, K)))
    assert learner.version == 1 and os.path.exists(tmp_path / "v000001.json")
    market = Market()
    run(learner, market, 40)  # 40 ticks x 8 symbols = 320 rows, but the volatility is still warming
    run(learner, market, 260)
    assert learner.version >= 4
    weights = learner.weights
    assert np.all(weights[:, PLANTED] > 1.0)  # every mode up-weighted the planted category
    assert np.all(weights[:, PLANTED] >= weights.max(axis=1) - 1e-9)
    assert np.all((weights >= 0.0) & (weights <= 4.0))
    # bounded: no weight moved by more than online_max_change between a version and its parent
    index = json.loads((tmp_path / INDEX).read_text())
    assert index["live"] == learner.version
    for entry in index["versions"][1:]:
        mine = json.loads((tmp_path / f"v{entry['version']:06d}.json").read_text())["modes"]
        parent = json.loads((tmp_path / f"v{entry['parent']:06d}.json").read_text())["modes"]
        for mode in mine:
            change = max(abs(mine[mode][c] - parent[mode][c]) for c in CATEGORIES)
            assert change <= 0.2 + 1e-5
    assert [e["status"] for e in index["versions"]].count("live") == 1
    # rate limit: one update per 10 minutes of data time at most
    assert learner.version - 1 <= 300 * TICK / 600 + 1
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".tmp-")]


def test_rows_are_sampled_once_per_sample_period(tmp_path):
    """Ticks closer than ``online_sample_minutes`` add no rows (they are near copies of the last)."""
    base = small_online_config()
    every_tick = OnlineLearner(base, CATEGORIES, str(tmp_path / "a"), np.ones((3, K)))
    sampled = OnlineLearner(
        base.replace(learning={"online_sample_minutes": 3.0}),
        CATEGORIES,
        str(tmp_path / "b"),
        np.ones((3, K)),
    )
    for learner in (every_tick, sampled):
        run(learner, Market(seed=5), 90)
    counts = [learner.windows[0].count for learner in (every_tick, sampled)]
    assert counts[0] > 0 and abs(counts[1] - counts[0] / 3) <= 8  # one tick in three, 8 symbols each


def test_a_degraded_version_is_rolled_back_and_a_restart_resumes_the_live_one(tmp_path):
    config = small_online_config()
    learner = OnlineLearner(config, CATEGORIES, str(tmp_path), np.ones((3, K)))
    market = Market(seed=1)
    run(learner, market, 300)
    learned = learner.version
    assert learned >= 3
    # forced degradation: the planted effect reverses; the live version leans on it more than its
    # parent does, so on the same new rows it scores worse, and is rolled back
    market.effect = -1.0
    for _ in range(200):
        run(learner, market, 1)
        if any(e["event"] == "rollback" for e in learner.events):
            break
    rollback = next(e for e in learner.events if e["event"] == "rollback")
    assert rollback["from"] >= learned  # the version live at the flip, or one made after it
    assert rollback["ic"] < rollback["parent_ic"] and rollback["samples"] >= 200
    index = json.loads((tmp_path / INDEX).read_text())
    entries = {v["version"]: v for v in index["versions"]}
    assert entries[rollback["from"]]["parent"] == rollback["to"]
    assert entries[rollback["from"]]["status"] == "rolled_back"
    assert entries[rollback["from"]]["scores"]["rolled_back"]["ic"] == rollback["ic"]
    live, weights = learner.version, learner.weights.copy()
    assert live == rollback["to"] == index["live"] and entries[live]["status"] == "live"
    assert [v["status"] for v in index["versions"]].count("live") == 1

    # a restart resumes from the live version, not the newest file
    again = OnlineLearner(config, CATEGORIES, str(tmp_path), np.ones((3, K)))
    assert again.version == live
    np.testing.assert_allclose(again.weights, weights, atol=1e-6)
    # an unreadable index: the newest readable version file; a torn version file is skipped
    (tmp_path / INDEX).write_text('{"live": ')
    newest = max(int(name[1:7]) for name in os.listdir(tmp_path) if name.startswith("v"))
    (tmp_path / f"v{newest:06d}.json").write_text('{"format": "bpjax-weights", "modes": {"scalp"')
    fallback = OnlineLearner(config, CATEGORIES, str(tmp_path), np.ones((3, K)))
    assert fallback.version == newest - 1
    assert fallback.versions[newest - 1].status == "live" and newest not in fallback.versions
    # a live version whose parent's file is gone is not stuck waiting for a verdict: it steps on
    parent = fallback.versions[fallback.version].parent
    os.remove(tmp_path / f"v{parent:06d}.json")
    orphan = OnlineLearner(config, CATEGORIES, str(tmp_path), np.ones((3, K)))
    assert orphan.versions[orphan.version].parent not in orphan.versions
    before = orphan.version
    run(orphan, Market(seed=2), 120)
    assert orphan.version > before


def test_a_write_that_dies_midway_leaves_the_old_file_whole(tmp_path):
    path = str(tmp_path / "v000001.json")
    atomic_write(path, lambda f: f.write('{"old": true}'))

    def dies(f):
        f.write('{"new": tr')
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, dies)
    with open(path) as f:
        assert json.load(f) == {"old": True}
    assert os.listdir(tmp_path) == ["v000001.json"]


def test_a_folder_of_unreadable_versions_is_refused(tmp_path):
    (tmp_path / "v000001.json").write_text("not json")
    with pytest.raises(LearnError, match="none is readable"):
        OnlineLearner(small_online_config(), CATEGORIES, str(tmp_path), np.ones((3, K)))


def bpjax(*args, timeout=900):
    return subprocess.run(
        [sys.executable, "-m", "bpjax", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
def test_run_learn_end_to_end_on_the_simulator_and_resume(tmp_path):
    """``bpjax run --source sim --learn DIR``: the scalp mode (5 min horizon) learns within 40
    simulated minutes (it may also roll back: the simulator's market is not the planted one);
    records carry the live version; a second run resumes from it."""
    settings = DEFAULT_CONFIG_PATH.read_text()
    for key, value in (
        ("online_every_minutes = 60.0", "online_every_minutes = 5.0"),
        ("online_min_samples = 2000", "online_min_samples = 300"),
        ("online_sample_minutes = 1.0", "online_sample_minutes = 0.0"),
    ):
        assert key in settings
        settings = settings.replace(key, value)
    config = tmp_path / "config.toml"
    config.write_text(settings)
    folder, jsonl = tmp_path / "weights", tmp_path / "out.jsonl"
    common = ["run", "--source", "sim", "--config", str(config), "--learn", str(folder), "--quiet"]
    result = bpjax(*common, "--ticks", "240", "--jsonl", str(jsonl))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stderr.strip().splitlines()[-1])["summary"]
    live = summary["learning"]["version"]
    events = summary["learning"]["events"]
    assert any(e["event"] == "step" for e in events)
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    versions = [r["weights_version"] for r in records]
    assert versions[0] == 1 and max(versions) >= 2  # later ticks ran on learned weights
    # a version changes only by a step (up) or a rollback to the version's parent (down)
    index = json.loads((folder / INDEX).read_text())
    parents = {v["version"]: v["parent"] for v in index["versions"]}
    for before, after in zip(versions, versions[1:], strict=False):
        assert after == before or after > before or parents[before] == after
    assert index["live"] == live
    second = json.loads((folder / "v000002.json").read_text())["modes"]["scalp"]
    assert any(abs(w - 1.0) > 1e-4 for w in second.values())  # the weights moved
    assert all(abs(w - 1.0) <= 0.1 + 1e-6 for w in second.values())  # by a bounded step

    result = bpjax(*common, "--ticks", "3", "--jsonl", str(tmp_path / "again.jsonl"))
    assert result.returncode == 0, result.stderr
    again = [json.loads(line) for line in (tmp_path / "again.jsonl").read_text().splitlines()]
    assert again and again[0]["weights_version"] == live

    # a bad weights file stops the run before it starts
    (tmp_path / "bad.json").write_text("{}")
    result = bpjax(
        "run", "--source", "sim", "--ticks", "1", "--weights", str(tmp_path / "bad.json"), "--quiet"
    )
    assert result.returncode == 2 and "not a bpjax weights file" in result.stderr


@pytest.mark.slow
def test_a_learning_run_replays_exactly_on_the_weights_it_ran_on(tmp_path):
    """The recording keeps every tick's category weights and learner version: both replay paths
    publish byte-identical records, though the weights changed during the run."""
    settings = DEFAULT_CONFIG_PATH.read_text()
    settings = settings.replace("online_every_minutes = 60.0", "online_every_minutes = 5.0")
    settings = settings.replace("online_min_samples = 2000", "online_min_samples = 300")
    settings = settings.replace("online_sample_minutes = 1.0", "online_sample_minutes = 0.0")
    config = tmp_path / "config.toml"
    config.write_text(settings)
    store, live = tmp_path / "run.zarr", tmp_path / "live.jsonl"
    result = bpjax(
        "run",
        "--source",
        "sim",
        "--config",
        str(config),
        "--learn",
        str(tmp_path / "weights"),
        "--ticks",
        "120",
        "--jsonl",
        str(live),
        "--record",
        str(store),
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    versions = {json.loads(line)["weights_version"] for line in live.read_text().splitlines()}
    assert len(versions) >= 2  # the weights changed during the run
    for path, extra in (("tick", ()), ("scan", ("--chunk", "50"))):
        replayed = tmp_path / f"{path}.jsonl"
        result = bpjax("replay", str(store), "--path", path, *extra, "--jsonl", str(replayed), "--quiet")
        assert result.returncode == 0, result.stderr
        assert replayed.read_bytes() == live.read_bytes(), path
    # without the recorded weights (a run recorded before they were kept: the config's
    # throughout) the replay is not the learning run's
    import shutil

    import zarr

    from bpjax.store.zarrstore import Store

    old = tmp_path / "old.zarr"
    shutil.copytree(store, old)
    group = zarr.open_group(str(old), mode="r+")
    del group["weights"], group["weights_version"]
    assert Store.open(str(old)).recorded_weights() is None
    replayed = tmp_path / "old.jsonl"
    result = bpjax("replay", str(old), "--jsonl", str(replayed), "--quiet")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in replayed.read_text().splitlines()]
    lived = [json.loads(line) for line in live.read_text().splitlines()]
    assert len(records) == len(lived) and "weights_version" not in records[0]
    first = next(k for k, r in enumerate(lived) if r["weights_version"] > 1)
    assert records[:first] == [{k: v for k, v in r.items() if k != "weights_version"} for r in lived[:first]]
    assert records[first:] != [{k: v for k, v in r.items() if k != "weights_version"} for r in lived[first:]]
