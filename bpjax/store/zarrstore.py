"""Recordings on zarr v3: every engine tick's snapshot and outputs, replayable bit for bit.

Layout of a store (one zarr group; ``T`` ticks, ``S`` symbols, ``F`` fields, ``M`` modes,
``C`` categories, ``K`` timeframes)::

    time            (T,)        float64   tick end, Unix s
    phase           (T,)        int8      0 warm-up (history before the run), 1 live
    fields          (T, S, F)   float32   the packed snapshot's values (masked entries: last value or 0)
    valid           (T, S, F)   bool      the snapshot's masks
    bar_index       (T, K)      int32     bar of each timeframe the tick belongs to
    bar_progress    (T, K)      float32   share of that bar elapsed
    clock           (T, 4)      float32   hour-of-day / day-of-week features
    out/bias        (T, S, M)   float32   published bias (every tick, published or not)
    out/confidence  (T, S, M)   float32
    out/categories  (T, S, M, C) float32  category scores
    out/status      (T, S)      int32     STATUS_* bits
    out/price       (T, S)      float32

The ``out/`` arrays are in recordings of a run (``kind`` ``run``); stores written by ``bpjax
import`` (``kind`` ``import``) hold the inputs only and a replay computes the outputs. Group
attributes stamp ``schema_version``, ``kind``, ``config_hash``, the config itself, ``symbols``,
``fields`` and their ``units``, ``timeframes``, ``modes``, ``categories``, ``imports`` (what
each import wrote) and ``ticks``: the number of complete ticks. Every write appends to the
arrays first and raises ``ticks`` last (zarr's local store replaces each file atomically), so a
process killed at any moment leaves a store whose first ``ticks`` ticks are whole; reopening
truncates what lies beyond and appends.
A store made with another schema, config hash or symbol list is refused, never mixed.

Chunks hold 256 ticks along time (a tick of 21 symbols is ~4 KB of fields and masks and ~7 KB
of category scores, so a chunk is 1 to 2 MB before compression) and the whole of every other
axis: appends touch one chunk per array, sequential reads stream whole chunks. Compression is
zstd level 3 (see ``COMPRESSORS``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from queue import Queue
from typing import NamedTuple

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from bpjax.core.config import Config, parse_config
from bpjax.core.fields import FIELD_NAMES, FIELDS, NUM_FIELDS
from bpjax.ingest.snapshot import Snapshot

SCHEMA_VERSION = 1
CHUNK_TICKS = 256
PHASE_WARMUP, PHASE_LIVE = 0, 1
KIND_RUN, KIND_IMPORT = "run", "import"
# zstd level 3, chosen by measurement (BENCHMARKS.md, "Store compression"): on the 21-symbol,
# 80-day import it keeps 94 MB of raw arrays in 5.0 MB; level 9 saves 8 % more for 30 % slower
# writes, blosc+shuffle is no smaller, bit-shuffle and lz4 are twice the size
COMPRESSORS = (ZstdCodec(level=3),)


class StoreError(RuntimeError):
    """A store that cannot be used as asked: the message says why and what to do."""


def _arrays(config: Config, categories: int, outputs: bool = True) -> dict[str, tuple[tuple[int, ...], str]]:
    s, k, m = len(config.symbols), len(config.timeframes), len(config.modes)
    inputs = {
        "time": ((), "float64"),
        "phase": ((), "int8"),
        "fields": ((s, NUM_FIELDS), "float32"),
        "valid": ((s, NUM_FIELDS), "bool"),
        "bar_index": ((k,), "int32"),
        "bar_progress": ((k,), "float32"),
        "clock": ((4,), "float32"),
    }
    if not outputs:
        return inputs
    return {
        **inputs,
        "out/bias": ((s, m), "float32"),
        "out/confidence": ((s, m), "float32"),
        "out/categories": ((s, m, categories), "float32"),
        "out/status": ((s,), "int32"),
        "out/price": ((s,), "float32"),
        # what the tick ran on: the category weights (an online-learning run changes them) and the
        # learner's version (0: no learner); a replay uses them, so it reproduces the run exactly
        "weights": ((m, categories), "float32"),
        "weights_version": ((), "int32"),
    }


def config_weights(config: Config, categories: tuple[str, ...]) -> np.ndarray:
    """(mode, cat) category weights of the config (what a run without learning ticks on)."""
    return np.array([[config.category_weight(c) for c in categories] for _ in config.modes], np.float32)


class Block(NamedTuple):
    """Consecutive ticks of a store's inputs, each array with a leading time axis."""

    time: np.ndarray
    phase: np.ndarray
    fields: np.ndarray
    valid: np.ndarray
    bar_index: np.ndarray
    bar_progress: np.ndarray
    clock: np.ndarray

    def snapshot(self, k: int) -> Snapshot:
        return Snapshot(self.fields[k], self.valid[k], self.bar_index[k], self.bar_progress[k], self.clock[k])


