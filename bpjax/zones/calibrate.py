"""``bpjax zones-calibrate STORE [--json]``: how well the zone engine's liquidation heatmap said
where the liquidations that really happened next would be, beside a naive baseline.

The store is replayed on the scan path (the live tick's code), keeping every symbol's heatmap
(estimated, realized and swept liquidation levels, smoothed: what a trader is shown). Every
``every`` seconds a *case* is taken for each symbol and side (long positions, liquidated by
sells; short positions, by buys) that has real liquidations within the next ``horizon``
seconds (recorded forced orders, placed at their own average price). A liquidation map says
where, not when, so cases are conditional on liquidations happening. Within each band of
distance from the price (``|log(level / price)|``):

* the model predicts the ``top_share`` of the band's bins where its heatmap is densest (fewer
  when fewer bins hold any level; a band with no level at all is an *abstention*, reported as
  lower coverage and left out of the rates);
* **hit rate** = the share of the liquidated notional that landed in predicted bins;
* **precision** = the share of predicted bins where a liquidation landed (mean over cases);
* the **baseline** assumes liquidations uniform within the same band: predicting as many bins,
  it expects a hit rate of (predicted bins / band bins) and a precision of (bins hit / band
  bins), on exactly the same cases;
* lift = model / baseline (1 = no better than uniform);
* a second, harder baseline, ``nearest``, predicts the band's bins nearest to the price: it
  knows only that liquidations happen close to where price is.

Features at a case's tick only use data up to that tick (the scan is causal), and the
liquidations it is scored on come strictly after it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import jax
import numpy as np

from bpjax.core.fields import FIELD_INDEX
from bpjax.core.timefmt import iso
from bpjax.store.zarrstore import Store, StoreError
from bpjax.tick.engine import ZONE_SOURCES, Engine
from bpjax.zones.grid import LONG, SHORT

CHUNK = 256
HORIZONS = (300.0, 900.0, 3600.0)
TOP_SHARE = 0.2
BANDS = (0.0, 0.005, 0.01, 0.02, 0.05)  # band edges in log distance; the last band reaches the grid's edge
SIDES = ((LONG, "long"), (SHORT, "short"))


def horizon_name(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


@dataclass
class Tally:
    """Sums over the cases of one (horizon, band)."""

    cases: int = 0
    abstained: int = 0
    notional: float = 0.0  # liquidated notional in the band, all cases
    covered: float = 0.0  # ... in cases where the model predicted something
    hit: float = 0.0  # ... that landed in a predicted bin
    baseline_hit: float = 0.0  # expected under the uniform baseline
    precision: float = 0.0  # sum over predicting cases
    baseline_precision: float = 0.0
    nearest_hit: float = 0.0  # the nearest-bins baseline
    nearest_precision: float = 0.0

    def add(self, notional, hit, precision, baseline_share, baseline_precision, nearest) -> None:
        self.cases += 1
        self.notional += notional
        self.covered += notional
        self.hit += hit
        self.precision += precision
        self.baseline_hit += notional * baseline_share
        self.baseline_precision += baseline_precision
        self.nearest_hit += nearest[0]
        self.nearest_precision += nearest[1]

    def abstain(self, notional) -> None:
        self.abstained += 1
        self.notional += notional

    def report(self) -> dict[str, object]:
        def rate(a, b):
            return round(a / b, 4) if b > 0 else None

        hit, base_hit = rate(self.hit, self.covered), rate(self.baseline_hit, self.covered)
        precision, base_precision = (
            rate(self.precision, self.cases),
            rate(self.baseline_precision, self.cases),
        )
        return {
            "cases": self.cases,
            "abstained": self.abstained,
            "notional": round(self.notional, 2),
            "coverage": rate(self.covered, self.notional),
            "hit_rate": hit,
            "precision": precision,
            "baseline": {"hit_rate": base_hit, "precision": base_precision},
            "nearest": {
                "hit_rate": rate(self.nearest_hit, self.covered),
                "precision": rate(self.nearest_precision, self.cases),
            },
            "lift": {
                "hit_rate": rate(hit, base_hit) if hit is not None else None,
                "precision": rate(precision, base_precision) if precision is not None else None,
            },
        }


@dataclass
class Events:
    """Realized liquidations, one row per (tick, symbol, side), in tick order."""

    time: np.ndarray
    symbol: np.ndarray
    side: np.ndarray
    price: np.ndarray
    notional: np.ndarray
    unpriced: int = 0  # rows with neither a quantity nor a price to place them


@dataclass
class Scan:
    events: Events
    reference: np.ndarray  # (eval tick, sym) last known price at each evaluation tick (0: none)
    evaluated: np.ndarray  # indices of the evaluation ticks


def _prices_and_events(store: Store, every: float) -> Scan:
    """One pass over the store's inputs: the realized liquidations and, at every evaluation tick,
    each symbol's last known price (last trade, else mark, else the forced orders' price: the
    zone engine's own choice)."""
    f = FIELD_INDEX
    times = store.read("time")
    symbols = len(store.config().symbols)
    last = np.zeros(symbols)
    period = np.floor(times / every)
    evaluated = np.flatnonzero(np.r_[True, period[1:] != period[:-1]])
    reference = np.zeros((len(evaluated), symbols))
    rows: dict[str, list] = {name: [] for name in ("time", "symbol", "side", "price", "notional")}
    unpriced = 0
    for start in range(0, len(times), CHUNK):
        stop = min(start + CHUNK, len(times))
        values, valid = store.read("fields", start, stop), store.read("valid", start, stop)
        known = _positive(values, valid)
        close = np.where(known("close"), values[:, :, f["close"]], 0.0)
        mark = np.where(known("mark"), values[:, :, f["mark"]], 0.0)
        side_prices = []
        for side, name in SIDES:
            notional, qty = values[:, :, f[f"liq_{name}_notional"]], values[:, :, f[f"liq_{name}_qty"]]
            has = known(f"liq_{name}_notional")
            priced = has & known(f"liq_{name}_qty")
            price = np.where(priced, notional / np.where(priced, qty, 1.0), np.where(has, close, 0.0))
            side_prices.append(np.where(has, price, 0.0))
            unpriced += int(np.count_nonzero(has & (price <= 0)))
            tick, sym = np.nonzero(has & (price > 0))
            rows["time"].append(times[start + tick])
            rows["symbol"].append(sym)
            rows["side"].append(np.full(len(tick), side))
            rows["price"].append(price[tick, sym])
            rows["notional"].append(notional[tick, sym].astype(np.float64))
        price = np.where(close > 0, close, np.where(mark > 0, mark, np.maximum(*side_prices)))
        for k in range(stop - start):
            last = np.where(price[k] > 0, price[k], last)
            at = np.searchsorted(evaluated, start + k)
            if at < len(evaluated) and evaluated[at] == start + k:
                reference[at] = last
    merged = {name: np.concatenate(parts) if parts else np.zeros(0) for name, parts in rows.items()}
    order = np.argsort(merged["time"], kind="stable")
    events = Events(*(merged[name][order] for name in rows), unpriced=unpriced)
    return Scan(events, reference, evaluated)


