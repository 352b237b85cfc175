"""The ``bpjax`` command line: run, import, replay, zones, zones-calibrate, train, evaluate, cards,
bench, bench-feeds, bench-replay, bench-learn."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from bpjax.app.progress import Progress
from bpjax.core.config import ConfigError, load_config
from bpjax.store.importer import FORMATS, ImportDataError
from bpjax.store.zarrstore import StoreError


def _symbol_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--symbols takes comma-separated integers like 21,210,2100, was {text!r}"
        ) from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"--symbols counts must be >= 1, was {text!r}")
    return counts


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, was {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, was {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bpjax", description="Crypto perpetual-futures decision engine on JAX."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the engine and publish per mode (the main job)")
    run.add_argument("--config", help="TOML config (default: configs/default.toml)")
    run.add_argument(
        "--source",
        choices=["wire-sim", "sim", "live"],
        default="wire-sim",
        help="wire-sim (default): local exchange servers speaking the venues' protocols, fed by the "
        "embedded simulator, through the real adapters; sim: the simulator in process, on simulated "
        "time as fast as possible; live: the venues at the configured [venues.*] URLs",
    )
    run.add_argument(
        "--ticks",
        type=_positive,
        help="stop after N engine ticks (sim: simulated time as fast as possible; wire-sim/live: "
        "N wall-clock ticks of [engine] tick_seconds)",
    )
    run.add_argument("--jsonl", metavar="PATH", help="write one JSON object per published (tick, mode)")
    run.add_argument(
        "--with-cards", action="store_true", help="add every card's [direction, strength, confidence]"
    )
    run.add_argument("--seed", type=int, help="simulator seed (overrides simulator.seed)")
    run.add_argument("--quiet", action="store_true", help="no live view")
    run.add_argument(
        "--record", metavar="PATH", help="append every tick (snapshot and outputs) to a zarr store"
    )
    run.add_argument(
        "--weights", metavar="PATH", help="category weights from a weights file (bpjax train --out)"
    )
    run.add_argument(
        "--learn",
        metavar="DIR",
        help="online self-learning: bounded optax steps as forward returns become known, versioned "
        "weights in DIR (resumed from its live version on restart), automatic rollback",
    )

    imp = commands.add_parser(
        "import",
        help="build a store from real history (Binance archives, Parquet bars, WebSocket captures, "
        "liquidation logs), or extend one",
    )
    imp.add_argument("--from", dest="format", required=True, choices=FORMATS, help="input format")
    imp.add_argument("--in", dest="inputs", nargs="+", required=True, metavar="PATH", help="input files")
    imp.add_argument("--out", required=True, metavar="STORE", help="the zarr store to create or extend")
    imp.add_argument(
        "--config", help="TOML config (default: configs/default.toml; an existing store keeps its own)"
    )
    imp.add_argument(
        "--symbols-from-data",
        action="store_true",
        help="the store's universe is the symbols in the data "
        "(otherwise symbols outside the config are refused)",
    )
    imp.add_argument(
        "--skip-other-symbols",
        action="store_true",
        help="skip (and count) rows of symbols outside the universe instead of refusing the import",
    )
    imp.add_argument(
        "--tick-seconds",
        type=_positive,
        help="the grid (default: the finest bar length, or the config's tick)",
    )
    imp.add_argument(
        "--coverage-gap",
        type=float,
        default=300.0,
        help="an event log silent for longer than this many seconds was not running "
        "(its flows are masked there)",
    )
    imp.add_argument("--quiet", action="store_true", help="no progress")

    zones = commands.add_parser(
        "zones", help="a symbol's liquidation zones from a recording, and its heatmap"
    )
    zones.add_argument("store", help="a store made by bpjax run --record or bpjax import")
    zones.add_argument("--symbol", required=True, help="e.g. BTCUSDT")
    zones.add_argument("--at", help="ISO 8601 time (default: the store's last tick)")
    zones.add_argument("--json", action="store_true", help="print one JSON object")
    zones.add_argument("--png", metavar="PATH", help="write the heatmap over time as a PNG picture")

    calibrate = commands.add_parser(
        "zones-calibrate",
        help="how well the liquidation heatmap located the liquidations that followed, vs a uniform baseline",
    )
    calibrate.add_argument("store", help="a store with liquidations (bpjax run --record or bpjax import)")
    calibrate.add_argument(
        "--horizons", default="5m,15m,1h", help="comma-separated look-ahead windows, e.g. 5m,15m,1h,4h"
    )
    calibrate.add_argument("--every", default="1m", help="take a case every this long (default 1m)")
    calibrate.add_argument(
        "--top-share", type=float, default=0.2, help="share of a band's bins the model predicts (default 0.2)"
    )
    calibrate.add_argument("--json", action="store_true", help="print one JSON object")
    calibrate.add_argument("--quiet", action="store_true", help="no progress")

    for name, text in (
        ("train", "learn the category weights of a mode with optax, walk-forward, beside baselines"),
        ("evaluate", "walk-forward evaluation of given category weights beside the same baselines"),
    ):
        learn = commands.add_parser(name, help=text)
        learn.add_argument("--recording", required=True, help="a store (bpjax run --record or bpjax import)")
        learn.add_argument("--mode", default="day", help="the mode whose weights to learn (default day)")
        learn.add_argument(
            "--config", help="TOML config whose [learning] settings to use (default: configs/default.toml)"
        )
        learn.add_argument(
            "--cache",
            metavar="PATH",
            help="keep the replayed card history in this .npz file and reuse it while the store, config "
            "and code are unchanged",
        )
        learn.add_argument("--json", action="store_true", help="print one JSON object")
        learn.add_argument("--quiet", action="store_true", help="no progress")
        learn.add_argument(
            "--report", metavar="DIR", help="write report.md with SVG plots (learning curves, IC, P&L)"
        )
        if name == "train":
            learn.add_argument("--out", metavar="PATH", help="write (or update) this weights file")
        else:
            learn.add_argument(
                "--weights", metavar="PATH", help="a weights file from bpjax train (default: the config's)"
            )

    replay = commands.add_parser("replay", help="drive the engine from a recording made with --record")
    replay.add_argument("path", help="the zarr store")
    replay.add_argument("--config", help="TOML config (default: the one the recording was made with)")
    replay.add_argument("--jsonl", metavar="PATH", help="write one JSON object per published (tick, mode)")
    replay.add_argument(
        "--with-cards", action="store_true", help="add every card's [direction, strength, confidence]"
    )
    replay.add_argument(
        "--speed", choices=["max", "realtime"], default="max", help="as fast as possible, or as recorded"
    )
    replay.add_argument(
        "--path",
        dest="path_kind",
        choices=("scan", "tick"),
        help="scan: chunks of ticks in one lax.scan call (the default at --speed max); "
        "tick: one engine call per tick, like a live run (the default at --speed realtime)",
    )
    replay.add_argument(
        "--chunk", type=_positive, default=256, help="ticks per lax.scan call on the scan path"
    )
    replay.add_argument("--quiet", action="store_true", help="no live view, no progress")

    cards = commands.add_parser("cards", help="list the registered cards")
    cards.add_argument("--json", action="store_true", help="print JSON instead of a table")
    cards.add_argument("--markdown", action="store_true", help="print the catalogue (docs/cards.md)")

    bench = commands.add_parser(
        "bench", help="measure tick latency and compile time against the alternatives"
    )
    bench.add_argument("--config", help="TOML config (default: configs/default.toml)")
    bench.add_argument(
        "--symbols", type=_symbol_counts, default=[21, 210, 2100], help="symbol counts, e.g. 21,210,2100"
    )
    bench.add_argument("--ticks", type=_positive, default=300, help="measured ticks per symbol count")
    bench.add_argument(
        "--baseline-seconds", type=float, default=20.0, help="time budget per baseline measurement"
    )
    bench.add_argument("--json", action="store_true", help="print one JSON object")

    bench_learn = commands.add_parser(
        "bench-learn", help="time learning on a store: history, fit, ridge, walk-forward, online update"
    )
    bench_learn.add_argument("store", help="a store (bpjax run --record or bpjax import)")
    bench_learn.add_argument("--mode", default="day")
    bench_learn.add_argument("--cache", metavar="PATH", help="the history cache of bpjax train --cache")
    bench_learn.add_argument("--config", help="TOML config whose [learning] settings to use")
    bench_learn.add_argument("--json", action="store_true", help="print one JSON object")

    feeds = commands.add_parser(
        "bench-feeds", help="measure feed message handling: raw frame to the accumulator, per core"
    )
    feeds.add_argument("--config", help="TOML config (default: configs/default.toml)")
    rb = commands.add_parser(
        "bench-replay",
        help="replay throughput of a store: scan path, per-tick path and TA-Lib column-wise, one JSON",
    )
    rb.add_argument("store", help="a store made by bpjax import or bpjax run --record")
    rb.add_argument("--chunk", type=_positive, default=256, help="ticks per lax.scan call")
    rb.add_argument("--tick-ticks", type=_positive, default=2000, help="ticks timed on the per-tick path")
    rb.add_argument("--json", action="store_true", help="print one JSON object")
    feeds.add_argument("--seconds", type=_positive, default=120, help="simulated seconds of venue traffic")
    feeds.add_argument("--repeats", type=_positive, default=3, help="runs per measurement (best kept)")
    feeds.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def _drive(runner, args, work, cleanup=()):
    """Attach the JSONL sink and the live view ``args`` ask for, run ``work()`` (Ctrl-C ends it
    with what it did so far), close everything, print the final table when piped."""
    from bpjax.app.sinks import JsonlSink
    from bpjax.app.table import TableView

    sink = JsonlSink(args.jsonl) if args.jsonl else None
    view = None if args.quiet else TableView(runner)
    runner.sinks += [s for s in (sink, view) if s is not None]
    try:
        summary = work()
    except KeyboardInterrupt:
        summary = runner.summary
    finally:
        if sink:
            sink.close()
        for close in cleanup:
            close()
    if view is not None and not view.tty:
        print(view.render())
    return summary


def _run(args) -> int:
    from bpjax.app.runner import Runner
    from bpjax.app.sources import FeedSource, SimSource
    from bpjax.tick.engine import enable_compilation_cache

    config = load_config(args.config)
    weights, learner = _weights_for_run(args, config)  # a bad file stops here, before any source
    enable_compilation_cache(config.engine.compilation_cache)
    if args.source == "sim":
        source = SimSource(config, seed=args.seed)
    else:
        source = FeedSource(config, wire_sim=args.source == "wire-sim", seed=args.seed)
    cleanup = [source.close] if hasattr(source, "close") else []
    recorder = None
    if args.record:
        from bpjax.cards import REGISTRY
        from bpjax.store.zarrstore import Recorder, Store

        recorder = Recorder(Store.create_or_resume(args.record, config, REGISTRY.categories))
        cleanup.append(recorder.close)
    runner = Runner(
        config, source=source, with_cards=args.with_cards, recorder=recorder, learner=learner, weights=weights
    )
    summary = _drive(runner, args, lambda: runner.run(ticks=args.ticks), cleanup)
    print(json.dumps({"summary": summary.as_dict()}), file=sys.stderr)
    return 0


def _weights_for_run(args, config):
    """(initial weights, online learner) that ``--weights`` and ``--learn`` ask for (None, None
    without either); bpjax.learn.offline.LearnError for a bad weights file or versions folder."""
    if not (args.learn or args.weights):
        return None, None
    from bpjax.cards import REGISTRY
    from bpjax.learn.offline import starting_weights

    initial = starting_weights(config, args.weights)
    if not args.learn:
        return initial, None
    from bpjax.learn.online import OnlineLearner

    return initial, OnlineLearner(config, REGISTRY.categories, args.learn, initial)


def _import(args) -> int:
    from bpjax.cards import REGISTRY
    from bpjax.store.importer import import_history

    summary = import_history(
        args.format,
        args.inputs,
        args.out,
        load_config(args.config),
        REGISTRY.categories,
        symbols_from_data=args.symbols_from_data,
        skip_other_symbols=args.skip_other_symbols,
        tick_seconds=args.tick_seconds,
        coverage_gap=args.coverage_gap,
        progress_factory=None if args.quiet else lambda total: Progress(total, "import"),
    )
    print(json.dumps({"summary": summary}), file=sys.stderr)
    return 0


def _zones(args) -> int:
    from bpjax.store.zarrstore import Store
    from bpjax.tick.engine import enable_compilation_cache
    from bpjax.zones.view import heatmap_picture, parse_time, report, write_png, zone_history

    store = Store.open(args.store)
    config = store.config()
    enable_compilation_cache(config.engine.compilation_cache)
    history = zone_history(store, args.symbol, parse_time(args.at) if args.at else None)
    result = report(history, args.symbol)
    result["cascade"]["moves"] = list(config.zones.cascade_moves)
    if args.png:
        write_png(args.png, heatmap_picture(history))
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{args.symbol} at {result['time']}: price {result['price']:.6g}, "
        f"new positions from {result['source']}"
    )
    print(f"{'side':<6}{'low':>14}{'high':>14}{'notional':>16}{'strength':>10}  kind")
    for zone in result["zones"]:
        print(
            f"{zone['side']:<6}{zone['low']:>14.6g}{zone['high']:>14.6g}{zone['notional']:>16,.0f}"
            f"{zone['strength']:>10.2f}  {zone['kind']}"
        )
    for side, target in result["exit_targets"].items():
        text = "none" if target is None else f"{target['price']:.6g} ({target['notional']:,.0f} behind it)"
        print(f"exit target of a {side} position: {text}")
    print(f"imbalance {result['imbalance']:+.3f} (positive: more liquidity above)")
    moves = ", ".join(
        f"-{m:.1%}: {d:,.0f} / +{m:.1%}: {u:,.0f}"
        for m, d, u in zip(
            result["cascade"]["moves"],
            result["cascade"]["down_long_notional"],
            result["cascade"]["up_short_notional"],
            strict=True,
        )
    )
    print(f"cascade {moves}")
    if args.png:
        print(f"heatmap written to {args.png}")
    return 0


def _duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        value = float(text[:-1]) * units[text[-1]] if text and text[-1] in units else float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise StoreError(f"a duration must be positive, like 30s, 5m, 1h or 1d; was {text!r}")
    return value


def _zones_calibrate(args) -> int:
    from bpjax.app.progress import Progress
    from bpjax.store.zarrstore import Store
    from bpjax.tick.engine import enable_compilation_cache
    from bpjax.zones.calibrate import calibrate

    store = Store.open(args.store)
    enable_compilation_cache(store.config().engine.compilation_cache)
    horizons = tuple(_duration(part.strip()) for part in args.horizons.split(",") if part.strip())
    result = calibrate(
        store,
        horizons=horizons,
        every=_duration(args.every),
        top_share=args.top_share,
        progress=None if args.quiet else Progress(store.ticks, "calibrate"),
    )
    if args.json:
        print(json.dumps(result))
        return 0
    events = result["events"]
    print(
        f"{result['store']}: {result['ticks']:,} ticks, {result['symbols']} symbols, "
        f"{result['time_range'][0]} to {result['time_range'][1]}; {events['rows']:,} liquidation rows, "
        f"{events['notional']:,.0f} notional; a case every {result['every_seconds']:g} s, "
        f"the model predicts the densest {result['top_share']:.0%} of a band's bins"
    )
    print("new positions read from: " + ", ".join(f"{k} {v:,}" for k, v in result["sources"].items()))

    def cell(value, digits=3):
        return "-" if value is None else f"{value:.{digits}f}"

    print(f"{'':<30}{'':>9}{'hit rate':^21}{'precision':^21}")
    columns = ("model", "unif.", "near.") * 2
    print(f"{'horizon':<8}{'distance':<14}{'cases':>8}{'coverage':>9}" + "".join(f"{c:>7}" for c in columns))
    for name, horizon in result["horizons"].items():
        rows = [(f"{b['distance'][0]:.1%}-{b['distance'][1]:.1%}", b) for b in horizon["bands"]]
        for label, row in [*rows, ("all", horizon["all"])]:
            if not row["cases"] and not row["abstained"]:
                continue
            figures = []
            for metric in ("hit_rate", "precision"):
                figures += [row[metric], row["baseline"][metric], row["nearest"][metric]]
            print(
                f"{name:<8}{label:<14}{row['cases']:>8}{cell(row['coverage'], 2):>9}"
                + "".join(f"{cell(v):>7}" for v in figures)
            )
    verdict = "beats" if result["beats_baseline"] else "does not beat"
    print(
        f"the heatmap {verdict} the uniform baseline on every horizon (hit rate and precision, all distances)"
    )
    return 0


def _replay(args) -> int:
    from bpjax.app.runner import Runner
    from bpjax.core.timefmt import iso
    from bpjax.store.zarrstore import Store
    from bpjax.tick.engine import enable_compilation_cache

    store = Store.open(args.path)
    config = load_config(args.config) if args.config else store.config()
    if (
        list(config.symbols) != store.attrs["symbols"]
        or list(config.timeframe_names) != store.attrs["timeframes"]
    ):
        raise StoreError(f"{args.path} holds symbols/timeframes other than {args.config}'s")
    enable_compilation_cache(config.engine.compilation_cache)
    runner = Runner(config, with_cards=args.with_cards)
    path = args.path_kind or ("scan" if args.speed == "max" else "tick")
    if path == "scan" and args.speed == "realtime":
        raise SystemExit("bpjax replay: --path scan runs at --speed max only")
    progress = None if args.quiet else Progress(store.ticks, "replay")
    if path == "scan":
        summary = _drive(runner, args, lambda: runner.replay_scan(store, chunk=args.chunk, progress=progress))
    else:
        summary = _drive(runner, args, lambda: runner.replay(store, speed=args.speed, progress=progress))
    times = store.read("time")
    report = {
        "ticks_in_store": store.ticks,
        "time_range": [iso(float(times[0])), iso(float(times[-1]))] if store.ticks else [],
        "symbols": len(config.symbols),
        "path": path,
        **summary.as_dict(),
    }
    if summary.replay_seconds > 0:
        report["ticks_per_s"] = round(store.ticks / summary.replay_seconds, 1)
        report["symbol_ticks_per_s"] = round(store.ticks * len(config.symbols) / summary.replay_seconds, 1)
    print(json.dumps({"summary": report}), file=sys.stderr)
    return 0


def _cards(args) -> int:
    from bpjax.cards import REGISTRY

    cards = [spec.as_dict() for spec in REGISTRY.cards]
    if args.markdown:
        from bpjax.cards.catalogue import markdown

        sys.stdout.write(markdown(REGISTRY))
        return 0
    if args.json:
        print(
            json.dumps(
                {"count": len(cards), "categories": list(REGISTRY.categories), "cards": cards}, indent=1
            )
        )
        return 0
    for card in cards:
        print(
            f"{card['category']:<16} {card['name']:<28} lookback {card['lookback']:>4}  {card['description']}"
        )
    print(f"{len(cards)} cards in {len(REGISTRY.categories)} categories")
    return 0


def _bench(args) -> int:
    from bpjax.app.bench import format_report, run_bench

    config = load_config(args.config)
    report = run_bench(config, args.symbols, args.ticks, baseline_budget_s=args.baseline_seconds)
    print(json.dumps(report) if args.json else format_report(report))
    return 0


def _bench_replay(args) -> int:
    from bpjax.app.bench import bench_replay
    from bpjax.store.zarrstore import Store
    from bpjax.tick.engine import enable_compilation_cache

    enable_compilation_cache(Store.open(args.store).config().engine.compilation_cache)
    report = bench_replay(args.store, chunk=args.chunk, tick_ticks=args.tick_ticks)
    if args.json:
        print(json.dumps(report))
    else:
        scan, tick = report["scan"], report["per_tick"]
        print(
            f"{report['store']}: {report['ticks']:,} ticks x {report['symbols']} symbols, "
            f"{report['cards']} cards x {report['modes']} modes x {report['timeframes']} timeframes"
        )
        print(
            f"  scan path      {scan['symbol_ticks_per_s']:>12,.0f} symbol-ticks/s "
            f"({scan['ticks_per_s']:,.0f} ticks/s)"
        )
        print(
            f"  per-tick path  {tick['symbol_ticks_per_s']:>12,.0f} symbol-ticks/s "
            f"({tick['ticks_per_s']:,.0f} ticks/s)"
        )
        for name, peer in report["peers"].items():
            print(f"  {name:<28}{peer['symbol_ticks_per_s']:>12,.0f} symbol-ticks/s")
        print(f"  store          {report['store_bytes_per_symbol_day']:,.0f} bytes per symbol-day")
    return 0


def _bench_learn(args) -> int:
    from bpjax.app.bench import bench_learning

    report = bench_learning(args.store, args.mode, args.cache, config_path=args.config)
    if args.json:
        print(json.dumps(report))
        return 0
    print(
        f"{report['store']}: {report['ticks']:,} ticks x {report['symbols']} symbols, mode {report['mode']}, "
        f"{report['rows']:,} rows x {report['categories']} categories\n"
        f"  history ({'cache' if report['history_cached'] else 'replay'})  {report['history_s']:.1f} s\n"
        f"  fit, {report['fit_steps']} optax steps   {report['fit_s']:.2f} s "
        f"({report['fit_step_ms']:.2f} ms a step; first call with compilation "
        f"{report['fit_compile_and_run_s']:.2f} s)\n"
        f"  ridge (closed form)    {report['ridge_ms']:.1f} ms\n"
        f"  walk-forward, {report['folds']} folds {report['walk_forward_s']:.1f} s\n"
        f"  online update          {report['online_update_ms']:.1f} ms ({report['online_steps']} steps on "
        f"{report['online_window_rows']:,} rows; first {report['online_update_first_s']:.2f} s)"
    )
    return 0


def _bench_feeds(args) -> int:
    from bpjax.app.bench import bench_feeds

    report = bench_feeds(load_config(args.config), args.seconds, args.repeats)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{report['symbols']} symbols, {report['simulated_seconds']} s of wire-sim traffic, one core")
    print(f"{'venue':<8} {'frames':<7} {'count':>7} {'frames/s':>10} {'us/frame':>9} {'json.loads us':>14}")
    for r in report["results"]:
        print(
            f"{r['venue']:<8} {r['frames']:<7} {r['count']:>7} {r['frames_per_s']:>10} "
            f"{r['us_per_frame']:>9.2f} {r['json_only_us_per_frame']:>14.2f}"
        )
    return 0


def _learn(args) -> int:
    from bpjax.learn import offline as learn
    from bpjax.store.zarrstore import Store
    from bpjax.tick.engine import enable_compilation_cache

    settings = load_config(args.config).learning
    store = Store.open(args.recording)
    config = store.config()
    mode = config.mode_names.index(config.mode(args.mode).name)  # an unknown mode stops here
    weights = None  # evaluate: the given weights, checked before any replay
    if args.command == "evaluate":
        weights = learn.starting_weights(config, args.weights)[mode]
    enable_compilation_cache(config.engine.compilation_cache)
    history = learn.cached_history(
        store, args.cache, progress=None if args.quiet else Progress(store.ticks, "replay")
    )
    folds = settings.folds
    result = learn.walk_forward(
        history,
        args.mode,
        settings,
        weights,
        progress=None if args.quiet else Progress(folds, "walk-forward", unit="folds"),
    )
    report = result.report(model="learned")
    report["recording"] = args.recording
    if args.command == "train" and args.out:
        learn.save_weights(
            args.out,
            args.mode,
            history.categories,
            result.weights,
            {
                "recording": os.path.abspath(args.recording),
                "config_hash": history.config_hash,
                "learning": report["learning"],
                "test": report["test"],
                "time_range": report["time_range"],
            },
        )
        report["out"] = args.out
    if args.command == "evaluate":
        report["weights_file"] = args.weights
    if args.report:
        from bpjax.learn.report import write_report

        report["report"] = write_report(result, report, args.report)
    if args.json:
        print(json.dumps(report))
        return 0
    print(learn.format_report(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        commands = {
            "run": _run,
            "replay": _replay,
            "import": _import,
            "zones": _zones,
            "zones-calibrate": _zones_calibrate,
            "cards": _cards,
            "bench": _bench,
            "bench-feeds": _bench_feeds,
            "bench-replay": _bench_replay,
            "bench-learn": _bench_learn,
            "train": _learn,
            "evaluate": _learn,
        }
        return commands[args.command](args)
    except ConfigError as error:
        print(f"bpjax: config error: {error}", file=sys.stderr)
        return 2
    except StoreError as error:
        print(f"bpjax: store error: {error}", file=sys.stderr)
        return 2
    except ImportDataError as error:
        print(f"bpjax: import error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        # bpjax.learn.offline.LearnError, without importing JAX and optax into every command's start-up:
        # if bpjax.learn.offline was never imported, nothing can have raised it
        learn = sys.modules.get("bpjax.learn.offline")
        if learn is None or not isinstance(error, learn.LearnError):
            raise
        print(f"bpjax: learning error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
