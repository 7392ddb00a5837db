"""The context-manager half every resource-holding object shares (backends, executors)."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Closeable:
    """`with obj:` calls `obj.close()` on the way out, whatever happened inside."""

    def close(self) -> None:  # nothing held by default
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
