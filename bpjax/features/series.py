"""Bar series: what streams and window features are computed of, and the one registry of them.

A series is a function ``fn(bar, prev) -> (value, valid)`` of a bar and the bar before it
(both :class:`Bar`, laid out ``(..., field, sym)``), or a snapshot field read as it is. Every
named series lives in this module, the built-in ones first and then those of each card
category, so the registry is complete once this module is imported: no card module registers
a series, and import order cannot change what a name means. A series masks what it cannot
compute (a missing field, a division by zero) and returns float32 values.

Cards name series by string in their :class:`~bpjax.features.streams.Stream` and
:class:`~bpjax.features.windows.Window` declarations; an unknown name raises when the
declaration is made, with the valid names in the message.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import jax
import jax.numpy as jnp

from bpjax.core.defines import VENUES
from bpjax.core.fields import FIELD_INDEX
from bpjax.core.types import Array, Bool, Float
from bpjax.features.ops import log_ratio, safe_div, safe_log


@jax.tree_util.register_pytree_node_class
class Bar:
    """A bar (or a batch of bars): values and masks laid out (..., field, sym), the symbol axis
    innermost as everywhere on the device.

    ``columns`` names the fields along the field axis when it holds a subset (static, not
    traced); by default it holds every field in ``FIELD_NAMES`` order.
    """

    def __init__(self, values, valid, columns: tuple[str, ...] | None = None):
        self.values = values
        self.valid = valid
        self.columns = columns

    def _column(self, name: str) -> int:
        return FIELD_INDEX[name] if self.columns is None else self.columns.index(name)

    def f(self, name: str) -> Float[Array, "... sym"]:
        return self.values[..., self._column(name), :]

    def ok(self, *names: str) -> Bool[Array, "... sym"]:
        out = self.valid[..., self._column(names[0]), :]
        for name in names[1:]:
            out = out & self.valid[..., self._column(name), :]
        return out

    def tree_flatten(self):
        return (self.values, self.valid), self.columns

    @classmethod
    def tree_unflatten(cls, columns, children):
        return cls(*children, columns=columns)


class _FieldRecorder(Bar):
    """A stand-in bar that records which fields a series function reads."""

    def __init__(self, seen: set[str]):
        super().__init__(None, None)
        self.seen = seen

    def f(self, name: str):
        self.seen.add(name)
        return jnp.ones((), jnp.float32)

    def ok(self, *names: str):
        self.seen.update(names)
        return jnp.ones((), bool)


def _log_ratio(bar: Bar, prev: Bar, name: str):
    a, b = bar.f(name), prev.f(name)
    ok = bar.ok(name) & prev.ok(name) & (a > 0) & (b > 0)
    return log_ratio(a, b), ok


def _log_return(bar: Bar, prev: Bar):
    return _log_ratio(bar, prev, "close")


def _true_range(bar: Bar, prev: Bar):
    """Wilder's true range; high - low when the previous close is missing."""
    prev_close = jnp.where(prev.ok("close"), prev.f("close"), bar.f("low"))
    high = jnp.maximum(bar.f("high"), prev_close)
    low = jnp.minimum(bar.f("low"), prev_close)
    return high - low, bar.ok("high", "low")


def _abs_log_return(bar: Bar, prev: Bar):
    r, ok = _log_return(bar, prev)
    return jnp.abs(r), ok


def _true_range_rel(bar: Bar, prev: Bar):
    tr, ok = _true_range(bar, prev)
    close = bar.f("close")
    ok = ok & (close > 0)
    return jnp.where(ok, tr / jnp.where(ok, close, 1.0), 0.0), ok


def _range_log(bar: Bar, prev: Bar):
    ok = bar.ok("high", "low") & (bar.f("low") > 0)
    return log_ratio(bar.f("high"), bar.f("low")), ok


def _signed_square(sign: float):
    def series(bar: Bar, prev: Bar):
        r, ok = _log_return(bar, prev)
        return jnp.where(sign * r > 0, r * r, 0.0), ok

    return series


def _close_change(sign: float):
    def series(bar: Bar, prev: Bar):
        change = bar.f("close") - prev.f("close")
        return jnp.maximum(sign * change, 0.0), bar.ok("close") & prev.ok("close")

    return series