def _positive(values, valid):
    """name -> (tick, sym) where the field is valid and positive."""
    return lambda name: valid[:, :, FIELD_INDEX[name]] & (values[:, :, FIELD_INDEX[name]] > 0)


def _scored(predicted, bins_hit, notional, hit_bins) -> tuple[float, float]:
    """(notional that landed in the predicted bins, share of the predicted bins hit)."""
    hit = float(notional[np.isin(bins_hit, predicted)].sum())
    return hit, float(np.isin(predicted, hit_bins).mean())


def score_heatmap(tally_of, heat, grid_log, price, bins_hit, notional, bands, top_share) -> None:
    """Score one case (a symbol, a side, a horizon): ``heat`` (bin,) the model's density,
    ``grid_log`` (bin,) log price of the bins, ``bins_hit`` the bin of every liquidation."""
    distance = np.abs(grid_log - math.log(price))
    for band, (low, high) in enumerate(bands):
        in_band = (distance >= low) & (distance < high)
        members = np.flatnonzero(in_band)
        landed = in_band[bins_hit]
        if not members.size or not landed.any():
            continue
        band_notional = float(notional[landed].sum())
        density = heat[members]
        positive = int(np.count_nonzero(density > 0))
        if positive == 0:
            tally_of(band).abstain(band_notional)
            continue
        k = min(positive, max(1, math.ceil(top_share * members.size)))
        bins, amounts = bins_hit[landed], notional[landed]
        hit_bins = np.unique(bins)
        model = _scored(members[np.argsort(-density, kind="stable")[:k]], bins, amounts, hit_bins)
        nearest = _scored(members[np.argsort(distance[members], kind="stable")[:k]], bins, amounts, hit_bins)
        tally_of(band).add(band_notional, *model, k / members.size, hit_bins.size / members.size, nearest)


