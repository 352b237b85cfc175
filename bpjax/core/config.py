"""Frozen, typed configuration parsed from TOML.

Every table maps onto a frozen dataclass. Unknown keys, wrong types and values
out of range are refused with a :class:`ConfigError` naming the key (dotted
path), the value found and the valid range or choices. A configuration has a
stable hash (:meth:`Config.hash`) that is stamped into every output.

Structure (symbols, timeframes, modes) is static for the jitted tick; every
number that tunes behaviour (weights, scales, thresholds) becomes a traced
parameter in :mod:`bpjax.tick.params`, so changing it never recompiles.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bpjax.core.defines import CATEGORIES, VENUES

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG_PATH = REPO_ROOT / "configs" / "default.toml"
_SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{1,20}USDT$")  # GUSDT is a real one


def is_universe_symbol(symbol: str) -> bool:
    """Whether a universe may hold ``symbol`` (a USDT perpetual's name)."""
    return bool(_SYMBOL_PATTERN.match(symbol))


OPERATIONAL_KEYS = ("platform", "compilation_cache")  # [engine] keys left out of Config.hash()


class ConfigError(ValueError):
    """A configuration value is missing, unknown, of the wrong type or out of range."""


def _spec(*, low: float | None = None, high: float | None = None, choices: tuple = (), doc: str = ""):
    return {"low": low, "high": high, "choices": choices, "doc": doc}


def setting(default: Any = dataclasses.MISSING, **spec: Any) -> Any:
    """A dataclass field with a validation spec (range or choices) in its metadata."""
    if default is dataclasses.MISSING:
        return field(metadata=_spec(**spec))
    if isinstance(default, dict | list):
        raise TypeError("mutable defaults are not allowed in a frozen config")
    return field(default=default, metadata=_spec(**spec))


@dataclass(frozen=True, kw_only=True)
class StaleSeconds:
    """How long a feed group may stay silent (local receive time) before its fields are masked."""

    trades: float = setting(60.0, low=1, high=86_400)
    book: float = setting(30.0, low=1, high=86_400)
    mark: float = setting(30.0, low=1, high=86_400)
    funding: float = setting(600.0, low=1, high=86_400)
    open_interest: float = setting(300.0, low=1, high=86_400)
    liquidations: float = setting(120.0, low=1, high=86_400)
    positioning: float = setting(1_200.0, low=1, high=86_400)
    venue: float = setting(60.0, low=1, high=86_400)

    def for_group(self, group: str) -> float:
        return self.venue if group.startswith("venue_") else getattr(self, group)


@dataclass(frozen=True, kw_only=True)
class EngineConfig:
    tick_seconds: int = setting(10, low=1, high=3_600, doc="engine tick period")
    platform: str = setting("auto", choices=("auto", "cpu", "gpu", "tpu"))
    large_trade_notional: float = setting(100_000.0, low=0, high=1e12)
    compilation_cache: str = setting("~/.cache/bpjax/xla", doc="directory for compiled ticks; empty: off")
    stale_seconds: StaleSeconds = field(default_factory=StaleSeconds)


@dataclass(frozen=True, kw_only=True)
class UniverseConfig:
    symbols: tuple[str, ...] = setting()
    benchmark: str = setting("BTCUSDT")
    primary_venue: str = setting("binance", choices=VENUES)


@dataclass(frozen=True, kw_only=True)
class TimeframeConfig:
    name: str = setting()
    seconds: int = setting(low=1, high=7 * 86_400)


@dataclass(frozen=True, kw_only=True)
class ModeConfig:
    name: str = setting()
    publish_seconds: int = setting(low=1, high=86_400)
    lookback_scale: float = setting(1.0, low=0.25, high=4.0)
    horizon_seconds: int = setting(low=1, high=30 * 86_400)
    timeframe_weights: tuple[float, ...] = setting(low=0, high=1e3)


@dataclass(frozen=True, kw_only=True)
class AggregationConfig:
    neutral_band: float = setting(15.0, low=0, high=100, doc="|bias| below this is neutral")
    exhaustion_bias: float = setting(70.0, low=0, high=100)
    exhaustion_share: float = setting(0.5, low=0, high=1)
    extreme_strength: float = setting(0.9, low=0, high=1)
    deceleration_ratio: float = setting(0.8, low=0, high=1)
    conflict_threshold: float = setting(10.0, low=0, high=100)
    conflict_confidence_factor: float = setting(0.6, low=0, high=1)
    bias_fast_publishes: float = setting(1.0, low=0.1, high=1_000)
    bias_slow_publishes: float = setting(6.0, low=0.1, high=1_000)
    risk_per_trade: float = setting(0.01, low=0, high=1)
    stop_volatility_multiple: float = setting(2.0, low=0.1, high=100)
    max_position: float = setting(3.0, low=0, high=125)


@dataclass(frozen=True, kw_only=True)
class SimulatorConfig:
    seed: int = setting(7, low=0, high=2**31 - 1)
    start: str = setting("2026-01-05T00:00:00Z", doc="ISO 8601 UTC start of simulated time")
    warmup_minutes: int = setting(3_840, low=0, high=60 * 24 * 60)
    warmup_step_seconds: int = setting(3_600, low=1, high=86_400)


@dataclass(frozen=True, kw_only=True)
class BinanceVenue:
    enabled: bool = setting(True)
    ws_url: str = setting("wss://fstream.binance.com", doc="root: /public and /market entry points below it")
    rest_url: str = setting("https://fapi.binance.com", doc="REST base")


@dataclass(frozen=True, kw_only=True)
class BybitVenue:
    enabled: bool = setting(True)
    ws_url: str = setting("wss://stream.bybit.com/v5/public/linear", doc="public linear socket")
    rest_url: str = setting("https://api.bybit.com", doc="REST base")


@dataclass(frozen=True, kw_only=True)
class OkxVenue:
    enabled: bool = setting(True)
    ws_url: str = setting("wss://ws.okx.com:8443/ws/v5/public", doc="public socket")
    rest_url: str = setting("https://www.okx.com", doc="REST base")


@dataclass(frozen=True, kw_only=True)
class VenuesConfig:
    """Where each venue is reached: the real venues by default; testnets, proxies and the local
    wire-level simulator by configuration."""

    binance: BinanceVenue = field(default_factory=BinanceVenue)
    bybit: BybitVenue = field(default_factory=BybitVenue)
    okx: OkxVenue = field(default_factory=OkxVenue)


@dataclass(frozen=True, kw_only=True)
class FeedsConfig:
    """Connection behaviour of the live feeds (``--source live`` and ``wire-sim``)."""

    backoff_initial_seconds: float = setting(0.5, low=0.01, high=600)
    backoff_max_seconds: float = setting(30.0, low=0.01, high=3_600)
    silence_seconds: float = setting(30.0, low=0.5, high=3_600, doc="no frame for this long: reconnect")
    max_connection_hours: float = setting(23.5, low=0.001, high=24, doc="reconnect before forced drops")
    queue_frames: int = setting(50_000, low=100, high=10_000_000, doc="frames buffered per venue")
    poll_open_interest_seconds: float = setting(10.0, low=0.5, high=3_600)
    poll_ratios_seconds: float = setting(300.0, low=1, high=86_400)
    backfill_bars: int = setting(1_440, low=0, high=1_500, doc="1m klines fetched per symbol at start")


@dataclass(frozen=True, kw_only=True)
class ZonesConfig:
    """The liquidation zone engine's price grid and position model (:mod:`bpjax.zones.grid`)."""

    bins: int = setting(128, low=8, high=4_096, doc="price bins per symbol")
    range: float = setting(0.25, low=0.01, high=2.0, doc="grid half-width, log price (0.25 = about +-25 %)")
    recentre_bins: int = setting(8, low=1, high=2_048, doc="re-centre when price leaves the centre by this")
    half_life_hours: float = setting(72.0, low=0.01, high=24 * 365, doc="estimated levels fade by half")
    realized_half_life_hours: float = setting(24.0, low=0.01, high=24 * 365)
    leverage: tuple[float, ...] = setting(low=1, high=200, doc="leverage tiers")
    leverage_weights: tuple[float, ...] = setting(low=0, high=1e3, doc="share of new interest per tier")
    maintenance_margin: tuple[float, ...] = setting(low=0, high=0.5, doc="maintenance margin rate per tier")
    smooth_bins: float = setting(1.5, low=0.1, high=64, doc="heatmap smoothing, Gaussian sigma in bins")
    cluster_share: float = setting(
        0.25, low=0.0, high=1.0, doc="a zone is denser than this share of the peak"
    )
    zones_per_side: int = setting(4, low=1, high=64, doc="zones reported per side")
    attraction_range: float = setting(0.05, low=0.001, high=1.0, doc="distance scale of the imbalance")
    cascade_moves: tuple[float, ...] = setting(low=0.0001, high=1.0, doc="price moves of the cascade curve")
    volume_stand_in: float = setting(
        0.05, low=0.0, high=1.0, doc="without open interest: share of traded notional taken as new positions"
    )


@dataclass(frozen=True, kw_only=True)
class LearningConfig:
    """How the category weights are learned (``bpjax train``, the online loop of ``bpjax run --learn``).

    Not part of :meth:`Config.hash`: these settings change what training produces, not what the
    engine computes from given weights (a weights file stamps the settings that made it)."""

    optimizer: str = setting("adam", choices=("adam", "adamw", "sgd"), doc="optax optimizer")
    learning_rate: float = setting(0.05, low=1e-6, high=10.0)
    schedule: str = setting("cosine", choices=("constant", "cosine"), doc="learning-rate schedule")
    steps: int = setting(300, low=1, high=100_000, doc="full-batch optax steps per fit")
    l2: float = setting(0.02, low=0.0, high=100.0, doc="penalty on the distance from equal weights")
    weight_min: float = setting(0.0, low=-100.0, high=100.0, doc="bounds of a learned category weight")
    weight_max: float = setting(4.0, low=-100.0, high=100.0)
    folds: int = setting(4, low=1, high=100, doc="walk-forward test periods")
    volatility_halflife_hours: float = setting(
        24.0, low=0.01, high=24 * 365, doc="EWMA of squared tick returns that normalizes the targets"
    )
    target_clip: float = setting(5.0, low=0.5, high=100.0, doc="normalized targets are clipped to +-this")
    fee_bps: float = setting(4.0, low=0.0, high=1_000.0, doc="cost per unit of notional traded, bps")
    funding_interval_hours: float = setting(8.0, low=0.5, high=168.0, doc="funding settles this often")
    ridge: float = setting(0.1, low=0.0, high=1e9, doc="ridge baseline penalty (x samples)")
    # the online loop (bpjax run --learn DIR; bpjax.learn.online)
    online_every_minutes: float = setting(60.0, low=0.01, high=7 * 24 * 60, doc="at most one step per")
    online_sample_minutes: float = setting(1.0, low=0.0, high=24 * 60, doc="one tick's rows per this long")
    online_min_samples: int = setting(2_000, low=10, high=10_000_000, doc="rows before a step or a verdict")
    online_window: int = setting(50_000, low=100, high=10_000_000, doc="newest rows kept per mode")
    online_steps: int = setting(20, low=1, high=10_000, doc="optax steps per update")
    online_learning_rate: float = setting(0.01, low=1e-6, high=10.0)
    online_max_change: float = setting(0.1, low=0.0, high=100.0, doc="largest change of a weight per update")
    rollback_tolerance: float = setting(0.0, low=0.0, high=2.0, doc="IC a version may trail its parent by")


DEFAULT_ZONES = {
    # Binance USD-M tiers: positions small enough for each leverage sit in the bracket whose rate
    # is listed (BTCUSDT's brackets: 0.4 % up to 125x, 0.5 % to 100x, 1 % to 50x, 2.5 % to 20x)
    "leverage": [5.0, 10.0, 20.0, 25.0, 50.0, 75.0, 100.0, 125.0],
    "leverage_weights": [0.10, 0.25, 0.25, 0.15, 0.12, 0.06, 0.05, 0.02],
    "maintenance_margin": [0.004, 0.004, 0.004, 0.004, 0.004, 0.004, 0.004, 0.004],
    "cascade_moves": [0.005, 0.01, 0.02, 0.03, 0.05, 0.1],
}


@dataclass(frozen=True, kw_only=True)
class Config:
    universe: UniverseConfig
    engine: EngineConfig
    timeframes: tuple[TimeframeConfig, ...]
    modes: tuple[ModeConfig, ...]
    weights: tuple[tuple[str, float], ...] = ()
    aggregation: AggregationConfig = field(default_factory=AggregationConfig)
    simulator: SimulatorConfig = field(default_factory=SimulatorConfig)
    venues: VenuesConfig = field(default_factory=VenuesConfig)
    feeds: FeedsConfig = field(default_factory=FeedsConfig)
    zones: ZonesConfig = field(
        default_factory=lambda: ZonesConfig(**{k: tuple(v) for k, v in DEFAULT_ZONES.items()})
    )
    learning: LearningConfig = field(default_factory=LearningConfig)
    source_path: str = field(default="", compare=False, hash=False, repr=False)

    # --- derived views -------------------------------------------------------------------------
    @property
    def symbols(self) -> tuple[str, ...]:
        return self.universe.symbols

    @property
    def mode_names(self) -> tuple[str, ...]:
        return tuple(mode.name for mode in self.modes)

    @property
    def timeframe_names(self) -> tuple[str, ...]:
        return tuple(tf.name for tf in self.timeframes)

    def mode(self, name: str) -> ModeConfig:
        for mode in self.modes:
            if mode.name == name:
                return mode
        raise ConfigError(f"unknown mode {name!r}; valid modes: {', '.join(self.mode_names)}")

    def category_weight(self, category: str) -> float:
        return dict(self.weights).get(category, 1.0)

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a TOML-shaped document (parse_config(to_dict()) round-trips)."""
        data = _to_plain(self)
        data.pop("source_path", None)
        data["weights"] = dict(self.weights)
        data["modes"] = {mode.pop("name"): mode for mode in data["modes"]}
        return data

    def hash(self) -> str:
        """Stable 16-hex-digit hash of every setting that can change a number the engine produces
        (not of the file's formatting or path, nor of where it runs or caches compiled code)."""
        data = self.to_dict()
        for key in OPERATIONAL_KEYS:
            data["engine"].pop(key)
        data.pop("venues", None)  # where the data comes from and how connections behave
        data.pop("feeds", None)
        data.pop("learning", None)  # how weights are learned, not what the engine computes from them
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def with_venues(self, urls: dict[str, dict[str, str]]) -> Config:
        """The same config with some venues' settings replaced (``{"binance": {"ws_url": ...}}``)."""
        venues = {
            venue: dataclasses.replace(getattr(self.venues, venue), **settings)
            for venue, settings in urls.items()
        }
        return dataclasses.replace(self, venues=dataclasses.replace(self.venues, **venues))

    def start_time(self) -> dt.datetime:
        return _parse_time(self.simulator.start, "simulator.start")

    def with_symbols(self, symbols: tuple[str, ...]) -> Config:
        """The same configuration over another universe (validated like a file would be)."""
        data = self.to_dict()
        data["universe"]["symbols"] = list(symbols)
        if data["universe"]["benchmark"] not in symbols:
            data["universe"]["benchmark"] = symbols[0]
        return parse_config(data, source=self.source_path)

    def replace(self, **sections: dict[str, Any]) -> Config:
        """A copy with some keys of some tables changed, e.g. ``replace(engine={"tick_seconds": 1})``."""
        data = self.to_dict()
        for section, values in sections.items():
            if section not in data or not isinstance(data[section], dict):
                raise ConfigError(f"cannot replace keys of {section!r}")
            data[section].update(values)
        return parse_config(data, source=self.source_path)


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [_to_plain(item) for item in value]
    return value


def _parse_time(text: str, key: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{key} must be an ISO 8601 time like 2026-01-05T00:00:00Z, was {text!r}") from None
    if parsed.tzinfo is None:
        raise ConfigError(f"{key} must carry a UTC offset (e.g. a trailing Z), was {text!r}")
    return parsed.astimezone(dt.UTC)


# --- generic table -> dataclass builder ------------------------------------------------------------


def _describe_range(spec: dict[str, Any]) -> str:
    if spec["choices"]:
        return "one of " + ", ".join(repr(c) for c in spec["choices"])
    low, high = spec["low"], spec["high"]
    if low is not None and high is not None:
        return f"in [{low:g}, {high:g}]"
    if low is not None:
        return f">= {low:g}"
    if high is not None:
        return f"<= {high:g}"
    return "any value"


def _check_scalar(value: Any, kind: type, key: str, spec: dict[str, Any]) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, was {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer {_describe_range(spec)}, was {value!r}")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key} must be a number {_describe_range(spec)}, was {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{key} must be a finite number {_describe_range(spec)}, was {value!r}")
    elif kind is str and not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, was {value!r}")
    if spec["choices"] and value not in spec["choices"]:
        raise ConfigError(f"{key} must be {_describe_range(spec)}, was {value!r}")
    low, high = spec["low"], spec["high"]
    if (low is not None and value < low) or (high is not None and value > high):
        noun = {int: "an integer", float: "a number"}.get(kind, "a value")
        raise ConfigError(f"{key} must be {noun} {_describe_range(spec)}, was {value!r}")
    return value


def _build(cls: type, table: Any, path: str) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"{path or 'config'} must be a table, was {table!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name != "source_path"}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        where = f"[{path}]" if path else "the top level"
        raise ConfigError(
            f"unknown key {path + '.' if path else ''}{unknown[0]} in {where}; "
            f"valid keys: {', '.join(sorted(fields))}"
        )
    values: dict[str, Any] = {}
    for name, f in fields.items():
        key = f"{path}.{name}" if path else name
        if name not in table:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"missing required key {key}")
            continue
        values[name] = _convert(hints[name], table[name], key, f.metadata or _spec())
    return cls(**values)


def _convert(hint: Any, value: Any, key: str, spec: dict[str, Any]) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    origin = typing.get_origin(hint)
    if origin is tuple:
        (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
        if not isinstance(value, list):
            raise ConfigError(f"{key} must be a list, was {value!r}")
        return tuple(_convert(item, v, f"{key}[{i}]", spec) for i, v in enumerate(value))
    if isinstance(hint, types.UnionType):
        raise TypeError(f"unsupported config type {hint}")
    return _check_scalar(value, hint, key, spec)


# --- whole-config parsing and cross-field validation -------------------------------------------------


def parse_config(data: dict[str, Any], *, source: str = "") -> Config:
    """Build and validate a :class:`Config` from a parsed TOML document."""
    if not isinstance(data, dict):
        raise ConfigError(f"config must be a table, was {data!r}")
    data = dict(data)
    known = {
        "universe",
        "engine",
        "timeframes",
        "modes",
        "weights",
        "aggregation",
        "simulator",
        "venues",
        "feeds",
        "zones",
        "learning",
    }
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]} at the top level; valid keys: {', '.join(sorted(known))}"
        )
    for required in ("universe", "timeframes", "modes"):
        if required not in data:
            raise ConfigError(f"missing required table [{required}]")

    universe = _build(UniverseConfig, data["universe"], "universe")
    engine = _build(EngineConfig, data.get("engine", {}), "engine")
    timeframes_raw = data["timeframes"]
    if not isinstance(timeframes_raw, list) or not timeframes_raw:
        raise ConfigError(f"timeframes must be a non-empty array of tables, was {timeframes_raw!r}")
    timeframes = tuple(_build(TimeframeConfig, tf, f"timeframes[{i}]") for i, tf in enumerate(timeframes_raw))
    modes_raw = data["modes"]
    if not isinstance(modes_raw, dict) or not modes_raw:
        raise ConfigError(f"modes must be a table of mode tables, was {modes_raw!r}")
    modes = []
    for name, table in modes_raw.items():
        if not isinstance(table, dict):
            raise ConfigError(f"modes.{name} must be a table, was {table!r}")
        modes.append(_build(ModeConfig, {"name": name, **table}, f"modes.{name}"))
    weights_raw = data.get("weights", {})
    if not isinstance(weights_raw, dict):
        raise ConfigError(f"weights must be a table of category = weight, was {weights_raw!r}")
    weights = []
    for category, weight in weights_raw.items():
        if category not in CATEGORIES:
            raise ConfigError(f"unknown key weights.{category}; valid categories: {', '.join(CATEGORIES)}")
        spec = _spec(low=-100.0, high=100.0)
        weights.append((category, _check_scalar(weight, float, f"weights.{category}", spec)))
    config = Config(
        universe=universe,
        engine=engine,
        timeframes=timeframes,
        modes=tuple(modes),
        weights=tuple(sorted(weights)),
        aggregation=_build(AggregationConfig, data.get("aggregation", {}), "aggregation"),
        simulator=_build(SimulatorConfig, data.get("simulator", {}), "simulator"),
        venues=_build(VenuesConfig, data.get("venues", {}), "venues"),
        feeds=_build(FeedsConfig, data.get("feeds", {}), "feeds"),
        zones=_build(ZonesConfig, {**DEFAULT_ZONES, **data.get("zones", {})}, "zones"),
        learning=_build(LearningConfig, data.get("learning", {}), "learning"),
        source_path=source,
    )
    _validate(config)
    return config


