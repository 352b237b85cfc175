"""The self-learning loop: ``bpjax run --learn DIR``.

While the engine runs, the live ticks' per-category sums (S, C: what the composite bias is
made of; ``TickOutput.category_signal`` / ``category_confidence``), one tick per
``online_sample_minutes`` (consecutive 10 s ticks are nearly the same row), wait, with the tick's prices,
until each mode's horizon has passed. Then the tick's volatility-normalized forward return is
known and the (S, C, target) rows join that mode's sample window (the newest
``online_window`` rows). The targets are those of ``bpjax.learn.offline``, with the volatility an EWMA
of squared returns per second (ticks need not be evenly spaced; warm-up ticks feed it too).

At most once per ``online_every_minutes`` of data time:

1. **Judge the live version against its parent**, on exactly the same rows: those of ticks
   after the live version went live, which its training never saw (a row joins the window a
   horizon after its tick). With at least ``online_min_samples`` such rows per mode, if the
   live version's IC (mean over modes) is below its parent's by more than
   ``rollback_tolerance``, the parent becomes live again (a *rollback*) and no step is taken.
   Until it has them, the live version stays and no step is taken: every version is judged
   on enough live rows before a successor replaces it.
2. Otherwise **step**: with at least ``online_min_samples`` rows of a mode in the window,
   ``online_steps`` optax steps on that mode's window at ``online_learning_rate``, starting from
   the live weights, each weight moved by at most ``online_max_change`` and kept within
   [``weight_min``, ``weight_max``]. The result is a new version.

**Versions on disk** (``DIR``): ``v000001.json``, ... one immutable weights file per version
(the ``bpjax train`` format plus ``version``, ``parent``, ``live_from``), each written
atomically (temporary file, fsync, rename), and ``index.json``, rewritten atomically, naming the
live version and every version's status (live, retired, rolled_back) and scores. A restart
resumes from the index's live version; if the index is unreadable, from the newest readable
version file, said in the log. Version 1 is the weights the run started with.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from dataclasses import dataclass, field

import numpy as np

from bpjax.core.config import Config, LearningConfig
from bpjax.core.timefmt import iso
from bpjax.learn.offline import (
    WEIGHTS_FORMAT,
    LearnError,
    Rows,
    atomic_write,
    bias,
    fit,
    read_weights_file,
)

log = logging.getLogger(__name__)
INDEX = "index.json"


@dataclass
class Version:
    number: int
    parent: int | None
    live_from: float  # data time (Unix s) it went live
    weights: np.ndarray  # (mode, cat)
    status: str = "live"  # live | retired | rolled_back
    scores: dict = field(default_factory=dict)  # what the loop measured when it made or judged it


def step_settings(learning: LearningConfig) -> LearningConfig:
    """The optax settings of one online update: ``online_steps`` at ``online_learning_rate``,
    constant (the batch settings otherwise: optimizer, l2, weight bounds)."""
    return dataclasses.replace(
        learning,
        steps=learning.online_steps,
        learning_rate=learning.online_learning_rate,
        schedule="constant",
    )


def _when(t: float) -> str | None:
    """ISO time, or None for the first version (live from the start)."""
    return iso(t) if math.isfinite(t) else None


class VersionStore:
    """The versions folder: immutable version files and the index (module docstring)."""

    def __init__(self, folder: str, modes: tuple[str, ...], categories: tuple[str, ...]):
        self.folder, self.modes, self.categories = folder, modes, categories
        os.makedirs(folder, exist_ok=True)

    def path(self, number: int) -> str:
        return os.path.join(self.folder, f"v{number:06d}.json")

    def write(self, version: Version) -> None:
        document = {
            "format": WEIGHTS_FORMAT,
            "version": version.number,
            "parent": version.parent,
            "live_from": _when(version.live_from),
            "live_from_unix": version.live_from if math.isfinite(version.live_from) else None,
            "categories": list(self.categories),
            "modes": {
                mode: {c: round(float(w), 6) for c, w in zip(self.categories, row, strict=True)}
                for mode, row in zip(self.modes, version.weights, strict=True)
            },
            "scores": version.scores,
        }
        atomic_write(self.path(version.number), lambda f: json.dump(document, f, indent=1, sort_keys=True))

    def read(self, number: int) -> Version:
        path = self.path(number)
        document = read_weights_file(path, self.categories)
        missing = [mode for mode in self.modes if mode not in document["modes"]]
        if missing or not isinstance(document.get("version"), int):
            raise LearnError(f"{path} is not a complete version file (modes missing: {missing})")
        weights = np.array(
            [[document["modes"][mode].get(c, 1.0) for c in self.categories] for mode in self.modes],
            np.float64,
        )
        return Version(
            document["version"],
            document.get("parent"),
            -math.inf if document.get("live_from_unix") is None else float(document["live_from_unix"]),
            weights,
            scores=document.get("scores", {}),
        )

    def write_index(self, live: int, versions: dict[int, Version]) -> None:
        document = {
            "live": live,
            "versions": [
                {
                    "version": v.number,
                    "parent": v.parent,
                    "status": v.status,
                    "live_from": _when(v.live_from),
                    "scores": v.scores,
                }
                for v in sorted(versions.values(), key=lambda v: v.number)
            ],
        }
        atomic_write(os.path.join(self.folder, INDEX), lambda f: json.dump(document, f, indent=1))

    def resume(self) -> tuple[int, dict[int, Version]] | None:
        """(live version, known versions) from the folder, or None when it holds none."""
        numbers = sorted(
            int(name[1:7])
            for name in os.listdir(self.folder)
            if len(name) == 12 and name[0] == "v" and name.endswith(".json") and name[1:7].isdigit()
        )
        if not numbers:
            return None
        statuses: dict[int, str] = {}
        live = None
        try:
            with open(os.path.join(self.folder, INDEX)) as f:
                index = json.load(f)
            live = int(index["live"])
            statuses = {int(v["version"]): str(v["status"]) for v in index["versions"]}
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning(
                "%s: index unreadable (%s); resuming from the newest readable version", self.folder, error
            )
        versions: dict[int, Version] = {}
        for number in numbers:
            try:
                version = self.read(number)
            except LearnError as error:
                log.warning("skipping an unreadable version: %s", error)
                continue
            version.status = statuses.get(number, "retired")
            versions[number] = version
        if not versions:
            raise LearnError(f"{self.folder} holds version files but none is readable")
        if live not in versions:
            if live is not None:
                log.warning(
                    "%s: live version %s is unreadable; resuming from the newest readable", self.folder, live
                )
            good = [n for n, v in versions.items() if v.status != "rolled_back"] or list(versions)
            live = max(good)
        for number, version in versions.items():
            version.status = (
                "live" if number == live else ("retired" if version.status == "live" else version.status)
            )
        return live, versions


class SampleWindow:
    """The newest ``capacity`` rows of one mode (a ring), with each row's tick time."""

    def __init__(self, capacity: int, categories: int):
        self.signal = np.zeros((capacity, categories), np.float32)
        self.confidence = np.zeros((capacity, categories), np.float32)
        self.z = np.zeros(capacity, np.float32)
        self.time = np.full(capacity, -np.inf)
        self.count = 0  # rows ever added
        self.capacity = capacity

    def add(self, t: float, signal: np.ndarray, confidence: np.ndarray, z: np.ndarray) -> None:
        for start in range(0, len(z), self.capacity):
            s, c, y = (
                signal[start : start + self.capacity],
                confidence[start : start + self.capacity],
                z[start : start + self.capacity],
            )
            where = (self.count + np.arange(len(y))) % self.capacity
            self.signal[where], self.confidence[where], self.z[where], self.time[where] = s, c, y, t
            self.count += len(y)

    @property
    def filled(self) -> int:
        return min(self.count, self.capacity)

    def rows(self, since: float = -np.inf) -> Rows:
        """Every row (the fixed-size window, unfilled rows masked), or only ticks at or after ``since``."""
        mask = (self.time >= since) & np.isfinite(self.time)
        return Rows(self.signal, self.confidence, self.z, mask.astype(np.float32))


