"""Times as text: the one ISO 8601 format every record, report and message uses."""

from __future__ import annotations

import datetime as dt


def iso(timestamp: float) -> str:
    """ISO 8601 UTC with a Z, to the second (or the millisecond when fractional)."""
    moment = dt.datetime.fromtimestamp(float(timestamp), dt.UTC)
    text = moment.isoformat(timespec="milliseconds" if timestamp % 1 else "seconds")
    return text.replace("+00:00", "Z")
