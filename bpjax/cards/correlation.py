"""Correlation and benchmark beta: how each symbol moves with the benchmark (BTCUSDT) and the market.

Every card here is cross-sectional (it sees the whole symbol axis; ``x.benchmark`` is the
benchmark's index). Co-movement is measured from *block returns*: the log returns of the
close over consecutive blocks of 2 bars (x mode scale), read from lagged closes 0, 2, ..., 16
bars back, so products across symbols (realized beta, realized correlation) are formed
inside the card from per-symbol window features, 8 blocks deep.
Positive direction: the card expects the symbol's price to rise.
"""

from __future__ import annotations

import jax.numpy as jnp

from bpjax.cards.base import CardInput, count, from_z, log_ratio, output, safe_div, wmean
from bpjax.cards.registry import cross_section_card
from bpjax.features.price import (
    BLOCK_BARS,
    BLOCK_CLOSES,
    BLOCK_LOOKBACK,
    RETURNS,
    block_returns,
    move_windows,
    move_z,
)

BETA_LIMIT = 3.0


def benchmark_beta(x: CardInput):
    """Realized (uncentered) beta and correlation of every symbol's block returns on the
    benchmark's, over the blocks both have, and the number of those blocks:
    beta = sum r_i r_b / sum r_b^2 (clipped to +-3), rho = sum r_i r_b / sqrt(sum r_i^2 sum r_b^2)."""
    r, ok = block_returns(x)
    rb = r[..., x.benchmark][..., None]
    both = ok & ok[..., x.benchmark][..., None]
    sxy = jnp.sum(jnp.where(both, r * rb, 0.0), axis=0)
    sxx = jnp.sum(jnp.where(both, rb * rb, 0.0), axis=0)
    syy = jnp.sum(jnp.where(both, r * r, 0.0), axis=0)
    beta = jnp.clip(safe_div(sxy, sxx), -BETA_LIMIT, BETA_LIMIT)
    rho = jnp.clip(safe_div(sxy, jnp.sqrt(sxx * syy)), -1.0, 1.0)
    pairs = jnp.sum(both, axis=0, dtype=jnp.float32)
    return beta, rho, pairs, sxx


def _is_benchmark(x: CardInput, like):
    return jnp.arange(like.shape[-1]) == x.benchmark


@cross_section_card(
    "beta_implied_move",
    "correlation",
    lookback=BLOCK_LOOKBACK,
    inputs=("close",),
    streams=(RETURNS,),
    windows=BLOCK_CLOSES + move_windows(8),
)
def beta_implied_move(x: CardInput):
    """The benchmark's current move carried to each symbol through its realized beta.

    Formula: beta_i = sum_k r_ik r_bk / sum_k r_bk^2 over the 8 blocks of 2 bars (x mode scale)
    both symbols have (uncentered realized beta, clipped to +-3); zb = the benchmark's
    vol-normalized move over n = 8 bars (see roc). direction = tanh(beta_i * zb),
    strength = tanh(|beta_i * zb| / 2). Value: beta_i. The benchmark reads its own move (beta 1).
    Confidence: 0 unless the benchmark's move is known and the pair has >= 4 common blocks.
    Positive: the benchmark is rising and the symbol moves with it (or falling and it moves against it).
    Reference: Andersen, Bollerslev, Diebold & Wu, "Realized beta" (2006).
    """
    beta, _, pairs, sxx = benchmark_beta(x)
    z, ok = move_z(x, 8)
    zb, ok_b = z[..., x.benchmark][..., None], ok[..., x.benchmark][..., None]
    d, s = from_z(beta * zb)
    return output(d, s, ok_b & (pairs >= 4.0) & (sxx > 0), beta)


@cross_section_card(
    "benchmark_lead_lag",
    "correlation",
    lookback=BLOCK_LOOKBACK,
    inputs=("close",),
    streams=(RETURNS,),
    windows=BLOCK_CLOSES,
)
def benchmark_lead_lag(x: CardInput):
    """Catch-up to the benchmark: the part of the benchmark's last move the symbol has not followed.

    Formula: over the last block (the 2 bars x mode scale up to the open bar), gap_i =
    (beta_i * r_b - r_i) / (sigma_i * sqrt(m)), beta_i the realized beta (see beta_implied_move),
    sigma_i the EW std of 1-bar log returns (span 50), m the bars in a block.
    direction = tanh(gap_i) * max(rho_i, 0), rho_i the realized correlation with the benchmark
    (only correlated symbols are expected to catch up); strength = |direction|. Value: gap_i.
    Confidence: 0 for the benchmark itself and unless the pair has >= 4 common blocks.
    Positive: the benchmark rose and the symbol has lagged it (expected to catch up).
    Reference: Lo & MacKinlay, "When are contrarian profits due to stock market overreaction?" (1990).
    """
    beta, rho, pairs, sxx = benchmark_beta(x)
    r, ok = block_returns(x)
    last, last_ok = r[0], ok[0]
    rb, rb_ok = last[..., x.benchmark][..., None], last_ok[..., x.benchmark][..., None]
    gap = safe_div(beta * rb - last, x.std(RETURNS) * jnp.sqrt(x.n(BLOCK_BARS)))
    d = jnp.tanh(gap) * jnp.maximum(rho, 0.0)
    confident = last_ok & rb_ok & (pairs >= 4.0) & (sxx > 0) & ~_is_benchmark(x, gap)
    return output(d, jnp.abs(d), confident, gap)