def calibrate(
    store: Store,
    horizons=HORIZONS,
    every: float = 60.0,
    top_share: float = TOP_SHARE,
    progress: Callable[[int], None] | None = None,
) -> dict[str, object]:
    """The calibration report of ``store`` (see the module docstring)."""
    if not 0.0 < top_share < 1.0:
        raise StoreError(f"--top-share must be between 0 and 1, was {top_share}")
    if every <= 0 or any(h <= 0 for h in horizons):
        raise StoreError("--every and every horizon must be positive seconds")
    config = store.config()
    times = store.read("time")
    if len(times) < 2:
        raise StoreError(f"{store.path} holds {len(times)} tick(s): nothing to calibrate on")
    scan = _prices_and_events(store, every)
    events = scan.events
    engine = Engine(config)
    width = engine.zone_grid.width
    edge = config.zones.range + (config.zones.recentre_bins + 1) * width  # beyond every bin
    bands = [(BANDS[i], BANDS[i + 1]) for i in range(len(BANDS) - 1) if BANDS[i + 1] < edge]
    bands.append((bands[-1][1] if bands else 0.0, edge))
    tallies = {h: [Tally() for _ in range(len(bands) + 1)] for h in horizons}  # the last: all bands
    all_bands = [*bands, (0.0, edge)]
    sources = np.zeros(len(ZONE_SOURCES), np.int64)
    beyond = 0
    state = engine.init()
    first = 0  # the chunk's first tick
    for block, packed in store.packed_chunks(engine.layout, CHUNK):
        state, outputs = engine.scan(state, jax.device_put(packed, engine.device), zones_of="heatmaps")
        outputs = jax.device_get(outputs)
        chunk = np.flatnonzero((scan.evaluated >= first) & (scan.evaluated < first + len(block.time)))
        for at in chunk:  # the evaluation ticks in this chunk
            tick = int(scan.evaluated[at])
            k = tick - first
            t = float(times[tick])
            reference = scan.reference[at]
            sources += np.bincount(outputs["zone_source"][k][reference > 0], minlength=len(ZONE_SOURCES))
            for h in horizons:
                if t + h > times[-1]:
                    continue  # the horizon runs past the store's end
                lo, hi = np.searchsorted(events.time, [t, t + h], side="right")
                if lo == hi:
                    continue
                window = slice(lo, hi)
                keys = events.symbol[window] * 2 + events.side[window]
                for key in np.unique(keys):
                    sym, side = divmod(int(key), 2)
                    if reference[sym] <= 0:
                        continue
                    mine = np.flatnonzero(keys == key) + lo
                    grid_log = np.log(outputs["zone_prices"][k][:, sym].astype(np.float64))
                    log_price = np.log(events.price[mine])
                    inside = (
                        np.abs(log_price - grid_log.mean()) <= (grid_log[-1] - grid_log[0]) / 2 + width / 2
                    )
                    if h == horizons[0]:
                        beyond += int(np.count_nonzero(~inside))
                    if not inside.any():
                        continue
                    bins_hit = np.clip(
                        np.rint((log_price[inside] - grid_log[0]) / width).astype(int), 0, len(grid_log) - 1
                    )
                    score_heatmap(
                        lambda band, h=h: tallies[h][band],
                        outputs["zone_heat"][k][side, :, sym],
                        grid_log,
                        float(reference[sym]),
                        bins_hit,
                        events.notional[mine][inside],
                        all_bands,
                        top_share,
                    )
        first += len(block.time)
        if progress:
            progress(first)
    horizons_out = {}
    for h in horizons:
        rows = tallies[h]
        horizons_out[horizon_name(h)] = {
            "all": rows[-1].report(),
            "bands": [
                {"distance": [round(lo, 4), round(hi, 4)], **rows[b].report()}
                for b, (lo, hi) in enumerate(bands)
            ],
        }
    judged = [v["all"] for v in horizons_out.values() if v["all"]["cases"]]
    return {
        "store": store.path,
        "symbols": len(config.symbols),
        "ticks": len(times),
        "time_range": [iso(float(times[0])), iso(float(times[-1]))],
        "every_seconds": every,
        "top_share": top_share,
        "events": {
            "rows": len(events.time),
            "notional": round(float(events.notional.sum()), 2),
            "beyond_grid": beyond,
            "unpriced": events.unpriced,
        },
        "sources": {name: int(n) for name, n in zip(ZONE_SOURCES, sources, strict=True)},
        "horizons": horizons_out,
        "beats_baseline": bool(judged)
        and all(
            r["hit_rate"] > r["baseline"]["hit_rate"] and r["precision"] > r["baseline"]["precision"]
            for r in judged
        ),
    }