def _premium(bar: Bar, prev: Bar):
    index = bar.f("index")
    ok = bar.ok("mark", "index") & (index > 0)
    # (mark - index) / index: the subtraction of two close prices is exact in float32
    return jnp.where(ok, (bar.f("mark") - index) / jnp.where(ok, index, 1.0), 0.0), ok


def _funding_notional(bar: Bar, prev: Bar):
    """Funding paid per interval by longs, in quote: rate x open interest x mark (signed log1p scale)."""
    ok = bar.ok("funding_rate", "open_interest", "mark")
    paid = bar.f("funding_rate") * bar.f("open_interest") * bar.f("mark")
    return jnp.where(ok, jnp.sign(paid) * jnp.log1p(jnp.abs(paid)), 0.0), ok


def _taker_imbalance(bar: Bar, prev: Bar):
    buy, sell = bar.f("buy_volume"), bar.f("sell_volume")
    total = buy + sell
    ok = bar.ok("buy_volume", "sell_volume") & (total > 0)
    return jnp.where(ok, (buy - sell) / jnp.where(ok, total, 1.0), 0.0), ok


def _log_oi(bar: Bar, prev: Bar):
    oi = bar.f("open_interest")
    ok = bar.ok("open_interest") & (oi > 0)
    return jnp.where(ok, safe_log(oi), 0.0), ok


def _typical_price(bar: Bar, prev: Bar):
    return (bar.f("high") + bar.f("low") + bar.f("close")) / 3.0, bar.ok("high", "low", "close")


def _buying_pressure(bar: Bar, prev: Bar):
    prev_close = jnp.where(prev.ok("close"), prev.f("close"), bar.f("low"))
    return bar.f("close") - jnp.minimum(bar.f("low"), prev_close), bar.ok("low", "close") & prev.ok("close")


def _abs_change(bar: Bar, prev: Bar):
    return jnp.abs(bar.f("close") - prev.f("close")), bar.ok("close") & prev.ok("close")


SeriesFn = Callable[[Bar, Bar], tuple[Array, Array]]

# name -> (function of (bar, previous bar) -> (value, valid), description)
SERIES: dict[str, tuple[SeriesFn, str]] = {
    "log_close": (
        lambda b, p: (safe_log(b.f("close")), b.ok("close") & (b.f("close") > 0)),
        "log close price",
    ),
    "log_return": (_log_return, "log(close / previous close)"),
    "abs_log_return": (_abs_log_return, "|log return|"),
    "up_square": (_signed_square(1.0), "squared log return when positive, else 0"),
    "down_square": (_signed_square(-1.0), "squared log return when negative, else 0"),
    "gain": (_close_change(1.0), "max(close - previous close, 0)"),
    "loss": (_close_change(-1.0), "max(previous close - close, 0)"),
    "true_range": (_true_range, "max(high, previous close) - min(low, previous close)"),
    "true_range_rel": (_true_range_rel, "true range / close"),
    "range_log": (_range_log, "log(high / low)"),
    "log_oi": (_log_oi, "log open interest"),
    "oi_log_change": (lambda b, p: _log_ratio(b, p, "open_interest"), "log(OI / previous OI)"),
    "funding_change": (
        lambda b, p: (b.f("funding_rate") - p.f("funding_rate"), b.ok("funding_rate") & p.ok("funding_rate")),
        "funding rate - previous funding rate",
    ),
    "premium": (_premium, "(mark - index) / index"),
    "funding_notional": (_funding_notional, "signed log1p(funding x OI x mark)"),
    "taker_imbalance": (_taker_imbalance, "(taker buy - taker sell) / volume"),
    "typical_price": (_typical_price, "(high + low + close) / 3"),
    "buying_pressure": (_buying_pressure, "close - min(low, previous close)"),
    "abs_change": (_abs_change, "|close - previous close|"),
}


def register_series(name: str, description: str):
    """Decorator adding a derived series ``fn(bar, prev) -> (value, valid)`` to :data:`SERIES`, so
    a card module can declare streams and windows on it. The function must mask what it cannot
    compute (a missing field, a division by zero) and return float32 values."""

    def wrap(fn: SeriesFn) -> SeriesFn:
        if name in SERIES or name in FIELD_INDEX:
            raise ValueError(f"series {name!r} is defined twice")
        SERIES[name] = (fn, description)
        series_fields.cache_clear()
        return fn

    return wrap