@cross_section_card(
    "idiosyncratic_momentum",
    "correlation",
    lookback=BLOCK_LOOKBACK,
    inputs=("close",),
    streams=(RETURNS,),
    windows=BLOCK_CLOSES,
)
def idiosyncratic_momentum(x: CardInput):
    """Decoupling from the benchmark: the symbol's own (residual) move after removing beta x benchmark.

    Formula: over the 8 blocks of 2 bars (x mode scale) both symbols have,
    e_i = sum_k (r_ik - beta_i r_bk), u_i = e_i / (sigma_i * sqrt(m * K_i)), beta_i the realized
    beta, sigma_i the EW std of 1-bar log returns (span 50), m the bars in a block, K_i the
    common blocks. direction = tanh(u_i), strength = tanh(|u_i|/2). Value: u_i.
    Confidence: 0 for the benchmark itself (no residual) and unless the pair has >= 4 common blocks.
    Positive: the symbol is rising on its own, beyond what the benchmark explains.
    Reference: Blitz, Huij & Martens, "Residual momentum" (2011).
    """
    beta, _, pairs, sxx = benchmark_beta(x)
    r, ok = block_returns(x)
    both = ok & ok[..., x.benchmark][..., None]
    residual = jnp.sum(jnp.where(both, r - beta[None, ...] * r[..., x.benchmark][..., None], 0.0), axis=0)
    u = safe_div(residual, x.std(RETURNS) * jnp.sqrt(x.n(BLOCK_BARS) * pairs))
    d, s = from_z(u)
    return output(d, s, (pairs >= 4.0) & (sxx > 0) & ~_is_benchmark(x, u), u)


@cross_section_card(
    "correlation_regime",
    "correlation",
    lookback=BLOCK_LOOKBACK,
    inputs=("close",),
    streams=(RETURNS,),
    windows=BLOCK_CLOSES + move_windows(12),
)
def correlation_regime(x: CardInput):
    """The market move, weighted by how correlated the universe is (risk-on / risk-off regime).

    Formula: u_ik = r_ik / s_i, the block returns over each symbol's rms block return s_i (8 blocks
    of 2 bars x mode scale); per block, M_k = mean over the N_k symbols with data of u_ik; the
    average pairwise correlation follows from the variance of that equal-weight mean,
    rho_bar = mean over blocks with N_k >= 2 of (N_k M_k^2 - 1) / (N_k - 1).
    zm = mean over symbols of the vol-normalized 12-bar moves (see roc).
    direction = tanh(zm) * clip(rho_bar, 0, 1) (the same for every symbol), strength = |direction|.
    Value: rho_bar. Confidence: 0 for a symbol without its 12-bar move; ramps with the symbols
    with data (full at 5).
    Positive: the market is rising in a high-correlation regime (the common factor carries all).
    Reference: Pollet & Wilson, "Average correlation and stock market returns" (2010).
    """
    r, ok = block_returns(x)
    rms = jnp.sqrt(
        safe_div(jnp.sum(jnp.where(ok, r * r, 0.0), axis=0), jnp.sum(ok, axis=0, dtype=jnp.float32))
    )
    u = safe_div(r, rms[None, ...])
    with_data = ok & (rms[None, ...] > 0)
    n = count(with_data)  # (block,)
    m = wmean(u, with_data)
    per_block = safe_div(n * m * m - 1.0, n - 1.0)
    usable = n >= 2.0
    rho_bar = safe_div(jnp.sum(jnp.where(usable, per_block, 0.0)), jnp.sum(usable, dtype=jnp.float32))
    z, z_ok = move_z(x, 12)
    zm = wmean(z, z_ok)
    d = jnp.tanh(zm) * jnp.clip(rho_bar, 0.0, 1.0)
    d = jnp.broadcast_to(d[..., None], z.shape)
    breadth = jnp.clip((count(z_ok) - 1.0) / 4.0, 0.0, 1.0)
    confidence = jnp.where(z_ok, breadth[..., None], 0.0)
    return output(d, jnp.abs(d), confidence, jnp.broadcast_to(rho_bar[..., None], z.shape))


@cross_section_card(
    "market_breadth",
    "correlation",
    lookback=20,
    inputs=("close",),
    windows=move_windows(20),
)
def market_breadth(x: CardInput):
    """Market breadth: the share of symbols rising over n bars, net of those falling.

    Formula: over the symbols with both closes, B = (#{close > close[-n]} - #{close < close[-n]})
    / #symbols, n = 20 bars (x mode scale). direction = B (the same for every symbol),
    strength = |B|. Value: the share of symbols up.
    Confidence: 0 for a symbol without its own move; ramps with the symbols with data (full at 5).
    Positive: most of the market is rising (broad participation).
    Reference: Zweig breadth / advance-decline line (Zweig, Winning on Wall Street, 1986).
    """
    close, past = x.w(move_windows(20)[0]), x.w(move_windows(20)[1])
    ok = x.has(move_windows(20)[0]) & x.has(move_windows(20)[1]) & (close > 0) & (past > 0)
    move = jnp.where(ok, log_ratio(close, past), 0.0)
    n = count(ok)
    up = jnp.sum(ok & (move > 0), axis=-1, dtype=jnp.float32)
    down = jnp.sum(ok & (move < 0), axis=-1, dtype=jnp.float32)
    b = jnp.broadcast_to(safe_div(up - down, n)[..., None], move.shape)
    share = jnp.broadcast_to(safe_div(up, n)[..., None], move.shape)
    confidence = jnp.where(ok, jnp.clip((n - 1.0) / 4.0, 0.0, 1.0)[..., None], 0.0)
    return output(b, jnp.abs(b), confidence, share)
