"""Fetching raw files into the cache from a list of mirrors, verified by sha256, with urllib only.

A file already in the cache with the right checksum is reused; one with a wrong checksum (or a
broken .gz) is fetched again. A mirror that cannot be reached at all is not asked again for the next
files, so a dead first mirror costs one timeout, not four.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from runners.datasets.errors import DatasetError
from runners.datasets.idx import gunzip, read_verified, sha256_bytes
from schemas.common import write_bytes_atomic

DEFAULT_TIMEOUT_S = 20.0
MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024  # the largest IDX .gz is ~10 MB; a server sending more is wrong
_USER_AGENT = "bench-datasets/0.1 (python urllib)"  # some hosts refuse urllib's default agent


class _MirrorFailed(Exception):
    """This mirror could not deliver this file; try the next one."""


class _Unreachable(_MirrorFailed):
    """The mirror could not be reached at all; skip it for the remaining files."""


def url_for(mirror: str, filename: str) -> str:
    return mirror.rstrip("/") + "/" + filename


def fetch_verified(
    checksums: Mapping[str, str],
    mirrors: Sequence[str],
    dest_dir: Path,
    *,
    what: str,
    offline_hint: str,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> dict[str, str]:
    """Make `dest_dir/<file>` hold a verified copy of every file in `checksums` (file name -> sha256
    of the decompressed content); return where each came from (its URL, or the cached path). Raise
    DatasetError when a mirror serves a file with the wrong checksum, or no mirror could deliver one."""
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"{dest_dir}: cannot create the cache directory ({exc.strerror or exc})") from exc
    dead: dict[str, str] = {}
    origins: dict[str, str] = {}
    for filename, expected in checksums.items():
        path = dest_dir / filename
        reasons: list[str] = []
        if path.exists():
            try:
                read_verified(path, expected)
                origins[filename] = str(path)
                continue
            except DatasetError:  # corrupt, truncated or stale cache entry: replace it below
                reasons.append(f"cached {path} failed verification")
        for mirror in mirrors:
            if mirror in dead:
                reasons.append(f"{mirror}: {dead[mirror]}")
                continue
            url = url_for(mirror, filename)
            try:
                _download(url, path, expected, timeout)
                origins[filename] = url
                break
            except _Unreachable as exc:
                dead[mirror] = str(exc)
                reasons.append(f"{mirror}: {exc}")
            except _MirrorFailed as exc:
                reasons.append(f"{url}: {exc}")
        else:
            tried = "; ".join(reasons + ([] if mirrors else ["no mirrors given"]))
            raise DatasetError(
                f"{what} could not be downloaded from any mirror ({filename}: {tried}). {offline_hint}"
            )
    return origins


def _download(url: str, dest: Path, expected: str, timeout: float) -> None:
    """Fetch into memory (an IDX .gz is at most ~30 MB), verify, then write atomically: the cache
    never holds a partial or unverified file."""
    # Imported here, not at the top: every runner process imports this module, few ever download, and
    # urllib's import (ssl, email, http) is ~30 ms of each job's start-up.
    import http.client
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read(MAX_DOWNLOAD_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise _MirrorFailed(f"HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise _Unreachable(f"unreachable ({exc.reason})") from exc
    except (OSError, http.client.HTTPException) as exc:  # includes read timeouts
        raise _MirrorFailed(f"transfer failed ({type(exc).__name__}: {exc})") from exc
    if len(raw) > MAX_DOWNLOAD_BYTES:
        raise _MirrorFailed(f"sent more than {MAX_DOWNLOAD_BYTES} bytes; not one of the dataset's files")
    try:
        content = gunzip(raw, url)
    except DatasetError as exc:  # an HTML error page or a cut transfer: another mirror may do
        raise _MirrorFailed(f"not a valid .gz ({exc.__cause__})") from exc
    got = sha256_bytes(content)
    if got != expected:
        # A mirror serving different bytes is not a transient fault: stop loudly.
        raise DatasetError(
            f"{url}: downloaded {dest.name} has decompressed sha256 {got}, expected {expected}; "
            "refusing to use it"
        )
    write_bytes_atomic(dest, raw)