def all_present(fields) -> str:
    """Name of the series that is 1 on bars where every one of ``fields`` is present."""
    return "present(" + ",".join(fields) + ")"


def is_series(name: str) -> bool:
    if name.startswith("present(") and name.endswith(")"):
        return all(field in FIELD_INDEX for field in name[8:-1].split(","))
    return name in SERIES or name in FIELD_INDEX


def series_value(name: str, bar: Bar, prev: Bar):
    """(value, valid) of a derived series, of ``present(a,b,...)`` (1 where all are present),
    or, for a field name, of the field itself."""
    if name in SERIES:
        return SERIES[name][0](bar, prev)
    if name.startswith("present("):
        ok = bar.ok(*name[8:-1].split(","))
        return jnp.ones(ok.shape, jnp.float32), ok
    return bar.f(name), bar.ok(name)


@cache
def series_fields(name: str) -> tuple[str, ...]:
    """The snapshot fields a series reads (of the bar or the bar before it), in field order."""
    seen: set[str] = set()
    series_value(name, _FieldRecorder(seen), _FieldRecorder(seen))
    return tuple(sorted(seen, key=FIELD_INDEX.__getitem__))


series_log_ratio = log_ratio  # the name the category sections below use


# --- basis ------------------------------------------------------------------------------------------


@register_series("mark_close_gap", "log(mark / close): mark price over the last trade")
def _mark_close_gap(bar: Bar, prev: Bar):
    mark, close = bar.f("mark"), bar.f("close")
    ok = bar.ok("mark", "close") & (mark > 0) & (close > 0)
    return jnp.where(ok, series_log_ratio(mark, close), 0.0), ok


# --- candles ----------------------------------------------------------------------------------------


OHLC = ("open", "high", "low", "close")


def _body_fraction(bar: Bar):
    high, low = bar.f("high"), bar.f("low")
    wide = high > low
    fraction = (bar.f("close") - bar.f("open")) / jnp.where(wide, high - low, 1.0)
    return jnp.where(wide, fraction, 0.0), bar.ok(*OHLC)


@register_series("candle_body_fraction", "(close - open) / (high - low) of the bar, 0 without range")
def _body_fraction_series(bar: Bar, prev: Bar):
    return _body_fraction(bar)


@register_series("candle_location", "(close - low) - (high - close): close location in price units")
def _location(bar: Bar, prev: Bar):
    ok = bar.ok("high", "low", "close")
    close = bar.f("close")
    return jnp.where(ok, (close - bar.f("low")) - (bar.f("high") - close), 0.0), ok


@register_series("candle_range", "high - low of the bar")
def _range(bar: Bar, prev: Bar):
    ok = bar.ok("high", "low")
    return jnp.where(ok, bar.f("high") - bar.f("low"), 0.0), ok


@register_series(
    "candle_engulfing",
    "sign(b) f max(|b| - |b1|, 0) / two-bar range; b, b1 = close - open now and before, f = 1 or 1/2",
)
def _engulfing(bar: Bar, prev: Bar):
    body = bar.f("close") - bar.f("open")
    before = prev.f("close") - prev.f("open")
    span = jnp.maximum(bar.f("high"), prev.f("high")) - jnp.minimum(bar.f("low"), prev.f("low"))
    ok = bar.ok(*OHLC) & prev.ok(*OHLC) & (span > 0)
    colours = jnp.where(body * before < 0, 1.0, 0.5)
    growth = jnp.maximum(jnp.abs(body) - jnp.abs(before), 0.0) / jnp.where(ok, span, 1.0)
    return jnp.where(ok, jnp.sign(body) * colours * growth, 0.0), ok


# --- cross exchange ---------------------------------------------------------------------------------


VENUE_MIDS = tuple(f"mid_{venue}" for venue in VENUES)


VENUE_FUNDING = tuple(f"funding_{venue}" for venue in VENUES)


def venue_moments(values, oks):
    """Mean, population variance and count over the venues with data."""
    n = sum(ok.astype(jnp.float32) for ok in oks)
    mean = safe_div(sum(jnp.where(ok, v, 0.0) for v, ok in zip(values, oks, strict=True)), n)
    deviations = (jnp.where(ok, v - mean, 0.0) for v, ok in zip(values, oks, strict=True))
    var = safe_div(sum(d * d for d in deviations), n)
    return mean, var, n


