"""Aggregation: from card readings to a bias, a confidence, states and a position size.

All inside the jitted tick, per (sym, mode):

1. Multi-timeframe confirmation, per card. The timeframes are mixed with the
   mode's timeframe weights, each weighted by the card's confidence:
   ``d_card = sum_tf w c d / sum_tf w c`` (likewise strength), ``c_card = sum_tf w c``.
   ``agreement`` = timeframe-weight share, among timeframes with confidence, whose
   direction has the sign of ``d_card``; it scales confidence by (1 + agreement) / 2.
2. contribution = direction x strength x confidence (x category weight, below).
3. Category score = sum of contributions / sum of confidences of the category's
   cards, in [-1, 1] (reported x100).
   Composite bias = 100 x sum_cat w_cat x sum contributions / sum_cat |w_cat| x sum
   confidences: a confidence- and weight-averaged direction x strength, in [-100, 100].
4. Confidence, in [0, 100] = 100 x data confidence x (1 + consensus) / 2 x conflict factor,
   data confidence the weight-averaged card confidence, consensus = |sum w S| / sum |w| |S|
   over category sums S (1 when categories agree).
5. Conflicted: the composite computed on the shortest and on the longest timeframe
   alone point in opposite directions, both beyond ``conflict_threshold``.
6. States, with a fast and a slow memory of the bias (EMAs over publish periods):
   transition (directional now, neutral or opposite in the slow memory),
   deceleration (directional, same side, fast |bias| < ratio x slow |bias|),
   exhaustion (|bias| beyond ``exhaustion_bias``, or a large share of confident cards
   at extreme strength on the bias side), conflicted. The ``state`` label takes the
   first that holds of: conflicted, exhaustion, transition, deceleration, trending
   (|bias| >= neutral band), neutral.
7. Sizing: horizon volatility sigma_h from the per-bar return volatility of each
   timeframe (mixed per second with the timeframe weights, scaled to the mode's
   horizon); stop = k x sigma_h x (2 - confidence/100), widened 1.5x when conflicted;
   size = sign(bias) x min(risk / stop x confidence/100 x |bias|/100, max_position).

Every division is guarded; outputs are finite whatever the inputs.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from bpjax.cards.base import safe_div
from bpjax.core.defines import STATES
from bpjax.core.types import Array, Bool, Float, Int
from bpjax.tick.lifter import CardBatch
from bpjax.tick.params import AGG, Params

STATE_CODE = {name: i for i, name in enumerate(STATES)}
HIGHEST = jax.lax.Precision.HIGHEST  # full float32 on every backend


class Aggregate(NamedTuple):
    bias: Float[Array, "sym mode"]  # [-100, 100]
    confidence: Float[Array, "sym mode"]  # [0, 100]
    conflicted: Bool[Array, "sym mode"]
    state: Int[Array, "sym mode"]  # index into bpjax.core.defines.STATES
    transition: Bool[Array, "sym mode"]
    deceleration: Bool[Array, "sym mode"]
    exhaustion: Bool[Array, "sym mode"]
    agreement: Float[Array, "sym mode"]  # [0, 1] confidence-weighted timeframe agreement
    category_scores: Float[Array, "sym mode cat"]  # [-100, 100]
    category_signal: Float[Array, "sym mode cat"]  # sum of the category's contributions (the composite's S)
    category_confidence: Float[Array, "sym mode cat"]  # sum of its cards' confidences (the composite's C)
    timeframe_bias: Float[Array, "sym mode tf"]  # [-100, 100] composite on one timeframe
    size: Float[Array, "sym mode"]  # signed position, notional / equity
    stop: Float[Array, "sym mode"]  # stop distance, fraction of price
    card_direction: Float[Array, "sym mode card"]  # timeframes mixed
    card_strength: Float[Array, "sym mode card"]
    card_confidence: Float[Array, "sym mode card"]
    memory: Float[Array, "3 mode sym"]  # fast bias, slow bias, memory weight


def card_sum(x: Float[Array, "card ..."]) -> Array:
    """Sum over the leading card axis as a matrix-vector product: on XLA:CPU a reduction of the
    major axis of a (173, 3, 3, 2,100) array is ~10x slower than this contraction."""
    ones = jnp.ones((x.shape[0],), x.dtype)
    flat = jnp.einsum("c,cy->y", ones, x.reshape(x.shape[0], -1), precision=HIGHEST)
    return flat.reshape(x.shape[1:])


def composite_bias(category_signal, category_confidence, weights):
    """The composite bias from per-category sums (cat, ...) of contributions and of confidences:
    100 x sum_cat w S / sum_cat |w| C, in [-100, 100]. ``weights`` broadcasts against (cat, ...).
    The tick and the trainer (``bpjax.learn.offline``) both call this: what is learned is what runs."""
    numerator = jnp.sum(weights * category_signal, axis=0)
    denominator = jnp.sum(jnp.abs(weights) * category_confidence, axis=0)
    return 100.0 * jnp.clip(safe_div(numerator, denominator), -1.0, 1.0)


def category_sums(signal, confidence, membership):
    """Per-category sums (cat, ...) of (card, ...) contributions and confidences."""
    category_signal = jnp.einsum("c...,ck->k...", signal, membership)
    category_confidence = jnp.einsum("c...,ck->k...", confidence, membership)
    return category_signal, category_confidence


def _composite(signal, confidence, membership, weights):
    """Weight-averaged composite of (card, ...) contributions and confidences: the (...) bias and
    the per-category sums (cat, ...). ``weights`` broadcasts against (cat, ...)."""
    category_signal, category_confidence = category_sums(signal, confidence, membership)
    return composite_bias(category_signal, category_confidence, weights), category_signal, category_confidence


def aggregate(
    cards: CardBatch,
    params: Params,
    memory: Float[Array, "3 mode sym"],
    membership: Float[Array, "card cat"],
    bar_volatility: Float[Array, "mode tf sym"],
    timeframe_seconds: Float[Array, " tf"],
    shortest: int = 0,
) -> Aggregate:
    """Internally (mode, sym) with the symbol axis innermost; outputs are (sym, mode, ...).
    ``shortest`` is the index of the shortest timeframe the data supports (the conflict check's)."""
    p = params.aggregation  # (mode, key)

    def setting(key):
        return p[:, AGG[key]][:, None]  # (mode, 1) broadcasts over sym

    d, s, c = cards.direction, cards.strength, cards.confidence  # (card, mode, tf, sym)
    tf_weight = params.timeframe_weights[None, :, :, None]  # (1, mode, tf, 1)
    weights = params.category_weights.T[:, :, None]  # (cat, mode, 1)

    # 1. multi-timeframe confirmation per card
    wc = tf_weight * c
    card_confidence = jnp.sum(wc, axis=2)  # (card, mode, sym)
    card_direction = safe_div(jnp.sum(wc * d, axis=2), card_confidence)
    card_strength = safe_div(jnp.sum(wc * s, axis=2), card_confidence)
    present = jnp.where(c > 0, tf_weight, 0.0)
    same_side = (jnp.sign(d) == jnp.sign(card_direction)[:, :, None, :]) & (jnp.abs(d) > 1e-6)
    card_agreement = safe_div(jnp.sum(jnp.where(same_side, present, 0.0), axis=2), jnp.sum(present, axis=2))
    card_confidence = card_confidence * 0.5 * (1.0 + card_agreement)

    # 2-3. contributions, categories, composite
    contribution = card_direction * card_strength * card_confidence
    bias, category_signal, category_confidence = _composite(
        contribution, card_confidence, membership, weights
    )
    category_scores = 100.0 * jnp.clip(
        safe_div(category_signal, category_confidence), -1.0, 1.0
    )  # (cat, mode, sym)

    # 5. conflict between the shortest and the longest timeframe: the composite of each timeframe
    # alone. A card is in one category, so the category sums fold into per-card weights,
    # sum_cat w_cat sum_(card in cat) x = sum_card w_card x: two reductions over the card axis
    card_weight = (membership @ params.category_weights.T)[:, :, None, None]  # (card, mode, 1, 1)
    numerator = card_sum(card_weight * (d * s * c))
    denominator = card_sum(jnp.abs(card_weight) * c)
    timeframe_bias = 100.0 * jnp.clip(safe_div(numerator, denominator), -1.0, 1.0)  # (mode, tf, sym)
    short, long = timeframe_bias[:, shortest], timeframe_bias[:, -1]
    threshold = setting("conflict_threshold")
    conflicted = (short * long < 0) & (jnp.abs(short) > threshold) & (jnp.abs(long) > threshold)

    # 4. confidence
    count = jnp.sum(membership, axis=0)[:, None, None]  # cards per category
    data_confidence = safe_div(
        jnp.sum(jnp.abs(weights) * category_confidence, axis=0), jnp.sum(jnp.abs(weights) * count, axis=0)
    )
    weighted = weights * category_signal
    consensus = safe_div(jnp.abs(jnp.sum(weighted, axis=0)), jnp.sum(jnp.abs(weighted), axis=0))
    factor = jnp.where(conflicted, setting("conflict_confidence_factor"), 1.0)
    confidence = jnp.clip(100.0 * data_confidence * 0.5 * (1.0 + consensus) * factor, 0.0, 100.0)
    agreement = safe_div(jnp.sum(card_agreement * card_confidence, axis=0), jnp.sum(card_confidence, axis=0))

    # 6. states from the bias memory
    fast, slow, seen = memory[0], memory[1], memory[2]
    band = setting("neutral_band")
    directional = jnp.abs(bias) >= band
    remembered = seen > 0
    transition = directional & remembered & ((jnp.abs(slow) < band) | (jnp.sign(slow) != jnp.sign(bias)))
    fast_alpha, slow_alpha = setting("fast_alpha"), setting("slow_alpha")
    new_fast = jnp.where(remembered, fast + fast_alpha * (bias - fast), bias)
    new_slow = jnp.where(remembered, slow + slow_alpha * (bias - slow), bias)
    deceleration = (
        directional
        & ~transition
        & (jnp.sign(new_slow) == jnp.sign(bias))
        & (jnp.abs(new_fast) < setting("deceleration_ratio") * jnp.abs(new_slow))
    )
    extreme = (s >= setting("extreme_strength")[None, :, :, None]) & (
        jnp.sign(d) == jnp.sign(bias)[None, :, None, :]
    )
    extreme_share = safe_div(
        jnp.sum(card_sum(jnp.where(extreme, c, 0.0)), axis=1), jnp.sum(card_sum(c), axis=1)
    )
    exhaustion = directional & (
        (jnp.abs(bias) >= setting("exhaustion_bias")) | (extreme_share >= setting("exhaustion_share"))
    )
    state = jnp.where(directional, STATE_CODE["trending"], STATE_CODE["neutral"])
    state = jnp.where(deceleration, STATE_CODE["deceleration"], state)
    state = jnp.where(transition, STATE_CODE["transition"], state)
    state = jnp.where(exhaustion, STATE_CODE["exhaustion"], state)
    state = jnp.where(conflicted, STATE_CODE["conflicted"], state)
    new_memory = jnp.stack([new_fast, new_slow, jnp.ones_like(seen)])

    # 7. size and stop from horizon volatility
    per_second = safe_div(bar_volatility**2, timeframe_seconds[None, :, None])
    variance_per_second = jnp.sum(params.timeframe_weights[:, :, None] * per_second, axis=1)  # (mode, sym)
    horizon_volatility = jnp.sqrt(jnp.maximum(variance_per_second * setting("horizon_seconds"), 0.0))
    stop = setting("stop_volatility_multiple") * horizon_volatility * (2.0 - confidence / 100.0)
    stop = stop * jnp.where(conflicted, 1.5, 1.0)
    raw_size = safe_div(setting("risk_per_trade"), stop) * (confidence / 100.0) * (jnp.abs(bias) / 100.0)
    size = jnp.sign(bias) * jnp.minimum(raw_size, setting("max_position"))

    def public(x):  # (mode, sym, ...) -> (sym, mode, ...)
        return jnp.swapaxes(x, 0, 1)

    return Aggregate(
        bias=public(bias),
        confidence=public(confidence),
        conflicted=public(conflicted),
        state=public(state).astype(jnp.int32),
        transition=public(transition),
        deceleration=public(deceleration),
        exhaustion=public(exhaustion),
        agreement=public(agreement),
        category_scores=jnp.transpose(category_scores, (2, 1, 0)),
        category_signal=jnp.transpose(category_signal, (2, 1, 0)),
        category_confidence=jnp.transpose(category_confidence, (2, 1, 0)),
        timeframe_bias=jnp.transpose(timeframe_bias, (2, 0, 1)),
        size=public(size),
        stop=public(stop),
        card_direction=jnp.transpose(card_direction, (2, 1, 0)),
        card_strength=jnp.transpose(card_strength, (2, 1, 0)),
        card_confidence=jnp.transpose(card_confidence, (2, 1, 0)),
        memory=new_memory,
    )
