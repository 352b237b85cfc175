"""Learning the category weights: ``bpjax train`` and ``bpjax evaluate``.

**History.** A recording (or an import) is replayed once on the scan path, the live tick's own
code, keeping at every tick the two per-category sums the composite bias is made of: S, the
sum of the category's card contributions (direction x strength x confidence, timeframes
mixed), and C, the sum of their confidences, as (tick, sym, mode, cat). Neither depends on the
category weights, so this is computed once and every optax step after it is cheap: the bias
under weights w is ``bpjax.tick.aggregate.composite_bias`` (100 x sum w S / sum |w| C), the same
function the tick calls.

**Targets.** For a mode of horizon H (``horizon_seconds``; h = H / tick ticks): the forward log
return log(p[t+h] / p[t]), divided by the recent volatility sigma[t] sqrt(h), where sigma[t]^2
is an EWMA (half-life ``volatility_halflife_hours``) of squared one-tick log returns up to t,
clipped to +-``target_clip``. Features at t use data up to t (the scan is causal); the target
is the only thing that looks ahead, and walk-forward training stops h ticks before each test
period, so no training target reaches into it.

**Loss.** What the bias is used for is ranking and sizing positions by it, so the loss is
the negative pooled information coefficient: the Pearson correlation of bias and target over
every usable (tick, symbol) of the training period, plus ``l2`` x the mean squared distance
of the weights from equal weights. The bias is invariant to the scale of the weights (a
ratio of two linear forms), so the penalty also pins the scale. After every optax step the
weights are clipped to [``weight_min``, ``weight_max``].

**Walk-forward.** The usable ticks are cut into ``folds`` + 1 equal periods; fold k trains on
everything before period k + 1 (expanding window, less h ticks of embargo) and is tested on
period k + 1. Test metrics are computed on the union of the test periods (every tick
out-of-sample exactly once).

**Metrics** (per model, over usable (tick, symbol) with a known target): ``ic`` (Pearson),
``rank_ic`` (Spearman) of the bias and the target; ``hit_rate``, the share of non-zero biases
whose sign is the target's; ``pnl``: a long/short book holding bias / 100 of equity in every
symbol, re-balanced every tick, summed over the period and averaged over symbols, in log-return
units, net of ``fee_bps`` per unit of notional traded and of funding (longs pay a positive
rate); ``turnover``: mean |position change| per symbol per day.

**Baselines**, on exactly the same ticks: ``equal_weights`` (every category weight 1),
``momentum`` (the price-momentum category alone) and ``ridge`` (a closed-form ridge regression
of the target on the 25 category scores S / C, fitted on each fold's training period; its
prediction is scaled to the equal-weights bias's mean size on that period, so its P&L is on
the same footing).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bpjax.cards import REGISTRY
from bpjax.core.config import Config, LearningConfig
from bpjax.core.defines import STATUS_INSUFFICIENT_HISTORY, STATUS_STALE_PRICE
from bpjax.core.fields import FIELD_INDEX
from bpjax.core.timefmt import iso
from bpjax.store.zarrstore import PHASE_WARMUP, Store, config_weights
from bpjax.tick.aggregate import composite_bias

log = logging.getLogger(__name__)

CHUNK = 256
MOMENTUM = "price_momentum"
BASELINES = ("equal_weights", "ridge", "momentum")
WEIGHTS_FORMAT = "bpjax-weights"
DAY = 86_400.0


class LearnError(ValueError):
    """A recording, a weights file or a request training cannot use."""


# --- the history: one replay, cached -----------------------------------------------------------------
@dataclass
class History:
    """What training reads of a recording, once (see the module docstring)."""

    time: np.ndarray  # (T,) tick end, Unix s
    price: np.ndarray  # (T, S) last price (0: none)
    funding: np.ndarray  # (T, S) funding rate per interval (0 where unknown)
    usable: np.ndarray  # (T, S) live tick, fresh price, price history warm
    bias: np.ndarray  # (T, S, M) the composite bias the engine published (the config's weights)
    signal: np.ndarray  # (T, S, M, K) per-category sums of contributions
    confidence: np.ndarray  # (T, S, M, K) per-category sums of confidences
    tick_seconds: float
    symbols: tuple[str, ...]
    modes: tuple[str, ...]
    horizons: tuple[float, ...]  # seconds, per mode
    categories: tuple[str, ...]
    config_hash: str
    code_hash: str = ""  # of the bpjax sources that computed it (a cache from other code is stale)

    def mode_index(self, mode: str) -> int:
        if mode not in self.modes:
            raise LearnError(f"unknown mode {mode!r}; the recording's modes: {', '.join(self.modes)}")
        return self.modes.index(mode)

    def save(self, path: str) -> None:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        arrays = {k: v for k, v in values.items() if isinstance(v, np.ndarray)}
        meta = {k: v for k, v in values.items() if not isinstance(v, np.ndarray)}
        atomic_write(path, lambda f: np.savez(f, meta=json.dumps(meta), **arrays), binary=True)

    @classmethod
    def load(cls, path: str) -> History:
        with np.load(path) as data:
            meta = json.loads(str(data["meta"]))
            arrays = {k: data[k] for k in data.files if k != "meta"}
        meta = {k: tuple(v) if isinstance(v, list) else v for k, v in meta.items()}
        return cls(**arrays, **meta)


def collect(store: Store, progress: Callable[[int], None] | None = None, chunk: int = CHUNK) -> History:
    """Replay ``store`` on the scan path with its own config and default parameters, keeping the
    per-category sums, prices and status of every tick."""
    from bpjax.tick.engine import Engine  # JAX's engine only when a history is actually computed

    if store.ticks == 0:
        raise LearnError(f"{store.path} holds no complete tick")
    config = store.config()
    engine = Engine(config)
    state = engine.init()
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("signal", "confidence", "price", "status", "bias", "funding", "funding_known")
    }
    funding_field = FIELD_INDEX["funding_rate"]
    phases, done = [], 0
    for block, packed in store.packed_chunks(engine.layout, chunk):
        state, outputs = engine.scan(state, jax.device_put(packed, engine.device), categories=True)
        count = len(block.time)
        host = jax.device_get(
            {
                k: outputs[n]
                for k, n in (
                    ("signal", "category_signal"),
                    ("confidence", "category_confidence"),
                    ("price", "price"),
                    ("status", "status"),
                    ("bias", "bias"),
                )
            }
        )
        for key, value in host.items():
            parts[key].append(np.asarray(value[:count]))
        rate = block.fields[:, :, funding_field]
        parts["funding_known"].append(block.valid[:, :, funding_field] & np.isfinite(rate))
        parts["funding"].append(np.where(parts["funding_known"][-1], rate, 0.0))
        phases.append(block.phase)
        done += count
        if progress is not None:
            progress(done)
    status = np.concatenate(parts["status"])
    price = np.concatenate(parts["price"]).astype(np.float64)
    live = (np.concatenate(phases) != PHASE_WARMUP)[:, None]
    usable = live & (price > 0) & (status & (STATUS_STALE_PRICE | STATUS_INSUFFICIENT_HISTORY) == 0)
    funding = _carry_forward(np.concatenate(parts["funding"]), np.concatenate(parts["funding_known"]))
    return History(
        time=store.read("time").astype(np.float64),
        price=price,
        funding=funding,
        usable=usable,
        bias=np.concatenate(parts["bias"]).astype(np.float32),
        signal=np.concatenate(parts["signal"]).astype(np.float32),
        confidence=np.concatenate(parts["confidence"]).astype(np.float32),
        tick_seconds=float(config.engine.tick_seconds),
        symbols=tuple(config.symbols),
        modes=config.mode_names,
        horizons=tuple(float(m.horizon_seconds) for m in config.modes),
        categories=tuple(REGISTRY.categories),
        config_hash=config.hash(),
        code_hash=code_hash(),
    )


def code_hash() -> str:
    """Hash of the package's Python sources: a cached history computed by other code is stale."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the bpjax package
    digest = hashlib.sha256()
    for folder, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                digest.update(os.path.relpath(path, root).encode())
                with open(path, "rb") as f:
                    digest.update(f.read())
    return digest.hexdigest()[:16]