def venue_log_distances(price, present, anchor, anchor_ok):
    """log(mid_venue / mid) per venue, and whether it exists; ``price``/``present`` map field names."""
    ok_anchor = anchor_ok & (anchor > 0)
    logs, oks = [], []
    for name in VENUE_MIDS:
        value = price(name)
        ok = present(name) & (value > 0) & ok_anchor
        logs.append(jnp.where(ok, series_log_ratio(value, anchor), 0.0))
        oks.append(ok)
    return logs, oks


def _bar_logs(bar: Bar):
    return venue_log_distances(bar.f, bar.ok, bar.f("mid"), bar.ok("mid"))


@register_series("venue_mid_dispersion", "std over venues of log(venue mid / mid)")
def _venue_mid_dispersion(bar: Bar, prev: Bar):
    _, var, n = venue_moments(*_bar_logs(bar))
    return jnp.sqrt(var), n >= 2


@register_series("primary_venue_premium", "log(mid) - mean over venues of log(venue mid)")
def _primary_venue_premium(bar: Bar, prev: Bar):
    mean, _, n = venue_moments(*_bar_logs(bar))
    return -mean, n >= 2


@register_series("venue_funding_dispersion", "std over venues of the venue funding rates")
def _venue_funding_dispersion(bar: Bar, prev: Bar):
    _, var, n = venue_moments(
        [bar.f(name) for name in VENUE_FUNDING], [bar.ok(name) for name in VENUE_FUNDING]
    )
    return jnp.sqrt(var), n >= 2


@register_series("venue_premium_lead", "log return x the previous bar's primary venue premium")
def _venue_premium_lead(bar: Bar, prev: Bar):
    close, before = bar.f("close"), prev.f("close")
    ok = bar.ok("close") & prev.ok("close") & (close > 0) & (before > 0)
    mean, _, n = venue_moments(*_bar_logs(prev))
    ok = ok & (n >= 2)
    return jnp.where(ok, series_log_ratio(close, before) * -mean, 0.0), ok


# --- liquidation ------------------------------------------------------------------------------------


def _liquidated_at_close(bar: Bar, prev: Bar, name: str):
    ok = bar.ok(name, "close")
    return jnp.where(ok, bar.f(name) * bar.f("close"), 0.0), ok


@register_series("liq_long_price", "liq_long_notional x close (long liquidations at their price)")
def _liq_long_price(bar: Bar, prev: Bar):
    return _liquidated_at_close(bar, prev, "liq_long_notional")


@register_series("liq_short_price", "liq_short_notional x close (short liquidations at their price)")
def _liq_short_price(bar: Bar, prev: Bar):
    return _liquidated_at_close(bar, prev, "liq_short_notional")


# --- liquidity --------------------------------------------------------------------------------------


def _log_depth(band: int):
    def series(bar: Bar, prev: Bar):
        bid, ask = f"bid_depth_{band}", f"ask_depth_{band}"
        total = bar.f(bid) + bar.f(ask)
        ok = bar.ok(bid, ask) & (total > 0)
        return jnp.where(ok, jnp.log(jnp.where(ok, total, 1.0)), 0.0), ok

    return series


register_series("log_book_depth_10", "log(bid depth + ask depth) within 10 bp")(_log_depth(10))


register_series("log_book_depth_50", "log(bid depth + ask depth) within 50 bp")(_log_depth(50))


def _close_return(bar: Bar, prev: Bar):
    close, before = bar.f("close"), prev.f("close")
    ok = bar.ok("close") & prev.ok("close") & (close > 0) & (before > 0)
    return jnp.where(ok, series_log_ratio(close, before), 0.0), ok


@register_series("amihud_illiquidity", "|log return| x 1e6 / volume: return per million units (base) traded")
def _amihud_illiquidity(bar: Bar, prev: Bar):
    r, ok = _close_return(bar, prev)
    volume = bar.f("volume")
    ok = ok & bar.ok("volume") & (volume > 0)
    return jnp.where(ok, jnp.abs(r) * 1e6 / jnp.where(ok, volume, 1.0), 0.0), ok


