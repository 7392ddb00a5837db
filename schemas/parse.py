"""Reading input files with bounded nesting: a hostile file gets one line, never a RecursionError.

Every document the project reads (suites, specs, reports, run.json) is a few levels deep; nothing
legitimate comes near MAX_DEPTH. The parsers themselves recurse per level (tomllib in Python, json in
C), so a 10 KB file of brackets used to end in a RecursionError traceback; and tomllib spends time
quadratic in the length of a dotted key (`a.a.a…`: 50,000 parts take a minute). So:

    load_toml(path, what)          TOML file -> dict; scans nesting and dotted keys *before* parsing
    load_json(path, what)          JSON file -> value
    load_json_bytes(data, where)   JSON text -> value
    check_depth(value, where)      an already parsed value, walked without recursion

Each raises ParseError, a ValueError whose message is one line naming the file. Pydantic's
`model_validate_json` has its own parser with its own limit (200 levels: a ValidationError
"recursion limit exceeded", which `schemas.errors.describe` renders as one line), so specs and reports
validated that way need nothing from here. Standard library only: the runners use it too.
"""

from __future__ import annotations

import itertools
import json
import re
import tomllib
from pathlib import Path
from typing import Any, Final

MAX_DEPTH: Final = 64
MAX_TOML_BYTES: Final = 1 << 20  # a suite is a few KB; a megabyte is a mistake or an attack

_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_STEP = tuple(1 if byte in b"[{" else -1 for byte in range(256))


class ParseError(ValueError):
    """An input file that cannot be read as a document: the message is one line naming the file."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


def one_line(text: str) -> str:
    """`text` with every character that could break or hide a line escaped (newlines, but also
    the record separators and U+2028 that str.splitlines() splits on, and terminal controls): a
    file name or a key in hostile input must not forge a second line of output."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def load_toml(path: Path, what: str = "file") -> dict[str, Any]:
    """Raises ParseError: `cannot read suite PATH: REASON`, `PATH: not valid TOML: …` or `PATH: …
    nested deeper than 64 levels (line N)`."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_TOML_BYTES + 1)
        if len(raw) > MAX_TOML_BYTES:
            raise ParseError(f"{path}: larger than {MAX_TOML_BYTES // 1024} KiB; not a {what}")
        text = raw.decode("utf-8")
    except OSError as exc:
        raise ParseError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ParseError(f"{path}: not valid TOML: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    _check_toml_text(text, str(path))
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ParseError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:  # the scan above should make this unreachable; a backstop, not the rule
        raise ParseError(f"{path}: nested deeper than {MAX_DEPTH} levels") from None
    check_depth(doc, str(path))
    return doc


def load_json(path: Path, what: str = "file") -> Any:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ParseError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    return load_json_bytes(data, str(path))


def load_json_bytes(data: bytes | str, where: str) -> Any:
    """json.loads, but too deep or malformed input is a ParseError naming `where`."""
    try:
        value = json.loads(data)
    except RecursionError:  # raised by the C scanner at its own limit, cheaply and cleanly
        raise ParseError(f"{where}: nested deeper than {MAX_DEPTH} levels") from None
    except UnicodeDecodeError as exc:
        raise ParseError(f"{where}: not valid JSON: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ParseError(f"{where}: not valid JSON: {exc}") from None
    check_depth(value, where)
    return value


def check_depth(value: Any, where: str, limit: int = MAX_DEPTH) -> None:
    """Raise ParseError if lists/dicts nest deeper than `limit`; iterative, so any depth is safe."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            raise ParseError(f"{where}: nested deeper than {limit} levels")
        stack.extend((child, depth + 1) for child in children)


# Where a TOML string or comment starts; each is then skipped in one regex match, so the scan is
# linear even for pathological input (an unterminated string ends the scan: tomllib reports it).
_TOML_OPEN = re.compile(r"\"\"\"|'''|[\"'#]")
_TOML_CLOSE = {
    '"""': re.compile(r'(?:[^"\\]|\\[\s\S]|"(?!""))*"""'),
    "'''": re.compile(r"[\s\S]*?'''"),
    '"': re.compile(r'(?:[^"\\\n]|\\.)*"'),
    "'": re.compile(r"[^'\n]*'"),
    "#": re.compile(r"[^\n]*"),
}
# A chain of key parts (bare or a string, which the scan has replaced by "") joined by dots.
_DOTTED = re.compile(r'(?:[\w-]+|"")(?:[ \t]*\.[ \t]*(?:[\w-]+|""))+')


def _check_toml_text(text: str, where: str) -> None:
    code = _toml_code(text)
    # The document is a table itself: brackets may add MAX_DEPTH - 1 levels to it.
    if _max_depth(code.encode()) >= MAX_DEPTH:
        raise ParseError(f"{where}: nested deeper than {MAX_DEPTH} levels (arrays or inline tables)")
    for match in _DOTTED.finditer(code):
        if match.group().count(".") >= MAX_DEPTH:
            line = code.count("\n", 0, match.start()) + 1
            raise ParseError(f"{where}: nested deeper than {MAX_DEPTH} levels (a dotted key, line {line})")


def _toml_code(text: str) -> str:
    """The text with every string replaced by "" and every comment removed (line breaks kept)."""
    parts: list[str] = []
    pos = 0
    while (start := _TOML_OPEN.search(text, pos)) is not None:
        parts.append(text[pos : start.start()])
        token = start.group()
        end = _TOML_CLOSE[token].match(text, start.end())
        if end is None:
            return "".join(parts)
        skipped = text[start.start() : end.end()]
        parts.append("\n" * skipped.count("\n") if token == "#" else '""' + "\n" * skipped.count("\n"))
        pos = end.end()
    parts.append(text[pos:])
    return "".join(parts)


def _max_depth(code: bytes) -> int:
    """Deepest bracket nesting, counted in C (translate + accumulate), not in a Python loop."""
    brackets = code.translate(None, _NOT_BRACKETS)
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets)), default=0)
