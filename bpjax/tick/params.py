"""Traced parameters: every number that tunes the tick, as arrays in one small pytree.

Structure (symbols, timeframes, modes, the card list) is static and compiled into
the tick; everything here is an argument of the jitted function, so changing a
category weight, a lookback scale or a threshold never recompiles. This is also
what the trainer differentiates.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from bpjax.cards.registry import Registry
from bpjax.core.config import Config
from bpjax.core.types import Array, Float

# per-mode aggregation settings, in this order in Params.aggregation[mode, :]
AGGREGATION_KEYS: tuple[str, ...] = (
    "neutral_band",
    "exhaustion_bias",
    "exhaustion_share",
    "extreme_strength",
    "deceleration_ratio",
    "conflict_threshold",
    "conflict_confidence_factor",
    "fast_alpha",  # per-tick smoothing of the fast bias memory
    "slow_alpha",  # per-tick smoothing of the slow bias memory
    "risk_per_trade",
    "stop_volatility_multiple",
    "max_position",
    "horizon_seconds",
)
AGG = {key: i for i, key in enumerate(AGGREGATION_KEYS)}


class Params(NamedTuple):
    category_weights: Float[Array, "mode cat"]
    lookback_scale: Float[Array, " mode"]
    timeframe_weights: Float[Array, "mode tf"]  # normalized to sum to 1 per mode
    card_params: Float[Array, "mode param"]  # flat, laid out by Registry.param_layout
    aggregation: Float[Array, "mode key"]  # AGGREGATION_KEYS

    def with_category_weights(self, weights) -> Params:
        weights = jnp.asarray(weights, jnp.float32)
        if weights.shape != self.category_weights.shape:
            raise ValueError(
                f"category weights must have shape {self.category_weights.shape} (mode, cat), "
                f"found {weights.shape}"
            )
        return self._replace(category_weights=weights)


def smoothing(tick_seconds: float, period_seconds: float) -> float:
    """Per-tick EMA smoothing for a memory of ``period_seconds``: 1 - exp(-tick / period)."""
    return float(1.0 - np.exp(-tick_seconds / period_seconds))


def init_params(config: Config, registry: Registry) -> Params:
    modes = config.modes
    categories = registry.categories
    weights = np.array(
        [[config.category_weight(c) for c in categories] for _ in modes], dtype=np.float32
    ).reshape(len(modes), len(categories))
    tf_weights = np.array([m.timeframe_weights for m in modes], dtype=np.float32)
    tf_weights = tf_weights / tf_weights.sum(axis=1, keepdims=True)
    _, defaults = registry.param_layout()
    card_params = np.tile(defaults[None, :], (len(modes), 1)).astype(np.float32)
    agg = config.aggregation
    tick = config.engine.tick_seconds
    rows = []
    for mode in modes:
        values = {
            "neutral_band": agg.neutral_band,
            "exhaustion_bias": agg.exhaustion_bias,
            "exhaustion_share": agg.exhaustion_share,
            "extreme_strength": agg.extreme_strength,
            "deceleration_ratio": agg.deceleration_ratio,
            "conflict_threshold": agg.conflict_threshold,
            "conflict_confidence_factor": agg.conflict_confidence_factor,
            "fast_alpha": smoothing(tick, agg.bias_fast_publishes * mode.publish_seconds),
            "slow_alpha": smoothing(tick, agg.bias_slow_publishes * mode.publish_seconds),
            "risk_per_trade": agg.risk_per_trade,
            "stop_volatility_multiple": agg.stop_volatility_multiple,
            "max_position": agg.max_position,
            "horizon_seconds": float(mode.horizon_seconds),
        }
        rows.append([values[key] for key in AGGREGATION_KEYS])
    return Params(
        category_weights=jnp.asarray(weights),
        lookback_scale=jnp.asarray([m.lookback_scale for m in modes], jnp.float32),
        timeframe_weights=jnp.asarray(tf_weights),
        card_params=jnp.asarray(card_params),
        aggregation=jnp.asarray(np.array(rows, dtype=np.float32)),
    )
