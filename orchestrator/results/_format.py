"""Fixed number formatting and a small Table type rendered to Markdown and CSV.

Formatting is pure string arithmetic on floats, so re-rendering a run gives identical bytes.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from typing import Any

MISSING = "—"
SIG_DIGITS = 4


def is_missing(x: Any) -> bool:
    if x is None:
        return True
    try:
        return math.isnan(float(x))
    except (TypeError, ValueError):
        return False


def fmt(x: Any, sig: int = SIG_DIGITS) -> str:
    """`sig` significant digits with trailing zeros kept (0.9760, 2.600, 140.0, 12346); scientific
    outside [1e-3, 1e6); MISSING for None/NaN."""
    if is_missing(x):
        return MISSING
    v = float(x)
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0.0:
        return "0"
    mag = math.floor(math.log10(abs(v)))
    if -3 <= mag < 6:
        return f"{v:.{max(0, sig - 1 - mag)}f}"
    return f"{v:.{sig - 1}e}"


def fmt_csv(x: Any) -> str:
    """Machine-readable cell: shortest round-tripping repr for floats, '' for missing."""
    if is_missing(x):
        return ""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return repr(x)
    try:
        return repr(float(x)) if not isinstance(x, str) else x
    except (TypeError, ValueError):
        return str(x)


def fmt_spread(median: float, lo: float, hi: float, n: int) -> str:
    """'median (min–max)', just the median for one value, MISSING for none."""
    if n == 0 or is_missing(median):
        return MISSING
    if n == 1:
        return fmt(median)
    return f"{fmt(median)} ({fmt(lo)}–{fmt(hi)})"


def _one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


@dataclass(frozen=True)
class Table:
    """A rendered table: display cells (Markdown/HTML) and raw cells (CSV) side by side."""

    name: str  # file stem under tables/
    title: str
    caption: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    csv_headers: tuple[str, ...]
    csv_rows: tuple[tuple[str, ...], ...]
    # Per display row: "" or a marker the HTML page styles ("fail", "warn").
    row_marks: tuple[str, ...] = field(default=())

    def markdown(self) -> str:
        lines = [f"### {_one_line(self.title)}", "", _one_line(self.caption), ""]
        lines.append("| " + " | ".join(_md_cell(h) for h in self.headers) + " |")
        lines.append("|" + "|".join("---" for _ in self.headers) + "|")
        for row in self.rows:
            lines.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
        if not self.rows:
            lines += ["", "_No rows._"]
        return "\n".join(lines) + "\n"

    def csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.csv_headers)
        writer.writerows(self.csv_rows)
        return buffer.getvalue()