@register_series("return_flow_product", "log return x taker imbalance (return-flow co-moment)")
def _return_flow_product(bar: Bar, prev: Bar):
    r, ok = _close_return(bar, prev)
    buy, sell = bar.f("buy_volume"), bar.f("sell_volume")
    total = buy + sell
    ok = ok & bar.ok("buy_volume", "sell_volume") & (total > 0)
    flow = (buy - sell) / jnp.where(ok, total, 1.0)
    return jnp.where(ok, r * flow, 0.0), ok


# --- market structure -------------------------------------------------------------------------------


@register_series(
    "structure_bar_extension",
    "(max(high - previous high, 0) - max(previous low - low, 0)) / (high - low)",
)
def _bar_extension(bar: Bar, prev: Bar):
    high, low = bar.f("high"), bar.f("low")
    width = high - low
    ok = bar.ok("high", "low") & prev.ok("high", "low") & (width > 0)
    up = jnp.maximum(high - prev.f("high"), 0.0)
    down = jnp.maximum(prev.f("low") - low, 0.0)
    return jnp.where(ok, (up - down) / jnp.where(ok, width, 1.0), 0.0), ok


# --- mean reversion ---------------------------------------------------------------------------------


@register_series("mr_prev_close", "the close of the bar before (read on the open bar: the last closed close)")
def _prev_close(bar: Bar, prev: Bar):
    return prev.f("close"), prev.ok("close")


@register_series("mr_prev_ibs", "internal bar strength of the bar before: (close - low) / (high - low)")
def _prev_ibs(bar: Bar, prev: Bar):
    high, low, close = prev.f("high"), prev.f("low"), prev.f("close")
    ok = prev.ok("high", "low", "close") & (high > low)
    return jnp.where(ok, (close - low) / jnp.where(ok, high - low, 1.0), 0.5), ok


# --- order book -------------------------------------------------------------------------------------


@register_series("book_imbalance_10", "(bid depth - ask depth) / (bid + ask) within 10 bp of mid")
def _book_imbalance_10(bar: Bar, prev: Bar):
    bid, ask = bar.f("bid_depth_10"), bar.f("ask_depth_10")
    total = bid + ask
    ok = bar.ok("bid_depth_10", "ask_depth_10") & (total > 0)
    return jnp.where(ok, (bid - ask) / jnp.where(ok, total, 1.0), 0.0), ok


# --- order flow -------------------------------------------------------------------------------------


@register_series("taker_delta", "taker buy volume - taker sell volume (the bar's volume delta)")
def _taker_delta(bar: Bar, prev: Bar):
    ok = bar.ok("buy_volume", "sell_volume")
    return jnp.where(ok, bar.f("buy_volume") - bar.f("sell_volume"), 0.0), ok


@register_series("taker_buy_dominance", "1 when taker buys exceed taker sells, 0 when below, 0.5 when equal")
def _taker_buy_dominance(bar: Bar, prev: Bar):
    buy, sell = bar.f("buy_volume"), bar.f("sell_volume")
    ok = bar.ok("buy_volume", "sell_volume") & (buy + sell > 0)
    return jnp.where(ok, 0.5 + 0.5 * jnp.sign(buy - sell), 0.0), ok


@register_series("log_taker_ratio", "log of the reported taker buy/sell volume ratio")
def _log_taker_ratio(bar: Bar, prev: Bar):
    ratio = bar.f("taker_ratio")
    ok = bar.ok("taker_ratio") & (ratio > 0)
    return jnp.where(ok, safe_log(ratio), 0.0), ok


# --- positioning ------------------------------------------------------------------------------------


def _log_field(name: str):
    def series(bar: Bar, prev: Bar):
        value = bar.f(name)
        ok = bar.ok(name) & (value > 0)
        return jnp.where(ok, safe_log(value), 0.0), ok

    return series


register_series("positioning_log_global_ratio", "log(long/short ratio of all accounts)")(
    _log_field("ls_global_accounts")
)


register_series("positioning_log_taker_ratio", "log(taker buy/sell volume ratio)")(_log_field("taker_ratio"))


# --- regime -----------------------------------------------------------------------------------------


def _body(bar: Bar):
    open_, close = bar.f("open"), bar.f("close")
    ok = bar.ok("open", "close") & (open_ > 0) & (close > 0)
    return jnp.where(ok, log_ratio(close, open_), 0.0), ok


@register_series("regime_body_lag_product", "log(close / open) x the same of the bar before")
def _body_lag_product(bar: Bar, prev: Bar):
    body, ok = _body(bar)
    before, before_ok = _body(prev)
    ok = ok & before_ok
    return jnp.where(ok, body * before, 0.0), ok


