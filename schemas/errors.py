"""One-line, field-addressed messages for validation errors (no tracebacks for bad input)."""

from __future__ import annotations

from pydantic import ValidationError


def describe(exc: ValidationError, source: str, limit: int = 5) -> str:
    """`job.json: workload.epochs: Input should be greater than or equal to 1; ...`"""
    parts = []
    for err in exc.errors()[:limit]:
        where = ".".join(str(p) for p in err["loc"]) or "(document)"
        parts.append(f"{where}: {err['msg']}")
    more = len(exc.errors()) - limit
    if more > 0:
        parts.append(f"(+{more} more)")
    return f"{source}: " + "; ".join(parts)
