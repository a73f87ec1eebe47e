"""Printing: aligned tables, percentiles and units. Everything the benchmark prints goes to
stdout through `emit`; progress notes go to stderr."""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Sequence
from typing import Any


def emit(text: str = "") -> None:
    print(text, flush=True)


def progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


def heading(number: str, title: str) -> None:
    emit()
    emit(f"{number}. {title}")
    emit("-" * 78)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], indent: str = "   ") -> None:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        first, *rest = values
        return (
            indent
            + "  ".join(
                [
                    first.ljust(widths[0]),
                    *(v.rjust(w) for v, w in zip(rest, widths[1:], strict=True)),
                ]
            ).rstrip()
        )

    emit(line(list(headers)))
    emit(line(["-" * w for w in widths]))
    for row in cells:
        emit(line(row))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