def _validate(config: Config) -> None:
    for venue in VENUES:
        urls = getattr(config.venues, venue)
        if not urls.ws_url.startswith(("ws://", "wss://")):
            raise ConfigError(f"venues.{venue}.ws_url must start with ws:// or wss://, was {urls.ws_url!r}")
        if not urls.rest_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"venues.{venue}.rest_url must start with http:// or https://, was {urls.rest_url!r}"
            )
    zones = config.zones
    if not (len(zones.leverage) == len(zones.leverage_weights) == len(zones.maintenance_margin) > 0):
        raise ConfigError(
            "zones.leverage, zones.leverage_weights and zones.maintenance_margin must list one value per "
            f"tier, found {len(zones.leverage)}, {len(zones.leverage_weights)} and "
            f"{len(zones.maintenance_margin)}"
        )
    if sum(zones.leverage_weights) <= 0:
        raise ConfigError("zones.leverage_weights must not all be zero")
    learning = config.learning
    if not learning.weight_min < learning.weight_max:
        raise ConfigError(
            f"learning.weight_min ({learning.weight_min:g}) must be below learning.weight_max "
            f"({learning.weight_max:g})"
        )
    if not learning.weight_min <= 1.0 <= learning.weight_max:
        raise ConfigError(
            f"learning.weight_min..weight_max ({learning.weight_min:g}..{learning.weight_max:g}) must "
            "contain 1, the equal weight training starts from"
        )
    for leverage, rate in zip(zones.leverage, zones.maintenance_margin, strict=True):
        if rate >= 1.0 / leverage:
            raise ConfigError(
                f"zones.maintenance_margin {rate:g} at {leverage:g}x is not below the initial margin "
                f"{1.0 / leverage:g}: such a position is liquidated when opened"
            )
    if config.feeds.backoff_initial_seconds > config.feeds.backoff_max_seconds:
        raise ConfigError(
            f"feeds.backoff_initial_seconds ({config.feeds.backoff_initial_seconds:g}) must not exceed "
            f"feeds.backoff_max_seconds ({config.feeds.backoff_max_seconds:g})"
        )
    symbols = config.universe.symbols
    if not symbols:
        raise ConfigError("universe.symbols must list at least one symbol, was []")
    for i, symbol in enumerate(symbols):
        if not _SYMBOL_PATTERN.match(symbol):
            raise ConfigError(
                f"universe.symbols[{i}] must be an upper-case USDT perpetual like BTCUSDT, was {symbol!r}"
            )
    duplicates = sorted({s for s in symbols if symbols.count(s) > 1})
    if duplicates:
        raise ConfigError(f"universe.symbols lists {duplicates[0]!r} more than once")
    if config.universe.benchmark not in symbols:
        raise ConfigError(
            f"universe.benchmark must be one of universe.symbols, was {config.universe.benchmark!r}"
        )

    tick = config.engine.tick_seconds
    names = [tf.name for tf in config.timeframes]
    if len(set(names)) != len(names):
        raise ConfigError(f"timeframes names must be unique, found {names}")
    seconds = [tf.seconds for tf in config.timeframes]
    if seconds != sorted(set(seconds)):
        raise ConfigError(
            f"timeframes must be listed shortest first without repeats, found seconds {seconds}"
        )
    for i, tf in enumerate(config.timeframes):
        if tf.seconds % tick and (tf.seconds > tick or tick % tf.seconds):
            raise ConfigError(
                f"timeframes[{i}].seconds must be a multiple of engine.tick_seconds ({tick}) so bars "
                f"close on tick boundaries (or, finer than the tick, divide it: such a timeframe is "
                f"masked), was {tf.seconds}"
            )
    if all(tf.seconds < tick for tf in config.timeframes):
        raise ConfigError(
            f"engine.tick_seconds ({tick}) is coarser than every timeframe ({', '.join(names)}): "
            "at least one timeframe must be a multiple of the tick"
        )
    for mode in config.modes:
        key = f"modes.{mode.name}"
        if mode.publish_seconds % tick:
            raise ConfigError(
                f"{key}.publish_seconds must be a multiple of engine.tick_seconds ({tick}), "
                f"was {mode.publish_seconds}"
            )
        if len(mode.timeframe_weights) != len(config.timeframes):
            raise ConfigError(
                f"{key}.timeframe_weights must have one weight per timeframe "
                f"({len(config.timeframes)}: {', '.join(names)}), found {len(mode.timeframe_weights)}"
            )
        if sum(mode.timeframe_weights) <= 0:
            raise ConfigError(f"{key}.timeframe_weights must not all be zero")
    aggregation = config.aggregation
    if aggregation.bias_slow_publishes < aggregation.bias_fast_publishes:
        raise ConfigError(
            "aggregation.bias_slow_publishes must be >= aggregation.bias_fast_publishes "
            f"({aggregation.bias_fast_publishes}), was {aggregation.bias_slow_publishes}"
        )
    config.start_time()


def load_config(path: str | Path | None = None) -> Config:
    """Load a TOML file (the repository's ``configs/default.toml`` when ``path`` is None)."""
    path = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    if not path.exists():
        hint = "" if path != DEFAULT_CONFIG_PATH else " (install from a checkout with `pip install -e .`)"
        raise ConfigError(f"config file {str(path)!r} was not found{hint}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {error}") from None
    return parse_config(data, source=str(path))
