"""Shared fixtures. JAX runs with strict promotion so silent broadcasting or dtype mixing fails."""

from __future__ import annotations

import os

import jax
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update(
    "jax_compilation_cache_dir",
    os.environ.get("BPJAX_TEST_CACHE", os.path.expanduser("~/.cache/bpjax/xla-tests")),
)

from bpjax.core.config import load_config  # noqa: E402
from bpjax.tick.engine import Engine  # noqa: E402
from tests.harness import Scenario, small_config  # noqa: E402
from tests.selection import SELECTED  # noqa: E402


@pytest.fixture(scope="session")
def default_config():
    return load_config()


@pytest.fixture(scope="session")
def config():
    """Six symbols, the default modes and timeframes."""
    return small_config()


@pytest.fixture(scope="session")
def engine(config):
    """Compiled once for the session; exposes every card's per-slice readings."""
    engine = Engine(config, SELECTED, card_slices=True)
    engine.compile(engine.init())
    return engine


@pytest.fixture(scope="session")
def live_scenario(engine):
    """Coarse warm-up, then ten-second ticks across an hour boundary."""
    return Scenario.run(engine, ticks=390, seed=3, checkpoints=(0, 5, 6, 100, 359, 360, 389))


@pytest.fixture(scope="session")
def minute_scenario(engine):
    """One tick per minute, no warm-up: contiguous 1 m bars for checks against TA-Lib."""
    return Scenario.run(engine, ticks=720, seed=5, step=60, warmup=False, checkpoints=(719,))


SHARED = os.environ.get("BPJAX_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "shared"))


@pytest.fixture(scope="session")
def shared():
    """The workplace's shared folder (real market data, example messages): ``$BPJAX_SHARED`` or
    ``../shared`` beside the repository. Skipped with a message when absent, except on CI."""
    path = os.path.abspath(SHARED)
    if not os.path.isdir(os.path.join(path, "feeds", "examples")):
        if os.environ.get("CI"):
            pytest.fail(f"shared data not found at {path} (set BPJAX_SHARED)")
        pytest.skip(f"shared data not found at {path} (set BPJAX_SHARED to run this test)")
    return path
