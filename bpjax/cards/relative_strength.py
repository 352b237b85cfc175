"""Relative strength: how each symbol performs against the rest of the universe and the benchmark.

Every card here is cross-sectional (it sees the whole symbol axis). Ranks are mid-ranks
(ties share their average rank) over the symbols with data, as percentiles in [0, 1].
Positive direction: the symbol is a relative leader (relative-strength readings expect
leaders to keep outperforming).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from bpjax.cards.base import CardInput, count, from_z, log_ratio, output, safe_div, wmean, wstd
from bpjax.cards.registry import cross_section_card
from bpjax.features.price import (
    BLOCK_BARS,
    BLOCK_CLOSES,
    BLOCK_LOOKBACK,
    CLOSE,
    RETURNS,
    block_returns,
    close_back,
    move_windows,
    move_z,
)
from bpjax.features.windows import Window

BIG = 3.0e38
LOG_CLOSE_SLOPE_20 = Window("slope", "log_close", 20)
RECENT_VOLUME_5 = Window("mean", "volume", 5, offset=1)
USUAL_VOLUME_50 = Window("mean", "volume", 50, offset=1)


def ramp(ok):
    """Cross-sectional confidence: 0 for a symbol without data, else rising with the number of
    symbols with data (full at 5)."""
    return jnp.where(ok, jnp.clip((count(ok) - 1.0) / 4.0, 0.0, 1.0)[..., None], 0.0)


def midrank(values, ok):
    """Mid-rank (0 = lowest) of each value among the ``ok`` values of the trailing (symbol) axis;
    ties share their average rank. Exact in float32 (integers and halves). Leading axes of
    ``values`` beyond those of ``ok`` rank several series in one go.

    One sort that carries each entry's position, the tie groups from a running max / min of
    the group edges, and one scatter back to the symbols' places: a handful of kernels
    (``searchsorted`` is a loop of log2(sym) steps, each several kernel launches).
    """
    keyed = jnp.where(ok, values, BIG)
    axis, n = keyed.ndim - 1, keyed.shape[-1]
    position = jax.lax.broadcasted_iota(jnp.int32, keyed.shape, axis)
    ordered, origin = jax.lax.sort((keyed, position), dimension=axis, num_keys=1)
    differs = ordered[..., 1:] != ordered[..., :-1]
    edge = jnp.ones(keyed.shape[:-1] + (1,), bool)
    first = jax.lax.cummax(jnp.where(jnp.concatenate([edge, differs], axis), position, 0), axis=axis)
    last = jax.lax.cummin(
        jnp.where(jnp.concatenate([differs, edge], axis), position, n - 1), axis=axis, reverse=True
    )
    rank = 0.5 * (first + last).astype(jnp.float32)  # in sorted order
    rows = rank.reshape(-1, n)
    series = jnp.arange(rows.shape[0])[:, None]
    return (
        jnp.zeros_like(rows)
        .at[series, origin.reshape(-1, n)]
        .set(rows, unique_indices=True)
        .reshape(keyed.shape)
    )


def percentile(values, ok):
    """Mid-rank over (count - 1): 0 for the lowest, 1 for the highest; 0.5 where not ok.
    ``values`` (k, ..., sym) against ``ok`` (..., sym): k series ranked in one go."""
    spread = (count(ok)[..., None] - 1.0)[None]
    return jnp.where(ok[None], safe_div(midrank(values, ok[None]), spread, 0.5), 0.5)


def log_move(x: CardInput, newer: Window, older: Window):
    """log(close at ``newer`` / close at ``older``) and whether both are present."""
    a, b = x.w(newer), x.w(older)
    ok = x.has(newer) & x.has(older) & (a > 0) & (b > 0)
    return jnp.where(ok, log_ratio(a, b), 0.0), ok


@cross_section_card(
    "multi_horizon_rank",
    "relative_strength",
    lookback=24,
    inputs=("close",),
    windows=(CLOSE, close_back(6), close_back(24)),
)
def multi_horizon_rank(x: CardInput):
    """Average cross-sectional rank of the symbol's return over a short and a long horizon.

    Formula: p_h = mid-rank percentile of log(close / close[-h]) among the symbols with both
    horizons, h = 6 and 24 bars (x mode scale); P = (p_6 + p_24) / 2. direction = 2 P - 1,
    strength = |direction|. Value: P.
    Confidence: 0 for a symbol without both moves; ramps with the symbols with data (full at 5).
    Positive: the symbol ranks in the top half of the universe on both horizons.
    Reference: Jegadeesh & Titman (1993), ranked-portfolio formation.
    """
    short, short_ok = log_move(x, CLOSE, close_back(6))
    long, long_ok = log_move(x, CLOSE, close_back(24))
    ok = short_ok & long_ok
    ranked = percentile(jnp.stack([short, long]), ok)
    value = 0.5 * (ranked[0] + ranked[1])
    d = 2.0 * value - 1.0
    return output(d, jnp.abs(d), ramp(ok), value)


@cross_section_card(
    "relative_information_ratio",
    "relative_strength",
    lookback=BLOCK_LOOKBACK,
    inputs=("close",),
    windows=BLOCK_CLOSES,
    params={"ratio_scale": 1.5},
)
def relative_information_ratio(x: CardInput):
    """Information ratio of the symbol against the equal-weight universe, from block returns.

    Formula: e_ik = r_ik - mean over symbols of r_jk, the excess return over the equal-weight
    universe in each of the 8 blocks of 2 bars (x mode scale) (see correlation);
    IR_i = sum_k e_ik / sqrt(sum_k e_ik^2) (excess return over tracking error, x sqrt(K)).
    direction = tanh(IR / ratio_scale) (ratio_scale = 1.5), strength = |direction|. Value: IR.
    Confidence: 0 for a symbol with fewer than 4 blocks; ramps with the symbols with data (full at 5).
    Positive: the symbol beat the universe steadily (consistently, not in one jump).
    Reference: Grinold & Kahn, Active Portfolio Management (2000), information ratio.
    """
    r, ok = block_returns(x)
    excess = jnp.where(ok, r - wmean(r, ok)[..., None], 0.0)
    value = safe_div(jnp.sum(excess, axis=0), jnp.sqrt(jnp.sum(excess * excess, axis=0)))
    d = jnp.tanh(value / x.p("ratio_scale"))
    enough = jnp.sum(ok, axis=0, dtype=jnp.float32) >= 4.0
    return output(d, jnp.abs(d), ramp(enough), value)


@cross_section_card(
    "benchmark_ratio_trend",
    "relative_strength",
    lookback=20,
    inputs=("close",),
    windows=(LOG_CLOSE_SLOPE_20,) + BLOCK_CLOSES,
)
def benchmark_ratio_trend(x: CardInput):
    """Trend of the symbol's price in benchmark terms (the symbol / BTCUSDT ratio line).

    Formula: s_i = slope_20(log close_i) - slope_20(log close_b), the least-squares slope per bar
    of the log ratio line over n = 20 bars (x mode scale) (slopes are linear, so the ratio's slope
    is the difference); sd_i = per-bar std of the ratio line's returns, sqrt(sum_k (r_ik - r_bk)^2
    / (K m)) over the K common blocks of m bars (see correlation);
    u = s_i * sqrt(n) / sd_i (the trend over the window against its noise).
    direction = tanh(u), strength = tanh(|u|/2). Value: u.
    Confidence: 0 for the benchmark itself and with fewer than 4 common blocks.
    Positive: the symbol is trending up against the benchmark.
    """
    slope = x.w(LOG_CLOSE_SLOPE_20)
    relative = slope - slope[..., x.benchmark][..., None]
    r, ok = block_returns(x)
    both = ok & ok[..., x.benchmark][..., None]
    gap = r - r[..., x.benchmark][..., None]
    pairs = jnp.sum(both, axis=0, dtype=jnp.float32)
    noise = jnp.sqrt(safe_div(jnp.sum(jnp.where(both, gap * gap, 0.0), axis=0), pairs * x.n(BLOCK_BARS)))
    u = safe_div(relative * jnp.sqrt(x.n(20)), noise)
    d, s = from_z(u)
    is_benchmark = jnp.arange(u.shape[-1]) == x.benchmark
    has_slope = x.has(LOG_CLOSE_SLOPE_20) & x.has(LOG_CLOSE_SLOPE_20)[..., x.benchmark][..., None]
    return output(d, s, has_slope & (pairs >= 4.0) & ~is_benchmark, u)


@cross_section_card(
    "rank_improvement",
    "relative_strength",
    lookback=24,
    inputs=("close",),
    windows=(CLOSE, close_back(12), close_back(24)),
)
def rank_improvement(x: CardInput):
    """Rank change: symbols climbing the cross-sectional return ranking (improving leaders).

    Formula: p_now = mid-rank percentile of log(close / close[-n]), p_before = the same for the
    previous n bars, log(close[-n] / close[-2n]), n = 12 bars (x mode scale), among the symbols
    with all three closes. direction = p_now - p_before, strength = |direction|. Value: the same.
    Confidence: 0 for a symbol without the three closes; ramps with the symbols with data (full at 5).
    Positive: the symbol moved up the ranking (from laggard towards leader).
    """
    now, now_ok = log_move(x, CLOSE, close_back(12))
    before, before_ok = log_move(x, close_back(12), close_back(24))
    ok = now_ok & before_ok
    ranks = midrank(jnp.stack([now, before]), ok[None])
    change = jnp.where(ok, ranks[0] - ranks[1], 0.0)
    d = safe_div(change, count(ok)[..., None] - 1.0)
    return output(d, jnp.abs(d), ramp(ok), d)


@cross_section_card(
    "volume_leadership",
    "relative_strength",
    lookback=50,
    inputs=("volume", "close"),
    streams=(RETURNS,),
    windows=(RECENT_VOLUME_5, USUAL_VOLUME_50) + move_windows(5),
)
def volume_leadership(x: CardInput):
    """Where the market's attention is growing: relative volume growth across the universe, signed
    by the symbol's move.

    Formula: g_i = log(mean volume of the last 5 closed bars / mean volume of the last 50 closed
    bars) (x mode scale); v_i = (g_i - mean g) / std g over the symbols with data;
    z_i = vol-normalized move over 5 bars (see roc). direction = tanh(z_i) * (1 + tanh(v_i)) / 2:
    the move keeps its full sign where volume grows faster than elsewhere and fades where it
    lags. strength = |direction|. Value: v_i.
    Confidence: 0 without volume or the move; ramps with the symbols with data (full at 5).
    Positive: the symbol is rising while drawing a growing share of the market's volume.
    """
    recent, usual = x.w(RECENT_VOLUME_5), x.w(USUAL_VOLUME_50)
    volume_ok = (recent > 0) & (usual > 0)
    growth = jnp.where(volume_ok, log_ratio(recent, usual), 0.0)
    v = jnp.where(
        volume_ok,
        safe_div(growth - wmean(growth, volume_ok)[..., None], wstd(growth, volume_ok)[..., None]),
        0.0,
    )
    z, ok = move_z(x, 5)
    d = jnp.tanh(z) * 0.5 * (1.0 + jnp.tanh(v))
    return output(d, jnp.abs(d), ramp(ok & volume_ok), v)
