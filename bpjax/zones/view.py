"""``bpjax zones STORE --symbol SYM [--at TIME] [--json] [--png PATH]``: a symbol's liquidation
zones from a recording, and its heatmap over time as a picture.

The store is replayed on the scan path up to the tick asked for (by default its last), keeping
that symbol's zone reading of every tick: the last one is printed, and every tick's heatmap,
resampled onto one log-price axis, becomes the picture (time left to right, price bottom to
top; shorts' liquidation levels in warm colours above, longs' in cool colours below, the price
as a white line).
"""

from __future__ import annotations

import datetime as dt
import struct
import zlib

import jax
import numpy as np

from bpjax.core.timefmt import iso
from bpjax.store.zarrstore import Store, StoreError
from bpjax.tick.engine import ZONE_SOURCES, Engine
from bpjax.zones.grid import KINDS, LONG, SHORT

CHUNK = 256
PICTURE_ROWS = 240
PICTURE_COLUMNS = 900


def zone_history(store: Store, symbol: str, at: float | None = None) -> dict[str, np.ndarray]:
    """Replay ``store`` through the engine up to the tick at or before ``at`` (Unix s; default the
    last) and return ``symbol``'s zone readings of every tick (leading time axis) and the times."""
    config = store.config()
    if symbol not in config.symbols:
        raise StoreError(f"{store.path} has no symbol {symbol}; it holds {', '.join(config.symbols)}")
    times = store.read("time")
    if not len(times):
        raise StoreError(f"{store.path} holds no ticks")
    stop = len(times) if at is None else int(np.searchsorted(times, at, side="right"))
    if stop == 0:
        raise StoreError(f"{store.path} starts at {iso(float(times[0]))}, after --at {iso(at)}")
    engine = Engine(config)
    index = config.symbols.index(symbol)
    state = engine.init()
    kept: dict[str, list] = {}
    for block, packed in store.packed_chunks(engine.layout, CHUNK, stop):
        state, outputs = engine.scan(state, jax.device_put(packed, engine.device), zones_of=index)
        for name, value in jax.device_get(outputs).items():
            if name.startswith("zone_") or name == "price":
                kept.setdefault(name, []).append(value[: len(block.time)])
    history = {name: np.concatenate(parts) for name, parts in kept.items()}
    history["time"] = times[:stop]
    history["price"] = history["price"][:, index]
    return history


def report(history: dict[str, np.ndarray], symbol: str) -> dict[str, object]:
    """The JSON of the last tick: ``heatmap`` (prices, long, short), ``zones`` (low, high, side,
    strength, kind, notional), ``exit_targets``, ``imbalance``, ``cascade``."""

    def last(name):
        return history[f"zone_{name}"][-1]

    zones = []
    for side, side_name in ((LONG, "long"), (SHORT, "short")):
        for k in range(last("zone_kind").shape[1]):
            kind = int(last("zone_kind")[side, k])
            if kind == 0:
                continue
            zones.append(
                {
                    "low": float(last("zone_low")[side, k]),
                    "high": float(last("zone_high")[side, k]),
                    "side": side_name,
                    "strength": round(float(last("zone_strength")[side, k]), 4),
                    "kind": KINDS[kind],
                    "notional": float(last("zone_notional")[side, k]),
                }
            )
    exit_price, exit_notional = last("exit_price"), last("exit_notional")
    return {
        "symbol": symbol,
        "time": iso(float(history["time"][-1])),
        "price": float(history["price"][-1]),
        "source": ZONE_SOURCES[int(history["zone_source"][-1])],
        "heatmap": {
            "prices": last("prices").tolist(),
            "long": last("heat")[LONG].tolist(),
            "short": last("heat")[SHORT].tolist(),
        },
        "zones": zones,
        "exit_targets": {
            side: (
                {"price": float(exit_price[k]), "notional": float(exit_notional[k])}
                if exit_price[k] > 0
                else None
            )
            for k, side in enumerate(("long", "short"))
        },
        "imbalance": round(float(last("imbalance")), 4),
        "cascade": {
            "moves": None,  # filled by the caller from the config
            "down_long_notional": last("cascade")[LONG].tolist(),
            "up_short_notional": last("cascade")[SHORT].tolist(),
        },
    }


def heatmap_picture(history: dict[str, np.ndarray]) -> np.ndarray:
    """(rows, columns, 3) uint8: every tick's heatmap on one log-price axis (top = highest)."""
    prices, heat, price = history["zone_prices"], history["zone_heat"], history["price"]
    ticks = len(prices)
    columns = np.unique(np.linspace(0, ticks - 1, min(ticks, PICTURE_COLUMNS)).astype(int))
    live = prices[columns][price[columns] > 0]
    if not len(live):
        raise StoreError("the symbol never had a price in this store: no heatmap to draw")
    axis = np.linspace(np.log(live.min()), np.log(live.max()), PICTURE_ROWS)
    image = np.zeros((PICTURE_ROWS, len(columns), 3))
    for c, t in enumerate(columns):
        grid = np.log(prices[t])
        for side, colour in ((LONG, (0.2, 0.6, 1.0)), (SHORT, (1.0, 0.45, 0.1))):
            density = np.interp(axis, grid, heat[t, side], left=0.0, right=0.0)
            image[:, c] += density[:, None] * np.asarray(colour)[None, :]
    scale = np.percentile(image[image > 0], 99) if np.any(image > 0) else 1.0
    image = np.clip(np.sqrt(image / scale), 0.0, 1.0)  # square root: faint levels stay visible
    for c, t in enumerate(columns):
        if price[t] > 0:
            row = int(np.argmin(np.abs(axis - np.log(price[t]))))
            image[row, c] = 1.0
    return (image[::-1] * 255).astype(np.uint8)  # highest price on top


def write_png(path: str, rgb: np.ndarray) -> None:
    """A minimal RGB PNG writer (no imaging library needed)."""
    rows, columns, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[r].tobytes() for r in range(rows))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", columns, rows, 8, 2, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )


def parse_time(text: str) -> float:
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise StoreError(f"--at must be an ISO 8601 time like 2026-03-01T12:00:00Z, was {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()
