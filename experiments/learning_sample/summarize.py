"""Print the markdown results table of the learning_sample experiment from its result.json files."""

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent


def cell(value, digits=4):
    return "-" if value is None else f"{value:.{digits}f}"


def main() -> None:
    print("| mode (horizon) | model | IC | rank IC | hit rate | P&L | turnover / day |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name in ("scalp", "day", "swing", "day-signed"):
        path = HERE / name / "result.json"
        if not path.exists():
            sys.exit(f"{path} is missing: run run.sh first")
        result = json.loads(path.read_text())
        seconds = result["horizon_seconds"]
        horizon = f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"
        label = f"[{name}]({name}/report.md) ({horizon})"
        rows = [("learned", result["test"])] + list(result["baselines"].items())
        if name == "day-signed":
            rows = rows[:1]
            label = "[day, signed weights](day-signed/report.md) (1 h)"
        for model, m in rows:
            print(
                f"| {label} | {model} | {cell(m['ic'])} | {cell(m['rank_ic'])} | {cell(m['hit_rate'], 3)} | "
                f"{cell(m['pnl'])} | {cell(m['turnover'], 2)} |"
            )
            label = ""


if __name__ == "__main__":
    main()