@register_series("regime_body_square", "log(close / open)^2, on bars whose previous bar has a body")
def _body_square(bar: Bar, prev: Bar):
    body, ok = _body(bar)
    _, before_ok = _body(prev)
    ok = ok & before_ok
    return jnp.where(ok, body * body, 0.0), ok


# --- smart money ------------------------------------------------------------------------------------


@register_series("large_print_imbalance", "(large buy - large sell) / (large buy + large sell) notional")
def _large_print_imbalance(bar: Bar, prev: Bar):
    buy, sell = bar.f("large_buy_notional"), bar.f("large_sell_notional")
    total = buy + sell
    ok = bar.ok("large_buy_notional", "large_sell_notional") & (total > 0)
    return jnp.where(ok, (buy - sell) / jnp.where(ok, total, 1.0), 0.0), ok


@register_series("large_print_share", "(large buy + large sell notional) / turnover")
def _large_print_share(bar: Bar, prev: Bar):
    turnover = bar.f("turnover")
    ok = bar.ok("large_buy_notional", "large_sell_notional", "turnover") & (turnover > 0)
    large = bar.f("large_buy_notional") + bar.f("large_sell_notional")
    return jnp.where(ok, large / jnp.where(ok, turnover, 1.0), 0.0), ok


# --- trend ------------------------------------------------------------------------------------------


@register_series("trend_plus_dm", "Wilder +DM: high - prev high when > prev low - low and > 0")
def _plus_dm(bar: Bar, prev: Bar):
    up = bar.f("high") - prev.f("high")
    down = prev.f("low") - bar.f("low")
    ok = bar.ok("high", "low") & prev.ok("high", "low")
    return jnp.where(ok & (up > down) & (up > 0), up, 0.0), ok


@register_series("trend_minus_dm", "Wilder -DM: prev low - low when > high - prev high and > 0")
def _minus_dm(bar: Bar, prev: Bar):
    up = bar.f("high") - prev.f("high")
    down = prev.f("low") - bar.f("low")
    ok = bar.ok("high", "low") & prev.ok("high", "low")
    return jnp.where(ok & (down > up) & (down > 0), down, 0.0), ok


@register_series("trend_vortex_plus", "vortex VM+: |high - previous low|")
def _vortex_plus(bar: Bar, prev: Bar):
    ok = bar.ok("high") & prev.ok("low")
    return jnp.where(ok, jnp.abs(bar.f("high") - prev.f("low")), 0.0), ok


@register_series("trend_vortex_minus", "vortex VM-: |low - previous high|")
def _vortex_minus(bar: Bar, prev: Bar):
    ok = bar.ok("low") & prev.ok("high")
    return jnp.where(ok, jnp.abs(bar.f("low") - prev.f("high")), 0.0), ok


# --- volume -----------------------------------------------------------------------------------------


def _close_change_ok(bar: Bar, prev: Bar):
    return bar.ok("close", "volume") & prev.ok("close")


@register_series("obv_volume", "sign(close - previous close) x volume (on-balance volume increment)")
def _obv_volume(bar: Bar, prev: Bar):
    ok = _close_change_ok(bar, prev)
    direction = jnp.sign(bar.f("close") - prev.f("close"))
    return jnp.where(ok, direction * bar.f("volume"), 0.0), ok


@register_series("volume_log_return", "volume x log(close / previous close) (volume-price trend increment)")
def _volume_log_return(bar: Bar, prev: Bar):
    close, before = bar.f("close"), prev.f("close")
    ok = _close_change_ok(bar, prev) & (close > 0) & (before > 0)
    return jnp.where(ok, bar.f("volume") * log_ratio(close, before), 0.0), ok


@register_series("clv_volume", "close location value ((C - L) - (H - C)) / (H - L) x volume (0 when H = L)")
def _clv_volume(bar: Bar, prev: Bar):
    high, low, close = bar.f("high"), bar.f("low"), bar.f("close")
    ok = bar.ok("high", "low", "close", "volume")
    location = safe_div((close - low) - (high - close), high - low)
    return jnp.where(ok, location * bar.f("volume"), 0.0), ok


