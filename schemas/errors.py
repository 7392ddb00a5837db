"""One-line, field-addressed messages for validation errors (no tracebacks for bad input).

    describe(exc, source)   `suite.toml: tasks[0].layers[-1].units: is 7 but mnist-5k needs 10 outputs`
    first_error(exc)        the most telling error alone, `loc: message (+N more)`, for table cells

Pydantic lists errors in field order, with noise a person then has to see past: a `Field required`
that is only the other half of a misspelt key, a list's "should have at least 1 item" when its only
item failed, one error per member of a union. Here the real fault comes first and the echoes go.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from schemas.layers import KINDS
from schemas.parse import one_line

# Shown last: usually a consequence of another fault (a misspelt key leaves its field missing).
_RANK = {"extra_forbidden": 1, "missing": 2}
_PREFIXES = ("Value error, ", "Assertion failed, ")
_MAX_SHOWN_INPUT = 40
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
# How pydantic labels the members of a plain union in an error's location (`x.constrained-int`).
_UNION_LABELS = {"int", "float", "str", "bool", "bytes", "none"}


@dataclass(frozen=True)
class _Fault:
    loc: tuple[str | int, ...]
    where: str
    message: str
    kind: str


def describe(exc: ValidationError, source: str, limit: int = 5) -> str:
    """`job.json: workload.epochs: Input should be greater than or equal to 1, got 0; ...`"""
    return one_line(f"{source}: {_join(_faults(exc), limit)}")


def first_error(exc: ValidationError) -> str:
    """The one error most worth reading, then how many more there are: `loc: message (+2 more)`."""
    return one_line(_join(_faults(exc), limit=1))


def _join(faults: list[_Fault], limit: int) -> str:
    if not faults:
        return "(document): invalid"
    parts = [f"{f.where}: {f.message}" for f in faults[:limit]]
    if len(faults) > limit:
        parts[-1] += f" (+{len(faults) - limit} more)"
    return "; ".join(parts)


def _faults(exc: ValidationError) -> list[_Fault]:
    faults = [_fault(err) for err in exc.errors()]
    faults = _merge_misspellings(_drop_echoes(faults))
    seen: set[str] = set()
    unique = []
    for fault in faults:  # the members of a plain union all fail at the same place: say it once
        if fault.where not in seen:
            seen.add(fault.where)
            unique.append(fault)
    return sorted(unique, key=lambda f: _RANK.get(f.kind, 0))  # stable: field order otherwise


def _fault(err: ErrorDetails) -> _Fault:
    loc = _without_tags(tuple(p for p in err["loc"] if not _union_label(p)))
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    kind, message = err["type"], err["msg"]
    for prefix in _PREFIXES:
        message = message.removeprefix(prefix)
    extra = ""
    if kind == "union_tag_invalid" and ctx.get("discriminator") == "_kind()":  # a layer's kind
        ctx["discriminator"] = "kind"
    if kind == "union_tag_not_found":  # "Unable to extract tag using discriminator 'name'"
        extra, message = "." + str(ctx.get("discriminator", "")).strip("'\""), "Field required"
        kind = "missing"
    elif kind == "union_tag_invalid":
        extra = "." + str(ctx.get("discriminator", "")).strip("'\"")
        message = f"is {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
    elif "field" in ctx:  # a cross-field check names the field it blames (schemas.job.fault)
        extra = "." + str(ctx["field"])
    elif kind not in ("missing", "extra_forbidden"):
        message += _shown_input(err.get("input"))
    return _Fault(loc, (_render(loc) + extra).lstrip(".") or "(document)", message, kind)


def _without_tags(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """`layers[0].dense.units` -> `layers[0].units`: a layer's kind is already in what the user wrote."""
    return tuple(p for i, p in enumerate(loc) if not (p in KINDS and i > 0 and isinstance(loc[i - 1], int)))


def _union_label(part: str | int) -> bool:
    return isinstance(part, str) and ("[" in part or part.startswith("constrained-") or part in _UNION_LABELS)


def _shown_input(value: object) -> str:
    """The offending value, where it is short enough to help rather than flood the line."""
    if isinstance(value, (bool, int, float, str)) and len(repr(value)) <= _MAX_SHOWN_INPUT:
        return f", got {value!r}"
    return ""


def _render(loc: tuple[str | int, ...]) -> str:
    # A key that is not a plain name (a hostile document's "\x1e", "a.b", "") is shown quoted.
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" if _NAME.match(p) else f"[{p!r}]" for p in loc)


def _drop_echoes(faults: list[_Fault]) -> list[_Fault]:
    """A container's length error is an echo when one of its items failed (pydantic drops the
    failed item, then counts what is left: `Tuple should have at least 1 item ..., not 0`)."""

    def echo(f: _Fault) -> bool:
        return f.kind == "too_short" and any(
            g is not f and len(g.loc) > len(f.loc) and g.loc[: len(f.loc)] == f.loc for g in faults
        )

    return [f for f in faults if not echo(f)]


def _merge_misspellings(faults: list[_Fault]) -> list[_Fault]:
    """`batchsize` given where `batch_size` is missing: one fault, named as the user wrote it."""
    missing = {f.loc: f for f in faults if f.kind == "missing" and f.loc and isinstance(f.loc[-1], str)}
    merged: list[_Fault] = []
    used: set[tuple[str | int, ...]] = set()
    for f in faults:
        if f.kind == "extra_forbidden" and f.loc and isinstance(f.loc[-1], str):
            siblings = {str(m.loc[-1]): m for m in missing.values() if m.loc[:-1] == f.loc[:-1]}
            close = difflib.get_close_matches(f.loc[-1], list(siblings), n=1, cutoff=0.6)
            if close:
                used.add(siblings[close[0]].loc)
                merged.append(_Fault(f.loc, f.where, f"unknown field; did you mean {close[0]!r}?", "typo"))
                continue
        merged.append(f)
    return [f for f in merged if not (f.kind == "missing" and f.loc in used)]