class Store:
    """An open recording. ``ticks`` is the number of complete ticks."""

    def __init__(self, group: zarr.Group, path: str):
        self.group, self.path = group, path
        self.attrs = dict(group.attrs)
        self.ticks = int(self.attrs["ticks"])

    # --- opening ----------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str) -> Store:
        """Open for reading; StoreError if it is not a bpjax store of this schema."""
        if not os.path.isdir(path):
            raise StoreError(f"no recording at {path}")
        try:
            group = zarr.open_group(path, mode="r")
        except Exception as error:  # zarr raises several types for a broken hierarchy
            raise StoreError(f"{path} is not a readable zarr store: {error}") from None
        version = group.attrs.get("schema_version")
        if version != SCHEMA_VERSION:
            raise StoreError(f"{path} has store schema {version!r}; this bpjax reads schema {SCHEMA_VERSION}")
        fields = list(group.attrs.get("fields", []))
        if fields != list(FIELD_NAMES):
            missing = [name for name in FIELD_NAMES if name not in fields]
            extra = [name for name in fields if name not in FIELD_NAMES]
            raise StoreError(
                f"{path} was written with another snapshot field layout ({len(fields)} fields, this bpjax "
                f"has {len(FIELD_NAMES)}; missing {missing or 'none'}, unknown {extra or 'none'}): "
                "record or import it again with this version"
            )
        return cls(group, path)

    @property
    def kind(self) -> str:
        """``run`` (recorded by ``bpjax run``, with the engine's outputs) or ``import`` (inputs only)."""
        return self.attrs.get("kind", KIND_RUN)

    @classmethod
    def create_or_resume(
        cls, path: str, config: Config, categories: tuple[str, ...], kind: str = KIND_RUN
    ) -> Store:
        """A store to append to: a new one, or an existing one of the same kind made with the same
        schema, config and symbols (truncated to its last complete tick). ``import`` stores hold
        the snapshots only; a replay computes the outputs."""
        if os.path.exists(path):
            store = cls.open(path)
            if store.kind != kind:
                raise StoreError(f"{path} is a {store.kind} store; this writes {kind} stores: use a new path")
            store._check_compatible(config)
            group = zarr.open_group(path, mode="r+")
            store = cls(group, path)
            for name, (shape, dtype) in _arrays(config, len(categories), outputs=kind == KIND_RUN).items():
                if name not in group:  # recorded before the array existed: the config's weights ran
                    fill = config_weights(config, categories) if name == "weights" else np.zeros(shape, dtype)
                    array = group.create_array(
                        name,
                        shape=(0, *shape),
                        chunks=(CHUNK_TICKS, *shape),
                        dtype=dtype,
                        compressors=COMPRESSORS,
                    )
                    array.append(np.broadcast_to(fill, (store.ticks, *shape)).astype(dtype))
                array = group[name]
                if array.shape[0] != store.ticks:  # a write cut short: drop the partial tail
                    array.resize((store.ticks, *array.shape[1:]))
            return store
        group = zarr.open_group(path, mode="w-")
        for name, (shape, dtype) in _arrays(config, len(categories), outputs=kind == KIND_RUN).items():
            group.create_array(
                name,
                shape=(0, *shape),
                chunks=(CHUNK_TICKS, *shape),
                dtype=dtype,
                compressors=COMPRESSORS,
            )
        group.attrs.update(
            {
                "schema_version": SCHEMA_VERSION,
                "kind": kind,
                "config_hash": config.hash(),
                "config": config.to_dict(),
                "symbols": list(config.symbols),
                "fields": list(FIELD_NAMES),
                "units": [f.unit for f in FIELDS],
                "timeframes": list(config.timeframe_names),
                "modes": list(config.mode_names),
                "categories": list(categories),
                "ticks": 0,
            }
        )
        return cls(group, path)

    def _check_compatible(self, config: Config) -> None:
        mine = self.attrs
        if mine["config_hash"] != config.hash():
            raise StoreError(
                f"{self.path} was recorded with config {mine['config_hash']}, this run has "
                f"{config.hash()}: record to a new path (or replay it with its own config)"
            )
        if mine["symbols"] != list(config.symbols) or mine["fields"] != list(FIELD_NAMES):
            raise StoreError(f"{self.path} has other symbols or fields than this run: record to a new path")

    def config(self) -> Config:
        """The config the recording was made with."""
        return parse_config(self.attrs["config"])

    # --- writing ----------------------------------------------------------------------------------
    def append(self, rows: dict[str, np.ndarray]) -> None:
        """Append whole ticks (every array, same length), then commit them."""
        expected = _arrays(self.config(), len(self.attrs["categories"]), outputs=self.kind == KIND_RUN)
        missing = sorted(set(expected) - set(rows))
        if missing:  # the arrays left behind would no longer line up with the ticks
            raise StoreError(
                f"appending to {self.path} without {', '.join(missing)}: every array takes each tick"
            )
        count = len(rows["time"])
        for name, values in rows.items():
            array = self.group[name]
            if array.shape[0] != self.ticks:
                array.resize((self.ticks, *array.shape[1:]))
            array.append(values)
        self.ticks += count
        self.group.attrs["ticks"] = self.ticks  # the commit: written after the data

    def overwrite(self, name: str, start: int, values: np.ndarray) -> None:
        """Replace committed ticks [start, start + len(values)) of one array (an import merging
        another source into times the store already holds)."""
        stop = start + len(values)
        if stop > self.ticks:
            raise StoreError(f"{self.path}: ticks {start}-{stop} are not all committed ({self.ticks})")
        self.group[name][start:stop] = values

    # --- reading ----------------------------------------------------------------------------------
    def read(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Ticks [start, stop) of one array; StoreError naming the array and ticks when a chunk
        cannot be decoded (corrupt or truncated on disk)."""
        stop = self.ticks if stop is None else min(stop, self.ticks)
        try:
            return self.group[name][start:stop]
        except Exception as error:  # codecs raise their own types for damaged bytes
            raise StoreError(
                f"{self.path}: array {name!r}, ticks {start}-{stop}: a chunk is corrupt or truncated "
                f"({type(error).__name__}: {error}); the ticks before it are still readable"
            ) from None

    @property
    def has_recorded_weights(self) -> bool:
        """Whether the store keeps the weights every tick ran on: not an import store, nor a run
        recorded before they were kept (it ran on its config's weights)."""
        return "weights" in self.group and "weights_version" in self.group

    def recorded_weights(
        self, start: int = 0, stop: int | None = None
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """(weights (T, mode, cat), learner version (T,)) the recorded ticks ran on; None when the
        store does not keep them."""
        if not self.has_recorded_weights:
            return None
        return self.read("weights", start, stop), self.read("weights_version", start, stop)

    def block(self, start: int, stop: int) -> Block:
        """The snapshots of ticks [start, stop), read array by array."""
        return Block(*(self.read(n, start, stop) for n in Block._fields))

    def packed_chunks(
        self, layout, chunk: int, stop: int | None = None
    ) -> Iterator[tuple[Block, np.ndarray]]:
        """Ticks [0, stop) a chunk at a time as (block, packed): ``packed`` is (chunk, layout.size),
        the block's snapshots packed for the engine (``SnapshotLayout.pack``) and padded with
        copies of the last one, so every chunk has the length of one compiled scan. The buffer is
        reused from chunk to chunk."""
        stop = self.ticks if stop is None else min(stop, self.ticks)
        packed = np.empty((chunk, layout.size), np.float32)
        for start in range(0, stop, chunk):
            block = self.block(start, min(start + chunk, stop))
            count = len(block.time)
            for k in range(count):
                layout.pack(block.snapshot(k), out=packed[k])
            packed[count:] = packed[count - 1]
            yield block, packed

    def snapshots(self, chunk: int = CHUNK_TICKS) -> Iterator[tuple[float, int, Snapshot]]:
        """(time, phase, snapshot) for every complete tick, read a chunk at a time."""
        for start in range(0, self.ticks, chunk):
            block = self.block(start, min(start + chunk, self.ticks))
            for k in range(len(block.time)):
                yield float(block.time[k]), int(block.phase[k]), block.snapshot(k)


class Recorder:
    """Appends ticks to a store from a background thread, so the tick loop never waits on disk.
    Ticks are written in batches; :meth:`close` flushes and waits."""

    def __init__(self, store: Store, batch: int = 32):
        self.store = store
        self.batch = batch
        self.queue: Queue = Queue()
        self.pending: list[tuple] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="bpjax-recorder", daemon=True)
        self.thread.start()

    def tick(self, t: float, phase: int, snapshot: Snapshot, output, weights, version: int = 0) -> None:
        """Queue one tick; ``output`` is the engine's TickOutput, ``weights`` the (mode, cat)
        category weights it ran on and ``version`` the online learner's (0: none). Device arrays
        are read in the writer thread, not here."""
        if self.error is not None:
            raise StoreError(f"recording to {self.store.path} failed: {self.error}")
        outputs = (
            output.bias,
            output.confidence,
            output.category_scores,
            output.status,
            output.price,
            weights,
        )
        for array in outputs:
            if hasattr(array, "copy_to_host_async"):
                array.copy_to_host_async()
        self.pending.append((t, phase, snapshot, outputs, version))
        if len(self.pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.queue.put(self.pending)
            self.pending = []

    def close(self) -> None:
        self.flush()
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise StoreError(f"recording to {self.store.path} failed: {self.error}")

    def _run(self) -> None:
        while True:
            items = self.queue.get()
            if items is None:
                return
            try:
                rows = {
                    "time": np.array([i[0] for i in items], np.float64),
                    "phase": np.array([i[1] for i in items], np.int8),
                    "fields": np.stack([i[2].fields for i in items]).astype(np.float32),
                    "valid": np.stack([i[2].valid for i in items]),
                    "bar_index": np.stack([i[2].bar_index for i in items]).astype(np.int32),
                    "bar_progress": np.stack([i[2].bar_progress for i in items]).astype(np.float32),
                    "clock": np.stack([i[2].clock for i in items]).astype(np.float32),
                }
                for k, name in enumerate(("bias", "confidence", "categories", "status", "price")):
                    rows[f"out/{name}"] = np.stack([np.asarray(i[3][k]) for i in items])
                rows["weights"] = np.stack([np.asarray(i[3][5]) for i in items]).astype(np.float32)
                rows["weights_version"] = np.array([i[4] for i in items], np.int32)
                self.store.append(rows)
            except BaseException as error:  # surfaced to the tick loop at the next tick
                self.error = error
                return