def _typical_change(bar: Bar, prev: Bar):
    """(typical price, its change x 3 as a sum of exact small differences, valid)."""
    high, low, close = bar.f("high"), bar.f("low"), bar.f("close")
    change = (high - prev.f("high")) + (low - prev.f("low")) + (close - prev.f("close"))
    ok = bar.ok("high", "low", "close", "volume") & prev.ok("high", "low", "close")
    return (high + low + close) / 3.0, change, ok


@register_series("mfi_positive_flow", "typical price x volume on bars whose typical price rose, else 0")
def _mfi_positive_flow(bar: Bar, prev: Bar):
    typical, change, ok = _typical_change(bar, prev)
    return jnp.where(ok & (change > 0), typical * bar.f("volume"), 0.0), ok


@register_series("mfi_negative_flow", "typical price x volume on bars whose typical price fell, else 0")
def _mfi_negative_flow(bar: Bar, prev: Bar):
    typical, change, ok = _typical_change(bar, prev)
    return jnp.where(ok & (change < 0), typical * bar.f("volume"), 0.0), ok


@register_series(
    "klinger_force", "sign(typical price - previous typical price) x volume (Klinger volume force)"
)
def _klinger_force(bar: Bar, prev: Bar):
    _, change, ok = _typical_change(bar, prev)
    return jnp.where(ok, jnp.sign(change) * bar.f("volume"), 0.0), ok


# --- volume profile ---------------------------------------------------------------------------------


def _typical(bar: Bar):
    ok = bar.ok("high", "low", "close", "volume")
    return (bar.f("high") + bar.f("low") + bar.f("close")) / 3.0, bar.f("volume"), ok


@register_series("profile_volume_typical", "volume x typical price (high + low + close) / 3")
def _profile_volume_typical(bar: Bar, prev: Bar):
    typical, volume, ok = _typical(bar)
    return jnp.where(ok, volume * typical, 0.0), ok


@register_series("profile_volume_square", "volume^2 (bars with a typical price)")
def _profile_volume_square(bar: Bar, prev: Bar):
    _, volume, ok = _typical(bar)
    return jnp.where(ok, volume * volume, 0.0), ok


@register_series("profile_volume_square_typical", "volume^2 x typical price")
def _profile_volume_square_typical(bar: Bar, prev: Bar):
    typical, volume, ok = _typical(bar)
    return jnp.where(ok, volume * volume * typical, 0.0), ok


# --- vwap -------------------------------------------------------------------------------------------


@register_series("volume_return_square", "volume x log(close / previous close)^2 (volume-weighted variance)")
def _volume_return_square(bar: Bar, prev: Bar):
    close, before = bar.f("close"), prev.f("close")
    ok = bar.ok("close", "volume") & prev.ok("close") & (close > 0) & (before > 0)
    r = log_ratio(close, before)
    return jnp.where(ok, bar.f("volume") * r * r, 0.0), ok


@register_series(
    "close_over_bar_vwap", "volume x log(close / (turnover / volume)): close against the bar's VWAP"
)
def _close_over_bar_vwap(bar: Bar, prev: Bar):
    close, volume, turnover = bar.f("close"), bar.f("volume"), bar.f("turnover")
    ok = bar.ok("close", "volume", "turnover") & (close > 0) & (volume > 0) & (turnover > 0)
    return jnp.where(ok, volume * log_ratio(close * volume, turnover), 0.0), ok


# --- zones ------------------------------------------------------------------------------------------


def _wick(bar: Bar, side: str):
    open_, close, high, low = bar.f("open"), bar.f("close"), bar.f("high"), bar.f("low")
    body_low, body_high = jnp.minimum(open_, close), jnp.maximum(open_, close)
    ok = bar.ok("open", "high", "low", "close", "volume") & (low > 0) & (body_low > 0)
    wick = log_ratio(body_low, low) if side == "lower" else log_ratio(high, body_high)
    return jnp.where(ok, bar.f("volume") * jnp.maximum(wick, 0.0), 0.0), ok


@register_series("zone_lower_wick_volume", "volume x log(min(open, close) / low)")
def _lower_wick_volume(bar: Bar, prev: Bar):
    return _wick(bar, "lower")


@register_series("zone_upper_wick_volume", "volume x log(high / max(open, close))")
def _upper_wick_volume(bar: Bar, prev: Bar):
    return _wick(bar, "upper")