def cached_history(store: Store, path: str | None, progress: Callable[[int], None] | None = None) -> History:
    """The store's history from ``path`` when that cache was computed from this store's ticks,
    config and code; otherwise replayed (and written to ``path`` when given)."""
    if path and os.path.exists(path):
        try:
            history = History.load(path)
        except (OSError, ValueError, KeyError, TypeError, EOFError) as error:
            log.warning("cache %s is not readable (%s): computing the history again", path, error)
            history = None
        times = store.read("time")
        same = (
            history is not None
            and len(history.time) == len(times)
            and history.config_hash == store.config().hash()
            and history.code_hash == code_hash()
            and np.array_equal(history.time, times.astype(np.float64))
        )
        if same:
            return history
    history = collect(store, progress)
    if path:
        history.save(path)
    return history


def _carry_forward(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """The last known value along time (0 before the first)."""
    index = np.where(known, np.arange(len(values))[:, None], -1)
    index = np.maximum.accumulate(index, axis=0)
    picked = np.take_along_axis(values, np.maximum(index, 0), axis=0)
    return np.where(index >= 0, picked, 0.0)


# --- targets -----------------------------------------------------------------------------------------
@dataclass
class Targets:
    z: np.ndarray  # (T, S) normalized forward return over the horizon (NaN: unknown)
    step_return: np.ndarray  # (T, S) log return from t to t + 1 (NaN: unknown), for the P&L
    horizon_ticks: int


def targets(history: History, mode: int, learning: LearningConfig) -> Targets:
    """Volatility-normalized forward log returns over the mode's horizon (module docstring)."""
    h = max(1, round(history.horizons[mode] / history.tick_seconds))
    halflife = learning.volatility_halflife_hours * 3600.0 / history.tick_seconds
    return Targets(
        *normalized_forward_returns(history.price, history.usable, h, halflife, learning.target_clip), h
    )


def normalized_forward_returns(
    price: np.ndarray, usable: np.ndarray, h: int, halflife_ticks: float, clip: float
) -> tuple[np.ndarray, np.ndarray]:
    """(z, one-step return) for prices (T, S); a price that is not usable is unknown. sigma[t]
    only reads returns up to t; it is known once the EWMA holds half its eventual weight."""
    log_price = np.where(usable & (price > 0), np.log(np.where(price > 0, price, 1.0)), np.nan)
    step = np.full_like(log_price, np.nan)
    step[:-1] = log_price[1:] - log_price[:-1]
    forward = np.full_like(log_price, np.nan)
    forward[:-h] = log_price[h:] - log_price[:-h]
    alpha = 1.0 - 0.5 ** (1.0 / halflife_ticks)
    mean = np.zeros(price.shape[1])
    weight = np.zeros(price.shape[1])
    sigma = np.full_like(log_price, np.nan)
    for t in range(1, len(price)):  # one pass over time, vectorized over symbols
        back = log_price[t] - log_price[t - 1]
        seen = np.isfinite(back)
        mean = np.where(seen, (1 - alpha) * mean + alpha * np.where(seen, back, 0.0) ** 2, mean)
        weight = np.where(seen, (1 - alpha) * weight + alpha, weight)
        sigma[t] = np.where(weight >= 0.5, np.sqrt(mean / np.maximum(weight, 1e-12)), np.nan)
    scale = sigma * math.sqrt(h)
    ok = np.isfinite(forward) & np.isfinite(scale) & (scale > 0)
    z = np.where(ok, np.clip(forward / np.where(ok, scale, 1.0), -clip, clip), np.nan)
    return z, step


# --- the loss and the fit ------------------------------------------------------------------------
def bias(weights, signal, confidence):
    """Composite bias / 100 in [-1, 1] of (..., cat) sums under category weights (cat,)."""
    moved = (jnp.moveaxis(signal, -1, 0), jnp.moveaxis(confidence, -1, 0))
    shape = (-1,) + (1,) * (signal.ndim - 1)
    return composite_bias(*moved, jnp.reshape(weights, shape)) / 100.0


def _pearson(x, y, mask):
    """Pearson correlation over ``mask`` (float weights); 0 when either side is constant."""
    n = jnp.maximum(jnp.sum(mask), 1.0)
    mx, my = jnp.sum(mask * x) / n, jnp.sum(mask * y) / n
    dx, dy = mask * (x - mx), mask * (y - my)
    var = jnp.sum(dx * dx) * jnp.sum(dy * dy)
    ok = var > 1e-20
    return jnp.where(ok, jnp.sum(dx * dy) / jnp.sqrt(jnp.where(ok, var, 1.0)), 0.0)


def loss(weights, signal, confidence, z, mask, l2):
    """-IC(bias, target) + l2 x mean((w - 1)^2); rows with ``mask`` 0 count for nothing, even NaN."""
    keep = mask > 0
    z = jnp.where(keep, z, 0.0)
    b = bias(weights, jnp.where(keep[:, None], signal, 0.0), jnp.where(keep[:, None], confidence, 0.0))
    return -_pearson(b, z, mask) + l2 * jnp.mean((weights - 1.0) ** 2)


def optimizer(learning: LearningConfig) -> optax.GradientTransformation:
    rate = (
        optax.cosine_decay_schedule(learning.learning_rate, learning.steps)
        if learning.schedule == "cosine"
        else learning.learning_rate
    )
    if learning.optimizer == "sgd":
        return optax.sgd(rate, momentum=0.9)
    if learning.optimizer == "adamw":
        return optax.adamw(rate, weight_decay=1e-4)
    return optax.adam(rate)


@dataclass
class Rows:
    """Flattened usable (tick, symbol) samples of one mode: the fit's inputs."""

    signal: np.ndarray  # (N, K)
    confidence: np.ndarray  # (N, K)
    z: np.ndarray  # (N,) NaN where unknown
    mask: np.ndarray  # (N,) 1.0 where usable and the target is known

    @classmethod
    def of(cls, history: History, mode: int, z: np.ndarray, ticks: slice | np.ndarray) -> Rows:
        k = len(history.categories)
        mask = history.usable[ticks] & np.isfinite(z[ticks])
        return cls(
            history.signal[ticks, :, mode].reshape(-1, k),
            history.confidence[ticks, :, mode].reshape(-1, k),
            z[ticks].reshape(-1).astype(np.float32),
            mask.reshape(-1).astype(np.float32),
        )


def fit(
    rows: Rows,
    learning: LearningConfig,
    initial: np.ndarray | None = None,
    watch: Rows | None = None,
    max_change: float | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Category weights maximizing the training IC (full batch, ``learning.steps`` optax steps in
    one ``lax.scan``), within [weight_min, weight_max] and, with ``max_change``, within that
    distance of ``initial``. Returns the weights and the learning curve: the training loss and
    IC per step, and the IC on ``watch`` (e.g. the next test period) when given. Compiled once
    per (learning settings, data shapes)."""
    k = rows.signal.shape[1]
    weights = np.ones(k) if initial is None else np.asarray(initial, np.float64)
    lower = np.full(k, learning.weight_min)
    upper = np.full(k, learning.weight_max)
    if max_change is not None:
        lower, upper = np.maximum(lower, weights - max_change), np.minimum(upper, weights + max_change)
    data = tuple(jnp.asarray(a) for a in (rows.signal, rows.confidence, rows.z, rows.mask))
    seen = (
        data
        if watch is None
        else tuple(jnp.asarray(a) for a in (watch.signal, watch.confidence, watch.z, watch.mask))
    )
    as32 = [
        jnp.asarray(np.clip(weights, lower, upper), jnp.float32),
        jnp.asarray(lower, jnp.float32),
        jnp.asarray(upper, jnp.float32),
    ]
    with jax.numpy_dtype_promotion("standard"):  # optax's schedules mix int step counts and floats
        w, (losses, ics, watched) = _descend(*as32, data, seen, learning)
    curve = {
        "loss": np.asarray(losses),
        "train_ic": np.asarray(ics),
        "test_ic": np.full(len(ics), np.nan) if watch is None else np.asarray(watched),
    }
    return np.asarray(w, np.float64), curve


@functools.partial(jax.jit, static_argnames=("learning",))
def _descend(weights, lower, upper, data, seen, learning: LearningConfig):
    opt = optimizer(learning)

    def ic_of(w, s, c, z, m):
        return -loss(w, s, c, z, m, 0.0)

    def step(carry, _):
        w, state = carry
        value, grad = jax.value_and_grad(loss)(w, *data, learning.l2)
        updates, state = opt.update(grad, state, w)
        w = jnp.clip(optax.apply_updates(w, updates), lower, upper)
        return (w, state), (value, ic_of(w, *data), ic_of(w, *seen))

    (w, _), curve = jax.lax.scan(step, (weights, opt.init(weights)), None, length=learning.steps)
    return w, curve


def ridge(rows: Rows, penalty: float) -> np.ndarray:
    """Closed-form ridge coefficients (intercept first) of the target on the category scores."""
    x = _scores(rows)
    keep = rows.mask > 0
    x, y = x[keep], rows.z[keep].astype(np.float64)
    design = np.column_stack([np.ones(len(x)), x])
    gram = design.T @ design + penalty * max(len(x), 1) * np.diag([0.0] + [1.0] * x.shape[1])
    return np.linalg.solve(gram + 1e-9 * np.eye(len(gram)), design.T @ y)


def _scores(rows: Rows) -> np.ndarray:
    return category_scores(rows.signal, rows.confidence)


def category_scores(signal: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """Category scores S / C in [-1, 1] (0 where the category has no confidence)."""
    c = confidence.astype(np.float64)
    return np.where(c > 1e-12, signal / np.where(c > 1e-12, c, 1.0), 0.0)


# --- metrics ---------------------------------------------------------------------------------------
def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank)."""
    order = np.argsort(x, kind="stable")
    _, inverse, counts = np.unique(x[order], return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    mean_rank = ends - (counts - 1) / 2.0
    ranks = np.empty(len(x))
    ranks[order] = mean_rank[inverse]
    return ranks


def pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def metrics(
    position: np.ndarray,
    z: np.ndarray,
    step_return: np.ndarray,
    funding: np.ndarray,
    usable: np.ndarray,
    tick_seconds: float,
    learning: LearningConfig,
) -> dict[str, float | int | None]:
    """The metrics of a model's positions (T, S) in [-1, 1] (NaN: not evaluated at that tick)."""
    scored = np.isfinite(position) & usable & np.isfinite(z)
    p, y = position[scored], z[scored]
    ic, rank_ic = pearson(p, y), None
    if ic is not None:
        rank_ic = pearson(_ranks(p), _ranks(y))
    called = (p != 0) & (y != 0)
    per_tick, change = _book(position, step_return, funding, usable, tick_seconds, learning)
    evaluated = np.isfinite(position).any(axis=1)
    days = max(np.count_nonzero(evaluated) * tick_seconds / DAY, 1e-12)
    return {
        "samples": int(np.count_nonzero(scored)),
        "ic": _round(ic),
        "rank_ic": _round(rank_ic),
        "hit_rate": _round(
            float(np.mean(np.sign(p[called]) == np.sign(y[called]))) if called.any() else None
        ),
        "pnl": _round(float(np.sum(per_tick) / position.shape[1])),
        "fees": _round(float(learning.fee_bps * 1e-4 * np.sum(change) / position.shape[1])),
        "turnover": _round(float(np.sum(change) / position.shape[1] / days)),
        "days": _round(days, 2),
    }


def _round(value, digits=5):
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def _book(position, step_return, funding, usable, tick_seconds, learning) -> tuple[np.ndarray, np.ndarray]:
    """The long/short book of positions (T, S): P&L per (tick, symbol), held over the next tick,
    net of fees on every position change (flat where not evaluated) and of funding (longs pay a
    positive rate); and the position changes."""
    held = np.where(np.isfinite(position) & usable, position, 0.0)
    change = np.abs(np.diff(held, axis=0, prepend=0.0))
    carried = np.where(np.isfinite(step_return), step_return, 0.0)
    interval = learning.funding_interval_hours * 3600.0
    per_tick = held * carried - learning.fee_bps * 1e-4 * change - held * funding * (tick_seconds / interval)
    return per_tick, change


def pnl_curve(position, step_return, funding, usable, tick_seconds, learning) -> np.ndarray:
    """Cumulative portfolio P&L per tick (the ``pnl`` metric's running sum)."""
    per_tick, _ = _book(position, step_return, funding, usable, tick_seconds, learning)
    return np.cumsum(per_tick.sum(axis=1) / position.shape[1])


# --- walk-forward ------------------------------------------------------------------------------------
@dataclass
class Fold:
    train: slice
    test: slice


def folds(usable_ticks: np.ndarray, count: int, embargo: int) -> list[Fold]:
    """``count`` walk-forward folds over the tick indices with usable data: expanding training
    windows, each ending ``embargo`` ticks before its test period."""
    if len(usable_ticks) == 0:
        raise LearnError("no tick of the recording has a usable price and a known forward return")
    first, last = int(usable_ticks[0]), int(usable_ticks[-1]) + 1
    edges = np.linspace(first, last, count + 2).round().astype(int)
    made = []
    for k in range(count):
        start, stop = int(edges[k + 1]), int(edges[k + 2])
        train_stop = start - embargo
        if train_stop <= first or stop <= start:
            raise LearnError(
                f"the recording is too short for {count} walk-forward folds with a {embargo}-tick "
                f"horizon ({last - first} usable ticks); use fewer folds or a longer recording"
            )
        made.append(Fold(slice(first, train_stop), slice(start, stop)))
    return made


def _positions(weights: np.ndarray, history: History, mode: int, ticks: slice) -> np.ndarray:
    return np.asarray(
        bias(
            jnp.asarray(weights, jnp.float32),
            jnp.asarray(history.signal[ticks, :, mode]),
            jnp.asarray(history.confidence[ticks, :, mode]),
        ),
        np.float64,
    )


def _ridge_positions(coef, rows_train: Rows, equal_train: np.ndarray, history, mode, ticks) -> np.ndarray:
    """Ridge predictions as positions: scaled so their mean size on the training period equals
    the equal-weights bias's, clipped to [-1, 1]."""
    trained = np.column_stack([np.ones(len(rows_train.z)), _scores(rows_train)]) @ coef
    keep = rows_train.mask > 0
    size = np.mean(np.abs(trained[keep])) if keep.any() else 0.0
    scale = np.mean(np.abs(equal_train[keep])) / size if size > 0 else 0.0
    scores = category_scores(history.signal[ticks, :, mode], history.confidence[ticks, :, mode])
    predicted = coef[0] + scores @ coef[1:]
    return np.clip(predicted * scale, -1.0, 1.0)


@dataclass
class WalkForward:
    """Everything one walk-forward run of a mode produced (``report()`` is the JSON)."""

    history: History
    mode: int
    targets: Targets
    learning: LearningConfig
    folds: list[Fold]
    fold_weights: list[np.ndarray]  # learned weights per fold (None for evaluate)
    curves: list[dict[str, np.ndarray]]
    positions: dict[str, np.ndarray]  # model -> (T, S) out-of-sample positions (NaN outside tests)
    train_metrics: list[dict]
    weights: np.ndarray | None  # the final fit on every usable tick (train) or the given weights

    def metrics_of(self, name: str, ticks: slice | None = None) -> dict:
        """A model's metrics over every test period, or over ``ticks`` only."""
        h = self.history
        position = self.positions[name] if ticks is None else _only(self.positions[name], ticks)
        return metrics(
            position,
            self.targets.z,
            self.targets.step_return,
            h.funding,
            h.usable,
            h.tick_seconds,
            self.learning,
        )

    def report(self, model: str = "learned") -> dict:
        h = self.history
        test_ticks = np.zeros(len(h.time), bool)
        for fold in self.folds:
            test_ticks[fold.test] = True
        category_rows = {}
        scores = category_scores(h.signal[:, :, self.mode], h.confidence[:, :, self.mode])
        scored = test_ticks[:, None] & h.usable & np.isfinite(self.targets.z)
        for k, name in enumerate(h.categories):
            x, y = scores[:, :, k][scored], self.targets.z[scored]
            ic = pearson(x, y)
            category_rows[name] = {
                "weight": None if self.weights is None else round(float(self.weights[k]), 5),
                "test_ic": _round(ic),
                "fold_weights": [round(float(w[k]), 5) for w in self.fold_weights],
            }
        train = None
        if self.train_metrics:
            train = {
                key: _round(float(np.mean([m[key] for m in self.train_metrics if m[key] is not None])))
                if any(m[key] is not None for m in self.train_metrics)
                else None
                for key in self.train_metrics[0]
            }
        test = self.metrics_of(model)
        baselines = {name: self.metrics_of(name) for name in BASELINES}
        return {
            "mode": h.modes[self.mode],
            "horizon_seconds": h.horizons[self.mode],
            "horizon_ticks": self.targets.horizon_ticks,
            "tick_seconds": h.tick_seconds,
            "ticks": len(h.time),
            "symbols": len(h.symbols),
            "time_range": [iso(h.time[0]), iso(h.time[-1])],
            "config_hash": h.config_hash,
            "learning": asdict(self.learning),
            "loss": "-pearson_ic(bias, target) + l2 * mean((w - 1)^2)",
            "folds": [
                {
                    "train": [iso(h.time[f.train.start]), iso(h.time[f.train.stop - 1])],
                    "test": [iso(h.time[f.test.start]), iso(h.time[f.test.stop - 1])],
                    "test_metrics": self.metrics_of(model, f.test),
                    "equal_weights_metrics": self.metrics_of("equal_weights", f.test),
                }
                for f in self.folds
            ],
            "train": train,
            "test": test,
            "baselines": baselines,
            "beats_equal_weights": _beats(test, baselines["equal_weights"]),
            "weights": None
            if self.weights is None
            else {name: round(float(w), 5) for name, w in zip(h.categories, self.weights, strict=True)},
            "categories": category_rows,
        }


def _beats(model: dict, baseline: dict) -> bool | None:
    if model["ic"] is None or baseline["ic"] is None:
        return None
    return model["ic"] > baseline["ic"]


def _only(position: np.ndarray, ticks: slice) -> np.ndarray:
    out = np.full_like(position, np.nan)
    out[ticks] = position[ticks]
    return out


def walk_forward(
    history: History,
    mode: str,
    learning: LearningConfig,
    weights: np.ndarray | None = None,
    progress: Callable[[int], None] | None = None,
) -> WalkForward:
    """Walk-forward training (``weights`` None: learned per fold, then a final fit on everything)
    or evaluation of fixed ``weights``, beside the baselines, on the same folds."""
    m = history.mode_index(mode)
    target = targets(history, m, learning)
    known = np.flatnonzero((history.usable & np.isfinite(target.z)).any(axis=1))
    made = folds(known, learning.folds, target.horizon_ticks)
    k = len(history.categories)
    if weights is not None and np.shape(weights) != (k,):
        raise LearnError(f"weights must hold one value per category ({k}), found shape {np.shape(weights)}")
    shape = history.price.shape
    positions = {name: np.full(shape, np.nan) for name in ("learned", *BASELINES)}
    momentum = np.zeros(k)
    momentum[history.categories.index(MOMENTUM)] = 1.0
    fold_weights, curves, train_metrics = [], [], []
    for n, fold in enumerate(made):
        train_rows = Rows.of(history, m, target.z, fold.train)
        if train_rows.mask.sum() < 3:
            raise LearnError(f"fold {n + 1} has fewer than 3 usable training samples")
        if weights is None:
            learned, curve = fit(train_rows, learning, watch=Rows.of(history, m, target.z, fold.test))
            fold_weights.append(learned)
            curves.append(curve)
            train_position = _only(_positions(learned, history, m, slice(None)), fold.train)
            train_metrics.append(
                metrics(
                    train_position,
                    target.z,
                    target.step_return,
                    history.funding,
                    history.usable,
                    history.tick_seconds,
                    learning,
                )
            )
        else:
            learned = np.asarray(weights, np.float64)
        positions["learned"][fold.test] = _positions(learned, history, m, fold.test)
        positions["equal_weights"][fold.test] = _positions(np.ones(k), history, m, fold.test)
        positions["momentum"][fold.test] = _positions(momentum, history, m, fold.test)
        equal_train = _positions(np.ones(k), history, m, fold.train).reshape(-1)
        coef = ridge(train_rows, learning.ridge)
        positions["ridge"][fold.test] = _ridge_positions(coef, train_rows, equal_train, history, m, fold.test)
        if progress is not None:
            progress(n + 1)
    final = weights
    if weights is None:
        everything = slice(int(known[0]), int(known[-1]) + 1)
        final, _ = fit(Rows.of(history, m, target.z, everything), learning)
    return WalkForward(
        history, m, target, learning, made, fold_weights, curves, positions, train_metrics, final
    )


# --- weights files -------------------------------------------------------------------------------
def atomic_write(path: str, write: Callable, binary: bool = False) -> None:
    """Write through a temporary file in the same folder, then rename: readers never see half."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(handle, "wb" if binary else "w") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def save_weights(
    path: str, mode: str, categories: tuple[str, ...], weights: np.ndarray, source: dict
) -> dict:
    """Write (or update) a weights file: per mode, category -> weight, with where it came from.
    Other modes already in the file are kept. Atomic."""
    document = {"format": WEIGHTS_FORMAT, "categories": list(categories), "modes": {}, "sources": {}}
    if os.path.exists(path):
        document = read_weights_file(path, categories)
    document["modes"][mode] = {c: round(float(w), 6) for c, w in zip(categories, weights, strict=True)}
    document["sources"][mode] = source
    document["created"] = iso(dt.datetime.now(dt.UTC).timestamp())
    atomic_write(path, lambda f: json.dump(document, f, indent=1, sort_keys=True))
    return document


def read_weights_file(path: str, categories: tuple[str, ...]) -> dict:
    try:
        with open(path) as f:
            document = json.load(f)
    except FileNotFoundError:
        raise LearnError(f"weights file {path} does not exist") from None
    except (OSError, json.JSONDecodeError) as e:
        raise LearnError(f"weights file {path} is not readable JSON: {e}") from None
    if not isinstance(document, dict) or document.get("format") != WEIGHTS_FORMAT:
        raise LearnError(f'{path} is not a bpjax weights file (no "format": "{WEIGHTS_FORMAT}")')
    modes = document.get("modes")
    if not isinstance(modes, dict):
        raise LearnError(f'weights file {path}: "modes" must map mode names to category weights')
    for mode, table in modes.items():
        if not isinstance(table, dict):
            raise LearnError(f"weights file {path}: modes.{mode} must map categories to weights")
        unknown = sorted(set(table) - set(categories))
        if unknown:
            raise LearnError(f"weights file {path}: modes.{mode} names unknown category {unknown[0]!r}")
        for category, value in table.items():
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                raise LearnError(
                    f"weights file {path}: modes.{mode}.{category} must be a finite number, was {value!r}"
                )
    document.setdefault("sources", {})
    return document


def starting_weights(config: Config, path: str | None = None) -> np.ndarray:
    """(mode, cat) category weights: a weights file's (``path``) where it has them, else the
    config's."""
    if path:
        return load_weights(path, config, REGISTRY.categories)
    return config_weights(config, REGISTRY.categories).astype(np.float64)


def load_weights(path: str, config: Config, categories: tuple[str, ...]) -> np.ndarray:
    """(mode, cat) category weights: the file's where it has them, the config's elsewhere."""
    document = read_weights_file(path, categories)
    unknown = sorted(set(document["modes"]) - set(config.mode_names))
    if unknown:
        raise LearnError(
            f"weights file {path} has mode {unknown[0]!r}; the config's modes: {', '.join(config.mode_names)}"
        )
    table = config_weights(config, categories).astype(np.float64)
    for mode, weights in document["modes"].items():
        row = config.mode_names.index(mode)
        for category, value in weights.items():
            table[row, categories.index(category)] = value
    return table


def format_report(report: dict) -> str:
    """The human-readable summary of a train / evaluate report."""
    lines = [
        f"{report.get('recording', '')}: mode {report['mode']}, horizon {report['horizon_seconds']:g} s "
        f"({report['horizon_ticks']} ticks of {report['tick_seconds']:g} s), {report['symbols']} symbols, "
        f"{report['time_range'][0]} to {report['time_range'][1]}, {len(report['folds'])} walk-forward folds",
        f"{'model':<15}{'ic':>9}{'rank_ic':>9}{'hit':>8}{'pnl':>9}{'fees':>8}{'turnover/d':>12}{'samples':>10}",
    ]
    rows = [("learned" if report.get("train") else "given weights", report["test"])]
    rows += list(report["baselines"].items())

    def cell(value, width, digits=4):
        return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"

    for name, m in rows:
        lines.append(
            f"{name:<15}{cell(m['ic'], 9)}{cell(m['rank_ic'], 9)}{cell(m['hit_rate'], 8, 3)}"
            f"{cell(m['pnl'], 9)}{cell(m['fees'], 8)}{cell(m['turnover'], 12, 1)}{m['samples']:>10,}"
        )
    if report.get("train"):
        lines.append(f"train (in-sample, mean over folds): ic {cell(report['train']['ic'], 0)}")
    if report.get("weights"):
        top = sorted(report["weights"].items(), key=lambda item: -item[1])
        lines.append("weights: " + ", ".join(f"{name} {w:.2f}" for name, w in top))
    for key in ("out", "report"):
        if report.get(key):
            lines.append(f"{key}: {report[key]}")
    return "\n".join(lines)
