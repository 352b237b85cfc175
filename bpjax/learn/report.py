"""``bpjax train --report DIR``: a short markdown report with SVG line charts (learning curves,
IC over time, weight paths, P&L curves) that a person can read to see whether learning helped.

The charts are plain SVG written here (no plotting dependency); GitHub and browsers show them
inline in the markdown.
"""

from __future__ import annotations

import html
import os
import time

import numpy as np

from bpjax.core.timefmt import iso
from bpjax.learn.offline import DAY, WalkForward, pearson, pnl_curve

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f")
MODELS = ("learned", "equal_weights", "ridge", "momentum")
MAX_POINTS = 800


def line_chart(
    title: str,
    series: dict[str, tuple[np.ndarray, np.ndarray]],
    x_label: str,
    y_label: str,
    width: int = 720,
    height: int = 320,
    styles: dict[str, tuple[int, bool]] | None = None,
) -> str:
    """An SVG line chart of named (x, y) series; NaN points break a line. ``styles`` maps a series
    to (colour index, dashed); by default every series gets the next colour, solid."""
    left, right, top, bottom = 64, 150, 32, 44
    xs = np.concatenate([np.asarray(x, float) for x, _ in series.values()]) if series else np.zeros(1)
    ys = np.concatenate([np.asarray(y, float) for _, y in series.values()]) if series else np.zeros(1)
    ys = ys[np.isfinite(ys)]
    x0, x1 = (float(np.min(xs)), float(np.max(xs))) if xs.size else (0.0, 1.0)
    y0, y1 = (float(np.min(ys)), float(np.max(ys))) if ys.size else (0.0, 1.0)
    if x1 == x0:
        x1 = x0 + 1.0
    if y1 == y0:
        y0, y1 = y0 - 1.0, y1 + 1.0
    pad = 0.05 * (y1 - y0)
    y0, y1 = y0 - pad, y1 + pad
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(x):
        return left + (x - x0) / (x1 - x0) * plot_w

    def py(y):
        return top + (1.0 - (y - y0) / (y1 - y0)) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="18" font-size="13" font-weight="bold">{html.escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>',
    ]
    for value in np.linspace(y0, y1, 5):
        y = py(value)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{value:.3g}</text>')
    for value in np.linspace(x0, x1, 5):
        x = px(value)
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="middle">{value:.3g}</text>')
    if y0 < 0 < y1:
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{py(0.0):.1f}" y2="{py(0.0):.1f}" stroke="#555" '
            'stroke-dasharray="3,3"/>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle">{html.escape(x_label)}</text>'
    )
    parts.append(
        f'<text x="14" y="{top + plot_h / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {top + plot_h / 2})">{html.escape(y_label)}</text>'
    )
    for n, (name, (x, y)) in enumerate(series.items()):
        index, dashed = (styles or {}).get(name, (n, False))
        colour = COLOURS[index % len(COLOURS)]
        dash = ' stroke-dasharray="5,3"' if dashed else ""
        x, y = np.asarray(x, float), np.asarray(y, float)
        if len(x) > MAX_POINTS:  # a chart is MAX_POINTS wide at most: keep every k-th point and the last
            keep = np.unique(np.r_[np.arange(0, len(x), int(np.ceil(len(x) / MAX_POINTS))), len(x) - 1])
            x, y = x[keep], y[keep]
        segments, current = [], []
        for a, b in zip(x, y, strict=True):
            if np.isfinite(a) and np.isfinite(b):
                current.append(f"{px(a):.1f},{py(b):.1f}")
            elif current:
                segments.append(current)
                current = []
        if current:
            segments.append(current)
        for segment in segments:
            if len(segment) == 1:
                cx, cy = segment[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>')
            else:
                points = " ".join(segment)
                parts.append(
                    f'<polyline fill="none" stroke="{colour}" stroke-width="1.5"{dash} points="{points}"/>'
                )
        ly = top + 12 + 16 * n
        parts.append(
            f'<line x1="{left + plot_w + 10}" x2="{left + plot_w + 28}" y1="{ly - 4}" y2="{ly - 4}" '
            f'stroke="{colour}" stroke-width="2"{dash}/>'
        )
        parts.append(f'<text x="{left + plot_w + 32}" y="{ly}">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _daily_ic(result: WalkForward, model: str) -> tuple[np.ndarray, np.ndarray]:
    """IC of the model's out-of-sample positions per day (days since the start)."""
    h = result.history
    days = np.floor((h.time - h.time[0]) / DAY)
    position, z = result.positions[model], result.targets.z
    xs, ys = [], []
    for day in np.unique(days):
        rows = days == day
        ok = np.isfinite(position[rows]) & h.usable[rows] & np.isfinite(z[rows])
        if np.count_nonzero(ok) >= 10:
            ic = pearson(position[rows][ok], z[rows][ok])
            xs.append(day)
            ys.append(np.nan if ic is None else ic)
    return np.asarray(xs), np.asarray(ys)


def write_report(result: WalkForward, report: dict, folder: str) -> str:
    """Write ``report.md`` and its SVG charts into ``folder``; returns the markdown's path."""
    os.makedirs(folder, exist_ok=True)
    h = result.history
    charts = {}
    if result.curves:
        series, styles = {}, {}
        for n, curve in enumerate(result.curves):
            steps = np.arange(1, len(curve["train_ic"]) + 1)
            for part, dashed in (("train", False), ("test", True)):
                series[f"fold {n + 1} {part}"] = (steps, curve[f"{part}_ic"])
                styles[f"fold {n + 1} {part}"] = (n, dashed)
        charts["learning_curves.svg"] = (
            "Learning curves: IC on each fold's training period (solid) and on its unseen test period "
            "(dashed), per optax step",
            line_chart("Learning curves (IC per optax step)", series, "step", "IC", styles=styles),
        )
    charts["ic_over_time.svg"] = (
        "Out-of-sample IC per day, learned weights beside the baselines",
        line_chart(
            "Daily out-of-sample IC",
            {m: _daily_ic(result, m) for m in MODELS},
            "day of the recording",
            "IC",
        ),
    )
    if result.fold_weights:
        weights = np.asarray(result.fold_weights)
        order = np.argsort(-np.abs(weights[-1] - 1.0))[:6]
        folds = np.arange(1, len(weights) + 1)
        charts["weight_paths.svg"] = (
            "Learned category weights per fold (the six that moved furthest from 1 in the last fold)",
            line_chart(
                "Weight paths across walk-forward folds",
                {h.categories[k]: (folds, weights[:, k]) for k in order},
                "fold",
                "category weight",
            ),
        )
    elapsed = (h.time - h.time[0]) / DAY
    curves = {
        m: pnl_curve(
            result.positions[m],
            result.targets.step_return,
            h.funding,
            h.usable,
            h.tick_seconds,
            result.learning,
        )
        for m in MODELS
    }
    tested = np.isfinite(result.positions["learned"]).any(axis=1)
    charts["pnl.svg"] = (
        "Cumulative out-of-sample long/short P&L per symbol (log-return units), net of "
        f"{result.learning.fee_bps:g} bps fees and funding",
        line_chart(
            "Out-of-sample P&L",
            {m: (elapsed[tested], curve[tested]) for m, curve in curves.items()},
            "day of the recording",
            "cumulative P&L",
        ),
    )
    for name, (_, svg) in charts.items():
        with open(os.path.join(folder, name), "w") as f:
            f.write(svg)

    def cell(value):
        return "-" if value is None else f"{value:.4f}"

    lines = [
        f"# Walk-forward {'training' if result.fold_weights else 'evaluation'}: mode {report['mode']}",
        "",
        f"Recording `{report.get('recording', '')}`, {report['symbols']} symbols, "
        f"{report['time_range'][0]} to {report['time_range'][1]} ({report['ticks']:,} ticks of "
        f"{report['tick_seconds']:g} s); target: forward log return over {report['horizon_seconds']:g} s "
        f"({report['horizon_ticks']} ticks), volatility-normalized; config `{report['config_hash']}`. "
        f"Loss: `{report['loss']}`.",
        "",
        "## Out-of-sample (union of the test periods)",
        "",
        "| model | IC | rank IC | hit rate | P&L | fees | turnover / day | samples |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [("learned" if result.fold_weights else "given weights", report["test"])]
    rows += list(report["baselines"].items())
    for name, m in rows:
        lines.append(
            f"| {name} | {cell(m['ic'])} | {cell(m['rank_ic'])} | {cell(m['hit_rate'])} | {cell(m['pnl'])} | "
            f"{cell(m['fees'])} | {cell(m['turnover'])} | {m['samples']:,} |"
        )
    if report.get("train"):
        lines += ["", f"In-sample IC (mean over folds): {cell(report['train']['ic'])}."]
    lines += [
        "",
        "## Folds",
        "",
        "| fold | train | test | IC learned | IC equal weights |",
        "|---|---|---|---:|---:|",
    ]
    for n, fold in enumerate(report["folds"], start=1):
        lines.append(
            f"| {n} | {fold['train'][0]} to {fold['train'][1]} | {fold['test'][0]} to {fold['test'][1]} | "
            f"{cell(fold['test_metrics']['ic'])} | {cell(fold['equal_weights_metrics']['ic'])} |"
        )
    lines += ["", "## Charts", ""]
    for name, (caption, _) in charts.items():
        lines += [f"{caption}:", "", f"![{caption}]({name})", ""]
    if report.get("weights"):
        lines += [
            "## Final weights (fit on the whole recording)",
            "",
            "| category | weight | test IC alone |",
            "|---|---:|---:|",
        ]
        for name, w in sorted(report["weights"].items(), key=lambda item: -item[1]):
            lines.append(f"| {name} | {w:.3f} | {cell(report['categories'][name]['test_ic'])} |")
    lines += ["", f"Written {iso(time.time())} by `bpjax {'train' if result.fold_weights else 'evaluate'}`."]
    path = os.path.join(folder, "report.md")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path