@dataclass
class Pending:
    time: float
    log_price: np.ndarray  # (S,) NaN where the price is not usable
    sigma: np.ndarray  # (S,) per-second volatility at the tick (NaN: not yet known)
    signal: np.ndarray  # (S, M, K)
    confidence: np.ndarray


class OnlineLearner:
    """Watches live ticks, learns bounded steps, keeps versions, rolls back (module docstring)."""

    def __init__(self, config: Config, categories: tuple[str, ...], folder: str, initial: np.ndarray):
        self.settings = config.learning
        self.modes = config.mode_names
        self.horizons = np.array([m.horizon_seconds for m in config.modes], np.float64)
        self.categories = categories
        self.store = VersionStore(folder, self.modes, categories)
        s = self.settings
        self.step_settings = step_settings(s)
        self.windows = [SampleWindow(s.online_window, len(categories)) for _ in self.modes]
        self.pending: list[Pending] = []  # live ticks in time order
        self.unresolved = [0] * len(self.modes)  # per mode, the first pending tick without a target
        symbols = len(config.symbols)
        self.variance = np.zeros(symbols)  # EWMA of squared returns per second
        self.weight = np.zeros(symbols)
        self.last_price = np.full(symbols, np.nan)
        self.last_time: float | None = None
        self.next_check: float | None = None
        self.events: list[dict] = []  # what the loop did, newest last (steps, rollbacks)
        resumed = self.store.resume()
        if resumed is None:
            self.versions = {1: Version(1, None, -math.inf, np.asarray(initial, np.float64))}
            self.live = 1
            self.store.write(self.versions[1])
            self.store.write_index(self.live, self.versions)
        else:
            self.live, self.versions = resumed
            log.info("online learning resumes from version %d in %s", self.live, folder)

    @property
    def version(self) -> int:
        return self.live

    @property
    def weights(self) -> np.ndarray:
        """(mode, cat) live category weights."""
        return self.versions[self.live].weights

    # --- watching ticks --------------------------------------------------------------------------
    def takes_rows(self, t: float) -> bool:
        """Whether a live tick at ``t`` gives rows: one tick per ``online_sample_minutes``
        (consecutive ticks are nearly the same rows). The runner fetches its sums only then."""
        return not self.pending or t >= self.pending[-1].time + self.settings.online_sample_minutes * 60.0

    def observe(
        self, t: float, price, usable, signal=None, confidence=None, warm=None, live: bool = True
    ) -> bool:
        """One tick: prices (S,) (``usable``: fresh) and, when it :meth:`takes_rows`, its
        per-category sums (S, M, K); ``warm`` (S,) marks the symbols whose features count (default
        all). A warm-up tick (not ``live``) only feeds the volatility. Returns True when the live
        weights changed (a new version, or a rollback)."""
        log_price = np.where(usable & (price > 0), np.log(np.where(price > 0, price, 1.0)), np.nan)
        self._volatility(t, log_price)
        if not live:
            return False
        self._resolve(t, log_price)
        if signal is None or not self.takes_rows(t):
            return self._check(t)
        sigma = np.where(self.weight >= 0.5, np.sqrt(self.variance / np.maximum(self.weight, 1e-12)), np.nan)
        if warm is not None:
            sigma = np.where(warm, sigma, np.nan)  # a row needs warm features: no target, no row
        self.pending.append(
            Pending(
                t,
                log_price,
                sigma,
                np.asarray(signal, np.float32),
                np.asarray(confidence, np.float32),
            )
        )
        return self._check(t)

    def _check(self, t: float) -> bool:
        """At most once per ``online_every_minutes``: judge, then roll back or step."""
        if self.next_check is None:
            self.next_check = t + self.settings.online_every_minutes * 60.0
        if t < self.next_check:
            return False
        self.next_check = t + self.settings.online_every_minutes * 60.0
        return self.update(t)

    def _volatility(self, t: float, log_price: np.ndarray) -> None:
        if self.last_time is not None and t > self.last_time:
            dt = t - self.last_time
            back = log_price - self.last_price
            seen = np.isfinite(back)
            alpha = 1.0 - 0.5 ** (dt / (self.settings.volatility_halflife_hours * 3600.0))
            rate = np.where(seen, back, 0.0) ** 2 / dt
            self.variance = np.where(seen, (1 - alpha) * self.variance + alpha * rate, self.variance)
            self.weight = np.where(seen, (1 - alpha) * self.weight + alpha, self.weight)
        known = np.isfinite(log_price)
        self.last_price = np.where(known, log_price, self.last_price)
        self.last_time = t

    def _resolve(self, t: float, log_price: np.ndarray) -> None:
        """Targets of pending ticks whose horizon has passed join their mode's window. Pending
        ticks are in time order, so each mode resolves a prefix: O(resolved) per tick."""
        clip = self.settings.target_clip
        for m, horizon in enumerate(self.horizons):
            k = self.unresolved[m]
            while k < len(self.pending) and self.pending[k].time + horizon <= t:
                entry = self.pending[k]
                scale = entry.sigma * math.sqrt(horizon)
                forward = log_price - entry.log_price
                ok = np.isfinite(forward) & np.isfinite(scale) & (scale > 0)
                if ok.any():
                    z = np.clip(forward[ok] / scale[ok], -clip, clip)
                    self.windows[m].add(entry.time, entry.signal[ok, m], entry.confidence[ok, m], z)
                k += 1
            self.unresolved[m] = k
        done = min(self.unresolved)  # every mode is past these
        if done:
            del self.pending[:done]
            self.unresolved = [k - done for k in self.unresolved]

    # --- learning -------------------------------------------------------------------------------
    def _score(self, weights: np.ndarray, rows: Rows) -> float | None:
        keep = rows.mask > 0
        if np.count_nonzero(keep) < 3:
            return None
        b = np.asarray(bias(weights.astype(np.float32), rows.signal[keep], rows.confidence[keep]), np.float64)
        y = rows.z[keep].astype(np.float64)
        if np.std(b) == 0 or np.std(y) == 0:
            return 0.0
        return float(np.corrcoef(b, y)[0, 1])

    def judge(self) -> dict | None:
        """The live version's IC against its parent's on the rows of ticks since it went live
        (mean over the modes with at least ``online_min_samples`` such rows); None until then."""
        live = self.versions[self.live]
        if live.parent is None or live.parent not in self.versions:
            return None
        parent = self.versions[live.parent]
        mine, theirs, samples = [], [], 0
        for m, window in enumerate(self.windows):
            rows = window.rows(since=live.live_from)
            count = int(rows.mask.sum())
            if count < self.settings.online_min_samples:
                continue
            a, b = self._score(live.weights[m], rows), self._score(parent.weights[m], rows)
            if a is not None and b is not None:
                mine.append(a)
                theirs.append(b)
                samples += count
        if not mine:
            return None
        return {"ic": float(np.mean(mine)), "parent_ic": float(np.mean(theirs)), "samples": samples}

    def update(self, t: float) -> bool:
        """One check: roll back a version that does worse than its parent, else take a step."""
        verdict = self.judge()
        if self.versions[self.live].parent in self.versions and verdict is None:
            return False  # a version proves itself on enough live rows before it is replaced
        # (a version whose parent is gone, or version 1, has nothing to be judged against)
        if verdict is not None and verdict["ic"] < verdict["parent_ic"] - self.settings.rollback_tolerance:
            return self.rollback(t, verdict)
        weights = self.weights.copy()
        scores: dict[str, object] = {"judged": verdict}
        stepped = False
        for m, window in enumerate(self.windows):
            rows = window.rows()
            if rows.mask.sum() < self.settings.online_min_samples:
                continue
            learned, curve = fit(
                rows, self.step_settings, initial=weights[m], max_change=self.settings.online_max_change
            )
            if np.all(np.isfinite(learned)):
                weights[m] = learned
                stepped = True
                scores[self.modes[m]] = {
                    "train_ic": round(float(curve["train_ic"][-1]), 5),
                    "samples": int(rows.mask.sum()),
                }
        if not stepped:
            return False
        number = max(self.versions) + 1
        version = Version(number, self.live, t, weights, scores=scores)
        self.store.write(version)
        self.versions[self.live].status = "retired"
        self.versions[number] = version
        self.live = number
        self.store.write_index(self.live, self.versions)
        self.events.append({"time": iso(t), "event": "step", "version": number})
        log.info("online learning: version %d live (%s)", number, scores)
        return True

    def rollback(self, t: float, verdict: dict) -> bool:
        bad = self.versions[self.live]
        bad.status = "rolled_back"
        bad.scores = {**bad.scores, "rolled_back": {**verdict, "time": iso(t)}}
        self.live = bad.parent
        self.versions[self.live].status = "live"
        self.store.write_index(self.live, self.versions)
        self.events.append(
            {"time": iso(t), "event": "rollback", "from": bad.number, "to": self.live, **verdict}
        )
        log.warning(
            "online learning: version %d scored IC %.4f against its parent's %.4f on %d live samples; "
            "rolled back to version %d",
            bad.number,
            verdict["ic"],
            verdict["parent_ic"],
            verdict["samples"],
            self.live,
        )
        return True
